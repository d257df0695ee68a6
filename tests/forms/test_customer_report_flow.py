"""The customer report (客户报备) end to end through the API (API.md), as the demo sets it up."""
import pytest


def report(api_as, **fields):
    body = {"name": "厦门海沧医疗器械有限公司", "province": "福建", "city": "厦门", "industry": "制造",
            "credit_code": "91350200MA2Y0000XD", "phone": "0592-5550123", **fields}
    response = api_as("sales1").post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def only_task(api):
    tasks = api.get("/api/v1/tasks").get_json()["items"]
    assert len(tasks) == 1, tasks
    return tasks[0]


def approve_as_fujian_head(api_as, seeing_owner):
    """The Fujian head approves the one report waiting, its form showing ``seeing_owner``."""
    head = api_as("fj_head")
    task = only_task(head)
    assert head.get(f"/api/v1/tasks/{task['id']}").get_json()["data"]["owner"] == seeing_owner
    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "同意"}}).status_code == 200


def test_fujian_report_approved(api_as, demo_flow):
    # An earlier customer of sales2 with the same credit code: a possible duplicate (撞单).
    api_as("sales2").post("/api/v1/customers", json={"name": "海沧医疗", "credit_code": "91350200MA2Y0000XD"})
    customer = report(api_as)
    assert api_as("sales1").get(f"/api/v1/customers/{customer['id']}").get_json()["report_status"] == "pending"
    head = api_as("fj_head")
    task = only_task(head)
    assert (task["record"]["type"], task["record"]["id"]) == ("customer", customer["id"])
    detail = head.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["data"]["province"] == "福建" and detail["data"]["name"] == customer["name"]
    embedded = {c["key"]: c for group in detail["form"]["components"] for c in group.get("components", [])}
    assert embedded["credit_code"]["readonly"] is True
    assert detail["duplicates"], detail["duplicates"]
    manager_tasks = api_as("manager").get("/api/v1/tasks").get_json()["items"]
    assert customer["id"] not in [t["record"]["id"] for t in manager_tasks]  # routed to Fujian only

    assert head.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    refused = head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject"}})
    assert refused.status_code == 400
    assert [d["field"] for d in refused.get_json()["error"]["details"]] == ["comment"]
    assert only_task(head)["id"] == task["id"]  # still open, nothing lost

    done = head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "核实无误", "province": "广东"}})
    assert done.status_code == 200, done.get_json()
    sales1 = api_as("sales1")
    assert sales1.get(f"/api/v1/customers/{customer['id']}").get_json()["report_status"] == "approved"
    [mine] = sales1.get("/api/v1/my-submissions").get_json()["items"]
    assert mine["status"] == "completed"
    # The approver could not rewrite the embedded province.
    assert sales1.get(f"/api/v1/customers/{customer['id']}").get_json()["province"] == "福建"
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve"}}).status_code in (404, 409)


@pytest.mark.parametrize("province, industry, approver", [("广东", "医疗", "med_reviewer"),
                                                            ("广东", "制造", "manager")])
def test_routing_and_rejection_notifies_the_reporter(api_as, demo_flow, province, industry, approver):
    customer = report(api_as, province=province, industry=industry)
    api = api_as(approver)
    task = only_task(api)
    api.post(f"/api/v1/tasks/{task['id']}/claim")
    done = api.post(f"/api/v1/tasks/{task['id']}/complete",
                    json={"data": {"decision": "reject", "comment": "与销售二的客户撞单"}})
    assert done.status_code == 200, done.get_json()
    sales1 = api_as("sales1")
    assert sales1.get(f"/api/v1/customers/{customer['id']}").get_json()["report_status"] == "rejected"
    texts = [n["text"] for n in sales1.get("/api/v1/notifications").get_json()["items"]]
    assert any("与销售二的客户撞单" in t for t in texts), texts


def test_a_rejected_report_is_submitted_again_after_the_fix(app, api_as, demo_flow):
    customer = report(api_as, province="广东", phone="")
    manager, sales1 = api_as("manager"), api_as("sales1")
    task = only_task(manager)
    manager.post(f"/api/v1/tasks/{task['id']}/claim")
    manager.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "reject", "comment": "缺电话"}})
    assert sales1.get(f"/api/v1/customers/{customer['id']}").get_json()["report_status"] == "rejected"
    version = sales1.get(f"/api/v1/customers/{customer['id']}").get_json()["version"]
    assert sales1.patch(f"/api/v1/customers/{customer['id']}",
                        json={"phone": "0592-5550123", "version": version}).status_code == 200

    url = f"/forms/records/customer/{customer['id']}/report-again"
    client = app.test_client()  # the pages' own session, apart from the API clients' tokens
    client.post("/login", data={"username": "sales2", "password": "demo1234"})
    assert client.post(url).status_code == 404  # not theirs
    client.post("/logout")
    client.post("/login", data={"username": "sales1", "password": "demo1234"})
    page = client.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)
    assert 'id="report-again"' in page and "重新提交报备" in page
    # The record says how the report came out and why, not only that it was started.
    assert 'data-process-status="completed"' in page and "报备驳回" in page and "最后意见：缺电话" in page
    again = client.post(url)
    assert again.status_code == 302
    assert sales1.get(f"/api/v1/customers/{customer['id']}").get_json()["report_status"] == "pending"
    task = only_task(manager)
    assert manager.get(f"/api/v1/tasks/{task['id']}").get_json()["data"]["phone"] == "0592-5550123"
    # Pending: no button, and a second submission starts nothing.
    assert 'id="report-again"' not in client.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)
    client.post(url)
    assert len(manager.get("/api/v1/tasks").get_json()["items"]) == 1
    # The API says why.
    refused = sales1.post(f"/api/v1/records/customer/{customer['id']}/report-again")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "report_open"
    assert api_as("sales2").post(f"/api/v1/records/customer/{customer['id']}/report-again").status_code == 404


def test_the_approval_keeps_the_owner_a_rule_gave_the_customer(app, api_as, demo_flow):
    # A rule hands new Fujian customers to sales2 before the report starts: approving the
    # report confirms that owner, it does not give the customer back to the reporter.
    from app.auth.services import get_user
    from app.automation.services import create_rule
    from app.extensions import db

    with app.app_context():
        create_rule({"name": "福建客户给销售二", "entity": "customer", "event": "created",
                     "condition": {"field": "province", "op": "contains", "value": "福建"},
                     "actions": [{"type": "assign_owner", "strategy": "user", "user": "sales2"}]}, get_user("admin"))
        db.session.commit()
    customer = report(api_as)
    approve_as_fujian_head(api_as, seeing_owner="sales2")
    record = api_as("sales2").get(f"/api/v1/customers/{customer['id']}").get_json()
    assert record["report_status"] == "approved" and record["owner"] == "sales2"
    [mine] = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"]  # the reporter follows it still
    assert mine["status"] == "completed"


def test_a_customer_handed_over_during_its_report_stays_with_the_new_owner(api_as, demo_flow):
    """The process's ``owner`` follows the record: the approver's form shows the new owner, the
    approval confirms them (it does not hand the customer back), and they hear the outcome."""
    customer = report(api_as)
    handed = api_as("manager").patch(f"/api/v1/customers/{customer['id']}", json={
        "owner": "sales2", "version": api_as("manager").get(f"/api/v1/customers/{customer['id']}").get_json()["version"]})
    assert handed.status_code == 200, handed.get_json()
    approve_as_fujian_head(api_as, seeing_owner="sales2")
    record = api_as("sales2").get(f"/api/v1/customers/{customer['id']}").get_json()
    assert (record["report_status"], record["owner"]) == ("approved", "sales2")
    told = [n["text"] for n in api_as("sales2").get("/api/v1/notifications").get_json()["items"]]
    assert any("关于您的记录的流程" in t and "报备通过" in t for t in told), told
    assert any("您发起的流程" in n["text"] for n in api_as("sales1").get("/api/v1/notifications").get_json()["items"])


def test_a_process_that_changes_its_record_does_not_start_with_data_alone(app, api_as, demo_flow):
    """Started through POST /process-instances without a record, it ran up to its first step on
    the record and stopped there with an error (counted on the admin's home page)."""
    started = api_as("sales1").post("/api/v1/process-instances", json={
        "process_key": "customer_report", "data": {"customer_id": 1, "name": "只有数据", "province": "福建"}})
    assert started.status_code == 400, started.get_json()
    error = started.get_json()["error"]
    assert error["code"] == "invalid_data" and "report-again" in error["message"]
    from sqlalchemy import func, select

    from app.engine.models import ProcessInstance
    from app.extensions import db

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
        db.session.remove()


def test_a_company_installs_the_shipped_approvals_on_its_own_data(app):
    """Without `flask demo` customers were saved 未报备 and nothing said how to switch the report
    on: deploy the template, create the groups its scripts name, bind it with the right box."""
    from sqlalchemy import func, select

    from app.auth.services import create_user, get_user
    from app.crm import _register_operations as register_crm_operations
    from app.crm import services as crm
    from app.engine.models import HumanTask
    from app.engine.product_operations import register_product_operations
    from app.extensions import db
    from app.forms.models import FormBinding
    from app.inbox.services import unattended_task_count

    register_crm_operations()
    register_product_operations()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-admin", "itadmin", "--password", "Long-enough-2026"]).exit_code == 0
    installed = runner.invoke(args=["install-approvals"])
    assert installed.exit_code == 0, installed.output
    assert "客户报备" in installed.output and "fujian-heads" in installed.output  # its groups, empty yet
    assert "负责人" in installed.output  # and without a manager: late tasks would reach the IT administrator
    with app.test_request_context():
        create_user(username="lin_xs", password="Long-enough-2026", roles=("sales",))
        customer = crm.create("customer", {"name": "厦门新客户有限公司", "province": "福建"}, get_user("lin_xs"))
        db.session.commit()
        assert customer.report_status == "pending"
        [task] = db.session.scalars(select(HumanTask)).all()
        assert task.candidate_groups == ["fujian-heads"]
        assert unattended_task_count() == 1  # nobody in the group yet: the administrator's home says so
    again = runner.invoke(args=["install-approvals"])
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormBinding)) == 2  # once each
