"""Inbox pages: who sees what (404/403), the out-of-office form, the console, reminders."""
import re
from datetime import timedelta

from app.cli import DEMO_PASSWORD
from app.clock import company_today


def login(app, username):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    return client


def test_task_and_instance_pages_follow_visibility(app, flows):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head = login(app, "fj_head")
    inbox = head.get("/inbox").get_data(as_text=True)
    assert f'data-task-id="{task["id"]}"' in inbox and "福州海峡贸易有限公司" in inbox
    page = head.get(f"/tasks/{task['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="task-config"' in html and 'id="diagram-config"' in html and "Task_fujian_review" in html
    assert page.headers["Cache-Control"] == "no-store"  # "back" after completing reloads it, done
    assert login(app, "med_reviewer").get(f"/tasks/{task['id']}").status_code == 404
    assert login(app, "sales2").get(f"/process-instances/{instance_id}").status_code == 404
    picker = login(app, "admin").get(f"/process-instances/{instance_id}").get_data(as_text=True)
    options = picker.split('name="to"')[1].split("</select>")[0]
    assert 'value="fj_head"' in options and 'value="sales1"' not in options  # never to the one who reported
    assert 'id="claim-button"' in html  # fj_head is one it is offered to
    assert 'id="claim-below"' in html  # and under the form too, screens down on a phone
    holder = html.split('id="task-holder"')[0].rsplit("·", 1)[1]
    assert "处理人" not in holder and "等待" in html.split('id="task-holder"')[1][:80]
    sales = login(app, "sales1")
    assert sales.get(f"/process-instances/{instance_id}").status_code == 200
    follows = sales.get(f"/tasks/{task['id']}").get_data(as_text=True)  # the reporter follows the step
    assert 'id="claim-button"' not in follows and "不能处理" in follows  # not offered a claim that fails
    mine = sales.get("/my-submissions").get_data(as_text=True)
    assert f'data-instance-id="{instance_id}"' in mine and "data-withdraw-url" in mine
    # After completing, the task page sends the approver to the inbox, which says what was done.
    assert "已办理" not in head.get(f"/inbox?completed={task['id']}").get_data(as_text=True)  # still open
    head = login(app, "fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "好"}}).status_code == 200
    assert "已办理：福建区域负责人审批（福州海峡贸易有限公司）" in head.get(  # which of many alike
        f"/inbox?completed={task['id']}").get_data(as_text=True)
    done = head.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "等待" not in done.split('id="task-holder"')[1][:80] and "福建大区负责人" in done.split('id="task-holder"')[1][:80]
    assert "已办理" not in login(app, "manager").get(f"/inbox?completed={task['id']}").get_data(as_text=True)
    # Had a later step failed, the approver is told the decision stands but the process stopped.
    from app.engine.models import ProcessInstance
    from app.extensions import db

    with app.app_context():
        db.session.get(ProcessInstance, instance_id).status = "error"
        db.session.commit()
    stopped = head.get(f"/inbox?completed={task['id']}").get_data(as_text=True)
    assert "已办理：福建区域负责人审批" in stopped and "出错" in stopped and "alert-warning" in stopped


def test_operator_console_is_for_admins(app, flows):
    flows.report()
    flows.report(name="厦门公司")
    assert login(app, "sales1").get("/operator").status_code == 403
    assert login(app, "manager").get("/operator").status_code == 403
    admin = login(app, "admin")
    html = admin.get("/operator").get_data(as_text=True)
    assert html.count("data-instance-id=") == 2 and 'data-count-status="running"' in html
    assert "<td>销售一 Sales One</td>" in html  # who started it, by name as everywhere else
    filtered = admin.get("/operator?record=厦门&status=running").get_data(as_text=True)
    assert filtered.count("data-instance-id=") == 1
    assert admin.get("/operator?status=completed").get_data(as_text=True).count("data-instance-id=") == 0


def test_a_process_stopped_by_an_error_shows_on_the_admins_home_and_where_it_stopped(app, flows):
    from app.engine.models import ProcessInstance
    from app.extensions import db

    stopped = flows.report()
    flows.report(name="厦门公司")
    with app.app_context():  # as a failed step leaves it
        instance = db.session.get(ProcessInstance, stopped)
        instance.status = "error"
        instance.error = {"element_id": "Task_mark_approved", "element_name": "报备通过", "message": "boom"}
        db.session.commit()
    admin = login(app, "admin")
    home = admin.get("/").get_data(as_text=True).split('id="home-system"')[1].split("</section>")[0]
    assert "因错误停止的流程" in home and 'href="/operator?status=error"' in home
    console = admin.get("/operator?status=error").get_data(as_text=True)
    row = console.split(f'data-instance-id="{stopped}"')[1].split("</tr>")[0]
    assert "data-error-step>报备通过<" in row


def test_a_task_nobody_can_take_shows_on_the_admins_home_and_in_the_console(app, flows):
    """A company without active medical reviewers: the medical customer's report waited in
    nobody's inbox, and nothing on the administrator's pages said so."""
    import re

    from app.auth.services import get_user, update_user
    from app.extensions import db

    medical = flows.report(name="杭州云杉医疗科技有限公司", province="浙江", industry="医疗")
    fujian = flows.report(name="厦门公司")
    admin = login(app, "admin")

    def waiting_for_nobody():
        home = admin.get("/").get_data(as_text=True).split('id="home-system"')[1].split("</section>")[0]
        figure = home.split('href="/operator?unattended=1"')[1].split("</a>")[0]
        assert "无人可办的待办" in figure
        listed = admin.get("/operator?unattended=1").get_data(as_text=True)
        return int(re.search(r"data-value>(\d+)<", figure).group(1)), set(map(int, re.findall(
            r'data-instance-id="(\d+)"', listed)))

    assert waiting_for_nobody() == (0, set())
    with app.app_context():
        update_user(get_user("med_reviewer"), actor=get_user("admin"), active=False)
        db.session.commit()
    assert waiting_for_nobody() == (1, {medical})
    assert fujian not in waiting_for_nobody()[1]
    with app.app_context():
        update_user(get_user("med_reviewer"), actor=get_user("admin"), active=True)
        db.session.commit()
    assert waiting_for_nobody() == (0, set())


def test_the_process_data_reads_by_the_forms_labels(app, flows, api_as):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject", "comment": "撞单"}})
    page = login(app, "sales1").get(f"/process-instances/{instance_id}").get_data(as_text=True)
    data = page.split('id="instance-data"')[1].split("</dl>")[0]
    decision = data.split('data-key="decision">')[1].split("</dd>")[0]
    assert decision.startswith("审批结论") and "驳回" in decision and ">reject<" not in decision
    assert "<code" not in data  # the key itself only for administrators
    # The variables every bound process starts with read in words too.
    assert 'data-key="customer_id">客户编号<' in data and 'data-key="reporter">发起人<' in data
    assert '<code class="small">decision</code>' in login(app, "admin").get(f"/process-instances/{instance_id}").get_data(
        as_text=True)


def test_yes_no_and_lists_in_the_process_data_read_as_people_write_them(app, flows):
    """The data panel showed Python's True and [{'reviewer': 'fj_head'}]."""
    from app.engine.models import ProcessInstance
    from app.extensions import db
    from app.inbox import services

    instance_id = flows.report()
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        rows = services.data_as_read(db.session.get(ProcessInstance, instance_id),
                                     submitted={"urgent": True, "legal_ok": False, "reviews": [{"reviewer": "张三"}]})
        assert [row["text"] for row in rows] == ["是", "否", '[{"reviewer": "张三"}]']


def test_a_decision_other_than_approve_or_reject_reads_by_its_form_label(app, flows):
    """The history's badge read the stored "rework" where the form says 返工."""
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db
    from app.forms import services as forms
    from app.inbox.views import decision_label

    instance_id = flows.report()
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        forms.save_form("review_with_rework", "带返工的审核", {"type": "default", "components": [
            {"type": "radio", "key": "decision", "label": "结论",
             "values": [{"value": "approve", "label": "同意"}, {"value": "rework", "label": "返工"}]}]})
        db.session.query(HumanTask).filter_by(instance_id=instance_id).update(
            {"form_key": "review_with_rework", "form_version": None})
        instance = db.session.get(ProcessInstance, instance_id)
        assert decision_label("rework", instance) == "返工"
        assert decision_label("approve", instance) == "已通过"
        db.session.rollback()


def test_the_record_is_linked_only_for_those_who_may_open_it(app, flows, api_as):
    instance_id = flows.report()  # sales1's customer; fj_head approves it without seeing the CRM record
    task = flows.open_task(instance_id)
    task_page = login(app, "fj_head").get(f"/tasks/{task['id']}").get_data(as_text=True)
    record = task_page.split('id="record-summary"')[1].split("</dl>")[0]
    assert "data-record-not-linked" in record and "/crm/customer/" not in record
    mine = login(app, "sales1").get("/my-submissions").get_data(as_text=True)
    assert 'href="/crm/customer/' in mine.split(f'data-instance-id="{instance_id}"')[1].split("</tr>")[0]
    # Given to sales2 since: sales1 follows the report, without a link to a page they may not open.
    customer_id = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"][0]["record"]["id"]
    api_as("manager").patch(f"/api/v1/customers/{customer_id}", json={"owner": "sales2"})
    mine = login(app, "sales1").get("/my-submissions").get_data(as_text=True)
    row = mine.split(f'data-instance-id="{instance_id}"')[1].split("</tr>")[0]
    assert "/crm/customer/" not in row and "福州海峡贸易有限公司" in row
    # The new owner follows the report about their customer (the rejection's link leads there).
    assert login(app, "sales2").get(f"/process-instances/{instance_id}").status_code == 200
    assert login(app, "med_reviewer").get(f"/process-instances/{instance_id}").status_code == 404


def test_out_of_office_form(app, flows, api_as):
    client = login(app, "med_reviewer")
    today = company_today()
    bad = client.post("/out-of-office", data={"substitute": "", "starts_on": today.isoformat(), "ends_on": ""})
    assert bad.status_code == 400 and "is-invalid" in bad.get_data(as_text=True)
    ok = client.post("/out-of-office", data={"substitute": "manager", "starts_on": today.isoformat(),
                                              "ends_on": (today + timedelta(days=2)).isoformat(), "note": "出差"})
    assert ok.status_code == 302
    page = client.get("/out-of-office").get_data(as_text=True)
    assert "出差" in page
    # The days as entered, the last one inclusive (it is stored as the next midnight).
    from flask_babel import format_date

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        first, last = format_date(today, "medium"), format_date(today + timedelta(days=2), "medium")
    assert f"<td>{first}</td><td>{last}</td>" in page
    period = api_as("med_reviewer").get("/api/v1/out-of-office").get_json()["items"][0]
    assert (period["starts_on"], period["ends_on"]) == (today.isoformat(), (today + timedelta(days=2)).isoformat())
    assert flows.open_task(flows.assigned("med_reviewer"))["assignee"] == "manager"


def test_an_administrator_sets_out_of_office_for_someone_off_sick(app, flows, api_as):
    today = company_today()
    admin = login(app, "admin")
    assert 'id="user-out-of-office"' in admin.get("/admin/users/fj_head").get_data(as_text=True)
    saved = admin.post("/out-of-office?user=fj_head", data={"substitute": "manager", "starts_on": today.isoformat(),
                                                           "ends_on": (today + timedelta(days=3)).isoformat(),
                                                           "note": "病假"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/out-of-office?user=fj_head")
    assert "病假" in login(app, "fj_head").get("/out-of-office").get_data(as_text=True)  # it is theirs
    assert flows.open_task(flows.assigned("fj_head"))["assignee"] == "manager"
    assert login(app, "sales1").get("/out-of-office?user=fj_head").status_code == 403  # not for anyone else
    rows = api_as("admin").get("/api/v1/audit-events?event=inbox.out_of_office_set").get_json()["items"]
    assert rows[0]["actor"] == "admin" and rows[0]["target"] == "user:fj_head"


def test_due_reminder_notifies_the_holder_once_the_due_date_passed(app, flows, api_as):
    from sqlalchemy import select, update

    from app.db import utcnow
    from app.extensions import db
    from app.jobs import run_due_jobs
    from app.jobs.models import Job

    instance_id = flows.assigned("fj_head")  # due in 2 days
    task = flows.open_task(instance_id)
    with app.app_context():
        key = f"inbox.task_due:{task['id']}"
        job = db.session.scalar(select(Job).where(Job.key == key))
        assert job is not None and job.due_at > utcnow() + timedelta(days=1)
        assert run_due_jobs() == 0 or db.session.scalar(select(Job.status).where(Job.key == key)) == "pending"
        db.session.execute(update(Job).where(Job.key == key).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        run_due_jobs()
        db.session.remove()
    texts = [n["text"] for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]]
    assert any("逾期" in t and "指定人审批" in t for t in texts)
    # A task about a record names it: several contracts' approvals share one step's name.
    from types import SimpleNamespace

    from app.inbox.hooks import task_due

    report = flows.open_task(flows.report(owner="sales1", name="莆田兴化湾渔业有限公司"))
    with app.app_context():
        task_due(SimpleNamespace(payload={"task_id": report["id"]}))
        db.session.remove()
    texts = [n["text"] for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]]
    assert any("逾期" in t and "莆田兴化湾渔业有限公司" in t for t in texts), texts


def test_a_done_task_drops_its_due_reminder(app, flows, api_as):
    """The reminder of a task completed in time is cancelled at once, not left pending in the
    job backlog until it fires and finds nothing to do."""
    from sqlalchemy import select

    from app.extensions import db
    from app.jobs.models import Job

    done, still_open = (flows.open_task(flows.assigned("fj_head")) for _ in range(2))
    head = api_as("fj_head")
    assert head.post(f"/api/v1/tasks/{done['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "好"}}).status_code == 200
    with app.app_context():
        jobs = {key: (status, error) for key, status, error in db.session.execute(
            select(Job.key, Job.status, Job.last_error).where(Job.kind == "inbox.task_due"))}
        db.session.remove()
    assert jobs[f"inbox.task_due:{done['id']}"] == ("done", "cancelled")
    assert jobs[f"inbox.task_due:{still_open['id']}"] == ("pending", None)


def test_overdue_tasks_are_highlighted_and_filtered(app, flows):
    from sqlalchemy import update

    from app.db import utcnow
    from app.engine.models import HumanTask
    from app.extensions import db

    late = flows.open_task(flows.assigned("fj_head"))
    on_time = flows.open_task(flows.assigned("fj_head"))
    with app.app_context():
        db.session.execute(update(HumanTask).where(HumanTask.id == late["id"]).values(due_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
    client = login(app, "fj_head")
    html = client.get("/inbox").get_data(as_text=True)
    row = html.split(f'data-task-id="{late["id"]}"')[1].split("</tr>")[0]
    assert 'class="table-danger"' in html.split(f'data-task-id="{late["id"]}"')[1][:40] and "已逾期" in row
    assert "已逾期" not in html.split(f'data-task-id="{on_time["id"]}"')[1].split("</tr>")[0]
    overdue_only = client.get("/inbox?due=overdue").get_data(as_text=True)
    assert f'data-task-id="{late["id"]}"' in overdue_only and f'data-task-id="{on_time["id"]}"' not in overdue_only
    # Its page says so in words too, not by the date's colour alone.
    assert 'id="task-overdue"' in client.get(f"/tasks/{late['id']}").get_data(as_text=True)
    assert 'id="task-overdue"' not in client.get(f"/tasks/{on_time['id']}").get_data(as_text=True)


def test_a_page_past_the_last_shows_the_last_not_an_empty_one(app, flows):
    """The last row of the last page claimed: the page said 25 waiting above "none waiting",
    with no way back."""
    flows.open_task(flows.report())
    client = login(app, "fj_head")
    moved = client.get("/inbox?sort=record&opage=2")
    assert moved.status_code == 302
    assert "opage=1" in moved.headers["Location"] and "sort=record" in moved.headers["Location"]
    assert client.get("/inbox?sort=record&opage=1").status_code == 200


def test_automation_todos_are_in_the_inbox_and_the_badge(app, flows, api_as):
    from app.auth.services import get_user
    from app.automation.models import Todo
    from app.db import utcnow
    from app.extensions import db

    with app.app_context():
        db.session.add(Todo(user_id=get_user("fj_head").id, title="回访福州海峡贸易", deadline=utcnow() - timedelta(hours=1),
                            entity="customer", record_id=7))
        db.session.add(Todo(user_id=get_user("fj_head").id, title="以后再说", starts_at=utcnow() + timedelta(days=2)))
        db.session.commit()
    flows.report()
    assert api_as("fj_head").get("/api/v1/live-counts").get_json()["inbox"] == 2  # the task and the started to-do
    html = login(app, "fj_head").get("/inbox").get_data(as_text=True)
    todos = html.split('id="todo-list"')[1].split("</ul>")[0]
    assert "回访福州海峡贸易" in todos and "以后再说" not in todos and "list-group-item-danger" in todos
    assert '<a href="/crm/customer/7" class="todo-record">回访福州海峡贸易</a>' in todos  # to the record it is about
    # The one scheduled for later is seen ahead, apart, with when it starts (and in the API).
    later = html.split('id="scheduled-todos"')[1].split("</details>")[0]
    assert "以后再说" in later and "开始" in later and "回访福州海峡贸易" not in later
    scheduled = api_as("fj_head").get("/api/v1/todos?scheduled=true").get_json()
    assert [t["title"] for t in scheduled["items"]] == ["以后再说"]
    assert api_as("fj_head").get("/api/v1/todos?scheduled=true&done=true").status_code == 400


def test_escalation_goes_to_the_approver_groups_manager(app, flows, api_as):
    from sqlalchemy import select

    from app.db import utcnow
    from app.engine import serialization as S
    from app.engine import services as engine
    from app.extensions import db
    from app.jobs import run_due_jobs
    from app.jobs.models import Job
    from tests.engine.support import make_timer_due

    instance_id = flows.report()
    task = flows.open_task(instance_id)
    api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/claim")
    with app.app_context():
        # Time travel, as the engine's own tests do: the 3-day escalation timer is due now.
        instance = engine.get_instance(instance_id)
        workflow = S.loads(instance.state, engine.spec_cache)
        make_timer_due(workflow, "Timer_fujian_escalate")
        instance.state = S.dumps(workflow)
        for job in db.session.scalars(select(Job).where(Job.kind == engine.TIMER_JOB)):
            if job.payload["bpmn_id"] == "Timer_fujian_escalate":
                job.due_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        run_due_jobs()
        db.session.remove()
    escalated = flows.open_task(instance_id)
    # fujian-heads' manager (the demo's sales manager) holds it, nobody else is offered it.
    assert (escalated["bpmn_id"], escalated["assignee"]) == ("Task_escalated_review", "manager")
    head = [n["text"] for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]]
    assert any("福建区域负责人审批" in t and "收回" in t and "福州海峡贸易有限公司" in t for t in head)  # which report
    # fj_head, who had it open, sends an answer: told it was taken back, not only "no longer open".
    late = api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert late.status_code == 409 and "收回" in late.get_json()["error"]["message"]
    texts = [n["text"] for n in api_as("manager").get("/api/v1/notifications").get_json()["items"]]
    assert any("超时升级审批" in t for t in texts), texts
    texts = [n["text"] for n in api_as("admin").get("/api/v1/notifications").get_json()["items"]]
    assert not any("超时升级审批" in t for t in texts), texts
    assert [t["id"] for t in api_as("manager").get("/api/v1/tasks").get_json()["items"]] == [escalated["id"]]
    assert api_as("fj_head").get("/api/v1/tasks").get_json()["items"] == []
    # The history names him: "task created · 超时升级审批 · 销售经理 Sales Manager".
    html = login(app, "manager").get(f"/process-instances/{instance_id}").get_data(as_text=True)
    created = [item for item in html.split('data-event="task_created"')[1:] if "超时升级审批" in item]
    assert len(created) == 1 and "销售经理 Sales Manager" in created[0].split("</li>")[0]


def test_the_history_says_a_hand_over_went_to_an_absent_persons_substitute(app, flows, api_as):
    today = company_today().isoformat()
    assert api_as("med_reviewer").post("/api/v1/out-of-office", json={
        "substitute": "manager", "starts_on": today, "ends_on": today}).status_code == 201
    task = flows.open_task(flows.report())
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    assert head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "med_reviewer"}).status_code == 200
    page = login(app, "manager").get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "(代替 医疗行业审核 Medical Reviewer, 外出)" in page


def test_comments_show_in_the_comments_panel(app, flows, api_as):
    task = flows.open_task(flows.report())
    assert api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": "在核实信用代码"}).status_code == 201
    page = login(app, "fj_head").get(f"/tasks/{task['id']}").get_data(as_text=True)
    panel = page[page.index('id="comment-form"'):page.index('id="attachments"')]
    assert 'id="comments"' in panel and "在核实信用代码" in panel


def test_a_suspended_process_shows_its_tasks_as_held(app, flows, api_as):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    api_as("admin").post(f"/api/v1/operator/instances/{instance_id}/suspend", json={"comment": "核查"})
    head = login(app, "fj_head")
    row = head.get("/inbox").get_data(as_text=True).split(f'data-task-id="{task["id"]}"')[1].split("</tr>")[0]
    assert "data-process-held>已挂起</span>" in row and 'data-task-action="claim"' not in row
    page = head.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'id="process-held"' in page and "等管理员恢复" in page and 'id="claim-button"' not in page
    api_as("admin").post(f"/api/v1/operator/instances/{instance_id}/resume", json={})
    page = head.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'id="process-held"' not in page and 'id="claim-button"' in page


def test_my_submissions_say_withdrawn_and_how_each_came_out(app, flows, api_as):
    withdrawn = flows.report(name="撤回的客户")
    decided = flows.report(name="通过的客户")
    sales = api_as("sales1")
    sales.post(f"/api/v1/my-submissions/{withdrawn}/withdraw", json={})
    task = flows.open_task(decided)
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "好"}})
    html = login(app, "sales1").get("/my-submissions").get_data(as_text=True)
    row = {i: html.split(f'data-instance-id="{i}"')[1].split("</tr>")[0] for i in (withdrawn, decided)}
    assert "data-withdrawn>已撤回" in row[withdrawn] and "已终止" not in row[withdrawn]
    assert "data-outcome>报备通过" in row[decided]
    assert "已完成" not in row[decided] and "text-bg-success" not in row[decided]  # how it came out, not a green 已完成
    assert 'href="/crm/customer/' in row[decided]  # the record is a link
    # An ended process says its own outcome, not the customer's status since (a later report's).
    assert "data-report-status" not in row[decided] and "data-report-status" not in row[withdrawn]
    running = flows.report(name="审批中的客户")
    html = login(app, "sales1").get("/my-submissions").get_data(as_text=True)
    assert 'data-report-status="pending"' in html.split(f'data-instance-id="{running}"')[1].split("</tr>")[0]
    # Withdrawn ones are found as withdrawn, not only under "terminated".
    page = login(app, "sales1")
    listed = page.get("/my-submissions?status=withdrawn").get_data(as_text=True)
    assert f'data-instance-id="{withdrawn}"' in listed and f'data-instance-id="{decided}"' not in listed
    assert '<option value="withdrawn" selected>已撤回</option>' in listed
    assert f'data-instance-id="{withdrawn}"' not in page.get("/my-submissions?status=terminated").get_data(as_text=True)
    assert [i["id"] for i in sales.get("/api/v1/my-submissions?status=withdrawn").get_json()["items"]] == [withdrawn]
    # Its own page says it the same way (a rejection's notice leads there: it read a green 已完成).
    def status(instance_id):
        html = page.get(f"/process-instances/{instance_id}").get_data(as_text=True)
        badge = re.search(r'<span class="badge ([^"]*)" id="instance-status"[^>]*>([^<]*)</span>', html)
        return f"{badge.group(1)} {badge.group(2)}"

    assert "已撤回" in status(withdrawn) and "已终止" not in status(withdrawn)
    assert "报备通过" in status(decided) and "text-bg-success" not in status(decided)


def test_the_approver_is_told_above_the_form_what_the_record_changed_since_the_request(app, flows, api_as):
    """A discount raised from 15 to 50 mid-approval was approved as 15: the only sign was a small
    "current value" under one field."""
    instance_id = flows.report(industry="制造")
    task = flows.open_task(instance_id)
    head = login(app, "fj_head")
    assert 'id="record-changed"' not in head.get(f"/tasks/{task['id']}").get_data(as_text=True)
    customer_id = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"][0]["record"]["id"]
    assert api_as("sales1").patch(f"/api/v1/customers/{customer_id}", json={"industry": "医疗"}).status_code == 200
    page = head.get(f"/tasks/{task['id']}").get_data(as_text=True)
    banner = page.split('id="record-changed"')[1].split("</div>")[0]
    assert "制造 → 医疗" in banner and "行业" in banner and "医疗。" in banner  # a Chinese full stop, not "."
    # An approver working through the API is told too (it answered the data as sent, no more).
    got = api_as("fj_head").get(f"/api/v1/tasks/{task['id']}").get_json()
    assert got["record_changes"] == [{"field": "industry", "label": "行业", "then": "制造", "now": "医疗"}]
    # The salesperson who started it, the customer handed on since, reads no new values through it.
    assert api_as("admin").patch(f"/api/v1/customers/{customer_id}", json={"owner": "sales2"}).status_code == 200
    assert api_as("sales1").get(f"/api/v1/customers/{customer_id}").status_code == 404
    assert api_as("sales1").get(f"/api/v1/tasks/{task['id']}").get_json()["record_changes"] == []
    assert api_as("fj_head").get(f"/api/v1/tasks/{task['id']}").get_json()["record_changes"]  # who decides: still


def test_a_withdrawn_task_waits_for_nobody(app, flows):
    """It read "状态: 已取消 · 等待 销售经理 认领"."""
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    sales = login(app, "sales1")
    assert sales.post(f"/api/v1/my-submissions/{instance_id}/withdraw", json={}).status_code == 200
    page = login(app, "fj_head").get(f"/tasks/{task['id']}").get_data(as_text=True)
    status = page.split('id="task-status"')[1].split("</div>")[0]
    assert "已取消" in status and "等待" not in status and 'id="task-holder"' not in status
    # The history says it was withdrawn, once (已终止 beside 已撤回 said it twice).
    assert 'data-event="withdrawn"' in page and 'data-event="terminated"' not in page


def test_row_buttons_say_which_task_or_submission_they_act_on(app, flows):
    """Ten rows of 认领 and 打开 read alike to a screen reader: each names its row."""
    instance_id = flows.report()
    inbox = login(app, "fj_head").get("/inbox").get_data(as_text=True)
    assert 'aria-label="认领：福建区域负责人审批（福州海峡贸易有限公司）"' in inbox
    assert 'aria-label="打开：福建区域负责人审批（福州海峡贸易有限公司）"' in inbox
    mine = login(app, "sales1").get("/my-submissions").get_data(as_text=True)
    row = mine.split(f'data-instance-id="{instance_id}"')[1].split("</tr>")[0]
    assert f'#{instance_id} · 福州海峡贸易有限公司"' in row and 'aria-label="撤回：' in row


def test_the_task_page_offers_no_claim_of_ones_own_request(app, flows):
    from app.auth.services import get_user, update_user
    from app.extensions import db

    with app.app_context():
        update_user(get_user("sales2"), actor=None, groups=["fujian-heads"])
        db.session.commit()
    task = flows.open_task(flows.report(owner="sales2"))
    page = login(app, "sales2").get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'id="claim-button"' not in page and "由组内其他成员或管理员处理" in page
    # Nor in the inbox, and it is not told as a task to do.
    inbox = login(app, "sales2").get("/inbox").get_data(as_text=True)
    row = inbox.split(f'data-task-id="{task["id"]}"')[1].split("</tr>")[0]
    assert "data-own-decision" in row and 'data-task-action="claim"' not in row
    with app.app_context():
        from sqlalchemy import select

        from app.auth.services import get_user
        from app.extensions import db
        from app.notifications.models import Notification

        told = db.session.scalars(select(Notification.text).where(Notification.user_id == get_user("sales2").id)).all()
    assert not [text for text in told if "新待办" in text]
    assert 'id="claim-button"' in login(app, "fj_head").get(f"/tasks/{task['id']}").get_data(as_text=True)


def test_the_task_pages_sections_are_headings(app, flows):
    """Its sections were plain card headers: a screen reader's heading list went from the page's
    title to the form's, and never reached comments or history."""
    task = flows.open_task(flows.report())
    page = login(app, "fj_head").get(f"/tasks/{task['id']}").get_data(as_text=True)
    headings = re.findall(r"<h2\b[^>]*>([^<]+)</h2>", page)
    assert {"表单", "评论和附件", "历史", "流程图"} <= set(headings), headings


def test_an_english_approver_reads_the_record_in_english(app, flows):
    """The Record panel said "Province 福建" beside the customer page's "Fujian", and the
    duplicate notice kept "(防撞单)" in its English sentence; a note's label was cut mid-word."""
    from app.crm.models import Activity

    flows.report(name="福州海峡贸易", phone="0591-1")
    task = flows.open_task(flows.report(phone="0591-1"))
    head = login(app, "fj_head")
    html = head.get(f"/tasks/{task['id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    panel = html.split('id="record-summary"')[1].split("</dl>")[0]
    assert "Fujian" in panel and "福建" not in panel
    assert "looks like this one." in html and "防撞单" not in html
    assert Activity(content="Welcome call for Sentosa Analytics Pte Ltd, with the CFO").label == \
        "Welcome call for Sentosa Analytics Pte…"
    assert Activity(content="未接通").label == "未接通"


def test_an_english_approver_reads_the_shipped_form_in_english(app, flows, api_as):
    """同意报备 / 驳回 to someone who reads no Chinese: approve and reject could not be told apart.
    The shipped forms give their texts in English; embedded fields take the CRM's English labels."""
    import json

    from app.forms.embedded import iter_components

    task = flows.open_task(flows.report(registered_capital="1000000"))
    english = api_as("fj_head").get(f"/api/v1/tasks/{task['id']}", headers={"Accept-Language": "en"}).get_json()
    fields = {c.get("key"): c for c in iter_components(english["form"]["components"]) if c.get("key")}
    assert fields["decision"]["label"] == "Decision"
    assert [v["label"] for v in fields["decision"]["values"]] == ["Approve the report", "Reject"]
    assert fields["registered_capital"]["label"] == "Registered capital (yuan)"
    assert english["form"]["components"][0]["text"].startswith("### Customer report")
    chinese = api_as("fj_head").get(f"/api/v1/tasks/{task['id']}").get_json()
    assert [c["label"] for c in chinese["form"]["components"] if c.get("key") == "decision"] == ["审批结论"]
    # What the record changed since, and the process's data, under the same English labels.
    customer = english["record"]["id"]
    assert api_as("sales1").patch(f"/api/v1/customers/{customer}", json={"industry": "医疗"}).status_code == 200
    changed = api_as("fj_head").get(f"/api/v1/tasks/{task['id']}", headers={"Accept-Language": "en"}).get_json()
    assert [c["label"] for c in changed["record_changes"]] == ["Industry"]
    panel = login(app, "fj_head").get(f"/process-instances/{english['instance_id']}",
                                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    data = panel.split('id="instance-data"')[1].split("</dl>")[0]
    assert "Industry" in data and "Province" in data and "行业" not in data and "省份" not in data
    head = login(app, "fj_head")
    page = head.get(f"/tasks/{task['id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    config = json.loads(re.search(r'<script[^>]*id="task-config"[^>]*>(.*?)</script>', page, re.S)[1])
    shown = {c.get("key"): c for c in iter_components(config["form"]["schema"]["components"]) if c.get("key")}
    assert shown["province"]["values"] == [{"value": "福建", "label": "Fujian"}]  # the value read as stored, shown in English
