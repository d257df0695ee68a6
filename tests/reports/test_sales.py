"""The sales report: new, won and lost opportunities and signed contracts of a period, per
salesperson, over the records the reader may see; the open pipeline per stage as of now."""
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from app.cli import DEMO_PASSWORD

PERIOD = "from=2026-11-01&to=2026-11-30"
INSIDE = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)
BEFORE = datetime(2026, 10, 20, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def deals(app, demo_people):
    """sales1: 3 deals of November (one won 100,000, one lost, one open 50,000) and an open deal
    from October; a contract signed in November (80,000). sales2: one deal won in November
    (300,000)."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.demo import seed_stages
    from app.extensions import db

    with app.test_request_context():
        seed_stages()
        db.session.commit()
        made = {}
        for owner, name in (("sales1", "厦门海鑫科技有限公司"), ("sales2", "福州闽江贸易有限公司")):
            made[owner] = crm.create("customer", {"name": name}, get_user(owner))

        def deal(owner, title, amount, created, outcome=None):
            record = crm.create("opportunity", {"customer_id": made[owner].id, "title": title, "amount": amount,
                                                "expected_close": "2026-12-31"}, get_user(owner))
            if outcome == "won":
                crm.mark_won(record, get_user(owner))
            elif outcome == "lost":
                crm.mark_lost(record, get_user(owner), "价格")
            record.created_at = created
            if outcome:
                record.closed_at = created + timedelta(days=3)
            db.session.commit()

        deal("sales1", "一期", "100000", INSIDE, "won")
        deal("sales1", "二期", "70000", INSIDE, "lost")
        deal("sales1", "三期", "50000", INSIDE)
        deal("sales1", "旧商机", "20000", BEFORE)
        deal("sales2", "大单", "300000", INSIDE, "won")
        crm.create("contract", {"customer_id": made["sales1"].id, "title": "一期合同", "amount": "80000",
                                "signed_on": "2026-11-15", "status": "signed"}, get_user("sales1"))
        crm.create("contract", {"customer_id": made["sales1"].id, "title": "去年合同", "amount": "9000",
                                "signed_on": date(2025, 11, 15).isoformat(), "status": "signed"}, get_user("sales1"))
        for status in ("draft", "cancelled"):  # a date filled in is no signature
            crm.create("contract", {"customer_id": made["sales1"].id, "title": f"{status}合同", "amount": "150000",
                                    "signed_on": "2026-11-16", "status": status}, get_user("sales1"))
        shared = crm.create("contract", {"customer_id": made["sales2"].id, "title": "同事合同", "amount": "480000",
                                         "signed_on": "2026-11-17", "status": "signed"}, get_user("sales2"))
        crm.share(shared, ["sales1"])  # sales1 may see it; it is sales2's figure, not theirs
        db.session.commit()
        db.session.remove()


def test_each_reader_sees_the_figures_of_the_records_they_may_see(api_as, deals):
    everyone = api_as("admin").get(f"/api/v1/reports/sales?{PERIOD}").get_json()
    t = everyone["totals"]
    assert (t["new"], t["new_amount"], t["won"], t["won_amount"], t["lost"]) == (4, 520000.0, 2, 400000.0, 1)
    assert (t["win_rate"], t["contracts"], t["contracts_amount"]) == (0.667, 2, 560000.0)
    assert (t["open"], t["open_amount"]) == (2, 70000.0)  # the October deal is still open
    # The best seller first.
    assert [p["username"] for p in everyone["people"]] == ["sales2", "sales1"]
    mine = api_as("sales1").get(f"/api/v1/reports/sales?{PERIOD}").get_json()
    assert [p["username"] for p in mine["people"]] == ["sales1"]
    [me] = mine["people"]
    assert (me["new"], me["won"], me["won_amount"], me["lost"], me["win_rate"]) == (3, 1, 100000.0, 1, 0.5)
    assert (me["contracts"], me["contracts_amount"]) == (1, 80000.0)
    assert {s["key"]: s["count"] for s in mine["stages"] if s["count"]} == {"initial_contact": 2}
    assert api_as("fj_head").get("/api/v1/reports/sales").status_code == 403
    assert api_as("admin").get("/api/v1/reports/sales?from=2026-12-01&to=2026-11-01").status_code == 400
    exported = api_as("admin").get(f"/api/v1/reports/sales/csv/people?{PERIOD}")
    lines = exported.get_data(as_text=True).lstrip("\ufeff").splitlines()
    # The page's columns in its order and language, the win rate as a percentage, the period in the name.
    assert lines[0].startswith("负责人,用户名,新建商机,新建商机金额,赢单,赢单金额,输单,赢单率,签订合同,签订合同金额,进行中商机")
    assert lines[2] == "销售一 Sales One,sales1,3,220000.00,1,100000.00,1,50.0%,1,80000.00,2,70000.00"  # yuan to the fen
    assert exported.headers["Content-Disposition"].endswith('filename="sales-people-2026-11-01-2026-11-30.csv"')


def test_the_page_and_the_menu_for_a_salesperson(app, deals):
    client = app.test_client()
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    assert client.get("/reports/").headers["Location"].endswith("/reports/sales")
    page = client.get(f"/reports/sales?{PERIOD}").get_data(as_text=True)
    assert "50%" in page and "100,000.00" in page
    # The figure opens the deals it counts: the one won in November.
    won = re.search(r'data-figure="won"><a href="([^"]+)">1<', page)
    assert won, page.split('data-figure="won"')[1][:300]
    listed = client.get(won.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "一期" in listed and "二期" not in listed and "大单" not in listed
    assert "流程报表" not in page and "人员报表" not in page  # their report only
    assert 'href="/reports/"' in client.get("/").get_data(as_text=True)  # 报表 in their menu


def test_a_contract_marked_signed_without_a_date_was_signed_today(api_as, deals):
    """Undated, it counted in no period of the report."""
    from app.clock import company_today

    sales = api_as("sales1")
    customer = sales.get("/api/v1/customers").get_json()["items"][0]
    draft = sales.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "未写日期", "amount": 1}).get_json()
    signed = sales.patch(f"/api/v1/contracts/{draft['id']}", json={"status": "signed", "version": draft["version"]})
    assert signed.status_code == 200 and signed.get_json()["signed_on"] == company_today().isoformat()
    dated = sales.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "补录", "amount": 1,
                                                  "status": "signed", "signed_on": "2026-11-02"}).get_json()
    assert dated["signed_on"] == "2026-11-02"  # a date given stays


def test_a_signed_contract_stays_credited_to_who_signed_it_when_its_customer_changes_hands(app, api_as, deals):
    """The customer handed to sales2 took sales1's signed 80,000 along, and the report moved
    November's signature to sales2 while sales1 kept the won deal."""
    from sqlalchemy import select

    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Contract, Customer
    from app.extensions import db

    def contracts(username):
        people = api_as("admin").get(f"/api/v1/reports/sales?{PERIOD}").get_json()["people"]
        return next(((p["contracts"], p["contracts_amount"]) for p in people if p["username"] == username), (0, 0.0))

    assert contracts("sales1") == (1, 80000.0)
    with app.test_request_context():
        customer = db.session.scalar(select(Customer).where(Customer.name == "厦门海鑫科技有限公司"))
        crm.assign_owner(customer, "sales2", get_user("manager"), "客户转交")
        db.session.commit()
        assert db.session.scalar(select(Contract.owner_id).where(Contract.title == "一期合同")) == get_user("sales2").id
    assert contracts("sales1") == (1, 80000.0) and contracts("sales2") == (1, 480000.0)
    # Set back to draft and signed again, it is the signature of whoever owns it then.
    sales2 = api_as("sales2")
    [signed] = [c for c in sales2.get("/api/v1/contracts").get_json()["items"] if c["title"] == "一期合同"]
    assert sales2.patch(f"/api/v1/contracts/{signed['id']}", json={"status": "draft"}).status_code == 200
    assert contracts("sales1") == (0, 0.0)
    with app.test_request_context():
        contract = db.session.get(Contract, signed["id"])
        crm.update(contract, {"status": "signed", "signed_on": "2026-11-20"}, get_user("admin"))
    assert contracts("sales2") == (2, 560000.0) and contracts("sales1") == (0, 0.0)


def test_a_new_deal_stays_new_for_who_opened_it_when_it_changes_hands(app, api_as, deals):
    """Handing sales1's customer on moved its open deal's "new" to sales2 (6 → 7 on one side,
    2 → 1 on the other), while won and lost deals and signed contracts stayed put."""
    from sqlalchemy import select

    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer, Opportunity
    from app.extensions import db

    def figures(username):
        people = api_as("admin").get(f"/api/v1/reports/sales?{PERIOD}").get_json()["people"]
        return next(((p["new"], p["new_amount"], p["open"]) for p in people if p["username"] == username), None)

    assert (figures("sales1"), figures("sales2")) == ((3, 220000.0, 2), (1, 300000.0, 0))
    with app.test_request_context():
        customer = db.session.scalar(select(Customer).where(Customer.name == "厦门海鑫科技有限公司"))
        crm.assign_owner(customer, "sales2", get_user("manager"), "客户转交")
        db.session.commit()
        assert db.session.scalar(select(Opportunity.owner_id).where(Opportunity.title == "三期")) == get_user("sales2").id
    # The open pipeline is whose it is now; what was opened in November stays sales1's.
    assert (figures("sales1"), figures("sales2")) == ((3, 220000.0, 0), (1, 300000.0, 2))
    mine = api_as("sales1").get(f"/api/v1/reports/sales?{PERIOD}").get_json()["people"]
    assert [(p["username"], p["new"]) for p in mine] == [("sales1", 3)]


def test_the_demo_s_signed_contracts_are_credited_to_their_salespeople(app, demo_people, api_as):
    """The demo's signed 420,000 stood in the sales report under "—": nobody had signed it."""
    from app.crm import demo

    with app.app_context():
        demo.seed()
    people = api_as("admin").get("/api/v1/reports/sales?from=2025-01-01&to=2027-12-31").get_json()["people"]
    assert people and all(p["username"] for p in people)
    assert sum(p["contracts"] for p in people) == 2


def test_amounts_reach_the_api_to_the_fen(app, api_as, deals):
    """Each person's amounts added up as binary floats: the API answered 12540457.280000001."""
    for owner, amount in (("sales1", "0.10"), ("sales2", "0.20")):
        api = api_as(owner)
        customer = api.get("/api/v1/customers").get_json()["items"][0]["id"]
        deal = api.post("/api/v1/opportunities", json={"customer_id": customer, "title": f"小单{amount}",
                                                      "amount": amount, "expected_close": "2026-12-31"}).get_json()
        assert api.post(f"/api/v1/opportunities/{deal['id']}/won", json={}).status_code == 200
    today = date.today()
    period = f"from={(today - timedelta(days=1)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    report = api_as("admin").get(f"/api/v1/reports/sales?{period}").get_json()
    assert report["totals"]["won_amount"] == 0.3
