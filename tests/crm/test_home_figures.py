"""The home page's sales figures (工作台): counted over what each user may see, on company
days, and each equal to the list its link opens."""
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event

from tests.crm.test_pages import login

# 20:00 UTC on 1 March is already 2 March in Shanghai: "today" for the company, tomorrow in UTC.
NOW = datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc)
TODAY = date(2026, 3, 2)


@pytest.fixture
def company_evening(monkeypatch):
    import app.clock

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)

    monkeypatch.setattr(app.clock, "datetime", Clock)


@pytest.fixture
def book(app, crm_stages, company_evening):
    """sales1 and sales2 each with customers, follow-ups, contracts and open deals; one of
    sales2's customers (with a deal) shared with sales1."""
    from app.auth.services import get_user
    from app.crm.models import Activity, Contract, Customer, Opportunity
    from app.extensions import db

    with app.app_context():
        s1, s2 = get_user("sales1"), get_user("sales2")

        def customer(owner, name, status="none"):
            record = Customer(name=name, owner_id=owner.id, report_status=status)
            db.session.add(record)
            db.session.flush()
            return record

        a = customer(s1, "厦门甲", "pending")
        b = customer(s1, "厦门乙", "rejected")
        customer(s1, "厦门丙")
        d = customer(s2, "福州丁", "rejected")
        e = customer(s2, "福州戊", "pending")
        e.shared_with.append(s1)
        for owner, record, follow_up in [(s1, a, TODAY), (s1, a, TODAY - timedelta(days=3)),
                                         (s1, b, TODAY + timedelta(days=1)), (s1, b, None),
                                         (s2, d, TODAY), (s2, d, TODAY - timedelta(days=1))]:
            # Logged at one moment: none is a later follow-up of another (that case: its own test).
            db.session.add(Activity(customer_id=record.id, owner_id=owner.id, content="跟进", next_follow_up=follow_up,
                                    happened_at=NOW - timedelta(days=5)))
        for owner, record, expires, status in [(s1, a, TODAY, "signed"), (s1, a, TODAY + timedelta(days=30), "signed"),
                                               (s1, b, TODAY + timedelta(days=31), "signed"),
                                               (s1, b, TODAY - timedelta(days=1), "signed"),
                                               (s1, b, TODAY + timedelta(days=5), "draft"),
                                               (s2, d, TODAY + timedelta(days=5), "signed")]:
            db.session.add(Contract(customer_id=record.id, owner_id=owner.id, title="合同", expires_on=expires,
                                    status=status))
        for owner, record, stage, amount, status in [(s1, a, "initial_contact", "100000", "open"),
                                                     (s1, b, "initial_contact", None, "open"),
                                                     (s1, a, "quotation_sent", "250000.50", "open"),
                                                     (s1, a, "quotation_sent", "999999", "won"),
                                                     (s2, e, "negotiation", "300000", "open"),
                                                     (s2, d, "negotiation", "700000", "open")]:
            db.session.add(Opportunity(customer_id=record.id, owner_id=owner.id, title="商机", stage=stage,
                                       amount=Decimal(amount) if amount else None, status=status))
        db.session.commit()
        db.session.remove()


def _summary(app, username):
    from app.auth.services import get_user
    from app.crm.services import sales_summary

    with app.test_request_context():
        return sales_summary(get_user(username))


def _pipeline(summary):
    return {s.key: (s.count, s.amount) for s in summary.pipeline if s.count}


def test_a_salesperson_counts_their_own_and_shared_records_only(app, book):
    mine = _summary(app, "sales1")
    # A, B, C and sales2's E shared with them; not sales2's D.
    assert (mine.customers, mine.reports_pending, mine.reports_rejected) == (4, 2, 1)
    # Follow-ups on the company's 2 March and before (D's are sales2's); B's of tomorrow is not due.
    assert mine.follow_ups_due == 2
    # Signed, expiring 2 March through 1 April: not the draft, the expired one or the one on day 31.
    assert mine.contracts_expiring == 2
    # Open deals only (not the won one); sharing is per record, so sales2's deal on the shared E stays sales2's.
    assert _pipeline(mine) == {"initial_contact": (2, Decimal("100000")), "quotation_sent": (1, Decimal("250000.50"))}

    theirs = _summary(app, "sales2")
    assert (theirs.customers, theirs.reports_pending, theirs.reports_rejected) == (2, 1, 1)
    assert theirs.follow_ups_due == 2 and theirs.contracts_expiring == 1
    assert _pipeline(theirs) == {"negotiation": (2, Decimal("1000000"))}


def test_the_manager_counts_the_department_and_stages_keep_their_configured_order(app, book):
    department = _summary(app, "manager")  # manages the sales group: sales1 and sales2
    assert (department.customers, department.reports_pending, department.reports_rejected) == (5, 2, 2)
    assert department.follow_ups_due == 4 and department.contracts_expiring == 3
    assert [s.name for s in department.pipeline] == ["初步接触", "需求确认", "方案报价", "商务谈判", "合同签订"]
    assert [s.count for s in department.pipeline] == [2, 0, 1, 2, 0]
    assert _summary(app, "admin").customers == 5
    assert _summary(app, "fj_head").customers == 0  # an approver owns no customers


def test_the_figures_take_as_many_queries_with_more_records(app, book):
    """Aggregates, not rows: more records the user sees, the same statements."""
    from app.auth.services import get_user
    from app.crm.models import Activity, Customer, Opportunity
    from app.extensions import db

    def statements(username):
        seen = []
        with app.app_context():
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                _summary(app, username)
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    before = statements("manager")
    with app.app_context():
        owner = get_user("sales1")
        for n in range(30):
            customer = Customer(name=f"批量{n}", owner_id=owner.id, report_status="pending")
            db.session.add(customer)
            db.session.flush()
            db.session.add_all([Activity(customer_id=customer.id, owner_id=owner.id, next_follow_up=TODAY),
                                Opportunity(customer_id=customer.id, owner_id=owner.id, title="批量", stage="negotiation")])
        db.session.commit()
    assert _summary(app, "manager").reports_pending == 2 + 30
    assert statements("manager") == before <= 15  # the manager's groups are walked once, not per list


def _total(html: str) -> int:
    return int(re.search(r'id="total">(\d+)<', html).group(1))


def test_each_sales_figure_links_to_the_list_showing_what_it_counts(app, book):
    from app.auth.services import get_user
    from app.ui.dashboard import home_sections

    with app.test_request_context():
        sections = {s.key: s for s in home_sections(get_user("sales1"))}
    figures = sections["sales"].figures + sections["pipeline"].figures
    assert len(figures) == 5 + 1 + 5  # the sales figures, all stages, each stage
    client = app.test_client()
    login(client, "sales1")
    for figure in figures:
        assert _total(client.get(figure.url).get_data(as_text=True)) == figure.value, (str(figure.label), figure.url)
    rejected = next(f for f in figures if "report_status=rejected" in f.url)
    assert rejected.alert and "厦门乙" in client.get(rejected.url).get_data(as_text=True)


def test_the_list_pages_keep_the_new_filters_in_their_form(app, book):
    client = app.test_client()
    login(client, "sales1")
    html = client.get("/contracts?expires_on_after=2026-03-02&expires_on_before=not-a-date").get_data(as_text=True)
    assert 'name="expires_on_after" value="2026-03-02"' in html and 'name="expires_on_before" value=""' in html
    assert _total(html) == 4  # from 2 March on, any status, no upper bound: not the one expired on 1 March
    board = client.get("/crm/opportunity?stage=quotation_sent").get_data(as_text=True)
    assert '<option value="quotation_sent" selected>方案报价</option>' in board
    assert _total(board) == 2  # the open and the won deal in 方案报价


def test_home_page_shows_the_figures_in_chinese_and_english(app, book):
    client = app.test_client()
    login(client, "sales1")
    html = client.get("/").get_data(as_text=True)
    assert 'id="home-sales"' in html and 'id="home-pipeline"' in html and "方案报价" in html
    assert "250,000.50" in html
    client.post("/language", data={"locale": "en", "next": "/"})
    english = client.get("/").get_data(as_text=True)
    assert "Open opportunities by stage" in english and "Follow-ups due" in english
    approver = app.test_client()
    login(approver, "fj_head")
    assert 'id="home-sales"' not in approver.get("/").get_data(as_text=True)  # nothing of the CRM to show


def test_a_follow_up_is_no_longer_due_once_something_was_logged_after_it(app, book):
    from app.auth.services import get_user
    from app.crm.models import Activity, Customer
    from app.extensions import db

    with app.app_context():
        a = db.session.query(Customer).filter_by(name="厦门甲").one()
        db.session.add(Activity(customer_id=a.id, owner_id=get_user("sales1").id, content="按约回访",
                                happened_at=NOW - timedelta(hours=1)))  # the follow-up itself
        db.session.commit()
        db.session.remove()
    assert _summary(app, "sales1").follow_ups_due == 0  # both of 厦门甲's were followed up
    client = app.test_client()
    login(client, "sales1")
    home = client.get("/").get_data(as_text=True)
    link = re.search(r'href="(/activities\?[^"]*follow_up_open=1[^"]*)"', home).group(1).replace("&amp;", "&")
    listing = client.get(link).get_data(as_text=True)
    rows = listing[listing.index("<tbody>"):listing.index("</tbody>")]
    assert "/crm/activity/" not in rows  # the list the figure links to agrees with it
