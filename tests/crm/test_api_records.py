"""API contract of the four CRM records (API.md "CRM records")."""
from datetime import datetime

import pytest


def _iso_with_offset(value: str) -> bool:
    parsed = datetime.fromisoformat(value)
    return parsed.tzinfo is not None and ("+" in value[10:] or value.endswith("Z"))


def test_customer_round_trip(api_en, crm_stages):
    api = api_en("sales1")
    created = api.post("/api/v1/customers", json={
        "name": "厦门海鑫科技有限公司", "province": "福建", "city": "厦门", "industry": "软件",
        "registered_capital": 12000000, "customer_class": "A", "source": "展会", "phone": "0592-5551234",
        "credit_code": "91350200MA2Y00001N", "shared_with": ["sales2"]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert "厦门海鑫".encode() in created.data  # unescaped
    assert body["owner"] == "sales1" and body["shared_with"] == ["sales2"]
    assert body["report_status"] == "none" and body["version"] == 1
    assert body["registered_capital"] == 12000000 and body["customer_class"] == "A"
    assert _iso_with_offset(body["created_at"]) and _iso_with_offset(body["updated_at"])
    assert body["custom"] == {}

    got = api.get(f"/api/v1/customers/{body['id']}").get_json()
    assert body.pop("possible_duplicates") == [] and got == body
    # A client may send back what it read (id, timestamps, unchanged report_status, the warning).
    patched = api.patch(f"/api/v1/customers/{body['id']}", json={**got, "city": "泉州", "customer_class": None,
                                                                 "possible_duplicates": []})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["city"] == "泉州" and patched.get_json()["customer_class"] is None
    assert patched.get_json()["version"] == 2

    listed = api.get("/api/v1/customers").get_json()
    assert listed["total"] == 1 and listed["page"] == 1 and listed["per_page"] == 50
    assert listed["items"][0]["id"] == body["id"]

    assert api.delete(f"/api/v1/customers/{body['id']}").status_code == 204
    assert api.get(f"/api/v1/customers/{body['id']}").status_code == 404


def test_activity_opportunity_contract_round_trip(api_en, crm_stages, make_customer):
    api = api_en("sales1")
    customer = make_customer()
    activity = api.post("/api/v1/activities", json={
        "customer_id": customer["id"], "kind": "visit", "content": "客户对方案很感兴趣",
        "happened_at": "2026-11-20T10:00:00+08:00", "next_follow_up": "2026-11-27"})
    assert activity.status_code == 201, activity.get_json()
    a = activity.get_json()
    assert a["happened_at"].startswith("2026-11-20T02:00:00") and _iso_with_offset(a["happened_at"])
    assert a["next_follow_up"] == "2026-11-27" and a["owner"] == "sales1"

    opportunity = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "一期项目"})
    assert opportunity.status_code == 201, opportunity.get_json()
    o = opportunity.get_json()
    assert o["stage"] == "initial_contact" and o["status"] == "open" and o["amount"] is None

    contract = api.post("/api/v1/contracts", json={
        "customer_id": customer["id"], "opportunity_id": o["id"], "title": "一期合同", "amount": "180000.50",
        "signed_on": "2026-11-22", "expires_on": "2027-11-21", "invoice_title": "测试客户",
        "invoice_amount": 180000.5, "invoice_date": "2026-11-23"})
    assert contract.status_code == 201, contract.get_json()
    c = contract.get_json()
    assert c["amount"] == 180000.5 and c["status"] == "draft" and c["opportunity_id"] == o["id"]

    for path, record in (("activities", a), ("opportunities", o), ("contracts", c)):
        # What a client read can be sent back as is.
        echoed = api.patch(f"/api/v1/{path}/{record['id']}", json=api.get(f"/api/v1/{path}/{record['id']}").get_json())
        assert echoed.status_code == 200, echoed.get_json()
        assert echoed.get_json()["version"] == record["version"]  # nothing changed, nothing written
        listed = api.get(f"/api/v1/{path}?customer_id={customer['id']}").get_json()
        assert [item["id"] for item in listed["items"]] == [record["id"]]
        patched = api.patch(f"/api/v1/{path}/{record['id']}", json={"version": record["version"], "shared_with": ["sales2"]})
        assert patched.status_code == 200 and patched.get_json()["shared_with"] == ["sales2"]

    # A customer with related records cannot be deleted out from under them.
    refused = api.delete(f"/api/v1/customers/{customer['id']}")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "has_related_records"
    for path, record in (("contracts", c), ("opportunities", o), ("activities", a)):
        assert api.delete(f"/api/v1/{path}/{record['id']}").status_code == 204
    assert api.delete(f"/api/v1/customers/{customer['id']}").status_code == 204


def _details(response) -> dict:
    assert response.status_code == 400, response.get_json()
    return {d["field"]: d["message"] for d in response.get_json()["error"]["details"]}


def test_customer_validation_names_each_field(api_en, crm_stages):
    api = api_en("sales1")
    details = _details(api.post("/api/v1/customers", json={
        "province": "福建", "registered_capital": "lots", "customer_class": "D", "owner": "nobody",
        "report_status": "approved", "colour": "red"}))
    assert set(details) == {"name", "registered_capital", "customer_class", "owner", "report_status", "colour"}
    assert details["name"] == "Required."
    assert details["customer_class"] == "Must be one of: A, B, C"
    assert details["report_status"].startswith("Read-only")
    assert _details(api.post("/api/v1/customers", json={"name": "x" * 201}))["name"] == "At most 200 characters."
    assert _details(api.post("/api/v1/customers", json={"name": "a", "registered_capital": -1}))[
        "registered_capital"] == "Must not be negative."
    # Wrong JSON types are 400 too, never 500.
    assert "name" in _details(api.post("/api/v1/customers", json={"name": ["a"]}))


def test_other_records_validation(api_en, crm_stages, make_customer):
    api = api_en("sales1")
    customer = make_customer()
    details = _details(api.post("/api/v1/activities", json={"customer_id": 999999, "kind": "fax",
                                                           "happened_at": "yesterday", "next_follow_up": "soon"}))
    assert set(details) == {"customer_id", "kind", "happened_at", "next_follow_up"}
    details = _details(api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "stage": "nowhere",
                                                              "amount": "abc"}))
    assert set(details) == {"title", "stage", "amount"}
    details = _details(api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "c",
                                                          "status": "void", "signed_on": "2026-13-01"}))
    assert set(details) == {"status", "signed_on"}


def test_contract_opportunity_must_belong_to_the_customer(api_en, crm_stages, make_customer):
    api = api_en("sales1")
    first, second = make_customer(name="甲公司"), make_customer(name="乙公司")
    opportunity = api.post("/api/v1/opportunities", json={"customer_id": first["id"], "title": "o"}).get_json()
    details = _details(api.post("/api/v1/contracts", json={"customer_id": second["id"],
                                                          "opportunity_id": opportunity["id"], "title": "c"}))
    assert set(details) == {"opportunity_id"}
    # Nor does the deal move away from its contracts' customer.
    contract = api.post("/api/v1/contracts", json={"customer_id": first["id"], "opportunity_id": opportunity["id"],
                                                   "title": "c"})
    assert contract.status_code == 201, contract.get_json()
    moved = api.patch(f"/api/v1/opportunities/{opportunity['id']}", json={"customer_id": second["id"]})
    assert moved.status_code == 409 and moved.get_json()["error"]["details"][0]["field"] == "customer_id"
    assert "甲公司" in moved.get_json()["error"]["message"]
    assert api.get(f"/api/v1/opportunities/{opportunity['id']}").get_json()["customer_id"] == first["id"]
    assert api.patch(f"/api/v1/opportunities/{opportunity['id']}", json={"title": "o2"}).status_code == 200
    # Once its contract names no deal, it may.
    api.patch(f"/api/v1/contracts/{contract.get_json()['id']}", json={"opportunity_id": None})
    assert api.patch(f"/api/v1/opportunities/{opportunity['id']}", json={"customer_id": second["id"]}).status_code == 200


def test_stale_version_is_409(api_en, crm_stages, make_customer):
    api = api_en("sales1")
    customer = make_customer()
    url = f"/api/v1/customers/{customer['id']}"
    assert api.patch(url, json={"city": "厦门", "version": customer["version"]}).status_code == 200
    stale = api.patch(url, json={"city": "福州", "version": customer["version"]})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    assert api.get(url).get_json()["city"] == "厦门"
    assert api.delete(f"{url}?version={customer['version']}").status_code == 409


def test_paging_search_and_filters(api_en, crm_stages, make_customer):
    api = api_en("sales1")
    for i in range(5):
        make_customer(name=f"福建客户{i}", province="福建", city="厦门" if i % 2 else "福州", customer_class="A",
                      phone=f"0592-000{i}")
    make_customer(name="浙江客户", province="浙江", credit_code="91330100MA2Y9999X3", registered_capital=5000000)
    page = api.get("/api/v1/customers?per_page=2&page=3").get_json()
    assert page["total"] == 6 and len(page["items"]) == 2
    assert api.get("/api/v1/customers?per_page=201").status_code == 400
    assert api.get("/api/v1/customers?per_page=200").status_code == 200
    assert api.get("/api/v1/customers?q=厦门").get_json()["total"] == 2  # city
    assert api.get("/api/v1/customers?q=0592-0003").get_json()["total"] == 1  # phone
    assert api.get("/api/v1/customers?q=MA2Y9999").get_json()["total"] == 1  # credit code
    assert api.get("/api/v1/customers?q=%25").get_json()["total"] == 0  # LIKE wildcards are literal
    assert api.get("/api/v1/customers?province=福建&city=福州").get_json()["total"] == 3
    assert api.get("/api/v1/customers?registered_capital_min=1000000").get_json()["total"] == 1
    assert api.get("/api/v1/customers?owner=sales1").get_json()["total"] == 6
    names = [c["name"] for c in api.get("/api/v1/customers?sort=name&per_page=3").get_json()["items"]]
    assert names == sorted(names)
    assert api.get("/api/v1/customers?sort=password").status_code == 400
    assert api.get("/api/v1/customers?customer_class=Z").status_code == 400


def test_custom_fields_are_validated(api_en, app, crm_stages):
    from app.crm import services
    from app.extensions import db

    with app.app_context():
        services.save_custom_field(None, entity="customer", key="employees", label="员工数", type="number",
                                   choices=[], required=True)
        services.save_custom_field(None, entity="customer", key="tier", label="等级", type="choice",
                                   choices=["金", "银"], required=False)
        services.save_custom_field(None, entity="customer", key="founded", label="成立日期", type="date",
                                   choices=[], required=False)
        db.session.remove()
    api = api_en("sales1")
    details = _details(api.post("/api/v1/customers", json={"name": "a", "custom": {"tier": "铜", "founded": "x",
                                                                                  "nope": 1}}))
    assert details == {"custom.tier": "Must be one of: 金, 银", "custom.founded": "Must be a date (e.g. 2026-12-06 or 2026/12/6).",
                       "custom.nope": "Unknown custom field.", "custom.employees": "Required."}
    created = api.post("/api/v1/customers", json={"name": "a", "custom": {"employees": "120", "tier": "金"}})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["custom"] == {"employees": 120, "tier": "金"}
    # PATCH merges custom values; null removes an optional one, a required one stays required.
    patched = api.patch(f"/api/v1/customers/{body['id']}", json={"custom": {"tier": None, "founded": "2010-05-01"}})
    assert patched.get_json()["custom"] == {"employees": 120, "founded": "2010-05-01"}
    assert _details(api.patch(f"/api/v1/customers/{body['id']}", json={"custom": {"employees": None}})) == {
        "custom.employees": "Required."}
    fields = api.get("/api/v1/record-fields/customer").get_json()["fields"]
    assert {"key": "custom.tier", "label": "等级", "type": "choice", "required": False, "choices": ["金", "银"],
            "read_only": False} in fields


@pytest.mark.parametrize("path", ["customers", "activities", "opportunities", "contracts"])
def test_anonymous_is_401(client, path):
    response = client.get(f"/api/v1/{path}")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "not_authenticated"


def test_values_that_make_no_sense_together_are_refused(api_en, crm_stages):
    api = api_en("sales1")
    customer = api.post("/api/v1/customers", json={"name": "时间顺序客户"}).get_json()
    backwards = api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "倒序合同", "amount": 100000,
                                                     "signed_on": "2027-01-01", "expires_on": "2026-01-01",
                                                     "invoice_amount": 999999999})
    assert backwards.status_code == 400
    assert {(d["field"], d["message"]) for d in backwards.get_json()["error"]["details"]} == {
        ("expires_on", "The expiry must not be before the signing date."),
        ("invoice_amount", "The invoice amount must not exceed the contract amount.")}
    # Said at once with a field's own problem, not in a second round once that is fixed.
    both = api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "两处错", "amount": 100000,
                                                "invoice_amount": -5, "signed_on": "2027-01-01", "expires_on": "2026-01-01"})
    assert {d["field"] for d in both.get_json()["error"]["details"]} == {"invoice_amount", "expires_on"}
    contract = api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "正常合同", "amount": 100000,
                                                    "signed_on": "2026-01-01", "expires_on": "2027-01-01"}).get_json()
    moved = api.patch(f"/api/v1/contracts/{contract['id']}", json={"signed_on": "2027-06-01"})  # against the stored expiry
    assert moved.status_code == 400 and moved.get_json()["error"]["details"][0]["field"] == "expires_on"
    activity = api.post("/api/v1/activities", json={"customer_id": customer["id"], "content": "回访",
                                                     "happened_at": "2026-05-01T10:00:00+08:00", "next_follow_up": "2026-04-30"})
    assert activity.status_code == 400 and activity.get_json()["error"]["details"][0]["field"] == "next_follow_up"
    same_day = api.post("/api/v1/activities", json={"customer_id": customer["id"], "content": "回访",
                                                     "happened_at": "2026-05-01T10:00:00+08:00", "next_follow_up": "2026-05-01"})
    assert same_day.status_code == 201, same_day.get_json()


def test_search_finds_each_word_in_name_place_or_industry(api_en, crm_stages):
    api = api_en("sales1")
    for name, province, city, industry in (("福州闽江医疗器械有限公司", "福建", "福州", "医疗"),
                                           ("杭州云杉软件有限公司", "浙江", "杭州", "软件")):
        api.post("/api/v1/customers", json={"name": name, "province": province, "city": city, "industry": industry})

    def found(q):
        return [c["name"] for c in api.get("/api/v1/customers", query_string={"q": q}).get_json()["items"]]

    assert found("福建") == ["福州闽江医疗器械有限公司"]  # the province, not in the name
    assert found("有限公司 福州") == ["福州闽江医疗器械有限公司"]  # every word, in any field
    assert found("医疗 杭州") == []
    assert sorted(found("有限公司")) == sorted(["福州闽江医疗器械有限公司", "杭州云杉软件有限公司"])


def test_search_finds_a_phone_number_however_it_is_written(api_en, crm_stages):
    api = api_en("sales1")
    api.post("/api/v1/customers", json={"name": "厦门海鑫", "phone": "0592-5551234 转 8"})
    api.post("/api/v1/customers", json={"name": "泉州别家", "phone": "0595 2223333", "credit_code": "91350200MA2Y00001N"})

    def found(q):
        return [c["name"] for c in api.get("/api/v1/customers", query_string={"q": q}).get_json()["items"]]

    for typed in ("05925551234", "0592 555 1234", "(0592) 555-1234", "+86 592 5551234", "５５５１２３４",
                  "0592-5551234转8", "(0592)5551234 ext. 8", "0592 5551234#8"):  # with its extension, as written
        assert found(typed) == ["厦门海鑫"], typed
    assert found("91350200") == ["泉州别家"]  # digits still find a credit code
    assert found("1234") == ["厦门海鑫"]  # a few digits: as typed


def test_created_records_have_a_location_and_writes_honour_if_match(api_as, crm_stages):
    api = api_as("sales1")
    created = api.post("/api/v1/opportunities", json={"customer_id": api.post("/api/v1/customers", json={
        "name": "厦门 ETag 公司"}).get_json()["id"], "title": "试用", "amount": 10})
    assert created.status_code == 201
    url = created.headers["Location"]
    assert url.endswith(f"/api/v1/opportunities/{created.get_json()['id']}")
    fetched = api.get(url)
    assert fetched.headers["ETag"] == created.headers["ETag"] == f'"{fetched.get_json()["version"]}"'
    old = fetched.headers["ETag"]
    changed = api.patch(url, json={"amount": 20}, headers={"If-Match": old})
    assert changed.status_code == 200 and changed.headers["ETag"] != old
    # Someone else's change in between: the stale ETag is refused like a stale version.
    stale = api.patch(url, json={"amount": 30}, headers={"If-Match": old})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    assert api.patch(url, json={"amount": 30}, headers={"If-Match": 'W/"1", "2"'}).status_code == 400
    assert api.patch(url, json={"amount": 30}, headers={"If-Match": "*"}).status_code == 200
    assert api.delete(url, headers={"If-Match": old}).status_code == 409
    current = api.get(url).headers["ETag"]
    # A stale If-Match is not ignored beside a current version: the two must agree.
    both = api.patch(url, json={"amount": 40, "version": int(current.strip('"'))}, headers={"If-Match": old})
    assert both.status_code == 400 and both.get_json()["error"]["details"][0]["field"] == "If-Match"
    assert api.delete(f"{url}?version={current.strip(chr(34))}", headers={"If-Match": old}).status_code == 400
    assert api.patch(url, json={"amount": 40, "version": int(current.strip('"'))},
                     headers={"If-Match": current}).status_code == 200
    # The deal's actions honour it too: a stale one lost, moved or won nothing.
    for action, body in (("lost", {"reason": "价格"}), ("stage", {"stage": "needs_confirmed"}), ("won", {})):
        refused = api.post(f"{url}/{action}", json=body, headers={"If-Match": old})
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "stale_version", action
    assert api.get(url).get_json()["status"] == "open"
    current = api.get(url).headers["ETag"]
    assert api.delete(url, headers={"If-Match": current}).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize("label, other", [("省份", "province"), (" Province ", "province"), ("负责人", "owner"),
                                          ("等级", "custom.tier")])
def test_a_custom_field_may_not_be_labelled_like_another_field(app, crm_stages, label, other):
    from app.api.errors import ApiError
    from app.crm import services
    from app.extensions import db

    with app.app_context():
        services.save_custom_field(None, entity="customer", key="tier", label="等级", type="text", choices=[],
                                   required=False)
        with pytest.raises(ApiError) as refused:
            services.save_custom_field(None, entity="customer", key="other", label=label, type="text", choices=[],
                                       required=False)
        assert [d["field"] for d in refused.value.details] == ["label"] and other in refused.value.details[0]["message"]
        db.session.rollback()
        tier = db.session.scalar(db.select(services.CustomFieldDef).where(services.CustomFieldDef.key == "tier"))
        services.save_custom_field(tier, entity="customer", key="tier", label="等级", type="text", choices=[],
                                   required=True)  # its own label again: fine
        # On another record type the same label names another form's field: allowed.
        services.save_custom_field(None, entity="contract", key="grade", label="等级", type="text", choices=[],
                                   required=False)
        db.session.remove()


def test_pipeline_stages_come_in_order_in_an_items_envelope_like_every_list(api_as, crm_stages):
    response = api_as("sales1").get("/api/v1/pipeline-stages")
    assert response.status_code == 200
    stages = response.get_json()["items"]
    assert [s["key"] for s in stages] == ["initial_contact", "needs_confirmed", "quotation_sent", "negotiation",
                                          "contract_signing"]
    assert stages[3] == {"key": "negotiation", "name": "商务谈判", "order": stages[3]["order"],
                         "required_fields": ["amount", "expected_close"]}
    assert [s["order"] for s in stages] == sorted(s["order"] for s in stages)


@pytest.mark.parametrize("typed, said", [
    ("0.001", "最多两位小数。"),  # stored to the fen: it would have become 0.00 without a word
    (0.005, "最多两位小数。"),
    ("1e10", "请直接写出数字（例如 10000000）。"),
    ("9999999999999999.99", "数值过大。"),  # SQLite would have given it back as 10,000,000,000,000,000.00
])
def test_money_is_taken_as_typed_or_refused_with_why(api_as, crm_stages, typed, said):
    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "金额客户"}).get_json()
    refused = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "小单", "amount": typed})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"] == [{"field": "amount", "message": said}]
    taken = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "小单", "amount": "1,234.5"})
    assert taken.status_code == 201 and taken.get_json()["amount"] in ("1234.50", 1234.5)
    # A client's float arithmetic (0.1 + 0.2 is 0.30000000000000004) is the amount it meant.
    summed = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "小单", "amount": 0.1 + 0.2})
    assert summed.status_code == 201 and summed.get_json()["amount"] in ("0.30", 0.3)


def test_an_activity_cannot_have_happened_in_the_future(api_as, crm_stages):
    from datetime import timedelta

    from app.db import utcnow

    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "未来客户"}).get_json()
    ahead = api.post("/api/v1/activities", json={"customer_id": customer["id"], "content": "拜访",
                                                  "happened_at": "2030-01-01T10:00:00+08:00"})
    assert ahead.status_code == 400
    [detail] = ahead.get_json()["error"]["details"]
    assert detail["field"] == "happened_at" and "下次跟进" in detail["message"]
    just_now = (utcnow() + timedelta(minutes=2)).isoformat()  # another machine's clock a little ahead
    assert api.post("/api/v1/activities", json={"customer_id": customer["id"], "content": "刚才的电话",
                                                 "happened_at": just_now}).status_code == 201


@pytest.mark.parametrize("typed, stored", [
    ("￥200,000", 200000), ("¥ 200000", 200000), ("200000元", 200000), ("５０万", 500000), ("1.5万", 15000),
    ("２００，０００", 200000),
])
def test_money_is_read_as_people_type_it_in_china(api_as, crm_stages, typed, stored):
    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "金额客户"}).get_json()
    taken = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "单", "amount": typed})
    assert taken.status_code == 201, taken.get_json()
    assert float(taken.get_json()["amount"]) == stored


@pytest.mark.parametrize("typed, stored", [
    ("2019/3/5", "2019-03-05"), ("2021年8月1日", "2021-08-01"), ("2022.1.3", "2022-01-03"),
    ("２０２１年８月１日", "2021-08-01"), ("2019/03/05 00:00", "2019-03-05"), ("2026-12-06", "2026-12-06"),
    ("2026-02-30", None), ("2019/13/5", None), ("去年", None),
])
def test_a_day_is_read_as_excel_and_people_write_it_in_china(api_as, crm_stages, typed, stored):
    """Excel's own 2019/3/5 was refused, and each import row with it lost."""
    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "日期客户"}).get_json()
    taken = api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "合同", "expires_on": typed})
    if stored is None:
        assert taken.status_code == 400
        assert [d["field"] for d in taken.get_json()["error"]["details"]] == ["expires_on"]
    else:
        assert taken.status_code == 201, taken.get_json()
        assert taken.get_json()["expires_on"] == stored


def test_a_choice_is_read_in_any_case_or_width(api_as, crm_stages):
    api = api_as("sales1")
    taken = api.post("/api/v1/customers", json={"name": "类别客户", "customer_class": " ａ "})
    assert taken.status_code == 201 and taken.get_json()["customer_class"] == "A"
    assert api.post("/api/v1/customers", json={"name": "类别客户二", "customer_class": "D"}).status_code == 400


def test_the_phone_province_and_credit_code_filters_read_them_however_they_are_written(api_as, crm_stages):
    """?phone=138-0013-8000 and full-width digits find 13800138000; ?province=Zhejiang finds 浙江
    (stored by its Chinese name), as the search and the duplicate finder already did. A credit
    code in lower case or spaced found nothing, and an ERP's look-up-then-create made a duplicate."""
    api = api_as("sales1")
    made = api.post("/api/v1/customers", json={"name": "杭州过滤测试", "phone": "13800138000", "province": "浙江",
                                               "credit_code": "91330100MA2Y9999X3"})
    assert made.status_code == 201, made.get_json()
    for query in ("phone=138-0013-8000", "phone=%EF%BC%91%EF%BC%93%EF%BC%98%EF%BC%90%EF%BC%90%EF%BC%91%EF%BC%93"
                  "%EF%BC%98%EF%BC%90%EF%BC%90%EF%BC%90", "phone=+86 138 0013 8000", "province=Zhejiang",
                  "province=浙江", "credit_code=91330100ma2y9999x3", "credit_code=913301 00MA2Y 9999X3"):
        found = api.get(f"/api/v1/customers?{query}").get_json()
        assert [c["id"] for c in found["items"]] == [made.get_json()["id"]], query
    assert api.get("/api/v1/customers?phone=13800138001").get_json()["total"] == 0


def test_a_name_stored_in_full_width_letters_is_found_by_the_half_width_search(api_as, crm_stages):
    """福州ＴＣＬ电子 (typed with a Chinese input method) was not found by "TCL" or "tcl"."""
    api = api_as("sales1")
    made = api.post("/api/v1/customers", json={"name": "福州ＴＣＬ电子有限公司"}).get_json()
    for term in ("TCL", "tcl", "ＴＣＬ", "福州tcl"):
        assert [c["id"] for c in api.get("/api/v1/customers", query_string={"q": term}).get_json()["items"]] == [
            made["id"]], term


def test_deals_contracts_and_activities_are_found_by_their_customer_s_name(api_as, crm_stages):
    """On the pipeline "厦门" found no card, though many deals were for 厦门 companies."""
    api = api_as("sales1")
    xiamen = api.post("/api/v1/customers", json={"name": "厦门海鑫科技有限公司"}).get_json()
    fuzhou = api.post("/api/v1/customers", json={"name": "福州闽江贸易有限公司"}).get_json()
    for customer, title in ((xiamen, "一期项目"), (fuzhou, "二期项目")):
        api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": title})
        api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": title + "合同"})
        api.post("/api/v1/activities", json={"customer_id": customer["id"], "content": "电话回访"})
    for path in ("opportunities", "contracts", "activities"):
        found = api.get(f"/api/v1/{path}?q=厦门").get_json()["items"]
        assert len(found) == 1 and found[0]["customer_id"] == xiamen["id"], path
    assert [o["title"] for o in api.get("/api/v1/opportunities?q=厦门 一期").get_json()["items"]] == ["一期项目"]
    assert api.get("/api/v1/opportunities?q=厦门 二期").get_json()["total"] == 0  # each word somewhere


def test_a_time_filter_without_its_offset_is_read_on_the_company_clock(api_as, crm_stages, make_customer):
    """happened_at_after=2026-12-01 left out an activity of 2026-12-01 00:30 Shanghai time, read
    as UTC, while the same text written on the activity is Shanghai time."""
    api = api_as("sales1")
    customer = make_customer()
    activity = api.post("/api/v1/activities", json={"customer_id": customer["id"], "content": "午夜回访",
                                                    "happened_at": "2026-12-01T00:30:00"}).get_json()
    assert activity["happened_at"].startswith("2026-11-30T16:30")  # stored in UTC
    after = api.get("/api/v1/activities?happened_at_after=2026-12-01T00:00:00").get_json()["items"]
    before = api.get("/api/v1/activities?happened_at_before=2026-12-01T00:00:00").get_json()["items"]
    assert [a["id"] for a in after] == [activity["id"]] and activity["id"] not in [a["id"] for a in before]
    explicit = api.get("/api/v1/activities", query_string={"happened_at_after": "2026-12-01T00:00:00+08:00"})
    assert [a["id"] for a in explicit.get_json()["items"]] == [activity["id"]]


def test_a_deleted_records_id_is_never_given_to_a_new_one(api_as, crm_stages, make_customer):
    """On SQLite the next deal took the deleted one's id, with its change history and its
    "once per record" rule ledger (a won deal made no contract: "already done")."""
    api = api_as("sales1")
    customer = make_customer()
    first = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "将删除"}).get_json()
    assert api.delete(f"/api/v1/opportunities/{first['id']}").status_code == 204
    second = api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "新商机"}).get_json()
    assert second["id"] > first["id"]
    history = api.get(f"/api/v1/records/opportunity/{second['id']}/history").get_json()["items"]
    assert all(entry["event"] != "deleted" for entry in history) and len(history) == 1


@pytest.mark.parametrize("sort", ["expected_close", "-expected_close"])
def test_records_without_the_sorted_value_come_last_either_way(api_as, crm_stages, make_customer, sort):
    """Ascending, SQLite put them first and PostgreSQL last."""
    api = api_as("sales1")
    customer = make_customer()
    for title, close in (("无日期", None), ("一月", "2027-01-31"), ("三月", "2027-03-31")):
        api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": title, "expected_close": close})
    titles = [o["title"] for o in api.get(f"/api/v1/opportunities?sort={sort}").get_json()["items"]]
    assert titles[-1] == "无日期" and titles[:2] == (["一月", "三月"] if sort == "expected_close" else ["三月", "一月"])


def test_a_signed_contract_was_not_signed_on_a_day_to_come(api_en, crm_stages):
    """Marked signed with a date ahead, it counted in no period of the sales report until then."""
    api = api_en("sales1")
    customer = api.post("/api/v1/customers", json={"name": "签约日期客户"}).get_json()
    ahead = {"customer_id": customer["id"], "title": "明年签", "amount": 350000, "signed_on": "2099-01-01"}
    refused = api.post("/api/v1/contracts", json={**ahead, "status": "signed"})
    assert refused.status_code == 400
    assert [(d["field"], d["message"]) for d in refused.get_json()["error"]["details"]] == [
        ("signed_on", "A signed contract's signing date cannot be in the future.")]
    planned = api.post("/api/v1/contracts", json=ahead)  # a draft may plan its signing day
    assert planned.status_code == 201, planned.get_json()
    path = f"/api/v1/contracts/{planned.get_json()['id']}"
    assert api.patch(path, json={"status": "signed"}).status_code == 400
    signed = api.patch(path, json={"status": "signed", "signed_on": "2026-12-01"})
    assert signed.status_code == 200 and signed.get_json()["signed_on"] == "2026-12-01"
    assert api.patch(path, json={"signed_on": "2099-01-02"}).status_code == 400


def test_an_unknown_sort_column_is_refused_naming_the_ones_there_are(api_en, crm_stages):
    refused = api_en("sales1").get("/api/v1/customers?sort=bogus")
    assert refused.status_code == 400
    message = refused.get_json()["error"]["message"]
    assert "bogus" in message and "name" in message and "updated_at" in message


def test_a_change_sent_without_a_version_is_applied_though_a_workflow_saved_the_record_meanwhile(api_as, crm_stages,
                                                                                                   monkeypatch):
    """A manager's owner change without a version got 409 stale_version when the report's step
    wrote the customer at the same moment; with a version, 409 is the answer asked for."""
    from sqlalchemy.orm.exc import StaleDataError

    from app.crm import services

    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "厦门并发客户"}).get_json()
    real, calls = services.update, []

    def crossed_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise StaleDataError("UPDATE statement on table 'customers' expected to update 1 row(s); 0 were matched.")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "update", crossed_once)
    changed = api.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "医疗"})
    assert changed.status_code == 200 and changed.get_json()["industry"] == "医疗" and len(calls) == 2
    calls.clear()
    stale = api.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "教育", "version": changed.get_json()["version"]})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version" and len(calls) == 1


def test_the_api_lists_filter_by_the_days_things_happened_as_the_pages_do(api_as, crm_stages):
    """"Who won what in November" could not be asked of the API (400: not taken here), and
    happened_at_before=2026-11-30 lost all of the 30th, read as its midnight."""
    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "API 过滤客户"}).get_json()
    api.post("/api/v1/activities", json={"customer_id": customer["id"], "kind": "visit", "content": "月末拜访",
                                         "happened_at": "2026-11-30T23:30:00"})
    api.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "十一月赢单", "amount": 1,
                                            "expected_close": "2026-11-20", "status": "won",
                                            "closed_at": "2026-11-30T23:30:00+08:00"})
    api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "草稿合同", "signed_on": "2026-11-15"})

    def titles(path):
        response = api.get(path)
        assert response.status_code == 200, response.get_json()
        return [r.get("title") or r.get("content") for r in response.get_json()["items"]]

    assert titles("/api/v1/activities?happened_at_after=2026-11-01&happened_at_before=2026-11-30") == ["月末拜访"]
    assert titles("/api/v1/activities?happened_at_before=2026-11-30T12:00:00%2B08:00") == []  # a moment: as given
    assert titles("/api/v1/opportunities?closed_at_after=2026-11-01&closed_at_before=2026-11-30") == ["十一月赢单"]
    assert titles("/api/v1/opportunities?closed_at_after=2026-12-01") == []
    assert titles("/api/v1/opportunities?expected_close_after=2026-11-01&sort=-closed_at") == ["十一月赢单"]
    assert titles("/api/v1/contracts?signed_on_after=2026-11-01&signed_on_before=2026-11-30") == ["草稿合同"]
    bad = api.get("/api/v1/opportunities?closed_at_after=2026-13-01")
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "closed_at_after"


def test_a_sync_asks_for_what_changed_since_its_last_run(api_as, crm_stages):
    """No list took a changed-since filter: a nightly pull downloaded everything again."""
    api = api_as("sales1")
    first = api.post("/api/v1/customers", json={"name": "同步甲"}).get_json()
    second = api.post("/api/v1/customers", json={"name": "同步乙"}).get_json()
    changed = api.patch(f"/api/v1/customers/{first['id']}", json={"city": "厦门"}).get_json()
    since = second["updated_at"]
    pulled = api.get("/api/v1/customers", query_string={"updated_at_after": since, "sort": "updated_at"})
    assert pulled.status_code == 200, pulled.get_json()
    assert [c["name"] for c in pulled.get_json()["items"]] == ["同步乙", "同步甲"]  # oldest change first
    later = api.get("/api/v1/customers", query_string={"updated_at_after": changed["updated_at"]}).get_json()
    assert [c["name"] for c in later["items"]] == ["同步甲"]
    # The start of time is refused naming the filter (it was "a value is out of range", no field).
    for bound in ("0001-01-01", "0001-01-01T00:00:00"):
        refused = api.get("/api/v1/customers", query_string={"updated_at_after": bound})
        assert refused.status_code == 400
        assert [d["field"] for d in refused.get_json()["error"]["details"]] == ["updated_at_after"]


def test_a_salesperson_does_not_delete_a_won_deal_from_the_figures(api_as, crm_stages, make_customer):
    """sales2 deleted their November win: the month's figures dropped without a word to anyone."""
    customer = make_customer("sales1", name="赢单客户")
    sales = api_as("sales1")
    deal = sales.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "已赢", "amount": "50000",
                                                     "expected_close": "2027-01-31"})
    deal_id = deal.get_json()["id"]
    assert sales.post(f"/api/v1/opportunities/{deal_id}/won", json={}).status_code == 200
    refused = sales.delete(f"/api/v1/opportunities/{deal_id}")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "closed_deal"
    assert api_as("manager").delete(f"/api/v1/opportunities/{deal_id}").status_code == 409
    # Reopened first, it was still won in November.
    version = sales.get(f"/api/v1/opportunities/{deal_id}").get_json()["version"]
    assert sales.patch(f"/api/v1/opportunities/{deal_id}", json={"status": "open", "version": version}).status_code == 200
    assert sales.delete(f"/api/v1/opportunities/{deal_id}").status_code == 409
    assert api_as("admin").delete(f"/api/v1/opportunities/{deal_id}").status_code == 204
    never_won = sales.post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "未赢"}).get_json()
    assert sales.delete(f"/api/v1/opportunities/{never_won['id']}").status_code == 204
