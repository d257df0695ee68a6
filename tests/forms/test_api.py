"""/api/v1/forms: who may do what, versions, validation with per-field errors; the pages."""
import json

import pytest

SCHEMA = {"type": "default", "components": [
    {"type": "textfield", "key": "title", "label": "标题", "validate": {"required": True, "maxLength": 5}},
    {"type": "number", "key": "amount", "label": "金额", "validate": {"min": 1}},
]}


def create(api, **over):
    return api.post("/api/v1/forms", json={"key": "expense", "name": "报销单", "schema": SCHEMA, **over})


def test_sales_cannot_create_forms(api_as):
    response = create(api_as("sales1"))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_anonymous_gets_401(client):
    assert client.get("/api/v1/forms").status_code == 401
    assert client.post("/api/v1/forms", json={}).status_code == 401


@pytest.mark.parametrize("user", ["admin"])
def test_designer_creates_versions_and_everyone_reads(api_as, user):
    admin = api_as(user)
    first = create(admin)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["key"], body["version"], body["is_current"], body["created_by"]) == ("expense", 1, True, user)
    assert create(admin).status_code == 200  # unchanged: no new version
    second = create(admin, schema={"components": SCHEMA["components"][:1]}, base_version=1)
    assert second.status_code == 201 and second.get_json()["version"] == 2
    assert create(admin, schema={"components": []}, base_version=1).status_code == 409
    # A new form (base_version 0, as the form designer's "new form" sends) may not take an existing key.
    taken = create(admin, schema={"components": []}, base_version=0)
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "key_taken"
    assert create(admin, key="expense_2", base_version=0).status_code == 201

    sales = api_as("sales1")
    listing = sales.get("/api/v1/forms").get_json()
    assert listing["total"] == 2 and listing["items"][0]["version"] == 2 and "schema" not in listing["items"][0]
    assert len(sales.get("/api/v1/forms/expense").get_json()["schema"]["components"]) == 1
    assert len(sales.get("/api/v1/forms/expense?version=1").get_json()["schema"]["components"]) == 2
    assert sales.get("/api/v1/forms/expense?version=9").status_code == 404
    assert sales.get("/api/v1/forms/nope").status_code == 404
    versions = sales.get("/api/v1/forms/expense/versions").get_json()
    assert [v["version"] for v in versions["items"]] == [2, 1]


def test_invalid_schema_is_400_with_field_details(api_as):
    response = create(api_as("admin"), schema={"components": [{"type": "filepicker", "key": "f"}]})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_form" and error["details"][0]["field"] == "schema.f"
    assert create(api_as("admin"), schema="nope").status_code == 400


def test_validate_returns_per_field_errors(api_as):
    create(api_as("admin"))
    sales = api_as("sales1")
    answer = sales.post("/api/v1/forms/expense/validate",
                        json={"data": {"title": "太长的标题文字", "amount": 0, "typename": "x"}},
                        headers={"Accept-Language": "zh-CN"}).get_json()
    assert answer["valid"] is False
    assert set(answer["errors"]) == {"title", "amount"}
    answer = sales.post("/api/v1/forms/expense/validate", json={"data": {"title": "差旅", "amount": "12", "x": 1}}).get_json()
    assert answer == {"valid": True, "data": {"title": "差旅", "amount": 12}, "errors": {}}
    assert sales.post("/api/v1/forms/expense/validate", json={"data": []}).status_code == 400
    assert sales.post("/api/v1/forms/nope/validate", json={"data": {}}).status_code == 404


def test_crm_field_catalogue_for_designers(api_as):
    items = api_as("admin").get("/api/v1/forms/crm-fields").get_json()["items"]
    customer = next(group for group in items if group["type"] == "customer")
    assert "customer.province" in [f["path"] for f in customer["fields"]]
    assert api_as("sales1").get("/api/v1/forms/crm-fields").status_code == 403


def _login(client, username):
    return client.post("/login", data={"username": username, "password": "demo1234"})


def test_pages_for_designers_only(app, client, demo_people):
    from app.extensions import db
    from app.forms import services

    with app.app_context():
        services.load_shipped_forms()
        db.session.commit()
    _login(client, "sales1")
    assert client.get("/forms/").status_code == 403
    assert "表单".encode() not in client.get("/").data.split(b"<main")[0]
    client.post("/logout")
    _login(client, "admin")
    listing = client.get("/forms/")
    assert listing.status_code == 200 and "客户报备表单".encode() in listing.data
    assert client.get("/forms/customer_report/design").status_code == 200
    assert client.get("/forms/new").status_code == 200
    preview = client.get("/forms/customer_report/preview")
    assert preview.status_code == 200 and "厦门示例科技有限公司".encode() in preview.data
    assert client.get("/forms/nope/design").status_code == 404
    assert client.get("/forms/customer_report/preview?version=7").status_code == 404


def test_removing_a_field_a_deployed_process_reads_asks_first(api_as, demo_flow):
    # The customer report's gateway tests `decision`: a form version without it would stop every
    # report approved on it at that gateway.
    admin = api_as("admin")
    form = admin.get("/api/v1/forms/customer_report").get_json()
    renamed = json.loads(json.dumps(form["schema"], ensure_ascii=False).replace('"key": "decision"', '"key": "result"')
                         .replace('"decision=', '"result='))
    refused = admin.post("/api/v1/forms", json={"key": "customer_report", "name": form["name"], "schema": renamed,
                                                "base_version": form["version"]})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "fields_in_use"
    [where] = refused.get_json()["error"]["details"]
    assert where == {"field": "schema.decision", "message": "流程“客户报备”在“通过”处读取 decision。"}
    assert admin.get("/api/v1/forms/customer_report").get_json()["version"] == form["version"]  # nothing saved
    # A field no process reads goes without a question; saving anyway is the designer's call.
    kept = admin.post("/api/v1/forms", json={"key": "customer_report", "name": form["name"], "schema": renamed,
                                             "base_version": form["version"], "drop_fields_in_use": True})
    assert kept.status_code == 201 and kept.get_json()["version"] == form["version"] + 1


def test_a_field_named_only_inside_a_string_is_not_a_use(app, demo_flow):
    from app.engine.references import uses_of_form_fields

    with app.app_context():
        uses = uses_of_form_fields("customer_report", {"decision", "approve", "福建", "province"})
    assert {(u["field"], u["element_id"]) for u in uses} >= {("decision", "Flow_approved"), ("province", "Flow_to_fujian")}
    assert not [u for u in uses if u["field"] in ("approve", "福建")]  # only in quotes there
