"""Who sees which record: owner, shared-with, the owner's managers, admins; others get 404."""
import csv
import io

import pytest


@pytest.fixture
def records(api_as, crm_stages, make_customer):
    """sales1's customer (with an activity, opportunity, contract) and sales2's customer."""
    api = api_as("sales1")
    mine = make_customer("sales1", name="厦门海鑫科技有限公司", phone="0592-1111", city="厦门")
    theirs = make_customer("sales2", name="上海东方物流集团", phone="021-2222", city="上海")
    related = {
        "activities": api.post("/api/v1/activities", json={"customer_id": mine["id"], "content": "拜访"}).get_json(),
        "opportunities": api.post("/api/v1/opportunities", json={"customer_id": mine["id"], "title": "海鑫一期"}).get_json(),
        "contracts": api.post("/api/v1/contracts", json={"customer_id": mine["id"], "title": "海鑫合同"}).get_json(),
    }
    return {"mine": mine, "theirs": theirs, **related}


def _ids(api, path, query=""):
    body = api.get(f"/api/v1/{path}?per_page=200{query}").get_json()
    return {item["id"] for item in body["items"]}


def test_a_salesperson_cannot_reach_anothers_records(api_as, records):
    sales2 = api_as("sales2")
    mine = records["mine"]
    for path in ("customers", "activities", "opportunities", "contracts"):
        record_id = mine["id"] if path == "customers" else records[path]["id"]
        assert sales2.get(f"/api/v1/{path}/{record_id}").status_code == 404
        assert sales2.patch(f"/api/v1/{path}/{record_id}", json={"version": 1}).status_code == 404
        assert sales2.delete(f"/api/v1/{path}/{record_id}").status_code == 404
        assert record_id not in _ids(sales2, path)
    # A search that matches never reveals it, by name, phone or city.
    for q in ("海鑫", "0592-1111", "厦门"):
        assert _ids(sales2, "customers", f"&q={q}") == set()
    assert _ids(sales2, "customers", "&owner=sales1") == set()
    # Nor can sales2 attach records to it.
    attached = sales2.post("/api/v1/activities", json={"customer_id": mine["id"], "content": "x"})
    assert attached.status_code == 400
    assert attached.get_json()["error"]["details"][0]["field"] == "customer_id"
    # Nor export it.
    exported = sales2.get("/api/v1/customers/export.csv").get_data(as_text=True)
    names = [row["name"] for row in csv.DictReader(io.StringIO(exported.lstrip("\ufeff")))]
    assert names == ["上海东方物流集团"]
    assert sales2.post(f"/api/v1/opportunities/{records['opportunities']['id']}/stage",
                       json={"stage": "needs_confirmed"}).status_code == 404


def test_sharing_grants_reading_and_editing_but_not_ownership(api_as, records):
    sales1, sales2 = api_as("sales1"), api_as("sales2")
    mine = records["mine"]
    shared = sales1.patch(f"/api/v1/customers/{mine['id']}", json={"shared_with": ["sales2"]})
    assert shared.status_code == 200
    # A change like any other: a sync reading what changed since (by updated_at) sees it.
    assert shared.get_json()["version"] > mine["version"] and shared.get_json()["updated_at"] > mine["updated_at"]
    assert mine["id"] in _ids(sales2, "customers", "&q=海鑫")
    assert sales2.patch(f"/api/v1/customers/{mine['id']}", json={"industry": "软件"}).status_code == 200
    # The activity itself was not shared: it stays hidden.
    assert sales2.get(f"/api/v1/activities/{records['activities']['id']}").status_code == 404
    # Only the owner or a manager changes sharing, owner, or deletes.
    assert sales2.patch(f"/api/v1/customers/{mine['id']}", json={"shared_with": []}).status_code == 403
    assert sales2.patch(f"/api/v1/customers/{mine['id']}", json={"owner": "sales2"}).status_code == 403
    assert sales2.delete(f"/api/v1/customers/{mine['id']}").status_code == 403


def test_manager_sees_his_departments_records_and_admin_all(api_as, records, make_customer):
    outsider = make_customer("admin", name="管理员自己的客户")
    manager = api_as("manager")  # manager of group "sales" (sales1, sales2)
    assert _ids(manager, "customers") == {records["mine"]["id"], records["theirs"]["id"]}
    for path in ("activities", "opportunities", "contracts"):
        assert _ids(manager, path) == {records[path]["id"]}
    assert manager.get(f"/api/v1/customers/{outsider['id']}").status_code == 404
    # The manager may hand his people's customers around (logged).
    moved = manager.patch(f"/api/v1/customers/{records['mine']['id']}", json={"owner": "sales2"})
    assert moved.status_code == 200 and moved.get_json()["owner"] == "sales2"

    fj_head = api_as("fj_head")  # an approver who manages nobody
    assert _ids(fj_head, "customers") == set()
    assert fj_head.get(f"/api/v1/customers/{records['theirs']['id']}").status_code == 404

    admin = api_as("admin")
    assert _ids(admin, "customers") == {records["mine"]["id"], records["theirs"]["id"], outsider["id"]}
    assert len(admin.get("/api/v1/customers/export.csv").get_data(as_text=True).strip().splitlines()) == 4


def test_pages_follow_the_same_visibility(app, records, demo_people):
    from tests.crm.test_pages import login

    client = app.test_client()
    login(client, "sales2")
    assert client.get(f"/crm/customer/{records['mine']['id']}").status_code == 404
    assert client.get(f"/crm/customer/{records['mine']['id']}/edit").status_code == 404
    assert client.post(f"/crm/customer/{records['mine']['id']}/delete").status_code == 404
    listing = client.get("/customers?q=海鑫").get_data(as_text=True)
    assert "厦门海鑫" not in listing
    assert "上海东方物流" in client.get("/customers").get_data(as_text=True)


def test_a_customers_owner_sees_what_colleagues_recorded_on_it(api_as, records):
    """Sharing stays per record, but the customer's owner (and their manager) see every
    activity, opportunity and contract that belongs to the customer, whoever owns it."""
    sales1, sales2, manager = api_as("sales1"), api_as("sales2"), api_as("manager")
    mine = records["mine"]
    sales1.patch(f"/api/v1/customers/{mine['id']}", json={"shared_with": ["sales2"]})
    logged = sales2.post("/api/v1/activities", json={"customer_id": mine["id"], "content": "电话回访"}).get_json()
    deal = sales2.post("/api/v1/opportunities", json={"customer_id": mine["id"], "title": "二期"}).get_json()
    for path, record in (("activities", logged), ("opportunities", deal)):
        assert sales1.get(f"/api/v1/{path}/{record['id']}").status_code == 200, path
        assert record["id"] in _ids(sales1, path), path
        assert record["id"] in _ids(manager, path), path
    # Reading is all it gives: sales2's records stay sales2's to change or give away.
    assert sales1.delete(f"/api/v1/activities/{logged['id']}?version={logged['version']}").status_code == 403
    # Un-shared, sales2 keeps their own records but not sales1's.
    sales1.patch(f"/api/v1/customers/{mine['id']}", json={"shared_with": []})
    assert sales2.get(f"/api/v1/activities/{logged['id']}").status_code == 200
    assert sales2.get(f"/api/v1/activities/{records['activities']['id']}").status_code == 404


def test_a_customer_handed_over_takes_its_open_deals_and_running_contracts(app, api_as, records):
    """The previous owner would otherwise keep deals of a customer they can no longer open,
    and renewal reminders would reach them; closed deals, and a colleague's, stay put."""
    sales1, sales2, manager = api_as("sales1"), api_as("sales2"), api_as("manager")
    mine = records["mine"]
    lost = sales1.post("/api/v1/opportunities", json={"customer_id": mine["id"], "title": "海鑫零期",
                                                      "status": "lost"}).get_json()
    assert "id" in lost, lost
    colleague = manager.post("/api/v1/opportunities", json={"customer_id": mine["id"], "title": "经理跟进",
                                                             "owner": "manager"}).get_json()
    before = len(sales2.get("/api/v1/notifications").get_json()["items"])

    assert manager.patch(f"/api/v1/customers/{mine['id']}", json={"owner": "sales2"}).status_code == 200

    owner = lambda path, record: manager.get(f"/api/v1/{path}/{record['id']}").get_json()["owner"]  # noqa: E731
    assert owner("opportunities", records["opportunities"]) == "sales2"
    assert owner("contracts", records["contracts"]) == "sales2"
    assert owner("opportunities", lost) == "sales1"  # its history is sales1's
    assert owner("opportunities", colleague) == "manager"
    assert owner("activities", records["activities"]) == "sales1"  # what sales1 did stays theirs
    assert sales1.get(f"/api/v1/opportunities/{records['opportunities']['id']}").status_code == 404
    # Told once, of the customer; the deal's log says why it moved.
    assert len(sales2.get("/api/v1/notifications").get_json()["items"]) == before + 1
    with app.app_context():
        from app.crm import services
        [row] = [r for r in services.assignment_log("opportunity", records["opportunities"]["id"])
                 if r.reason == services.FOLLOWS_CUSTOMER]
        assert row.from_user.username == "sales1" and row.to_user.username == "sales2"


def test_a_customer_given_by_its_report_or_a_rule_takes_its_open_deals(app, api_as, records):
    from app.crm import services
    from app.extensions import db

    with app.test_request_context():
        customer = services.record_by_id("customer", records["mine"]["id"])
        services.assign_owner(customer, "sales2", None, "customer report")
        db.session.remove()
    assert api_as("sales2").get(f"/api/v1/opportunities/{records['opportunities']['id']}").get_json()["owner"] == "sales2"


def test_a_deal_given_to_someone_who_may_not_open_its_customer_stays_editable(app, api_as, records):
    """Round-robin hands sales1's new deal to sales2, who may not open sales1's customer: sales2
    still edits the deal (the customer is kept as it is, named without a link)."""
    from tests.crm.test_pages import login

    deal = records["opportunities"]
    given = api_as("manager").patch(f"/api/v1/opportunities/{deal['id']}", json={"owner": "sales2"})
    assert given.status_code == 200, given.get_json()
    sales2 = api_as("sales2")
    path = f"/api/v1/opportunities/{deal['id']}"
    changed = sales2.patch(path, json={"customer_id": records["mine"]["id"], "amount": 5000})
    assert changed.status_code == 200, changed.get_json()
    assert sales2.patch(path, json={"customer_id": records["theirs"]["id"] + 1000}).status_code == 400
    client = app.test_client()
    login(client, "sales2")
    page = client.get(f"/crm/opportunity/{deal['id']}/edit").get_data(as_text=True)
    assert f'<option value="{records["mine"]["id"]}" selected>厦门海鑫科技有限公司' in page
    detail = client.get(f"/crm/opportunity/{deal['id']}").get_data(as_text=True)
    assert "厦门海鑫科技有限公司" in detail and f'href="/crm/customer/{records["mine"]["id"]}"' not in detail


def test_a_record_id_with_a_fraction_is_refused_not_cut(api_as, records):
    made = api_as("sales1").post("/api/v1/opportunities", json={"customer_id": records["mine"]["id"] + 0.5,
                                                                "title": "小数"})
    assert made.status_code == 400 and made.get_json()["error"]["details"][0]["field"] == "customer_id"


def test_a_contract_for_a_deal_given_to_someone_who_may_not_open_its_customer(app, api_as, records):
    """sales2 holds sales1's deal (a rule gave it) and adds its contract: the deal's customer is
    offered and taken, though sales2 may not open it; another hidden customer is not."""
    from tests.crm.test_pages import login

    deal = records["opportunities"]
    api_as("manager").patch(f"/api/v1/opportunities/{deal['id']}", json={"owner": "sales2"})
    client = app.test_client()
    login(client, "sales2")
    form = client.get(f"/crm/contract/new?customer_id={records['mine']['id']}&opportunity_id={deal['id']}")
    assert f'<option value="{records["mine"]["id"]}" selected>厦门海鑫科技有限公司' in form.get_data(as_text=True)
    made = api_as("sales2").post("/api/v1/contracts", json={"customer_id": records["mine"]["id"],
                                                          "opportunity_id": deal["id"], "title": "海鑫二期合同"})
    assert made.status_code == 201, made.get_json()
    alone = api_as("sales2").post("/api/v1/contracts", json={"customer_id": records["mine"]["id"], "title": "无商机"})
    assert alone.status_code == 400 and alone.get_json()["error"]["details"][0]["field"] == "customer_id"
