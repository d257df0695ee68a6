"""Stored text shown in pages is escaped: customer names, task comments, form labels and
process names carrying markup come back as text, never as markup (HTML checks on every page
that shows them, and one browser run checking that no injected script runs)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.crm.test_pages import login
from tests.helpers import login_in_browser, screenshot

PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
RAW = ("<script>window.__xss", "<img src=x onerror")  # what must never reach a page unescaped
FIXTURE = Path(__file__).resolve().parents[1] / "inbox" / "fixtures" / "assigned_review.bpmn"


def _escape_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@pytest.fixture
def planted(app, flows, api_as, crm_stages):
    """The payload stored as a customer's name, a task comment, a form label and a process name."""
    admin = api_as("admin")
    customer = flows.customer("sales1", name=f"客户{PAYLOAD}", province="浙江")
    xml = FIXTURE.read_text().replace('id="assigned_review" name="指定审批"',
                                      f'id="xss_review" name="流程{_escape_attr(PAYLOAD)}"')
    assert admin.post("/api/v1/processes", data=xml.encode(), content_type="application/xml").status_code == 201
    started = admin.post("/api/v1/process-instances", json={"process_key": "xss_review",
                                                            "data": {"approver": "admin", "name": PAYLOAD}})
    assert started.status_code == 201, started.get_json()
    task = started.get_json()["active_tasks"][0]["id"]
    assert admin.post(f"/api/v1/tasks/{task}/comments", json={"comment": f"意见{PAYLOAD}"}).status_code == 201
    form = admin.post("/api/v1/forms", json={"key": "xss_form", "name": f"表单{PAYLOAD}", "schema": {
        "type": "default", "components": [{"type": "textfield", "key": "title", "label": f"标签{PAYLOAD}",
                                           "description": PAYLOAD}]}})
    assert form.status_code == 201, form.get_json()
    return {"customer": customer, "task": task, "instance": started.get_json()["id"]}


def test_pages_escape_stored_markup(app, planted):
    client = app.test_client()
    login(client, "admin")
    pages = [f"/crm/customer/{planted['customer']}", "/crm/customer", f"/tasks/{planted['task']}",
             f"/process-instances/{planted['instance']}", "/inbox", "/forms/", "/forms/xss_form/design",
             "/forms/xss_form/preview", "/designer/", "/reports/processes", "/admin/audit"]
    shown = 0
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert not any(raw in html for raw in RAW), f"{url} contains the payload unescaped"
        shown += "window.__xss" in html  # present, escaped (as text or inside JSON)
    assert shown >= 6, "the payload should be on most of these pages (escaped), or the test proves nothing"


@pytest.mark.browser
def test_injected_script_never_runs_in_the_browser(page, planted):
    login_in_browser(page, "admin")
    for url in (f"/crm/customer/{planted['customer']}", f"/tasks/{planted['task']}", "/forms/xss_form/preview",
                f"/process-instances/{planted['instance']}"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, url
    page.goto(f"/tasks/{planted['task']}")
    page.wait_for_selector("#task-form[data-ready=true]")
    assert "意见<script>window.__xss=1</script>" in page.locator("body").inner_text()  # shown as text
    assert page.evaluate("window.__xss") is None
    screenshot(page, "trust-xss-task")
