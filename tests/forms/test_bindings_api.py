"""/api/v1/form-bindings and the record's log; the bindings pages."""
import html
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BODY = {"name": "新增客户 → 客户报备", "entity": "customer", "event": "created", "process_key": "customer_report",
        "form_key": "customer_report", "mapping": [{"field": "source", "to": "lead_source"}]}


@pytest.fixture
def deployed(app, demo_people):
    from app.engine import services as engine
    from app.engine.product_operations import register_product_operations
    from app.extensions import db
    from app.forms import services as forms

    with app.test_request_context():
        register_product_operations()
        engine.deploy((ROOT / "bpmn" / "customer_report.bpmn").read_bytes())
        forms.load_shipped_forms()
        db.session.commit()


def test_only_designers_manage_bindings(api_as, deployed):
    sales = api_as("sales1")
    assert sales.get("/api/v1/form-bindings").status_code == 403
    assert sales.post("/api/v1/form-bindings", json=BODY).status_code == 403
    admin = api_as("admin")
    created = admin.post("/api/v1/form-bindings", json=BODY)
    assert created.status_code == 201, created.get_json()
    binding = created.get_json()
    assert (binding["action"], binding["enabled"], binding["skip_if_running"], binding["version"]) == (
        "customer.created", True, True, 1)
    assert sales.patch(f"/api/v1/form-bindings/{binding['id']}", json={"enabled": False}).status_code == 403
    assert sales.delete(f"/api/v1/form-bindings/{binding['id']}").status_code == 403
    assert admin.get("/api/v1/form-bindings").get_json()["total"] == 1
    actions = {a["action"] for a in admin.get("/api/v1/form-bindings/actions").get_json()["items"]}
    assert {"customer.created", "customer.updated", "opportunity.created", "opportunity.won",
            "contract.created"} <= actions


def test_patch_delete_and_errors(api_as, deployed):
    admin = api_as("admin")
    binding = admin.post("/api/v1/form-bindings", json=BODY).get_json()
    url = f"/api/v1/form-bindings/{binding['id']}"
    changed = admin.patch(url, json={"enabled": False, "version": 1})
    assert changed.status_code == 200 and changed.get_json()["enabled"] is False
    assert admin.patch(url, json={"enabled": True, "version": 1}).status_code == 409
    assert admin.get(url).headers["ETag"] == '"2"'  # and If-Match guards a write as on records
    assert admin.patch(url, json={"enabled": True}, headers={"If-Match": '"1"'}).status_code == 409
    assert admin.delete(url, headers={"If-Match": '"1"'}).status_code == 409
    bad = admin.patch(url, json={"mapping": [{"field": "nope", "to": "x"}]})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "mapping.0.field"
    bad = admin.post("/api/v1/form-bindings", json={**BODY, "process_key": "missing"})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "process_key"
    assert admin.get("/api/v1/form-bindings/999").status_code == 404
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404


def test_customer_created_through_the_api_starts_the_report(api_as, client, deployed):
    binding_id = api_as("admin").post("/api/v1/form-bindings", json=BODY).get_json()["id"]
    sales1 = api_as("sales1")
    customer = sales1.post("/api/v1/customers", json={"name": "福州新客户", "province": "福建", "industry": "制造"})
    assert customer.status_code == 201, customer.get_json()
    cid = customer.get_json()["id"]
    log = sales1.get(f"/api/v1/form-binding-runs?entity=customer&record_id={cid}").get_json()
    assert [r["outcome"] for r in log["items"]] == ["started"]
    # Another salesperson does not see the record, so not its log either.
    assert api_as("sales2").get(f"/api/v1/form-binding-runs?entity=customer&record_id={cid}").status_code == 404
    assert sales1.get("/api/v1/form-binding-runs?entity=planet&record_id=1").status_code == 404
    assert sales1.get("/api/v1/form-binding-runs?entity=customer").status_code == 400
    # The record's page shows the log too.
    client.post("/login", data={"username": "sales1", "password": "demo1234"})
    page = client.get(f"/crm/customer/{cid}").get_data(as_text=True)
    assert 'id="embedded-processes"' in page and 'data-outcome="started"' in page
    # The binding's own page lists the start, the record type in words.
    admin = client.application.test_client()
    admin.post("/login", data={"username": "admin", "password": "demo1234"})
    runs = admin.get(f"/forms/bindings/{binding_id}").get_data(as_text=True).split('id="binding-runs"')[1]
    assert f"<td>客户 #{cid}</td>" in runs
    # The process's data reads as the salesperson knows it: the mapped lead_source as the field
    # it came from (来源); the diagram's own approver_group only for those who design processes.
    [run] = log["items"]
    data = client.get(f"/process-instances/{run['instance_id']}").get_data(as_text=True).split('id="instance-data"')[1]
    assert 'data-key="lead_source">来源<' in data and 'data-key="approver_group"' not in data
    assert 'data-key="approver_group"' in admin.get(f"/process-instances/{run['instance_id']}").get_data(as_text=True)


def test_a_new_binding_keeps_the_report_status_unless_unticked_and_says_when_nothing_is_deployed(app, client,
                                                                                                  demo_people):
    """On a fresh install the process list was empty and required, with no word why; a binding
    saved with the box left as it was showed a running report's customer as 未报备."""
    client.post("/login", data={"username": "admin", "password": "demo1234"})
    page = client.get("/forms/bindings/new").get_data(as_text=True)
    assert 'id="no-processes"' in page and "流程设计器" in page.split('id="no-processes"')[1].split("</div>")[0]
    assert re.search(r'name="report_pending" value="y"[^>]*checked', page)


def test_a_new_bindings_process_is_chosen_not_the_first_in_the_list(app, client, deployed):
    """Saved with its defaults, "customer created" started the contract approval, the first
    process in the list, for every new customer."""
    client.post("/login", data={"username": "admin", "password": "demo1234"})
    page = client.get("/forms/bindings/new").get_data(as_text=True)
    choices = page.split('id="process_key"')[1].split("</select>")[0]
    assert re.search(r'<option value="" selected disabled>', choices)
    assert not re.search(r'<option value="[^"]+"\s+selected', choices)
    refused = client.post("/forms/bindings/new", data={"name": "默认值", "action": "customer.created", "process_key": ""})
    assert refused.status_code == 400


def test_binding_pages(app, client, deployed):
    client.post("/login", data={"username": "sales1", "password": "demo1234"})
    assert client.get("/forms/bindings").status_code == 403
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": "demo1234"})
    assert client.get("/forms/bindings/new").status_code == 200
    form = {"name": "新商机审批", "action": "opportunity.created", "process_key": "customer_report",
            "form_key": "customer_report", "map_field": ["amount", ""], "map_to": ["amount", ""],
            "condition": '{"field": "amount", "op": "ge", "value": 100000}', "enabled": "y"}
    saved = client.post("/forms/bindings/new", data=form)
    assert saved.status_code == 302
    listing = client.get("/forms/bindings").get_data(as_text=True)
    assert "新商机审批" in listing and "customer_report" in listing and "金额 ≥ 100000" in listing
    broken = client.post("/forms/bindings/new", data={**form, "name": "条件写错了", "condition": "{not json"})
    page = broken.get_data(as_text=True)
    assert broken.status_code == 400 and "condition" in page
    # Nothing typed is lost: the name, the action, the mapping and the condition as written.
    assert 'value="条件写错了"' in page and 'name="condition" value="{not json"' in page
    ghost = client.post("/forms/bindings/new", data={**form, "condition": '{"field": "shoe_size", "op": "eq"}'})
    page = ghost.get_data(as_text=True)
    assert ghost.status_code == 400 and "条件 · 字段" in page  # where the builder shows it, not the path
    assert 'data-refused="[&#34;field&#34;]"' in page  # the builder marks the refused row
    assert 'name="condition" value="{&#34;field&#34;: &#34;shoe_size&#34;, &#34;op&#34;: &#34;eq&#34;}"' in page
    assert '<option value="opportunity.created" selected' in page and 'name="map_to" value="amount"' in page
    unknown = client.post("/forms/bindings/new", data={**form, "map_field": ["ghost"], "map_to": ["x"]})
    assert unknown.status_code == 400 and "映射第 1 行 · 记录字段" in unknown.get_data(as_text=True)
    half = client.post("/forms/bindings/new", data={**form, "map_field": ["amount"], "map_to": [""]})
    assert half.status_code == 400 and "映射第 1 行 · 流程变量 / 表单字段" in half.get_data(as_text=True)  # not dropped silently
    embedded = client.post("/forms/bindings/new", data={**form, "map_field": ["title"], "map_to": ["name"]})
    assert embedded.status_code == 400 and "映射第 1 行 · 流程变量" in embedded.get_data(as_text=True)  # the form's 客户名称
    assert "请删除这一行" in embedded.get_data(as_text=True)  # what to do, not only what is wrong
    from app.extensions import db
    from app.forms.models import FormBinding

    with app.app_context():
        binding_id = db.session.query(FormBinding.id).scalar()
    page = client.get(f"/forms/bindings/{binding_id}")
    assert page.status_code == 200 and "新商机审批" in page.get_data(as_text=True)
    # The condition rides in the page (a builder that fails to load saves it unchanged), and in words.
    shown = page.get_data(as_text=True)
    stored = re.search(r'name="condition" value="([^"]*)"', shown).group(1)
    # As stored: PostgreSQL's JSONB gives the keys back in its own order.
    assert json.loads(html.unescape(stored)) == {"field": "amount", "op": "ge", "value": 100000}
    assert re.search(r'<div class="mb-3" id="condition-root"[^>]*>金额 ≥ 100000</div>', shown)
    assert client.post(f"/forms/bindings/{binding_id}", data={"delete": "y"}).status_code == 302
    assert client.get(f"/forms/bindings/{binding_id}").status_code == 404
    # Save double-clicked: one binding (two started every new deal's process twice).
    token = re.search(r'name="form_token" value="([^"]+)"', client.get("/forms/bindings/new").get_data(as_text=True))[1]
    for _click in range(2):
        assert client.post("/forms/bindings/new", data={**form, "form_token": token}).status_code == 302
    with app.app_context():
        assert db.session.query(FormBinding).filter_by(name="新商机审批").count() == 1


def test_a_binding_s_start_data_for_a_real_record_feeds_a_designer_s_test_run(api_as, deployed):
    admin = api_as("admin")
    binding = admin.post("/api/v1/form-bindings", json={**BODY, "enabled": False}).get_json()
    other = admin.post("/api/v1/form-bindings", json={**BODY, "name": "其他流程", "enabled": False,
                                                      "event": "updated"}).get_json()
    listed = admin.get("/api/v1/form-bindings?process_key=customer_report").get_json()
    assert {b["id"] for b in listed["items"]} == {binding["id"], other["id"]}
    assert admin.get("/api/v1/form-bindings?process_key=contract_review").get_json()["total"] == 0

    customer = api_as("sales1").post("/api/v1/customers", json={
        "name": "泉州晋江纺织有限公司", "province": "福建", "industry": "纺织", "source": "展会"}).get_json()
    sample = admin.get(f"/api/v1/form-bindings/{binding['id']}/start-data?record={customer['id']}")
    assert sample.status_code == 200, sample.get_json()
    body = sample.get_json()
    assert body["record"] == {"type": "customer", "id": customer["id"], "label": "泉州晋江纺织有限公司"}
    data = body["data"]
    # What the binding would start the report with: ids, the form's embedded fields, the mapping,
    # and the record's owner as the reporter.
    assert (data["customer_id"], data["record_type"], data["reporter"]) == (customer["id"], "customer", "sales1")
    assert (data["province"], data["industry"], data["lead_source"]) == ("福建", "纺织", "展会")

    assert admin.get(f"/api/v1/form-bindings/{binding['id']}/start-data?record=999999").status_code == 404
    assert admin.get(f"/api/v1/form-bindings/{binding['id']}/start-data").status_code == 400
    assert api_as("sales1").get(f"/api/v1/form-bindings/{binding['id']}/start-data?record={customer['id']}") \
        .status_code == 403


def test_a_binding_broken_by_a_deleted_field_says_so_instead_of_sample_data(app, api_as, deployed):
    from app.crm import services as crm
    from app.extensions import db

    with app.app_context():
        crm.save_custom_field(None, entity="customer", key="budget", label="预算", type="number", choices=[],
                              required=False)
        db.session.commit()
    admin = api_as("admin")
    binding = admin.post("/api/v1/form-bindings", json={
        **BODY, "enabled": False, "mapping": [{"field": "custom.budget", "to": "budget"}]}).get_json()
    customer = admin.post("/api/v1/customers", json={"name": "厦门预算客户", "custom": {"budget": 5}}).get_json()
    url = f"/api/v1/form-bindings/{binding['id']}/start-data?record={customer['id']}"
    assert admin.get(url).get_json()["data"]["budget"] == 5
    with app.app_context():  # removed behind the product's back: it refuses while a binding maps the field
        db.session.delete(crm.custom_field_defs("customer")[0])
        db.session.commit()
    broken = admin.get(url)
    assert broken.status_code == 409 and broken.get_json()["error"]["code"] == "binding_broken"
    assert "custom.budget" in broken.get_json()["error"]["message"]
