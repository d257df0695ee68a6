"""Inbox API: claim/complete permissions, validation, delegation, reassignment, comments,
drafts, attachments, withdraw, operator actions, out-of-office routing."""
from datetime import timedelta

import pytest

from app.api.errors import ApiError
from app.clock import company_today

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _approves_too(username, api_as):
    """A salesperson who also approves (a sales lead), so they may stand in for an approver."""
    assert api_as("admin").patch(f"/api/v1/users/{username}", json={"roles": ["sales", "approver"]}).status_code == 200


def _task_ids(response, offered=None):
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    return [t["id"] for t in items if offered is None or t["offered"] is offered]


def test_group_task_claim_validate_complete(api_as, flows, app):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    assert task["bpmn_id"] == "Task_fujian_review"

    head, sales, med = api_as("fj_head"), api_as("sales1"), api_as("med_reviewer")
    assert task["id"] in _task_ids(head.get("/api/v1/tasks"), offered=True)
    listed = head.get("/api/v1/tasks").get_json()["items"][0]
    assert listed["record"] == {"type": "customer", "id": listed["record"]["id"]}
    assert listed["record_label"] == "福州海峡贸易有限公司" and listed["started_by"] == "sales1"
    assert listed["form"]["components"] and listed["data"]["province"] == "福建"
    assert task["id"] not in _task_ids(sales.get("/api/v1/tasks"))
    assert task["id"] not in _task_ids(med.get("/api/v1/tasks"))

    # Not claimed yet: nobody but an admin may complete, and a candidate is told to claim it;
    # others do not even see it.
    unclaimed = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert unclaimed.status_code == 403 and unclaimed.get_json()["error"]["code"] == "claim_required"
    assert med.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 404
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert task["id"] in _task_ids(head.get("/api/v1/tasks?scope=mine"))

    # The form is checked on the server: reject needs a comment; the task stays open.
    bad = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject"}})
    assert bad.status_code == 400
    assert [d["field"] for d in bad.get_json()["error"]["details"]] == ["comment"]
    bad = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "maybe"}})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "decision"
    assert flows.open_task(instance_id)["id"] == task["id"]

    done = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "同意"}})
    assert done.status_code == 200, done.get_json()
    again = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert again.status_code == 409
    with app.app_context():
        from sqlalchemy import func, select

        from app.extensions import db
        from app.inbox.models import TaskOffer

        # Offers are kept for open tasks only (the group lookup stays small).
        assert db.session.scalar(select(func.count()).select_from(TaskOffer).where(TaskOffer.task_id == task["id"])) == 0

    mine = sales.get(f"/api/v1/my-submissions/{instance_id}").get_json()
    assert mine["status"] == "completed" and not mine["can_withdraw"]
    assert ("completed_task", "fj_head") in [(h["event"], h["actor"]) for h in mine["history"]]
    customer = sales.get(f"/api/v1/customers/{listed['record']['id']}").get_json()
    assert customer["report_status"] == "approved"
    # The starter hears about the result once.
    texts = [n["text"] for n in sales.get("/api/v1/notifications").get_json()["items"]]
    assert sum(f"#{instance_id}" in t for t in texts) == 1
    [notice] = [t for t in texts if f"#{instance_id}" in t and customer["name"] in t]  # which customer it was
    assert notice.endswith("已完成：报备通过。")  # and how it came out: the end event it reached
    assert ("completed", "报备通过") in [(h["event"], h["task"]) for h in mine["history"]]


def test_reject_result_is_not_notified_twice(api_as, flows):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    done = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject", "comment": "重复客户"}})
    assert done.status_code == 200, done.get_json()
    texts = [n["text"] for n in api_as("sales1").get("/api/v1/notifications").get_json()["items"]]
    # The process itself tells the reporter, with the comment; the inbox adds nothing.
    assert [t for t in texts if "重复客户" in t] and not [t for t in texts if f"#{instance_id}" in t]


def test_new_task_notifies_group_members(api_as, flows):
    flows.report()
    texts = [n["text"] for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]]
    assert any("福建区域负责人审批" in t and "福州海峡贸易有限公司" in t for t in texts)  # the task and its customer
    counts = api_as("fj_head").get("/api/v1/live-counts").get_json()
    assert counts["inbox"] == 1


def test_a_task_notice_is_read_once_nothing_is_left_to_do_for_its_reader(api_as, flows, app):
    """Every member of a group kept an unread "New task" for each report a colleague had
    long decided: unread now means yours to do."""
    from app.auth.services import get_user, update_user
    from app.extensions import db

    with app.app_context():
        update_user(get_user("med_reviewer"), actor=None, groups=["fujian-heads", "medical-reviewers"])
        db.session.commit()

    def unread(username, about="福建区域负责人审批"):
        return [n["text"] for n in api_as(username).get("/api/v1/notifications").get_json()["items"]
                if not n["read"] and about in n["text"]]

    task = flows.open_task(flows.report())
    assert len(unread("fj_head")) == 1 and len(unread("med_reviewer")) == 1
    head = api_as("fj_head")
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert unread("med_reviewer") == []  # a colleague took it
    assert len(unread("fj_head")) == 1  # still theirs to do
    # Given back, it is the group's again: its members hear so.
    assert head.post(f"/api/v1/tasks/{task['id']}/unclaim").status_code == 200
    again = head.post(f"/api/v1/tasks/{task['id']}/unclaim")  # a second click: nothing to release, not "forbidden"
    assert again.status_code == 409 and "没有人认领" in again.get_json()["error"]["message"]
    [back] = unread("med_reviewer")
    assert "退回" in back and "福州海峡贸易有限公司" in back
    assert len(unread("fj_head")) == 1  # not told of their own giving back
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert unread("med_reviewer") == []
    api_as("sales1").post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": "催一下"})
    done = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "同意"}})
    assert done.status_code == 200, done.get_json()
    [left] = unread("fj_head")  # done: only the comment, which is news, not a call to act
    assert "催一下" in left


def test_nobody_takes_from_their_group_a_task_deciding_their_own_request(api_as, flows, app):
    """A sales manager in the approving group claimed and approved their own contract; so could
    a Fujian head their own customer's report."""
    from app.auth.services import get_user, update_user
    from app.extensions import db

    with app.app_context():
        update_user(get_user("sales2"), actor=None, groups=["fujian-heads"])
        db.session.commit()
    instance_id = flows.report(owner="sales2")
    task = flows.open_task(instance_id)
    own = api_as("sales2")
    assert task["id"] in _task_ids(own.get("/api/v1/tasks"))  # they see it waiting in their group
    refused = own.post(f"/api/v1/tasks/{task['id']}/claim")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "own_decision"
    assert "其他成员" in refused.get_json()["error"]["message"]
    assert flows.open_task(instance_id)["claimed_by"] is None
    assert api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200  # a colleague does


def test_sales_cannot_reassign_or_terminate(api_as, flows):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    sales = api_as("sales1")
    # The reporter follows the task (can see it) but cannot reassign it.
    assert sales.get(f"/api/v1/tasks/{task['id']}").status_code == 200
    assert sales.post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "sales1"}).status_code == 403
    follower = sales.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert follower.status_code == 403 and follower.get_json()["error"]["code"] == "forbidden"
    for action, body in (("terminate", {"reason": "x"}), ("suspend", {}), ("resume", {}), ("retry", {})):
        assert sales.post(f"/api/v1/operator/instances/{instance_id}/{action}", json=body).status_code == 403
    assert sales.get("/api/v1/operator/instances").status_code == 403
    # An approver of another group cannot reassign either (and does not see the task).
    assert api_as("med_reviewer").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "med_reviewer"}).status_code == 404


def test_manager_reassigns_and_it_is_audited(api_as, flows, app):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    manager = api_as("manager")  # manages the fujian-heads group in the demo data
    answer = manager.post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "med_reviewer", "comment": "休假"})
    assert answer.status_code == 200, answer.get_json()
    assert flows.open_task(instance_id)["assignee"] == "med_reviewer"
    assert ("reassigned", "manager", "休假") in [h[:3] for h in flows.history(instance_id)]
    # Now only med_reviewer (or an admin) can complete; fj_head, offered it before, is told who
    # has it: a race lost (409), not a lack of rights (403).
    refused = api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert refused.status_code == 409 and "已被 医疗行业审核 Medical Reviewer 认领" in refused.get_json()["error"]["message"]
    assert task["id"] not in _task_ids(api_as("fj_head").get("/api/v1/tasks"))
    assert task["id"] in _task_ids(api_as("med_reviewer").get("/api/v1/tasks?scope=mine"))
    with app.app_context():
        from sqlalchemy import select

        from app.audit import AuditEvent
        from app.extensions import db

        events = db.session.scalars(select(AuditEvent.event).where(AuditEvent.actor_name == "manager")).all()
        assert "inbox.task_reassigned" in events
    assert manager.post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "nobody"}).status_code == 400
    # An administrator may reassign any task.
    assert api_as("admin").post(f"/api/v1/tasks/{task['id']}/reassign",
                                json={"to": "fj_head", "comment": "请今天内处理"}).status_code == 200
    assert flows.open_task(instance_id)["assignee"] == "fj_head"
    # fj_head, told of it as a member of its group, has one unread notice of it (not two), which
    # names the customer and says why.
    [told] = [n["text"] for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]
              if not n["read"] and n["link"] == f"/tasks/{task['id']}"]
    assert "转派" in told and "福州海峡贸易有限公司" in told and "请今天内处理" in told
    # Reassigned straight from the group to one of its members: their "new task" notice is replaced.
    other = flows.open_task(flows.report(name="厦门第二家公司"))
    assert manager.post(f"/api/v1/tasks/{other['id']}/reassign", json={"to": "fj_head"}).status_code == 200
    assert len([n for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]
                if not n["read"] and n["link"] == f"/tasks/{other['id']}"]) == 1


def test_a_reassigned_tasks_handling_counts_from_when_it_reached_its_holder(api_as, flows, app):
    """A task waited 7 minutes in its group, then was reassigned and done in half a minute: the
    people report booked 7 minutes of handling to the new holder, and no waiting to the group."""
    from datetime import timedelta

    from app.db import utcnow
    from app.engine.models import HumanTask
    from app.extensions import db
    from app.reports.services import people_report, process_report

    task = flows.open_task(flows.report())
    with app.app_context():  # it has waited in its group for seven minutes
        db.session.get(HumanTask, task["id"]).created_at = utcnow() - timedelta(minutes=7)
        db.session.commit()
    assert api_as("admin").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "med_reviewer"}).status_code == 200
    done = api_as("med_reviewer").post(f"/api/v1/tasks/{task['id']}/complete",
                                       json={"data": {"decision": "approve", "comment": "好"}})
    assert done.status_code == 200, done.get_json()
    with app.test_request_context():
        report = people_report()
    [reviewer] = [p for p in report["people"] if p["username"] == "med_reviewer"]
    assert reviewer["handling_median_s"] < 60
    [group] = [g for g in report["groups"] if g["name"] == "fujian-heads"]
    assert group["handling_median_s"] < 60
    with app.test_request_context():  # the seven minutes were spent waiting in the group
        [step] = [s for s in process_report("customer_report")["steps"] if s["id"] == "Task_fujian_review"]
    assert step["waiting_median_s"] >= 7 * 60 - 5


def test_a_colleague_taking_a_task_already_taken_is_told_who_has_it(api_as, flows, app):
    from app.auth.services import create_user
    from app.cli import DEMO_PASSWORD
    from app.extensions import db

    with app.app_context():
        create_user(username="fj_head2", password=DEMO_PASSWORD, display_name="福建二号", roles=["approver"],
                    groups=["fujian-heads"])
        db.session.commit()
    task = flows.open_task(flows.report())
    assert api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    late = api_as("fj_head2").post(f"/api/v1/tasks/{task['id']}/claim")  # from a list read before
    assert late.status_code == 409, late.get_json()
    with app.app_context():
        from app.auth.services import get_user
        assert late.get_json()["error"]["message"] == f"该待办已被 {get_user('fj_head').label} 认领。"
    assert api_as("med_reviewer").post(f"/api/v1/tasks/{task['id']}/claim").status_code == 404  # never offered


def test_delegate_chain_and_who_may_complete(api_as, flows):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head, med = api_as("fj_head"), api_as("med_reviewer")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    answer = head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "med_reviewer", "comment": "请帮忙看"})
    assert answer.status_code == 200, answer.get_json()
    # The delegator follows the task but can no longer complete it; a third user cannot.
    assert head.get(f"/api/v1/tasks/{task['id']}").status_code == 200
    assert head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}).status_code == 409  # it is med_reviewer's now
    assert api_as("sales2").post(f"/api/v1/tasks/{task['id']}/complete",
                                 json={"data": {"decision": "approve"}}).status_code == 404
    done = med.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "可以"}})
    assert done.status_code == 200, done.get_json()
    events = [(e, a) for e, a, *_ in flows.history(instance_id)]
    chain = [x for x in events if x[0] in ("claimed", "delegated", "completed_task")]
    assert chain == [("claimed", "fj_head"), ("delegated", "fj_head"), ("completed_task", "med_reviewer")]


def test_a_task_is_never_handed_to_the_person_who_started_the_process(api_as, flows):
    """Delegating or reassigning the report to the salesperson who filed it would let them
    approve their own customer; an absent colleague's substitute counts too."""
    instance_id = flows.report(owner="sales1")
    task = flows.open_task(instance_id)
    head, manager = api_as("fj_head"), api_as("manager")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    refused = head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "sales1"})
    assert refused.status_code == 400 and refused.get_json()["error"]["details"][0]["field"] == "to"
    assert manager.post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "sales1"}).status_code == 400
    today = company_today().isoformat()
    _approves_too("sales1", api_as)
    assert api_as("med_reviewer").post("/api/v1/out-of-office", json={
        "substitute": "sales1", "starts_on": today, "ends_on": today}).status_code == 201
    # Away with sales1 as substitute: the task waits for med_reviewer, as a new task would,
    # rather than reach sales1 or refuse with a message naming someone nobody picked.
    assert head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "med_reviewer"}).status_code == 200
    assert flows.open_task(instance_id)["assignee"] == "med_reviewer"


def test_nor_to_the_owner_of_the_record_it_decides(api_as, flows, app):
    """The report settles who owns the customer: its owner (here given it by a manager after
    sales1 filed it) deciding it would settle their own claim."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.extensions import db

    instance_id = flows.report(owner="sales1")
    from app.engine.models import ProcessInstance

    with app.app_context():
        customer = db.session.get(Customer, db.session.get(ProcessInstance, instance_id).record_id)
        crm.assign_owner(customer, "sales2", get_user("manager"), "客户转交")
        db.session.commit()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    refused = head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "sales2"})
    assert refused.status_code == 400 and "负责" in refused.get_json()["error"]["message"]
    assert api_as("manager").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "sales2"}).status_code == 400
    assert flows.open_task(instance_id)["claimed_by"] == "fj_head"


def test_the_api_shows_an_instance_to_whoever_its_page_shows_it_to(api_as, flows, app):
    """The customer's owner follows its report (its rejection notice links there): the page
    showed it, GET /api/v1/process-instances/<id> said 404."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.engine.models import ProcessInstance
    from app.extensions import db

    instance_id = flows.report(owner="sales1")
    with app.app_context():
        customer = db.session.get(Customer, db.session.get(ProcessInstance, instance_id).record_id)
        crm.assign_owner(customer, "sales2", get_user("manager"), "客户转交")
        db.session.commit()
    for username, status in (("sales2", 200), ("sales1", 200), ("med_reviewer", 404)):
        answer = api_as(username).get(f"/api/v1/process-instances/{instance_id}")
        assert answer.status_code == status, username
        page = app.test_client()
        page.post("/login", data={"username": username, "password": "demo1234"})
        assert page.get(f"/process-instances/{instance_id}").status_code == status, username


def test_an_absent_approvers_substitute_who_started_the_process_does_not_get_its_task(api_as, flows, app):
    """med_reviewer away with sales1 as substitute: sales1's own request stays with med_reviewer
    (its escalation will find someone), instead of letting sales1 approve it."""
    today = company_today().isoformat()
    _approves_too("sales1", api_as)
    assert api_as("med_reviewer").post("/api/v1/out-of-office", json={
        "substitute": "sales1", "starts_on": today, "ends_on": today}).status_code == 201
    own = flows.assigned("med_reviewer", starter="sales1")
    assert flows.open_task(own)["assignee"] == "med_reviewer"
    kept = [d for e, a, c, d in flows.history(own) if e.startswith("out_of_office")]
    assert kept == [{"from": "med_reviewer", "to": "med_reviewer", "substitute": "sales1", "away": ["med_reviewer"]}]
    assert "sales1" not in [t["assignee"] for t in api_as("sales1").get("/api/v1/tasks").get_json()["items"]]
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": "demo1234"})
    line = page.get(f"/process-instances/{own}").get_data(as_text=True).split('data-event="out_of_office_kept"')[1]
    assert "医疗行业审核" in line.split("</li>")[0] and "销售一 Sales One" in line.split("data-kept-from>")[1][:80]
    # Someone else's request goes to the substitute as before.
    assert flows.open_task(flows.assigned("med_reviewer", starter="sales2"))["assignee"] == "sales1"


def test_a_delegation_to_someone_away_whose_substitute_is_the_delegator_is_refused(api_as, flows, app):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    today = company_today().isoformat()
    assert api_as("manager").post("/api/v1/out-of-office", json={
        "substitute": "fj_head", "starts_on": today, "ends_on": today}).status_code == 201
    refused = head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "manager", "return_to_delegator": True})
    assert refused.status_code == 400, refused.get_json()
    assert "不在岗" in refused.get_json()["error"]["message"] and "您是其代理人" in refused.get_json()["error"]["message"]
    assert flows.open_task(instance_id)["claimed_by"] == "fj_head"  # nothing changed
    assert head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "med_reviewer"}).status_code == 200
    with app.app_context():  # a delegation is in the audit log, as a reassignment is
        from sqlalchemy import select

        from app.audit import AuditEvent
        from app.extensions import db
        row = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "inbox.task_delegated"))
        assert row is not None and row.details["new"] == "med_reviewer" and row.details["old"] == "fj_head"


def test_delegation_can_come_back_to_the_delegator(api_as, flows, app):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head, med = api_as("fj_head"), api_as("med_reviewer")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "med_reviewer", "return_to_delegator": True})
    back = med.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject", "comment": "资料不全"}})
    assert back.status_code == 200
    now = flows.open_task(instance_id)
    assert now["id"] == task["id"] and now["assignee"] == "fj_head"
    detail = head.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["data"]["decision"] == "reject" and detail["data"]["comment"] == "资料不全"  # the delegate's answer
    # The page says whose answer fills the form (it read as the delegator's own, one click from being sent).
    from app.cli import DEMO_PASSWORD

    page = app.test_client()
    page.post("/login", data={"username": "fj_head", "password": DEMO_PASSWORD})
    note = page.get(f"/tasks/{task['id']}").get_data(as_text=True).split('id="delegates-answer"')[1].split("</div>")[0]
    assert "医疗行业审核 Medical Reviewer" in note
    # The delegate, sent to the inbox after answering, is told where the answer went (it said nothing).
    delegate = app.test_client()
    delegate.post("/login", data={"username": "med_reviewer", "password": DEMO_PASSWORD})
    inbox = delegate.get(f"/inbox?completed={task['id']}").get_data(as_text=True)
    assert "您的答复已交回给委托您的 福建大区负责人 Fujian Head" in inbox
    assert "您的答复已交回" not in page.get(f"/inbox?completed={task['id']}").get_data(as_text=True)
    assert med.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}).status_code == 403
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "核实后同意"}}).status_code == 200
    events = [e for e, *_ in flows.history(instance_id)]
    assert events.index("delegation_returned") < events.index("completed_task")


@pytest.mark.parametrize("passed_on_with_return", [True, False])
def test_a_delegation_passed_on_still_comes_back_to_the_first_delegator(api_as, flows, passed_on_with_return):
    """fj_head asked manager for an answer to come back; manager asked med_reviewer. The
    answer went to manager, whose completion closed the task: fj_head never had it back."""
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head, manager, med = api_as("fj_head"), api_as("manager"), api_as("med_reviewer")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "manager", "return_to_delegator": True})
    passed = manager.post(f"/api/v1/tasks/{task['id']}/delegate",
                          json={"to": "med_reviewer", "return_to_delegator": passed_on_with_return})
    assert passed.status_code == 200, passed.get_json()
    med.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "资料齐全"}})
    if passed_on_with_return:  # back to manager first, whose answer then goes on back
        assert flows.open_task(instance_id)["assignee"] == "manager"
        manager.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "同意"}})
    now = flows.open_task(instance_id)
    assert now["id"] == task["id"] and now["assignee"] == "fj_head"
    assert head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}).status_code == 200
    assert flows.open_task(instance_id) is None or flows.open_task(instance_id)["id"] != task["id"]
    returned = [d["to"] for e, a, c, d in flows.history(instance_id) if e == "delegation_returned"]
    assert returned == (["manager", "fj_head"] if passed_on_with_return else ["fj_head"])


def test_a_comment_reaches_those_who_can_act_and_those_waiting(api_as, flows, app):
    """The salesperson's "催一下" on a report nobody had claimed yet told nobody; an approver's
    question never reached the customer's owner when someone else had filed the report."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.engine.models import ProcessInstance
    from app.extensions import db

    def told(username):
        return [n["text"] for n in api_as(username).get("/api/v1/notifications").get_json()["items"]
                if "评论" in n["text"] or "comment" in n["text"]]

    instance_id = flows.report(owner="sales1")
    task = flows.open_task(instance_id)
    assert api_as("sales1").post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": "催一下"}).status_code == 201
    assert any("催一下" in text for text in told("fj_head"))  # the group's member, who can claim it
    assert any("福州海峡贸易有限公司" in text for text in told("fj_head"))  # about which record
    assert not told("med_reviewer") and not told("sales1")
    with app.app_context():
        customer = db.session.get(Customer, db.session.get(ProcessInstance, instance_id).record_id)
        crm.assign_owner(customer, "sales2", get_user("manager"), "客户转交")
        db.session.commit()
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": "请补充营业执照"})
    assert any("请补充营业执照" in text for text in told("sales2")) and any("请补充营业执照" in text for text in told("sales1"))


def test_comment_and_draft(api_as, flows):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    assert head.post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": "在核实信用代码"}).status_code == 201
    assert head.post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": ""}).status_code == 400
    # A draft needs the task in hand.
    assert head.post(f"/api/v1/tasks/{task['id']}/draft", json={"data": {"comment": "x"}}).status_code == 403
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    saved = head.post(f"/api/v1/tasks/{task['id']}/draft", json={"data": {"comment": "草稿", "name": "改名", "x": 1}})
    assert saved.status_code == 200 and saved.get_json()["data"] == {"comment": "草稿"}
    detail = head.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["data"]["comment"] == "草稿" and detail["data"]["name"] == "福州海峡贸易有限公司"
    assert ("commented", "fj_head", "在核实信用代码") in [h[:3] for h in flows.history(instance_id)]
    assert any(h["event"] == "commented" for h in detail["history"])


def test_attachments_are_checked_and_downloaded_as_attachment(api_as, flows, app):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")

    def upload(name, content):
        from io import BytesIO

        return head.post(f"/api/v1/tasks/{task['id']}/attachments",
                         data={"file": (BytesIO(content), name), "comment": "营业执照"}, content_type="multipart/form-data")

    ok = upload("营业执照.pdf", PDF)
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["content_type"] == "application/pdf"
    assert upload("page.html", b"<!doctype html><script>alert(1)</script>").status_code == 415
    assert upload("fake.pdf", b"MZ\x90\x00 not a pdf").status_code == 415
    assert upload("image.png", PDF).status_code == 415  # the name must agree with the content
    app.config["INBOX_ATTACHMENT_MAX_BYTES"] = 100
    try:
        assert upload("big.pdf", PDF + b"0" * 200).status_code == 413
    finally:
        app.config.pop("INBOX_ATTACHMENT_MAX_BYTES")

    url = ok.get_json()["url"]
    got = head.get(url)
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert api_as("sales1").get(url).status_code == 200  # the reporter follows the instance
    assert api_as("med_reviewer").get(url).status_code == 404
    page = app.test_client()
    page.post("/login", data={"username": "fj_head", "password": "demo1234"})
    listed = page.get(f"/tasks/{task['id']}").get_data(as_text=True).split("营业执照.pdf")[1][:120]
    assert f"· {len(PDF)} B ·" in listed  # a small file in bytes, not "0.0 KB"


def test_withdraw_only_while_nobody_acted(api_as, flows, app):
    sales = api_as("sales1")
    first = flows.report()
    mine = sales.get("/api/v1/my-submissions").get_json()["items"]
    assert [i["id"] for i in mine] == [first] and mine[0]["can_withdraw"]
    assert mine[0]["active_tasks"][0]["name"] == "福建区域负责人审批"
    assert api_as("sales2").post(f"/api/v1/my-submissions/{first}/withdraw", json={}).status_code == 404
    assert api_as("admin").post(f"/api/v1/my-submissions/{first}/withdraw", json={}).status_code == 403
    answer = sales.post(f"/api/v1/my-submissions/{first}/withdraw", json={"comment": "信息填错"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "terminated"
    record_id = answer.get_json()["record"]["id"]
    assert sales.get(f"/api/v1/customers/{record_id}").get_json()["report_status"] == "none"
    assert "withdrawn" in [e for e, *_ in flows.history(first)]
    assert flows.open_task(first) is None
    links = [n["link"] for n in sales.get("/api/v1/notifications").get_json()["items"]]
    assert f"/process-instances/{first}" not in links  # withdrawn by themselves: no "terminated" notice

    second = flows.report(name="厦门新材料有限公司")
    task = flows.open_task(second)
    # An operator routing the task elsewhere has not worked on it: the submitter may still withdraw.
    assert api_as("admin").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "fj_head"}).status_code == 200
    assert sales.get("/api/v1/my-submissions").get_json()["items"][0]["can_withdraw"] is True
    assert api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/comments", json={"comment": "在核实"}).status_code == 201
    refused = sales.post(f"/api/v1/my-submissions/{second}/withdraw", json={})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "already_handled"


def test_a_withdrawal_writes_the_record_before_the_process_as_an_approval_does(api_as, flows, app):
    """The other way round, a withdrawal racing the approval's step deadlocked on PostgreSQL (the
    step writes the customer, then the process; the withdrawal wrote them in the other order)."""
    from sqlalchemy import event

    from app.extensions import db

    instance_id = flows.report()
    written = []

    def note(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE"):
            written.append(statement.split()[1].strip('"'))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert api_as("sales1").post(f"/api/v1/my-submissions/{instance_id}/withdraw", json={}).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", note)
    tables = [t for t in written if t in ("customers", "process_instances", "human_tasks")]
    assert tables and tables[0] == "customers", written


def test_suspend_resume_terminate(api_as, flows, app):
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    admin, head = api_as("admin"), api_as("fj_head")
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/suspend", json={"comment": "核查"}).get_json()["status"] == "suspended"
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/suspend", json={}).status_code == 409
    held = head.post(f"/api/v1/tasks/{task['id']}/claim")  # held with the process, in words an approver reads
    assert held.status_code == 409 and "已挂起" in held.get_json()["error"]["message"]
    listed = head.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert listed["can_act"] is False
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/resume", json={}).get_json()["status"] == "running"
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    admin.post(f"/api/v1/operator/instances/{instance_id}/suspend", json={})
    refused = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert refused.status_code == 409 and "已挂起" in refused.get_json()["error"]["message"]
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/resume", json={}).get_json()["status"] == "running"
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/retry", json={}).status_code == 409
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/terminate", json={}).status_code == 400
    done = admin.post(f"/api/v1/operator/instances/{instance_id}/terminate", json={"reason": "客户已注销"})
    assert done.status_code == 200 and done.get_json()["status"] == "terminated"
    assert admin.post(f"/api/v1/operator/instances/{instance_id}/terminate", json={"reason": "again"}).status_code == 409
    events = [(e, a, c) for e, a, c, _ in flows.history(instance_id)]
    assert ("suspended", "admin", "核查") in events and ("resumed", "admin", None) in events
    assert ("terminated", "admin", "客户已注销") in events
    # The customer is no longer "report pending" for good: it can be reported again, and the
    # salesperson hears why it ended.
    sales = api_as("sales1")
    customer = sales.get(f"/api/v1/my-submissions").get_json()["items"][0]["record"]
    assert sales.get(f"/api/v1/customers/{customer['id']}").get_json()["report_status"] == "none"
    texts = [n["text"] for n in sales.get("/api/v1/notifications").get_json()["items"]]
    assert any(t.endswith("已被终止：客户已注销") for t in texts), texts
    with app.app_context():
        from sqlalchemy import select

        from app.audit import AuditEvent
        from app.extensions import db

        audited = db.session.scalars(select(AuditEvent.event).where(AuditEvent.target == f"process_instance:{instance_id}")).all()
        assert {"process.suspended", "process.resumed", "process.terminated"} <= set(audited)
    listing = admin.get("/api/v1/operator/instances?status=terminated").get_json()
    assert [i["id"] for i in listing["items"]] == [instance_id] and listing["counts"]["terminated"] == 1


def test_retry_an_instance_in_error(api_as, flows, app):
    from app.auth.services import get_user
    from app.engine import services as engine
    from app.extensions import db

    customer_id = flows.customer()
    with app.app_context():
        # A report whose data names another customer than its own fails at "报备通过".
        instance = engine.start_instance("customer_report", {"customer_id": 999999, "name": "X", "province": "福建",
                                                             "reporter": "sales1", "owner": "sales1"}, actor=get_user("sales1"),
                                         record={"type": "customer", "id": customer_id})
        instance_id = instance.id
        db.session.remove()
    task = flows.open_task(instance_id)
    head, admin = api_as("fj_head"), api_as("admin")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "ok"}})
    state = admin.get(f"/api/v1/my-submissions/{instance_id}")
    assert state.status_code == 200 and state.get_json()["status"] == "error"
    assert api_as("sales1").post(f"/api/v1/operator/instances/{instance_id}/retry", json={}).status_code == 403
    fixed = admin.post(f"/api/v1/operator/instances/{instance_id}/retry", json={"data": {"customer_id": customer_id}})
    assert fixed.status_code == 200, fixed.get_json()
    assert fixed.get_json()["status"] == "completed"
    assert "retried" in [e for e, *_ in flows.history(instance_id)]


def test_out_of_office_routes_new_tasks_to_the_substitute(api_as, flows, app):
    med = api_as("med_reviewer")
    today = company_today()
    answer = med.post("/api/v1/out-of-office", json={"substitute": "manager", "starts_on": (today - timedelta(days=1)).isoformat(),
                                                     "ends_on": (today + timedelta(days=1)).isoformat(), "note": "年假"})
    assert answer.status_code == 201, answer.get_json()
    assert med.post("/api/v1/out-of-office", json={"substitute": "med_reviewer", "starts_on": today.isoformat(),
                                                   "ends_on": today.isoformat()}).status_code == 400
    assert med.post("/api/v1/out-of-office", json={"substitute": "manager", "starts_on": today.isoformat(),
                                                   "ends_on": (today - timedelta(days=3)).isoformat()}).status_code == 400
    # Not someone who does other work: a salesperson deciding colleagues' reports (撞单).
    salesperson = med.post("/api/v1/out-of-office", json={"substitute": "sales1", "starts_on": today.isoformat(),
                                                           "ends_on": today.isoformat()})
    assert salesperson.status_code == 400 and salesperson.get_json()["error"]["details"][0]["field"] == "substitute"
    over = med.post("/api/v1/out-of-office", json={"substitute": "manager", "starts_on": "2020-01-01",
                                                   "ends_on": "2020-01-05"})  # would route nothing, nor be listed
    assert over.status_code == 400 and over.get_json()["error"]["details"][0]["field"] == "ends_on"

    routed = flows.assigned("med_reviewer", confirmer="med_reviewer")
    task = flows.open_task(routed)
    assert task["assignee"] == "manager"
    assert ("out_of_office", None) in [(e, a) for e, a, *_ in flows.history(routed)]
    hist = [d for e, a, c, d in flows.history(routed) if e == "out_of_office"][0]
    assert hist == {"from": "med_reviewer", "to": "manager", "away": ["med_reviewer"]}
    # Candidate users are routed too.
    manager = api_as("manager")
    manager.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert flows.open_task(routed)["candidate_users"] == ["manager"]

    # Someone present keeps their tasks; and after the period is removed, so does med_reviewer.
    assert flows.open_task(flows.assigned("fj_head"))["assignee"] == "fj_head"
    period = med.get("/api/v1/out-of-office").get_json()["items"][0]
    assert med.delete(f"/api/v1/out-of-office/{period['id']}").status_code == 204
    assert flows.open_task(flows.assigned("med_reviewer"))["assignee"] == "med_reviewer"


def test_a_group_task_reaches_the_substitute_when_every_member_is_away(api_as, flows):
    """The Fujian heads' one member on holiday: 17 reports waited in a group nobody read."""
    today = company_today()
    head = api_as("fj_head")
    away = head.post("/api/v1/out-of-office", json={"substitute": "manager", "starts_on": today.isoformat(),
                                                    "ends_on": (today + timedelta(days=7)).isoformat()})
    assert away.status_code == 201, away.get_json()
    task = flows.open_task(flows.report(name="休假期间的福建客户"))
    assert task["bpmn_id"] == "Task_fujian_review" and task["candidate_users"] == ["manager"]
    assert task["id"] in _task_ids(api_as("manager").get("/api/v1/tasks"), offered=True)
    manager = api_as("manager")
    # A second report, still waiting when the period is removed, is the group's alone again:
    # the old substitute kept it (and its customer's data) before.
    waiting = flows.open_task(flows.report(name="休假期间的第二家福建客户"))
    assert waiting["candidate_users"] == ["manager"]
    assert manager.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    # With the head back, a new report is the group's alone.
    head.delete(f"/api/v1/out-of-office/{away.get_json()['id']}")
    assert flows.open_task(flows.report(name="回来以后的福建客户"))["candidate_users"] == []
    assert waiting["id"] not in _task_ids(manager.get("/api/v1/tasks"), offered=True)
    assert task["id"] in _task_ids(manager.get("/api/v1/tasks"))  # what they took stays theirs


def test_a_task_given_by_name_to_someone_going_away_reaches_their_substitute_who_is_told(api_as, flows):
    """Reassigned to fj_head, it moved to the manager without a word, and its history said so
    twice (once as its holder's, once as its group's)."""
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    assert api_as("manager").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "fj_head"}).status_code == 200
    today = company_today()
    away = api_as("fj_head").post("/api/v1/out-of-office", json={
        "substitute": "manager", "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=2)).isoformat()})
    assert away.status_code == 201
    assert flows.open_task(instance_id)["assignee"] == "manager"
    told = [n for n in api_as("manager").get("/api/v1/notifications").get_json()["items"]
            if n["link"] == f"/tasks/{task['id']}" and not n["read"]]
    assert len(told) == 1 and "不在" in told[0]["text"]
    moved = [e for e, *_ in flows.history(instance_id) if e == "out_of_office"]
    assert moved == ["out_of_office"]
    # Back early: the period removed, the task is fj_head's again (it stayed the manager's), and
    # the manager hears why it left their inbox.
    assert api_as("fj_head").delete(f"/api/v1/out-of-office/{away.get_json()['id']}").status_code == 204
    assert flows.open_task(instance_id)["assignee"] == "fj_head"
    told = [n for n in api_as("manager").get("/api/v1/notifications").get_json()["items"]
            if n["link"] == f"/tasks/{task['id']}" and not n["read"]]
    assert len(told) == 1 and "不再" in told[0]["text"]
    assert [d for e, a, c, d in flows.history(instance_id) if e == "out_of_office_ended"] == [
        {"from": "manager", "to": "fj_head"}]


def test_a_task_reassigned_to_the_substitute_stays_theirs_when_the_period_is_removed(api_as, flows):
    """Only what the absence moved goes back: a manager's own choice of the substitute stands."""
    instance_id = flows.report()
    task = flows.open_task(instance_id)
    today = company_today()
    away = api_as("fj_head").post("/api/v1/out-of-office", json={
        "substitute": "manager", "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=2)).isoformat()})
    assert api_as("admin").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "fj_head"}).status_code == 200
    assert flows.open_task(instance_id)["assignee"] == "manager"  # routed around the absence
    assert api_as("admin").post(f"/api/v1/tasks/{task['id']}/reassign", json={"to": "manager"}).status_code == 200
    assert api_as("fj_head").delete(f"/api/v1/out-of-office/{away.get_json()['id']}").status_code == 204
    assert flows.open_task(instance_id)["assignee"] == "manager"


def test_tasks_already_waiting_or_given_back_reach_the_substitute_of_the_away(api_as, flows, app):
    """The one sales manager went on holiday with 26 tasks waiting in the group: only new ones
    reached the substitute, and a task they released while away went back to the group alone."""
    from app.db import utcnow
    from app.inbox import services

    waiting = flows.open_task(flows.report(name="休假前的福建客户"))
    claimed = flows.open_task(flows.report(name="休假前认领的福建客户"))
    head = api_as("fj_head")
    assert head.post(f"/api/v1/tasks/{claimed['id']}/claim").status_code == 200
    today = company_today()
    away = head.post("/api/v1/out-of-office", json={"substitute": "manager", "starts_on": today.isoformat(),
                                                    "ends_on": (today + timedelta(days=7)).isoformat()})
    assert away.status_code == 201, away.get_json()
    manager = api_as("manager")
    offered = _task_ids(manager.get("/api/v1/tasks"), offered=True)
    assert waiting["id"] in offered and claimed["id"] not in offered  # what they took stays theirs
    assert any(waiting["id"] == n.get("task_id") or f"/tasks/{waiting['id']}" == n["link"]
               for n in manager.get("/api/v1/notifications").get_json()["items"])  # and the substitute hears of it
    assert head.post(f"/api/v1/tasks/{claimed['id']}/unclaim").status_code == 200  # given back while away
    assert claimed["id"] in _task_ids(manager.get("/api/v1/tasks"), offered=True)
    with app.test_request_context():  # nothing more to route: the worker's run changes nothing
        assert services.offer_waiting_tasks_to_substitutes(utcnow()) == 0
        from app.engine.models import HumanTask
        from app.extensions import db

        # Who it waits for, by name (the salesperson read "Fujian heads, manager").
        assert "Fujian division heads, 销售经理 Sales Manager" in services.holder_label(db.session.get(HumanTask, waiting["id"]))
    # The customer handed to the substitute meanwhile: they do not decide its report (they did).
    record = manager.get(f"/api/v1/tasks/{waiting['id']}").get_json()["record"]
    assert api_as("admin").patch(f"/api/v1/customers/{record['id']}", json={"owner": "manager"}).status_code == 200
    refused = manager.post(f"/api/v1/tasks/{waiting['id']}/claim")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "own_decision"


def test_out_of_office_chain_and_loop(flows, app, demo_people):
    from app.auth.services import get_user
    from app.inbox import services

    with app.test_request_context():
        today = company_today()
        services.set_out_of_office(get_user("med_reviewer"), "manager", today, today)
        services.set_out_of_office(get_user("manager"), "fj_head", today, today)
        assert services.substitute_for("med_reviewer") == ("fj_head", ["med_reviewer", "manager"])
        services.set_out_of_office(get_user("fj_head"), "med_reviewer", today, today)
        # Everyone away in a loop: the chain stops before coming back to the start.
        name, chain = services.substitute_for("med_reviewer")
        assert chain == ["med_reviewer", "manager"] and name == "fj_head"
        # Two people naming each other for the same days is refused at once (manager is away today
        # with fj_head as substitute); on other days it is fine.
        with pytest.raises(ApiError) as refused:
            services.set_out_of_office(get_user("fj_head"), "manager", today, today + timedelta(days=2))
        assert refused.value.details[0]["field"] == "substitute" and "销售经理" in refused.value.details[0]["message"]
        services.set_out_of_office(get_user("fj_head"), "manager", today + timedelta(days=1), today + timedelta(days=2))


def test_two_periods_away_on_the_same_days_are_refused(flows, app, demo_people):
    """12-07…12-09 with one substitute and 12-08…12-12 with another were both saved: nothing
    said who got the tasks of 12-08."""
    from app.auth.services import get_user
    from app.inbox import services

    with app.test_request_context():
        today = company_today()
        services.set_out_of_office(get_user("fj_head"), "manager", today + timedelta(days=1), today + timedelta(days=3))
        with pytest.raises(ApiError) as refused:
            services.set_out_of_office(get_user("fj_head"), "med_reviewer", today + timedelta(days=2),
                                       today + timedelta(days=6))
        [detail] = refused.value.details
        assert detail["field"] == "starts_on"
        assert (today + timedelta(days=1)).isoformat() in detail["message"]
        assert (today + timedelta(days=3)).isoformat() in detail["message"] and "销售经理" in detail["message"]
        services.set_out_of_office(get_user("fj_head"), "med_reviewer", today + timedelta(days=4),
                                   today + timedelta(days=6))  # the day after: fine
        assert len(services.out_of_office_periods(get_user("fj_head"))) == 2


def test_inbox_filters_sorting_and_pages(api_as, flows):
    for name in ("甲公司", "乙公司", "丙公司"):
        flows.report(name=name)
    flows.report(name="广州公司", province="广东")  # to the sales managers, not Fujian
    head = api_as("fj_head")
    listed = head.get("/api/v1/tasks?per_page=2&sort=record&include_form=false").get_json()
    assert listed["total"] == 3 and len(listed["items"]) == 2 and listed["per_page"] == 2
    assert "form" not in listed["items"][0]
    page2 = head.get("/api/v1/tasks?per_page=2&page=2&sort=record").get_json()
    labels = [i["record_label"] for i in listed["items"] + page2["items"]]
    assert labels == sorted(labels)
    assert [i["record_label"] for i in head.get("/api/v1/tasks?record=乙").get_json()["items"]] == ["乙公司"]
    # An integration names the record itself.
    record = head.get("/api/v1/tasks?record=乙").get_json()["items"][0]["record"]
    named = head.get(f"/api/v1/tasks?record=customer:{record['id']}").get_json()["items"]
    assert [i["record_label"] for i in named] == ["乙公司"]
    assert head.get(f"/api/v1/tasks?record=contract:{record['id']}").get_json()["total"] == 0
    assert head.get("/api/v1/tasks?process=assigned_review").get_json()["total"] == 0
    assert head.get("/api/v1/tasks?due=overdue").get_json()["total"] == 0
    assert head.get("/api/v1/tasks?due=week").get_json()["total"] == 3
    for sort in ("-created", "due", "process"):  # pages of one are the whole list's order, cut up
        whole = [i["id"] for i in head.get(f"/api/v1/tasks?sort={sort}&include_form=false").get_json()["items"]]
        pages = [i["id"] for n in (1, 2, 3)
                 for i in head.get(f"/api/v1/tasks?sort={sort}&per_page=1&page={n}&include_form=false").get_json()["items"]]
        assert pages == whole and len(whole) == 3, sort
    assert head.get("/api/v1/tasks?sort=bogus").status_code == 400
    assert head.get("/api/v1/tasks?per_page=500").status_code == 400


def test_a_form_field_the_start_data_sets_is_prefilled_until_a_task_answers_it(api_as, flows):
    """A binding's mapping (or a script) may set an editable field: the form shows that value
    to edit.  Once a task has answered the field, the next form starts empty (trap 5)."""
    instance_id = flows.assigned("fj_head", confirmer="manager", comment="客户要求本周内答复")
    first = flows.open_task(instance_id)
    head, manager = api_as("fj_head"), api_as("manager")
    data = head.get(f"/api/v1/tasks/{first['id']}").get_json()["data"]
    assert data["comment"] == "客户要求本周内答复" and data.get("decision") is None
    assert head.post(f"/api/v1/tasks/{first['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "客户要求本周内答复"}}).status_code == 200
    second = flows.open_task(instance_id)
    data = manager.get(f"/api/v1/tasks/{second['id']}").get_json()["data"]
    assert data.get("comment") is None and data.get("decision") is None


def test_embedded_fields_the_start_data_did_not_capture_show_the_record(api_as, flows):
    """The report's start data carries name and province but not city or capital (a binding
    without the form): the form shows those from the customer as it is now."""
    instance_id = flows.report(name="福州海峡贸易有限公司", city="福州", registered_capital=500)
    task = flows.open_task(instance_id)
    data = api_as("fj_head").get(f"/api/v1/tasks/{task['id']}").get_json()["data"]
    assert (data["name"], data["province"], data["city"], data["registered_capital"]) == (
        "福州海峡贸易有限公司", "福建", "福州", 500)


def test_next_task_form_is_not_prefilled_with_an_earlier_answer(api_as, flows):
    instance_id = flows.assigned("fj_head", confirmer="manager")
    first = flows.open_task(instance_id)
    head, manager = api_as("fj_head"), api_as("manager")
    assert head.post(f"/api/v1/tasks/{first['id']}/complete",
                     json={"data": {"decision": "reject", "comment": "第一步驳回"}}).status_code == 200
    second = flows.open_task(instance_id)
    assert second["bpmn_id"] == "Task_confirm"
    data = manager.get(f"/api/v1/tasks/{second['id']}").get_json()["data"]
    assert data.get("decision") is None and data.get("comment") is None
    # The closed first task still shows what fj_head answered.
    done = head.get(f"/api/v1/tasks/{first['id']}").get_json()
    assert done["status"] == "completed" and done["data"]["decision"] == "reject" and done["data"]["comment"] == "第一步驳回"


def test_a_record_under_a_running_process_cannot_be_deleted(api_as, flows, app):
    instance_id = flows.report()
    sales = api_as("sales1")
    customer_id = sales.get("/api/v1/my-submissions").get_json()["items"][0]["record"]["id"]
    refused = sales.delete(f"/api/v1/customers/{customer_id}")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "process_running"
    assert f"#{instance_id}" in refused.get_json()["error"]["message"]
    assert sales.get(f"/api/v1/customers/{customer_id}").status_code == 200
    sales.post(f"/api/v1/my-submissions/{instance_id}/withdraw", json={})
    assert sales.delete(f"/api/v1/customers/{customer_id}").status_code == 204
    with app.app_context():
        from sqlalchemy import select

        from app.audit import AuditEvent
        from app.extensions import db

        deleted = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "crm.customer_deleted"))
        assert deleted.target == f"customer:{customer_id}" and deleted.details["record"]["name"] == "福州海峡贸易有限公司"


def test_a_misspelt_field_in_a_completion_is_refused_not_dropped(app, flows, api_as):
    """``comments`` for ``comment``: dropped, the approver's reason was lost without a word."""
    instance_id = flows.assigned("fj_head")
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    refused = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject", "comments": "价格不对"}})
    assert refused.status_code == 400
    assert {d["field"] for d in refused.get_json()["error"]["details"]} >= {"comments"}
    assert flows.open_task(instance_id)["id"] == task["id"]  # still open, nothing lost
    # What the form shows may come back with the answers (its read-only fields are not taken).
    done = head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "好", "name": "改不了的名字"}})
    assert done.status_code == 200, done.get_json()


def test_no_new_contract_for_a_customer_whose_report_was_rejected_until_it_is_reported_again(api_as, flows, app):
    """The report was rejected as a colleague's customer; a 600,000 contract on it still went to
    an approver who saw nothing of that."""
    instance_id = flows.report(name="东方物流重复报备")
    task = flows.open_task(instance_id)
    head, sales = api_as("fj_head"), api_as("sales1")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "reject", "comment": "已由销售二跟进"}}).status_code == 200
    customer_id = sales.get("/api/v1/my-submissions").get_json()["items"][0]["record"]["id"]
    contract = {"customer_id": customer_id, "title": "重复客户的合同", "amount": 600000}
    refused = sales.post("/api/v1/contracts", json=contract)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "report_rejected"
    assert refused.get_json()["error"]["details"][0]["field"] == "customer_id"
    assert "东方物流重复报备" in refused.get_json()["error"]["message"]
    assert api_as("admin").post("/api/v1/contracts", json={**contract, "title": "管理员补录"}).status_code == 201
    # Nor is one moved onto it from another customer.
    other = sales.post("/api/v1/customers", json={"name": "另一家客户", "province": "浙江"}).get_json()
    elsewhere = sales.post("/api/v1/contracts", json={**contract, "customer_id": other["id"]}).get_json()
    moved = sales.patch(f"/api/v1/contracts/{elsewhere['id']}", json={"customer_id": customer_id})
    assert moved.status_code == 409 and moved.get_json()["error"]["code"] == "report_rejected"
    # Reported again (under review): deals and contracts may follow.
    with app.app_context():
        from app.crm import services as crm
        from app.extensions import db

        crm.set_review_status("customer", customer_id, "pending", commit=False)
        db.session.commit()
    assert sales.post("/api/v1/contracts", json=contract).status_code == 201


def test_an_out_of_office_period_says_what_is_missing_or_too_long(app, demo_people):
    """An empty substitute read "unknown or inactive user"; a 300-character note was cut to 200
    with a "Saved"."""
    from app.cli import DEMO_PASSWORD

    today = company_today().isoformat()
    page = app.test_client()
    page.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    empty = page.post("/out-of-office", data={"substitute": "", "starts_on": today, "ends_on": today})
    assert empty.status_code == 400 and "此字段为必填项" in empty.get_data(as_text=True)
    long = page.post("/out-of-office", data={"substitute": "sales2", "starts_on": today, "ends_on": today,
                                             "note": "休" * 300})
    assert long.status_code == 400 and "最多 200 个字符" in long.get_data(as_text=True)
