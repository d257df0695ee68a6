"""Issue #7 in the inbox: a task keeps the form version it started with; the console moves an
instance to the current version of its process, or says why it cannot."""
import json
import re
from pathlib import Path

import pytest

from app.cli import DEMO_PASSWORD

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"


def form_schema(required: bool) -> dict:
    return {"type": "default", "components": [
        {"id": "Field_comment", "type": "textfield", "key": "comment", "label": "意见",
         "validate": {"required": required}},
    ]}


@pytest.fixture
def review(app, flows):
    """Form ``mig_review`` v1 (comment optional) and process ``migration_review`` v1; ``start()``
    starts an instance and returns ``(instance_id, task_id)``; ``save_form``/``deploy`` add versions."""
    from app.auth.services import get_user
    from app.engine import services as engine
    from app.extensions import db
    from app.forms import services as forms

    class Review:
        def save_form(self, required):
            with app.app_context():
                form, created = forms.save_form("mig_review", "迁移审核表", form_schema(required))
                assert created
                version = form.version
                db.session.commit()
                db.session.remove()
                return version

        def deploy(self, n):
            with app.app_context():
                version = engine.deploy((FIXTURES / f"migration_v{n}.bpmn").read_bytes()).version
                db.session.remove()
                return version

        def start(self):
            with app.app_context():
                instance = engine.start_instance("migration_review", {"customer": "泉州一号"},
                                                 actor=get_user("sales1"))
                instance_id = instance.id
                db.session.remove()
            return instance_id, flows.open_task(instance_id)["id"]

    out = Review()
    out.save_form(required=False)
    out.deploy(1)
    return out


def task_notifications(app, username, task_id) -> int:
    from sqlalchemy import func, select

    from app.auth.models import User
    from app.extensions import db
    from app.notifications.models import Notification

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Notification).join(User, User.id == Notification.user_id)
                                  .where(User.username == username, Notification.link == f"/tasks/{task_id}"))
        db.session.remove()
        return count


def login(app, username):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


def test_a_task_validates_against_the_form_version_it_started_with(api_as, app, review):
    _, old_task = review.start()
    assert review.save_form(required=True) == 2  # the comment becomes required
    _, new_task = review.start()
    head = api_as("fj_head")
    for task_id in (old_task, new_task):
        assert head.post(f"/api/v1/tasks/{task_id}/claim").status_code == 200

    old = head.get(f"/api/v1/tasks/{old_task}").get_json()
    new = head.get(f"/api/v1/tasks/{new_task}").get_json()
    assert (old["form_version"], new["form_version"]) == (1, 2)
    assert old["form"]["components"][0]["validate"] == {"required": False}
    assert new["form"]["components"][0]["validate"] == {"required": True}
    # The task page shows the form of the task's version too.
    config = re.search(r'<script type="application/json" id="task-config">(.*?)</script>',
                       login(app, "fj_head").get(f"/tasks/{old_task}").get_data(as_text=True), re.S).group(1)
    assert json.loads(config)["form"]["schema"]["components"][0]["validate"] == {"required": False}

    refused = head.post(f"/api/v1/tasks/{new_task}/complete", json={"data": {}})
    assert refused.status_code == 400
    assert [d["field"] for d in refused.get_json()["error"]["details"]] == ["comment"]
    assert head.post(f"/api/v1/tasks/{old_task}/complete", json={"data": {}}).status_code == 200


def test_console_moves_an_instance_or_says_why_not(app, api_as, review):
    instance_id, task_id = review.start()
    admin = login(app, "admin")
    page = admin.get(f"/process-instances/{instance_id}").get_data(as_text=True)
    assert 'id="migrate-form"' not in page  # nothing newer to move to

    def console_row():
        html = admin.get("/operator?process=migration_review").get_data(as_text=True)
        return re.search(rf'<tr data-instance-id="{instance_id}">.*?</tr>', html, re.S).group(0)

    assert "data-current-version" not in console_row()
    review.deploy(3)  # the review step is gone in version 2 of the process
    assert 'data-current-version="2"' in console_row()  # the list marks it as behind
    page = admin.get(f"/process-instances/{instance_id}").get_data(as_text=True)
    assert 'id="migrate-form"' in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert login(app, "sales1").post(f"/process-instances/{instance_id}/migrate",
                                     data={"version": version}).status_code == 403
    answer = admin.post(f"/process-instances/{instance_id}/migrate", data={"version": version}, follow_redirects=True)
    html = answer.get_data(as_text=True)
    assert "alert-danger" in html and "Task_review" in html and "初审" in html

    assert api_as("med_reviewer").get("/api/v1/tasks?scope=offered").get_json()["items"] == []
    assert api_as("admin").post(f"/api/v1/tasks/{task_id}/draft", json={"data": {"comment": "草稿"}}).status_code == 200
    review.deploy(2)  # version 3: a second review after the first, which is also offered to medical reviewers
    answer = admin.post(f"/process-instances/{instance_id}/migrate", data={"version": version}, follow_redirects=True)
    html = answer.get_data(as_text=True)
    assert "alert-success" in html and 'id="migrate-form"' not in html
    assert "区域初审" in html  # the open step took the new name
    assert "data-current-version" not in console_row()
    assert [t["id"] for t in api_as("med_reviewer").get("/api/v1/tasks?scope=offered").get_json()["items"]] == [task_id]
    # The newly offered hear of it once; those who had it already are not told again.
    assert task_notifications(app, "med_reviewer", task_id) == 1 and task_notifications(app, "fj_head", task_id) == 1
    assert api_as("admin").get(f"/api/v1/tasks/{task_id}").get_json()["data"]["comment"] == "草稿"  # the draft stays
    history = api_as("admin").get(f"/api/v1/process-instances/{instance_id}").get_json()["history"]
    assert [h["actor"] for h in history if h["event"] == "migrated"] == ["admin"]


def test_console_refuses_a_stale_view(app, review):
    instance_id, task_id = review.start()
    review.deploy(2)
    admin = login(app, "admin")
    page = admin.get(f"/process-instances/{instance_id}").get_data(as_text=True)
    version = int(re.search(r'name="version" value="(\d+)"', page).group(1))
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/suspend", json={}).status_code == 200
    html = admin.post(f"/process-instances/{instance_id}/migrate", data={"version": version},
                      follow_redirects=True).get_data(as_text=True)
    assert "alert-danger" in html and 'id="migrate-form"' in html


@pytest.mark.browser
def test_browser_console_refuses_then_moves_the_instance(page, review):
    from tests.helpers import login_in_browser, screenshot

    instance_id, task_id = review.start()
    review.deploy(3)  # the review step removed
    login_in_browser(page, "admin")
    asked = []  # moving cannot be undone: it asks first (it moved at the first click)
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.goto(f"/process-instances/{instance_id}")
    page.wait_for_selector("#diagram[data-ready=true]")
    page.click("#migrate-form button[type=submit]")
    refusal = page.locator(".alert-danger")
    refusal.wait_for(state="visible")
    assert "Task_review" in refusal.inner_text() and "已被删除" in refusal.inner_text()
    assert asked and "版本 2" in asked[0]
    screenshot(page, "inbox-08-migrate-refused")

    review.deploy(2)  # version 3: a second review after the first
    page.goto(f"/process-instances/{instance_id}")
    button = page.locator("#migrate-form button[type=submit]")
    assert "v3" in button.inner_text()
    button.click()
    page.locator(".alert-success").wait_for(state="visible")
    page.wait_for_selector("#diagram[data-ready=true]")
    assert page.locator("#migrate-form").count() == 0
    assert "区域初审" in page.locator("#active-tasks").inner_text()
    assert "v3" in page.locator("h1 + div").inner_text()
    screenshot(page, "inbox-09-migrated")


def test_the_history_shows_what_a_step_submitted_by_its_form_s_labels(app, api_as, review):
    """An operator retrying a step that failed after this one sees what the approver gave (the
    instance's data is not updated by a step that stops with an error)."""
    from app.extensions import db
    from app.forms import services as forms

    with app.app_context():
        schema = form_schema(False)
        schema["components"].append({"id": "Field_verdict", "type": "radio", "key": "verdict", "label": "审核结论",
                                     "values": [{"value": "ok", "label": "通过"}, {"value": "no", "label": "不通过"}]})
        forms.save_form("mig_review", "迁移审核表", schema)
        db.session.commit()
        db.session.remove()
    instance_id, task_id = review.start()
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task_id}/claim")
    assert head.post(f"/api/v1/tasks/{task_id}/complete",
                     json={"data": {"verdict": "ok", "comment": "可以"}}).status_code == 200
    page = login(app, "admin").get(f"/process-instances/{instance_id}").get_data(as_text=True)
    submitted = page.split("data-submitted")[1].split("</details>")[0]
    assert "审核结论" in submitted and "通过" in submitted and "可以" not in submitted  # the comment is quoted apart
