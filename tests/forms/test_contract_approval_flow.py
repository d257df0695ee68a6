"""The shipped contract approval template (合同审批) bound to "contract created", end to end
through the API: the sales managers approve; a contract of 500,000 yuan or more then goes to
the manager above them; the salesperson hears the outcome either way."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def contract_flow(app, api_as, demo_people):
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
        "form_key": "contract_approval"})
    assert binding.status_code == 201, binding.get_json()
    customer = api_as("sales1").post("/api/v1/customers", json={"name": "厦门鹭江医疗器械有限公司"}).get_json()

    def submit(amount):
        response = api_as("sales1").post("/api/v1/contracts", json={
            "customer_id": customer["id"], "title": f"影像设备采购合同 {amount}", "amount": amount})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return submit


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
