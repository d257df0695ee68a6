"""The shipped contract approval template (合同审批) bound to "contract created", end to end
through the API: the sales managers approve; a contract of 500,000 yuan or more then goes to
the manager above them; the salesperson hears the outcome either way, and the contract's
approval status (审批状态) says where it stands."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def contract_flow(app, api_as, demo_people, request):
    from app.crm.demo import seed_stages
    from app.engine import services as engine
    from app.engine.product_operations import register_product_operations
    from app.extensions import db
    from app.forms import services as forms

    with app.app_context():
        register_product_operations()
        seed_stages()
        engine.deploy((ROOT / "bpmn" / "contract_approval.bpmn").read_bytes())
        forms.load_shipped_forms()
        db.session.commit()
    binding = api_as("admin").post("/api/v1/form-bindings", json={
        "name": "新增合同 → 合同审批", "entity": "contract", "event": "created", "process_key": "contract_approval",
        "form_key": "contract_approval", "report_pending": getattr(request, "param", True)})
    assert binding.status_code == 201, binding.get_json()
    customer = api_as("sales1").post("/api/v1/customers", json={"name": "厦门鹭江医疗器械有限公司"}).get_json()

    def submit(amount):
        response = api_as("sales1").post("/api/v1/contracts", json={
            "customer_id": customer["id"], "title": f"影像设备采购合同 {amount}", "amount": amount})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return submit


def _contract(api, contract) -> dict:
    return api.get(f"/api/v1/contracts/{contract['id']}").get_json()


def _decide(api, decision, comment=""):
    [task] = api.get("/api/v1/tasks").get_json()["items"]
    api.post(f"/api/v1/tasks/{task['id']}/claim")
    done = api.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": decision, "comment": comment}})
    assert done.status_code == 200, done.get_json()
    return task


def _told(api_as) -> list[str]:
    return [n["text"] for n in api_as("sales1").get("/api/v1/notifications").get_json()["items"]]


def test_a_small_contract_needs_the_sales_manager_only(api_as, contract_flow):
    contract = contract_flow(120000)
    task = _decide(api_as("manager"), "approve")
    assert task["name"] == "销售经理审批" and task["record"] == {"type": "contract", "id": contract["id"]}
    assert api_as("admin").get("/api/v1/tasks").get_json()["items"] == []  # nothing for the manager above
    assert f"您的合同「{contract['title']}」审批通过" in _told(api_as)
    [mine] = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"]
    assert mine["status"] == "completed"
    assert (contract["approval_status"], _contract(api_as("sales1"), contract)["approval_status"]) == (
        "pending", "approved")


def test_a_large_contract_goes_on_to_the_manager_above_and_a_rejection_tells_why(api_as, contract_flow):
    contract = contract_flow(600000)
    manager = api_as("manager")
    [task] = manager.get("/api/v1/tasks").get_json()["items"]
    shown = manager.get(f"/api/v1/tasks/{task['id']}").get_json()
    # From the record, the customer through the contract's relation.
    assert (shown["data"]["title"], shown["data"]["amount"]) == (contract["title"], 600000)
    assert shown["data"]["customer"] == "厦门鹭江医疗器械有限公司"
    _decide(manager, "approve")
    # The sales managers' group has the admin above it in the demo (README).
    above = _decide(api_as("admin"), "reject", "价格低于底价")
    assert above["name"] == "总经理审批"
    assert f"您的合同「{contract['title']}」被驳回：价格低于底价" in _told(api_as)
    assert _contract(api_as("sales1"), contract)["approval_status"] == "rejected"


def test_the_manager_of_the_sales_managers_never_approves_both_levels(app, api_as, contract_flow):
    """Their head, a sales manager too, approved a 600,000 contract's first level and was then
    given its second (总经理审批) by name: one person approved both."""
    assert api_as("admin").patch("/api/v1/groups/sales-managers", json={"manager": "manager"}).status_code == 200
    contract = contract_flow(600000)
    _decide(api_as("manager"), "approve")
    assert api_as("manager").get("/api/v1/tasks").get_json()["items"] == []
    [above] = api_as("admin").get("/api/v1/tasks").get_json()["items"]
    assert above["name"] == "总经理审批" and above["assignee"] == "admin"  # the next one up
    assert above["record"] == {"type": "contract", "id": contract["id"]}


def test_the_second_level_never_reaches_the_first_level_s_approver_by_absence_or_hand(app, api_as, contract_flow):
    """The administrator, away with the sales manager as substitute: 总经理审批 moved to the
    manager who had approved 销售经理审批, and they approved it too."""
    from datetime import timedelta

    from app.clock import company_today

    contract = contract_flow(700000)
    _decide(api_as("manager"), "approve")
    [above] = api_as("admin").get("/api/v1/tasks").get_json()["items"]
    today = company_today()
    assert api_as("admin").post("/api/v1/out-of-office", json={
        "substitute": "manager", "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=3)).isoformat()}).status_code == 201
    assert api_as("manager").get("/api/v1/tasks").get_json()["items"] == []  # it waits for the administrator
    assert api_as("admin").get(f"/api/v1/tasks/{above['id']}").get_json()["assignee"] == "admin"
    refused = api_as("admin").post(f"/api/v1/tasks/{above['id']}/reassign", json={"to": "manager"})
    assert refused.status_code == 400 and "销售经理审批" in refused.get_json()["error"]["message"]
    assert _contract(api_as("sales1"), contract)["approval_status"] == "pending"
    # Away already when the first level is decided: the second is made for the administrator
    # in the same step, and stays theirs.
    contract_flow(800000)
    _decide(api_as("manager"), "approve")
    assert api_as("manager").get("/api/v1/tasks").get_json()["items"] == []


def test_a_substitute_who_decided_the_first_level_for_the_absent_manager_is_not_given_the_second(
        api_as, contract_flow):
    """The sales managers' head away with fj_head as substitute: fj_head approved the first level
    for them, and the second, made for the head, went to fj_head again."""
    from datetime import timedelta

    from app.clock import company_today

    admin = api_as("admin")
    assert admin.patch("/api/v1/groups/sales-managers", json={"manager": "manager"}).status_code == 200
    today = company_today()
    assert api_as("manager").post("/api/v1/out-of-office", json={
        "substitute": "fj_head", "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=1)).isoformat()}).status_code == 201
    contract_flow(700000)
    _decide(api_as("fj_head"), "approve")
    assert api_as("fj_head").get("/api/v1/tasks").get_json()["items"] == []
    [above] = admin.get("/api/v1/tasks").get_json()["items"]
    assert above["name"] == "总经理审批" and above["assignee"] == "admin"


def test_submitting_again_twice_at_once_is_a_lost_race_not_a_failed_start(app, api_as, contract_flow, monkeypatch):
    """Both answered 201, the second as a "failed" start with SQLAlchemy's "expected to update 1
    row(s); 0 were matched", sent to every administrator."""
    from sqlalchemy.orm.exc import StaleDataError

    from app.engine import services as engine

    contract = contract_flow(120000)
    _decide(api_as("manager"), "reject", "请补充开票信息")

    def raced(*args, **kwargs):  # the other request saved the contract first
        raise StaleDataError("UPDATE statement on table 'contracts' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr(engine, "start_instance", raced)
    again = api_as("sales1").post(f"/api/v1/records/contract/{contract['id']}/report-again")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "stale_version"
    admin_told = [n["text"] for n in api_as("admin").get("/api/v1/notifications").get_json()["items"]]
    assert not [text for text in admin_told if "未能" in text]
    assert _contract(api_as("sales1"), contract)["approval_status"] == "rejected"


def test_a_rejected_contract_is_fixed_and_submitted_again(app, api_as, contract_flow):
    sales = api_as("sales1")
    contract = contract_flow(120000)
    url = f"/api/v1/records/contract/{contract['id']}/report-again"
    assert sales.post(url).status_code == 409  # pending: nothing to submit again
    _decide(api_as("manager"), "reject", "请补充开票信息")
    stored = _contract(sales, contract)
    assert stored["approval_status"] == "rejected"
    # Why, and the way to submit again, at the top of the page and in My submissions (both sat in
    # the process log far below; My submissions said only 报备驳回).
    from app.cli import DEMO_PASSWORD

    seller = app.test_client()
    seller.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    banner = seller.get(f"/crm/contract/{contract['id']}").get_data(as_text=True).split('id="record-banner"')[1]
    banner = banner.split("</div>")[0]
    assert "已驳回：请补充开票信息" in banner and 'href="#report-again"' in banner
    row = seller.get("/my-submissions").get_data(as_text=True).split("data-last-comment>")[1].split("</td>")[0]
    assert row.startswith("请补充开票信息") and f'/crm/contract/{contract["id"]}#report-again' in row
    assert sales.patch(f"/api/v1/contracts/{contract['id']}", json={
        "invoice_title": "厦门鹭江医疗器械有限公司", "version": stored["version"]}).status_code == 200
    again = sales.post(url)
    assert again.status_code == 201, again.get_json()
    assert [run["outcome"] for run in again.get_json()["items"]] == ["started"]
    assert _contract(sales, contract)["approval_status"] == "pending"
    assert 'id="record-banner"' not in seller.get(f"/crm/contract/{contract['id']}").get_data(as_text=True)
    assert "data-fix-and-resubmit" not in seller.get("/my-submissions").get_data(as_text=True)
    # Its approver sees why it was rejected before, beside the form.
    [waiting] = api_as("manager").get("/api/v1/tasks").get_json()["items"]
    page = app.test_client()
    page.post("/login", data={"username": "manager", "password": DEMO_PASSWORD})
    earlier = page.get(f"/tasks/{waiting['id']}").get_data(as_text=True).split('id="earlier-rounds"')[1]
    assert "请补充开票信息" in earlier.split("</ul>")[0]
    task = _decide(api_as("manager"), "approve")
    shown = api_as("manager").get(f"/api/v1/tasks/{task['id']}").get_json()
    assert shown["data"]["invoice_title"] == "厦门鹭江医疗器械有限公司"  # the contract as it is now
    assert _contract(sales, contract)["approval_status"] == "approved"


def test_a_withdrawn_contract_approval_leaves_the_contract_unsubmitted(api_as, contract_flow):
    sales = api_as("sales1")
    contract = contract_flow(120000)
    [mine] = sales.get("/api/v1/my-submissions").get_json()["items"]
    assert sales.post(f"/api/v1/my-submissions/{mine['id']}/withdraw", json={}).status_code == 200
    assert _contract(sales, contract)["approval_status"] == "none"
    page = sales.get(f"/crm/contract/{contract['id']}").get_data(as_text=True)
    assert 'id="report-again"' in page and "重新提交审批" in page
    # Withdrawn, not rejected: no approver asked for anything.
    assert "按审批意见" not in page and "审批将以合同的当前内容重新开始" in page
    assert 'data-process-status="terminated">已撤回' in page  # as My submissions says, not 已终止


@pytest.mark.parametrize("contract_flow", [False], indirect=True)
def test_a_binding_that_does_not_keep_the_status_leaves_it_alone(api_as, contract_flow):
    contract = contract_flow(120000)
    assert contract["approval_status"] == "none"
    _decide(api_as("manager"), "approve")
    # The template's own step records the outcome, whoever started it.
    assert _contract(api_as("sales1"), contract)["approval_status"] == "approved"


def test_the_approval_status_is_the_process_s_to_set(api_as, contract_flow):
    sales = api_as("sales1")
    contract = contract_flow(120000)
    path = f"/api/v1/contracts/{contract['id']}"
    refused = sales.patch(path, json={"approval_status": "approved", "version": contract["version"]})
    assert refused.status_code == 400 and "approval_status" in str(refused.get_json())
    echoed = sales.patch(path, json={k: v for k, v in contract.items() if k not in ("owner", "shared_with")})
    assert echoed.status_code == 200, echoed.get_json()
    assert [c["id"] for c in sales.get("/api/v1/contracts?approval_status=pending").get_json()["items"]] == [
        contract["id"]]
    assert sales.get("/api/v1/contracts?approval_status=approved").get_json()["items"] == []
    assert sales.get("/api/v1/contracts?approval_status=maybe").status_code == 400
    page = sales.get(f"/crm/contract/{contract['id']}").get_data(as_text=True)
    assert 'data-review-status="pending"' in page and "审批中" in page


def test_a_customer_handed_over_takes_the_approval_out_of_the_former_owner_s_hands(api_as, contract_flow):
    sales = api_as("sales1")
    contract = contract_flow(120000)
    customer = sales.get(f"/api/v1/customers/{contract['customer_id']}").get_json()
    assert api_as("manager").patch(f"/api/v1/customers/{customer['id']}", json={
        "owner": "sales2", "version": customer["version"]}).status_code == 200
    [mine] = sales.get("/api/v1/my-submissions").get_json()["items"]
    assert mine["can_withdraw"] is False
    refused = sales.post(f"/api/v1/my-submissions/{mine['id']}/withdraw", json={})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "record_given_away"
    assert _contract(api_as("sales2"), contract)["approval_status"] == "pending"


def test_a_contract_a_rule_made_is_submitted_for_its_owner_who_hears_the_outcome(app, api_as, contract_flow):
    from app.crm import services as crm
    from app.extensions import db

    customer_id = contract_flow(1000)["customer_id"]
    _decide(api_as("manager"), "approve")
    with app.test_request_context():
        # As an automation rule does: no person acts, the contract belongs to sales1.
        made = crm.create("contract", {"customer_id": customer_id, "title": "续约合同", "amount": "5000",
                                       "owner": "sales1"}, None)
        made_id = made.id
        db.session.remove()
    mine = api_as("sales1").get("/api/v1/my-submissions").get_json()["items"]
    assert [m["record"] for m in mine if m["status"] == "running"] == [{"type": "contract", "id": made_id}]
    _decide(api_as("manager"), "reject", "价格有误")
    assert "您的合同「续约合同」被驳回：价格有误" in _told(api_as)


def test_only_customers_and_contracts_are_submitted_again(api_as, contract_flow):
    contract = contract_flow(1000)
    deal = api_as("sales1").post("/api/v1/opportunities", json={
        "customer_id": contract["customer_id"], "title": "二期"}).get_json()
    refused = api_as("sales1").post(f"/api/v1/records/opportunity/{deal['id']}/report-again")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "no_report_process"


def test_a_contract_entered_by_a_manager_for_a_salesperson_tells_both(api_as, contract_flow):
    customer_id = contract_flow(1000)["customer_id"]
    _decide(api_as("manager"), "approve")
    made = api_as("manager").post("/api/v1/contracts", json={
        "customer_id": customer_id, "title": "代录合同", "amount": 3000, "owner": "sales1"})
    assert made.status_code == 201, made.get_json()
    # Who entered it does not approve it too: another sales manager, or an administrator, does.
    [task] = api_as("manager").get("/api/v1/tasks").get_json()["items"]
    refused = api_as("manager").post(f"/api/v1/tasks/{task['id']}/claim")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "own_decision"
    done = api_as("admin").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert done.status_code == 200, done.get_json()
    assert "您的合同「代录合同」审批通过" in _told(api_as)


def test_a_contract_awaiting_approval_cannot_change_and_an_approved_one_changed_needs_it_again(api_as, contract_flow):
    sales = api_as("sales1")
    contract = contract_flow(100000)
    path = f"/api/v1/contracts/{contract['id']}"
    # Before: raising the amount now skipped the general manager the amount would call for.
    refused = sales.patch(path, json={"amount": 900000, "version": contract["version"]})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "approval_pending"
    page = sales.get(f"/crm/contract/{contract['id']}/edit").get_data(as_text=True)
    assert 'id="approval-notice"' in page and "审批中" in page
    notice = page.split('id="approval-notice"')[1].split("</div>")[0]
    assert "撤回" in notice and 'href="/my-submissions"' in notice  # where to withdraw it to change more
    # The form shows what may still change: the amount is disabled, the owner and sharing are not.
    fieldsets = {key: tag for tag, key in re.findall(r'(<fieldset[^>]*>)\s*<label class="form-label" for="f-([\w.]+)"', page)}
    assert "disabled" in fieldsets["amount"] and "disabled" in fieldsets["status"]
    assert "disabled" not in fieldsets["owner"] and "disabled" not in fieldsets["shared_with"]
    shared = api_as("manager").patch(path, json={"shared_with": ["sales2"], "version": contract["version"]})
    assert shared.status_code == 200, shared.get_json()  # handing over or sharing stays possible
    _decide(api_as("manager"), "approve")
    signed = sales.patch(path, json={"status": "signed", "signed_on": "2026-12-01",
                                     "version": _contract(sales, contract)["version"]})
    assert signed.status_code == 200 and signed.get_json()["approval_status"] == "approved"
    raised = sales.patch(path, json={"amount": 900000, "status": "draft", "version": signed.get_json()["version"]})
    assert raised.status_code == 200 and raised.get_json()["approval_status"] == "none"
    again = sales.post(f"/api/v1/records/contract/{contract['id']}/report-again")
    assert again.status_code == 201, again.get_json()
    _decide(api_as("manager"), "approve")
    [above] = api_as("admin").get("/api/v1/tasks").get_json()["items"]
    assert above["name"] == "总经理审批"  # the new amount goes the whole way


def test_sharing_a_contract_awaiting_approval_after_someone_else_saved_keeps_its_terms(app, api_as, contract_flow):
    """The edit form of a contract awaiting approval posts only owner and sharing: a clash
    with someone else's save fills in their values, and leaves the locked ones as they are."""
    import html

    from app.cli import DEMO_PASSWORD

    contract = contract_flow(1000)
    client = app.test_client()
    client.post("/login", data={"username": "manager", "password": DEMO_PASSWORD})
    page = client.get(f"/crm/contract/{contract['id']}/edit").get_data(as_text=True)
    form = {name: html.unescape(value) for name, value in re.findall(r'<input type="hidden" name="(version|base)" value="([^"]*)"', page)}
    # Meanwhile, in another tab, the contract is handed to sales2.
    handed = api_as("manager").patch(f"/api/v1/contracts/{contract['id']}", json={
        "owner": "sales2", "version": _contract(api_as("manager"), contract)["version"]})
    assert handed.status_code == 200, handed.get_json()
    answer = client.post(f"/crm/contract/{contract['id']}/edit", data={**form, "owner": "sales1", "shared_with": ["sales1"]})
    assert answer.status_code == 409
    merged = answer.get_data(as_text=True)
    assert 'id="f-amount" name="amount" type="text" inputmode="decimal" value="1000.00"' in merged  # not blanked
    assert '<option value="sales2" selected>' in merged  # theirs: this page did not change the owner
    again = {name: html.unescape(value) for name, value in re.findall(r'<input type="hidden" name="(version|base)" value="([^"]*)"', merged)}
    assert client.post(f"/crm/contract/{contract['id']}/edit",
                       data={**again, "owner": "sales2", "shared_with": ["sales1"]}).status_code == 302
    saved = _contract(api_as("manager"), contract)
    assert (saved["owner"], saved["shared_with"], saved["amount"], saved["approval_status"]) == (
        "sales2", ["sales1"], 1000.0, "pending")


def test_a_contract_handed_over_during_its_approval_tells_the_new_owner(app, api_as, contract_flow):
    """The process's ``owner`` follows the contract: the rejection reaches who holds it now."""
    contract = contract_flow(1000)
    handed = api_as("manager").patch(f"/api/v1/contracts/{contract['id']}", json={
        "owner": "sales2", "version": _contract(api_as("manager"), contract)["version"]})
    assert handed.status_code == 200, handed.get_json()
    task = _decide(api_as("manager"), "reject", "金额有误")
    told = [n["text"] for n in api_as("sales2").get("/api/v1/notifications").get_json()["items"]]
    assert any("被驳回：金额有误" in text for text in told), told
    instance = api_as("admin").get(f"/api/v1/process-instances/{task['instance_id']}").get_json()
    assert instance["data"]["owner"] == "sales2"
    from app.cli import DEMO_PASSWORD

    client = app.test_client()
    client.post("/login", data={"username": "sales2", "password": DEMO_PASSWORD})
    page = client.get(f"/process-instances/{task['instance_id']}").get_data(as_text=True)
    followed = page.split('data-event="owner_followed"')[1].split("</li>")[0]
    assert "销售一 Sales One → 销售二 Sales Two" in followed  # by name, not sales1 → sales2
    data = page.split('id="instance-data"')[1].split("</dl>")[0]
    assert 'data-key="owner">负责人' in data and "销售二 Sales Two" in data and ">sales2<" not in data
    assert ">1,000.00<" in data  # the form's embedded amount as the contract's page shows it


def test_a_rejected_contract_cannot_be_marked_signed(api_as, contract_flow):
    sales = api_as("sales1")
    contract = contract_flow(1000)
    _decide(api_as("manager"), "reject", "请补充开票信息")
    path = f"/api/v1/contracts/{contract['id']}"
    refused = sales.patch(path, json={"status": "signed", "signed_on": "2026-12-01",
                                      "version": _contract(sales, contract)["version"]})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "approval_rejected"
    assert refused.get_json()["error"]["details"][0]["field"] == "status"
    assert _contract(sales, contract)["status"] == "draft"
    fixed = sales.patch(path, json={"invoice_title": "厦门某公司", "version": _contract(sales, contract)["version"]})
    assert fixed.status_code == 200, fixed.get_json()  # correcting it stays possible


def test_a_contract_is_not_entered_already_signed_past_its_approval(api_as, contract_flow):
    """Created as 已签订 it went to approval signed, stayed signed when rejected, and the sales
    report counted it."""
    contract_flow(1000)  # the customer
    sales = api_as("sales1")
    customer_id = sales.get("/api/v1/customers").get_json()["items"][0]["id"]
    signed = {"customer_id": customer_id, "title": "已签合同", "amount": 800000, "status": "signed",
              "signed_on": "2026-12-01"}
    refused = sales.post("/api/v1/contracts", json=signed)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "approval_needed"
    assert refused.get_json()["error"]["details"][0]["field"] == "status"
    assert [c["title"] for c in sales.get("/api/v1/contracts").get_json()["items"]] == ["影像设备采购合同 1000"]
    # An administrator recording a contract signed before the product was in use may; it goes
    # to no approval (a rejection would leave it 已签订 and 审批驳回).
    recorded = api_as("admin").post("/api/v1/contracts", json={**signed, "owner": "sales1"})
    assert recorded.status_code == 201 and recorded.get_json()["approval_status"] == "none"
    assert recorded.get_json()["id"] not in [t["record"]["id"] for t in
                                             api_as("manager").get("/api/v1/tasks").get_json()["items"]]


def test_an_approved_contract_whose_amount_changed_is_not_signed_before_it_is_approved_again(app, api_as,
                                                                                          contract_flow):
    from app.cli import DEMO_PASSWORD

    sales = api_as("sales1")
    contract = contract_flow(1000)
    _decide(api_as("manager"), "approve")
    path = f"/api/v1/contracts/{contract['id']}"
    both = sales.patch(path, json={"amount": 210000, "status": "signed", "version": _contract(sales, contract)["version"]})
    assert both.status_code == 409 and both.get_json()["error"]["code"] == "approval_needed"  # in one save ...
    raised = sales.patch(path, json={"amount": 210000, "version": _contract(sales, contract)["version"]})
    assert raised.status_code == 200 and raised.get_json()["approval_status"] == "none"
    later = sales.patch(path, json={"status": "signed", "version": raised.get_json()["version"]})
    assert later.status_code == 409 and later.get_json()["error"]["details"][0]["field"] == "status"  # ... or two
    # The page says the approval was taken back when the terms change.
    again = sales.post(f"/api/v1/records/contract/{contract['id']}/report-again")
    assert again.status_code == 201, again.get_json()
    _decide(api_as("manager"), "approve")
    client = app.test_client()
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    page = client.get(f"/crm/contract/{contract['id']}/edit").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="(version|base)" value="([^"]*)"', page))
    import html
    saved = client.post(f"/crm/contract/{contract['id']}/edit", follow_redirects=True, data={
        "version": form["version"], "base": html.unescape(form["base"]), "customer_id": str(contract["customer_id"]),
        "title": contract["title"], "amount": "220000", "status": "draft", "owner": "sales1"})
    assert "需要重新审批" in saved.get_data(as_text=True)


def test_a_signed_contract_keeps_the_terms_it_was_approved_and_signed_with(api_as, contract_flow):
    """Raised from 200,000 to 9,999,999 after signing, it stayed 已签订 with no approval."""
    sales = api_as("sales1")
    contract = contract_flow(200000)
    _decide(api_as("manager"), "approve")
    path = f"/api/v1/contracts/{contract['id']}"
    signed = sales.patch(path, json={"status": "signed", "version": _contract(sales, contract)["version"]})
    assert signed.status_code == 200, signed.get_json()
    page = sales.get(f"/crm/contract/{contract['id']}/edit").get_data(as_text=True)
    notice = page.split('id="approval-notice"')[1].split("</div>")[0]
    assert "签订" in notice and "改回草稿" in notice  # not "changing them needs approval again"
    raised = sales.patch(path, json={"amount": 9999999, "version": signed.get_json()["version"]})
    assert raised.status_code == 409 and raised.get_json()["error"]["code"] == "contract_signed"
    assert [d["field"] for d in raised.get_json()["error"]["details"]] == ["amount"]
    assert "草稿" in raised.get_json()["error"]["message"]
    kept = _contract(sales, contract)
    assert (kept["amount"], kept["status"], kept["approval_status"]) == (200000, "signed", "approved")
    assert sales.patch(path, json={"invoice_title": "厦门某公司", "version": kept["version"]}).status_code == 200
    # Set back to draft in the same save, it needs approval again.
    redone = sales.patch(path, json={"amount": 9999999, "status": "draft", "version": kept["version"] + 1})
    assert redone.status_code == 200, redone.get_json()
    assert (redone.get_json()["status"], redone.get_json()["approval_status"]) == ("draft", "none")
    # An administrator correcting a signed contract's amount may.
    admin = api_as("admin")
    other = contract_flow(300000)
    _decide(api_as("manager"), "approve")
    other_path = f"/api/v1/contracts/{other['id']}"
    sales.patch(other_path, json={"status": "signed", "version": _contract(sales, other)["version"]})
    corrected = admin.patch(other_path, json={"amount": 310000, "version": _contract(sales, other)["version"]})
    assert corrected.status_code == 200 and corrected.get_json()["status"] == "signed"


def test_the_home_page_counts_contracts_awaiting_approval_and_rejected(app, api_as, contract_flow):
    from app.auth.services import get_user
    from app.ui.dashboard import home_sections

    def sales_figures():
        with app.test_request_context(headers={"Accept-Language": "en"}):
            sales = {s.key: s for s in home_sections(get_user("sales1"))}["sales"]
            return {str(f.label): (f.value, f.url) for f in sales.figures}

    assert "Contracts awaiting approval" not in sales_figures()  # none yet: no two zeros
    contract_flow(1000)
    _decide(api_as("manager"), "reject", "请补充")
    contract_flow(2000)
    figures = sales_figures()
    assert figures["Contracts awaiting approval"] == (1, "/contracts?approval_status=pending")
    assert figures["Contracts rejected"] == (1, "/contracts?approval_status=rejected")


def test_a_customer_whose_report_was_rejected_gets_no_contract_from_a_rule_nor_one_submitted_again(
        app, api_as, contract_flow):
    """Its own deal won, the rule 赢单 → 合同 drafted a contract and sent it to approval, and
    the rejected contract could be submitted again: the approver saw nothing of the rejection."""
    from app.auth.services import get_user
    from app.automation.models import RuleRun
    from app.automation.services import create_rule
    from app.crm import services as crm
    from app.extensions import db

    sales = api_as("sales1")
    contract = contract_flow(120000)
    _decide(api_as("manager"), "reject", "请补充开票信息")
    deal = sales.post("/api/v1/opportunities", json={"customer_id": contract["customer_id"], "title": "二期",
                                                      "amount": "90000", "expected_close": "2027-03-31"}).get_json()
    with app.app_context():
        create_rule({"name": "赢单生成合同", "entity": "opportunity", "event": "won",
                     "actions": [{"type": "create_record", "entity": "contract", "mapping": [
                         {"field": "title", "mode": "template", "template": "{title} 合同"}]}]}, get_user("admin"))
        crm.set_review_status("customer", contract["customer_id"], "rejected", commit=False)  # 撞单
        db.session.commit()
    won = sales.post(f"/api/v1/opportunities/{deal['id']}/won", json={})
    assert won.status_code == 200, won.get_json()
    assert won.get_json()["status"] == "won"  # the win itself stands
    titles = [c["title"] for c in sales.get("/api/v1/contracts").get_json()["items"]]
    assert "二期 合同" not in titles
    with app.app_context():
        run = db.session.query(RuleRun).filter_by(rule_name="赢单生成合同").one()
        assert run.outcome == "failed" and "厦门鹭江医疗器械有限公司" in run.error
    again = sales.post(f"/api/v1/records/contract/{contract['id']}/report-again")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "report_rejected"
    assert _contract(sales, contract)["approval_status"] == "rejected"
    assert api_as("admin").post(f"/api/v1/records/contract/{contract['id']}/report-again").status_code == 201
    # Its approver is told the customer's report was rejected (the record card said nothing) ...
    [task] = api_as("manager").get("/api/v1/tasks").get_json()["items"]
    from app.cli import DEMO_PASSWORD

    page = app.test_client()
    page.post("/login", data={"username": "manager", "password": DEMO_PASSWORD})
    assert 'id="customer-report-rejected"' in page.get(f"/tasks/{task['id']}").get_data(as_text=True)
    # ... and, approved all the same, it is not signed on that customer by a salesperson.
    _decide(api_as("manager"), "approve")
    stored = _contract(sales, contract)
    assert stored["approval_status"] == "approved"
    signed = sales.patch(f"/api/v1/contracts/{contract['id']}", json={"status": "signed", "version": stored["version"]})
    assert signed.status_code == 409 and signed.get_json()["error"]["code"] == "report_rejected"


def test_a_contracts_approval_is_found_by_its_customers_name_or_its_number(api_as, contract_flow):
    """The inbox's record filter said "a customer, deal or contract", yet found a contract's
    approval by its title only: not by its customer's name, nor by the #45 the lists show."""
    contract = contract_flow(120000)
    manager = api_as("manager")

    def found(text):
        return [t["record"]["id"] for t in manager.get("/api/v1/tasks", query_string={"record": text}).get_json()["items"]]

    assert found("鹭江医疗") == [contract["id"]]  # its customer, 厦门鹭江医疗器械有限公司
    assert found(f"#{contract['id']}") == [contract["id"]]
    assert found(f"CONTRACT:{contract['id']}") == [contract["id"]]  # as typed, in any case
    assert found("影像设备") == [contract["id"]]  # its title, as before
    assert found("别家公司") == []


def test_a_second_approval_of_every_new_contract_is_refused(api_as, contract_flow):
    """Both enabled, the shipped approval and a new review started for every contract; the first
    decided set 审批通过 while the other's review was still open."""
    admin = api_as("admin")
    second = {"name": "新增合同 → 合同会审", "entity": "contract", "event": "created", "process_key": "contract_approval",
              "form_key": "contract_approval", "report_pending": True}
    refused = admin.post("/api/v1/form-bindings", json=second)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"][0]["field"] == "report_pending"
    assert "新增合同 → 合同审批" in refused.get_json()["error"]["details"][0]["message"]
    # Split between them by a condition, or not keeping the status, it may be.
    split = {**second, "condition": {"field": "amount", "op": "ge", "value": 500000}}
    assert admin.post("/api/v1/form-bindings", json=split).status_code == 201
    assert admin.post("/api/v1/form-bindings", json={**second, "name": "只通知", "report_pending": False}).status_code == 201
