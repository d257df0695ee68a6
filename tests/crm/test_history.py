"""Records' change history (变更记录): one row per created / updated / deleted event with who
changed which fields from what to what; the record page's panel and the API."""
from tests.crm.test_pages import login


def _history(api, entity, record_id, **params):
    response = api.get(f"/api/v1/records/{entity}/{record_id}/history", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _changes(entry) -> dict:
    """{field: (old, new, old_text, new_text)} of one history entry."""
    return {c["field"]: (c["old"], c["new"], c["old_text"], c["new_text"]) for c in entry["changes"]}


def _rows(app, entity, record_id) -> list:
    from app.crm.models import RecordChange
    from app.extensions import db

    with app.app_context():
        rows = db.session.scalars(db.select(RecordChange).where(
            RecordChange.entity == entity, RecordChange.record_id == record_id).order_by(RecordChange.id)).all()
        out = [(r.event, r.actor_name, r.changes) for r in rows]
        db.session.remove()
    return out


def _report_approved_by_the_workflow(app, customer_id):
    """The customer report's service task, run by the engine without a person (the system)."""
    import app.crm as crm_module
    from app.engine.operations import OperationContext, call_operation
    from app.extensions import db

    crm_module._register_operations()  # other test modules may have replaced the registration
    with app.test_request_context():
        ctx = OperationContext("crm.set_report_status", "Task_mark_approved", None, {},
                               {"record": {"type": "customer", "id": customer_id}})
        call_operation("crm.set_report_status", ctx, {"customer_id": customer_id, "status": "approved"})
        db.session.commit()  # the engine commits the step
        db.session.remove()


def test_every_change_is_recorded_with_who_and_from_what_to_what(app, api_en, crm_stages, make_customer):
    from app.auth.services import get_user
    from app.crm import services
    from app.crm.models import Customer
    from app.extensions import db

    customer = make_customer("sales1", name="厦门海鑫科技有限公司", province="福建", registered_capital=12000000)
    api = api_en("sales1")
    url = f"/api/v1/customers/{customer['id']}"
    assert api.patch(url, json={"province": "广东", "customer_class": "B"}).status_code == 200
    with app.test_request_context():
        services.save_custom_field(None, entity="customer", key="tier", label="Tier", type="choice",
                                   choices=["gold", "silver"], required=False)
        record = db.session.get(Customer, customer["id"])
        services.update(record, {"custom": {"tier": "gold"}}, get_user("sales1"))
        services.assign_owner(record, "sales2", get_user("manager"), "hand-over")
        db.session.remove()
    _report_approved_by_the_workflow(app, customer["id"])

    body = _history(api_en("sales2"), "customer", customer["id"])
    items = body["items"]
    assert body["total"] == 5 and [i["event"] for i in items] == ["updated"] * 4 + ["created"]
    report, owner, custom, edit, created = items
    assert (report["actor"], report["actor_name"]) == (None, "System")
    assert _changes(report) == {"report_status": ("none", "approved", "Not reported", "Report approved")}
    assert (owner["actor"], owner["actor_name"]) == ("manager", "销售经理 Sales Manager")
    assert _changes(owner) == {"owner": ("sales1", "sales2", "销售一 Sales One", "销售二 Sales Two")}
    assert custom["actor"] == "sales1"
    assert custom["changes"] == [{"field": "custom.tier", "label": "Tier", "old": None, "new": "gold",
                                  "old_text": "", "new_text": "gold"}]
    assert _changes(edit) == {"province": ("福建", "广东", "Fujian", "Guangdong"), "customer_class": (None, "B", "", "B")}
    assert [c["field"] for c in edit["changes"]] == ["province", "customer_class"]  # the form's order
    assert created["actor_name"] == "销售一 Sales One" and created["at"].endswith("+00:00")
    fields = _changes(created)
    assert fields["name"][1] == "厦门海鑫科技有限公司"
    assert fields["registered_capital"] == (None, 12000000, "", "12,000,000.00")
    assert fields["owner"] == (None, "sales1", "", "销售一 Sales One")
    assert "city" not in fields and "shared_with" not in fields  # empty initial values are left out

    paged = _history(api_en("sales2"), "customer", customer["id"], per_page=2, page=2)
    assert [i["id"] for i in paged["items"]] == [custom["id"], edit["id"]] and paged["total"] == 5


def test_a_save_that_changes_nothing_writes_no_row(app, api_as, crm_stages, make_customer):
    customer = make_customer("sales1", city="福州")
    before = _rows(app, "customer", customer["id"])
    saved = api_as("sales1").patch(f"/api/v1/customers/{customer['id']}", json={"city": "福州", "name": "测试客户"})
    assert saved.status_code == 200
    assert _rows(app, "customer", customer["id"]) == before and [r[0] for r in before] == ["created"]


def test_a_rule_s_change_comes_after_the_change_that_triggered_it(app, api_en, crm_stages):
    from app.auth.services import get_user
    from app.automation.services import create_rule
    from app.extensions import db

    with app.app_context():
        create_rule({"name": "大客户", "entity": "customer", "event": "created",
                     "condition": {"field": "registered_capital", "op": "ge", "value": 10000000},
                     "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "value": "A"}]}]},
                    get_user("admin"))
        db.session.commit()
    created = api_en("sales1").post("/api/v1/customers", json={"name": "大客户有限公司", "registered_capital": 20000000})
    assert created.status_code == 201
    rule_change, creation = _history(api_en("sales1"), "customer", created.get_json()["id"])["items"]
    assert creation["event"] == "created" and "customer_class" not in _changes(creation)
    assert rule_change["actor_name"] == "System" and _changes(rule_change)["customer_class"][:2] == (None, "A")
    # Which rule acted is said too; the person's own creation names no cause.
    assert (rule_change["cause"], rule_change["cause_text"]) == ("rule:大客户", "automation rule “大客户”")
    assert (creation["cause"], creation["cause_text"]) == (None, "")


def test_a_process_step_s_change_names_the_process(app, api_as, demo_flow):
    customer = api_as("sales1").post("/api/v1/customers", json={"name": "福州流程客户", "province": "福建"}).get_json()
    head = api_as("fj_head")
    [task] = head.get("/api/v1/tasks").get_json()["items"]
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    assert head.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"decision": "approve", "comment": "同意"}}).status_code == 200
    entries = _history(api_as("sales1"), "customer", customer["id"])["items"]
    approved = next(e for e in entries if _changes(e).get("report_status", (None, None))[1] == "approved")
    assert approved["actor"] == "fj_head" and approved["cause"] == f"process:{task['instance_id']}"
    assert approved["cause_text"] == f"流程“客户报备” #{task['instance_id']}"
    # So does the report's start: the status turned pending because the report began.
    pending = next(e for e in entries if _changes(e).get("report_status", (None, None))[1] == "pending")
    assert pending["actor"] == "sales1" and pending["cause"] == f"process:{task['instance_id']}"
    page = app.test_client()
    page.post("/login", data={"username": "sales1", "password": "demo1234"})
    assert f"· 流程“客户报备” #{task['instance_id']}" in page.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)


def test_the_history_of_a_record_one_may_not_see_is_not_found(app, api_as, crm_stages, make_customer):
    customer = make_customer("sales1")
    for user in ("sales2", "fj_head"):
        response = api_as(user).get(f"/api/v1/records/customer/{customer['id']}/history")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert api_as("sales1").get("/api/v1/records/invoice/1/history").status_code == 404
    assert _history(api_as("manager"), "customer", customer["id"])["total"] == 1  # sales1's manager sees it

    outsider = app.test_client()
    login(outsider, "sales2")
    page = outsider.get(f"/crm/customer/{customer['id']}")
    assert page.status_code == 404 and "测试客户" not in page.get_data(as_text=True)
    owner = app.test_client()
    login(owner, "sales1")
    assert 'id="change-history"' in owner.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)


def test_a_deleted_record_s_rows_remain(app, api_as, crm_stages, make_customer):
    customer = make_customer("sales1")
    api = api_as("sales1")
    content = "客户对方案很感兴趣。" * 100  # 1,000 characters
    activity = api.post("/api/v1/activities", json={"customer_id": customer["id"], "kind": "visit",
                                                    "content": content}).get_json()
    assert api.delete(f"/api/v1/activities/{activity['id']}").status_code == 204

    rows = _rows(app, "activity", activity["id"])
    assert [(event, actor) for event, actor, _changes in rows] == [("created", "sales1"), ("deleted", "sales1")]
    created, deleted = rows[0][2], rows[1][2]
    assert created["customer_id"] == [None, customer["id"]] and created["kind"] == [None, "visit"]
    assert len(created["content"][1]) == 500 and created["content"][1].endswith("…")  # long text is cut
    assert deleted["kind"] == ["visit", None] and deleted["happened_at"][1] is None
    assert api.get(f"/api/v1/records/activity/{activity['id']}/history").status_code == 404  # the record is gone


def test_labels_and_values_read_in_the_page_s_language(app, api_as, api_en, crm_stages, make_customer):
    customer = make_customer("sales1", name="福州闽江医疗器械有限公司")
    opportunity = api_as("sales1").post("/api/v1/opportunities", json={
        "customer_id": customer["id"], "title": "一期", "amount": 50000}).get_json()
    moved = api_as("sales1").post(f"/api/v1/opportunities/{opportunity['id']}/stage", json={"stage": "quotation_sent"})
    assert moved.status_code == 200
    lost = api_as("sales1").post(f"/api/v1/opportunities/{opportunity['id']}/lost", json={"reason": "价格"})
    assert lost.status_code == 200

    zh = _history(api_as("sales1"), "opportunity", opportunity["id"])["items"]
    en = _history(api_en("sales1"), "opportunity", opportunity["id"])["items"]
    # stage_changed and lost repeat their "updated": one row each time.
    assert [i["event"] for i in en] == ["updated", "updated", "created"]
    assert {c["field"]: c["label"] for c in en[0]["changes"]} == {"status": "Status", "lost_reason": "Lost reason"}
    assert {c["field"]: c["label"] for c in zh[0]["changes"]} == {"status": "状态", "lost_reason": "输单原因"}
    assert _changes(en[0])["status"] == ("open", "lost", "In progress", "Lost")
    assert _changes(zh[0])["status"] == ("open", "lost", "进行中", "输单")
    assert _changes(en[1])["stage"] == ("initial_contact", "quotation_sent", "初步接触", "方案报价")  # stage names are data
    # The time it entered the stage follows the stage: no line of its own, repeating the moment.
    assert set(_changes(en[1])) == {"stage"} and "stage_entered_at" not in _changes(en[2])
    assert _changes(en[2])["customer_id"] == (None, customer["id"], "", "福州闽江医疗器械有限公司")

    client = app.test_client()
    login(client, "sales1")
    page = client.get(f"/crm/opportunity/{opportunity['id']}").get_data(as_text=True)
    assert "变更记录" in page and "销售一 Sales One" in page
    assert "状态:</span>\n          进行中 → " in page and "输单" in page


def test_the_panel_on_the_customer_page(app, crm_stages, make_customer):
    customer = make_customer("sales1", name="泉州晋江纺织有限公司", province="福建")
    client = app.test_client()
    login(client, "sales1")
    client.post("/language", data={"locale": "en", "next": "/"})
    edited = client.post(f"/crm/customer/{customer['id']}/edit", data={
        "name": "泉州晋江纺织有限公司", "province": "福建", "city": "泉州", "owner": "sales1", "version": "1"})
    assert edited.status_code == 302
    html = client.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)
    panel = html[html.index('id="change-history"'):]
    assert "Change history" in panel and "Edited" in panel and "Created" in panel
    assert "City:</span>\n          — → <span class=\"fw-semibold\">泉州</span>" in panel
    assert panel.index("Edited") < panel.index("Created")  # newest first
    assert "Only the latest" not in panel


def test_moving_a_contract_or_an_activity_to_another_customer_is_saved_and_recorded(app, api_as, crm_stages,
                                                                                     make_customer):
    first = make_customer("sales1", name="厦门海鑫科技有限公司")
    second = make_customer("sales1", name="福州闽江贸易有限公司")
    api = api_as("sales1")
    for entity, plural, body in (("contract", "contracts", {"title": "CRM 一期合同"}),
                                 ("activity", "activities", {"kind": "call", "content": "首次联系"})):
        created = api.post(f"/api/v1/{plural}", json={"customer_id": first["id"], **body}).get_json()
        # Only the customer changes: before, the answer kept the old one and nothing was saved.
        moved = api.patch(f"/api/v1/{plural}/{created['id']}", json={"customer_id": second["id"]})
        assert moved.status_code == 200, moved.get_json()
        assert (moved.get_json()["customer_id"], moved.get_json()["version"]) == (second["id"], created["version"] + 1)
        assert api.get(f"/api/v1/{plural}/{created['id']}").get_json()["customer_id"] == second["id"]
        [change] = _history(api, entity, created["id"])["items"][0]["changes"]
        assert (change["field"], change["old"], change["new"]) == ("customer_id", first["id"], second["id"])


def test_a_record_s_times_spell_the_year_out_in_english(app, crm_stages):
    from datetime import datetime, timezone

    from flask_babel import force_locale

    from app.crm import services

    moment = datetime(2026, 12, 6, 1, 16, tzinfo=timezone.utc)  # 09:16 in the company's zone
    with app.test_request_context(), force_locale("en"):
        shown = services.display_value("opportunity", "stage_entered_at", moment)
    assert shown == "2026-12-06 09:16"  # not 12/6/26, 9:16 AM: month or day first?
