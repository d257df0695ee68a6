"""Handing a leaver's work over: owned records, open tasks and managed groups go to a successor
in one step, each logged as a change by hand would be."""
from datetime import timedelta

import pytest

from app.cli import DEMO_PASSWORD


def test_a_leavers_records_tasks_and_groups_go_to_the_successor(app, flows, api_as):
    instance_id = flows.report()  # sales1's customer; its task is offered to the Fujian heads
    task = flows.open_task(instance_id)
    head, admin = api_as("fj_head"), api_as("admin")
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200  # goes back to the group
    customer_id = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"][0]["record"]["id"]
    assigned = flows.assigned("fj_head")  # a task for fj_head by name: waits for the hand-over
    admin.patch("/api/v1/groups/fujian-heads", json={"manager": "fj_head"})
    assert admin.patch("/api/v1/users/fj_head", json={"active": False}).status_code == 200

    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    html = page.get("/admin/users/fj_head").get_data(as_text=True)
    assert 'id="hand-over"' in html and "1 个待办" in html and "fujian-heads" in html

    refused = admin.post("/api/v1/users/fj_head/hand-over", json={"to": "fj_head"})
    assert refused.status_code == 400
    moved = admin.post("/api/v1/users/fj_head/hand-over", json={"to": "manager"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["moved"] == {"records": {}, "tasks": 1, "todos": 0, "groups": ["fujian-heads"],
                                         "substituting": []}
    assert flows.open_task(assigned)["assignee"] == "manager"
    assert ("reassigned", "admin") in [(e, a) for e, a, *_ in flows.history(assigned)]
    assert flows.open_task(instance_id)["claimed_by"] is None
    assert admin.get("/api/v1/groups/fujian-heads").get_json()["manager"] == "manager"
    # Records too: sales1 leaves, sales2 takes over the customer (logged as a hand-over).
    assert admin.post("/api/v1/users/sales1/hand-over", json={"to": "sales2"}).get_json()["moved"]["records"] == \
        {"customer": 1}
    assert api_as("sales2").get(f"/api/v1/customers/{customer_id}").get_json()["owner"] == "sales2"
    record_page = page.get(f"/crm/customer/{customer_id}").get_data(as_text=True)
    assert "由管理员移交" in record_page
    assert 'id="hand-over"' not in page.get("/admin/users/fj_head").get_data(as_text=True)  # nothing left


def test_a_successor_hears_of_a_hand_over_once_not_per_record(app, api_as, demo_people):
    from sqlalchemy import select

    from app.auth.models import User
    from app.extensions import db
    from app.notifications.models import Notification

    sales1, admin = api_as("sales1"), api_as("admin")
    for number in range(3):
        assert sales1.post("/api/v1/customers", json={"name": f"交接客户{number}"}).status_code == 201
    assert admin.post("/api/v1/users/sales1/hand-over", json={"to": "sales2"}).get_json()["moved"]["records"] == \
        {"customer": 3}
    with app.app_context():
        sales2 = db.session.scalar(select(User.id).where(User.username == "sales2"))
        texts = db.session.scalars(select(Notification.text).where(Notification.user_id == sales2)).all()
    assert texts == ["销售一 Sales One 的记录已移交给您：3 条。"]


def test_a_leavers_pending_report_is_approved_for_the_successor(app, flows, api_as):
    instance_id = flows.report()  # sales1's report, started with owner sales1
    customer_id = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"][0]["record"]["id"]
    admin, head = api_as("admin"), api_as("fj_head")
    assert admin.patch("/api/v1/users/sales1", json={"active": False}).status_code == 200
    assert admin.post("/api/v1/users/sales1/hand-over", json={"to": "sales2"}).status_code == 200
    task = flows.open_task(instance_id)
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    done = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "同意"}})
    assert done.status_code == 200, done.get_json()
    assert admin.get(f"/api/v1/process-instances/{instance_id}").get_json()["status"] == "completed"
    customer = admin.get(f"/api/v1/customers/{customer_id}").get_json()
    assert (customer["owner"], customer["report_status"]) == ("sales2", "approved")


def test_a_leavers_task_taken_from_a_group_goes_back_to_the_group(app, flows, api_as):
    """Deactivating someone who took a group task must not hide it from the group's others."""
    instance_id = flows.report()  # offered to the Fujian heads
    task = flows.open_task(instance_id)
    head, admin, manager = api_as("fj_head"), api_as("admin"), api_as("manager")
    admin.patch("/api/v1/groups/fujian-heads", json={"members": ["fj_head", "manager"]})
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert task["id"] not in [t["id"] for t in manager.get("/api/v1/tasks").get_json()["items"]]
    assert admin.patch("/api/v1/users/fj_head", json={"active": False}).status_code == 200
    assert flows.open_task(instance_id)["claimed_by"] is None
    assert task["id"] in [t["id"] for t in manager.get("/api/v1/tasks").get_json()["items"]]
    assert ("unclaimed", "admin") in [(e, a) for e, a, *_ in flows.history(instance_id)]
    told = [n for n in manager.get("/api/v1/notifications").get_json()["items"] if "已停用" in n["text"]]
    assert len(told) == 1 and not told[0]["read"] and told[0]["link"] == f"/tasks/{task['id']}"  # and is told so


def test_whom_a_leaver_covered_for_while_away_is_covered_by_the_successor(app, api_as):
    """何静 was away with 林峰 as substitute; 林峰 left and his work was handed over, the period
    still named him: her tasks stayed with nobody who could act, and nobody was told."""
    from app.clock import company_today

    today = company_today()
    assert api_as("fj_head").post("/api/v1/out-of-office", json={
        "substitute": "med_reviewer", "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=5)).isoformat()}).status_code == 201
    admin = api_as("admin")
    assert admin.patch("/api/v1/users/med_reviewer", json={"active": False}).status_code == 200
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    held = page.get("/admin/users/med_reviewer").get_data(as_text=True).split('id="hand-over"')[1].split("</p>")[0]
    assert "外出代理：福建大区负责人 Fujian Head" in held
    # Every open record, task and to-do changes hands at one click: the button asks first.
    assert 'data-confirm="将 医疗行业审核 Medical Reviewer 在此列出的全部未完成工作移交给所选的人' in \
        page.get("/admin/users/med_reviewer").get_data(as_text=True)
    moved = admin.post("/api/v1/users/med_reviewer/hand-over", json={"to": "manager"}).get_json()["moved"]
    assert moved["substituting"] == ["fj_head"]
    [period] = api_as("fj_head").get("/api/v1/out-of-office").get_json()["items"]
    assert period["substitute"] == "manager"
    told = [n["text"] for n in api_as("fj_head").get("/api/v1/notifications").get_json()["items"]]
    assert any("销售经理 Sales Manager" in text and "已离开" in text for text in told)
    covering = [n["text"] for n in api_as("manager").get("/api/v1/notifications").get_json()["items"]]
    assert any("福建大区负责人 Fujian Head" in text and "代理" in text for text in covering)


@pytest.mark.parametrize("moved_by", ["user", "group"])
def test_someone_moved_out_of_a_group_gives_back_the_tasks_they_took_from_it(app, flows, api_as, moved_by):
    """A Fujian head moved to another department kept the Fujian report he had claimed, and
    approved it; deactivating gave such tasks back, moving did not."""
    instance_id = flows.report()  # offered to the Fujian heads
    task = flows.open_task(instance_id)
    head, admin, manager = api_as("fj_head"), api_as("admin"), api_as("manager")
    admin.patch("/api/v1/groups/fujian-heads", json={"members": ["fj_head", "manager"]})
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    kept_instance = flows.report(name="厦门另一家", province="福建")
    kept = flows.open_task(kept_instance)
    assert admin.post(f"/api/v1/tasks/{kept['id']}/reassign", json={"to": "fj_head"}).status_code == 200  # by name
    moved = (admin.patch("/api/v1/users/fj_head", json={"groups": ["sales"]}) if moved_by == "user" else
             admin.patch("/api/v1/groups/fujian-heads", json={"members": ["manager"]}))
    assert moved.status_code == 200, moved.get_json()
    assert flows.open_task(instance_id)["claimed_by"] is None
    assert task["id"] in [t["id"] for t in manager.get("/api/v1/tasks").get_json()["items"]]
    assert head.post(f"/api/v1/tasks/{task['id']}/complete", json={
        "data": {"decision": "approve", "comment": "调岗后"}}).status_code in (403, 404)
    assert flows.open_task(kept_instance)["assignee"] == "fj_head"  # given to them by name: still theirs
    told = [n for n in manager.get("/api/v1/notifications").get_json()["items"] if "不再属于" in n["text"]]
    assert len(told) == 1 and told[0]["link"] == f"/tasks/{task['id']}"
    mine = [n["text"] for n in head.get("/api/v1/notifications").get_json()["items"] if "已交回该组" in n["text"]]
    assert len(mine) == 1  # and the one moved hears why it left their inbox


def test_a_task_delegated_to_a_leaver_comes_back_to_whoever_delegated_it(app, flows, api_as):
    """It stayed with the deactivated delegate, whom nobody could ask for an answer any more."""
    instance_id = flows.assigned("fj_head")
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    delegated = head.post(f"/api/v1/tasks/{task['id']}/delegate",
                          json={"to": "med_reviewer", "return_to_delegator": True, "comment": "请帮忙看看"})
    assert delegated.status_code == 200, delegated.get_json()
    assert flows.open_task(instance_id)["assignee"] == "med_reviewer"
    assert api_as("admin").patch("/api/v1/users/med_reviewer", json={"active": False}).status_code == 200
    assert flows.open_task(instance_id)["assignee"] == "fj_head"
    assert ("delegation_returned", "admin") in [(e, a) for e, a, *_ in flows.history(instance_id)]
    told = [n["text"] for n in head.get("/api/v1/notifications").get_json()["items"]]
    assert any("停用" in text for text in told), told
    # Back with its delegator, it is theirs to complete.
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "好"}}).status_code == 200


def test_the_hand_over_page_counts_in_words_that_agree(app, api_as, demo_people):
    assert api_as("sales1").post("/api/v1/customers", json={"name": "交接单数客户"}).status_code == 201
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page.post("/language", data={"locale": "en", "next": "/"})
    api_as("admin").patch("/api/v1/users/sales1", json={"active": False})
    html = page.get("/admin/users/sales1").get_data(as_text=True)
    assert "1 × Customer" in html
    done = page.post("/admin/users/sales1/hand-over", data={"to": "sales2"}, follow_redirects=True)
    assert "handed over: 1 record." in done.get_data(as_text=True)  # what moved, not "0 tasks, 0 to-dos"
    again = page.post("/admin/users/sales1/hand-over", data={"to": "sales2"}, follow_redirects=True)
    assert "held nothing to hand over" in again.get_data(as_text=True)


def test_to_dos_go_with_their_record_to_its_new_owner_and_a_leavers_to_the_successor(app, api_as, demo_people):
    """A rule's "call them tomorrow" for the owner stayed with the salesperson after a later rule
    (round robin) or a hand-over gave the customer away: a to-do about a record they could not
    open. And the hand-over said "0 to-dos" and left the leaver's 47 open ones behind."""
    from app.auth.services import get_user
    from app.automation.models import Todo
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.extensions import db

    customer = api_as("sales1").post("/api/v1/customers", json={"name": "待办跟随客户"}).get_json()
    with app.app_context():
        sales1 = get_user("sales1")
        db.session.add_all([Todo(user=sales1, title="明天回访", entity="customer", record_id=customer["id"]),
                            Todo(user=get_user("manager"), title="经理复核", entity="customer", record_id=customer["id"]),
                            Todo(user=sales1, title="整理名片")])
        db.session.commit()
        crm.assign_owner(db.session.get(Customer, customer["id"]), "sales2", get_user("manager"), "round robin")
        db.session.commit()
        held = {t.title: t.user.username for t in db.session.query(Todo)}
    assert held == {"明天回访": "sales2", "经理复核": "manager", "整理名片": "sales1"}  # someone else's stays
    admin = api_as("admin")
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert "1 个未完成的待办事项" in page.get("/admin/users/sales1").get_data(as_text=True)
    assert admin.post("/api/v1/users/sales1/hand-over", json={"to": "manager"}).get_json()["moved"]["todos"] == 1
    with app.app_context():
        assert {t.title: t.user.username for t in db.session.query(Todo)}["整理名片"] == "manager"


def test_the_deals_a_leaver_won_or_lost_stay_theirs_as_history(app, api_as, demo_people):
    """Moved with the rest, the sales report credited the successor with the leaver's win."""
    from app.crm.demo import seed_stages
    from app.extensions import db

    with app.app_context():
        seed_stages()
        db.session.commit()
    sales2, admin = api_as("sales2"), api_as("admin")
    customer = sales2.post("/api/v1/customers", json={"name": "交接赢单客户"}).get_json()
    won = sales2.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "已赢",
                                                    "amount": 420000, "expected_close": "2026-12-01"}).get_json()
    assert sales2.patch(f"/api/v1/opportunities/{won['id']}", json={"status": "won"}).status_code == 200
    lost = sales2.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "已输"}).get_json()
    assert sales2.patch(f"/api/v1/opportunities/{lost['id']}", json={"status": "lost"}).status_code == 200
    running = sales2.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "进行中"}).get_json()
    admin.patch("/api/v1/users/sales2", json={"active": False})
    moved = admin.post("/api/v1/users/sales2/hand-over", json={"to": "sales1"}).get_json()["moved"]
    assert moved["records"] == {"customer": 1, "opportunity": 1}
    owners = {o["title"]: o["owner"] for o in api_as("sales1").get("/api/v1/opportunities").get_json()["items"]}
    assert owners == {"已赢": "sales2", "已输": "sales2", "进行中": "sales1"}  # seen through the customer
    assert running["id"] in [o["id"] for o in api_as("sales1").get("/api/v1/opportunities?status=open")
                             .get_json()["items"]]
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert 'id="hand-over"' not in page.get("/admin/users/sales2").get_data(as_text=True)  # nothing left to hand over
