"""The other actions end to end: assignment by field map and by fewest open records,
sharing, e-mail through the outbox, delayed to-dos, and date/copy values."""
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.automation.services import open_todos_for
from app.clock import company_today
from app.db import utcnow
from app.extensions import db
from app.jobs import Job


def test_owner_by_province_map_falls_back_to_the_default_for_inactive_users(crm, make_rule, user):
    from app.auth.services import update_user

    make_rule(name="按省份分配", entity="customer", event="created",
              actions=[{"type": "assign_owner", "strategy": "field_map", "field": "province",
                        "map": {"福建": "sales1", "广东": "sales2"}, "default": "manager"}])
    fujian = crm.create("customer", {"name": "闽一", "province": "福建"}, user("admin"))
    other = crm.create("customer", {"name": "浙一", "province": "浙江"}, user("admin"))
    assert fujian.owner.username == "sales1" and other.owner.username == "manager"
    update_user(user("sales2"), actor=None, active=False)
    canton = crm.create("customer", {"name": "粤一", "province": "广东"}, user("admin"))
    assert canton.owner.username == "manager"


def test_an_owner_map_reads_provinces_as_people_type_them(crm, make_rule, user):
    """浙江省 and Fujian typed in the map, 浙江 and 福建 stored: both went to the default person."""
    import pytest

    from app.api.errors import ApiError

    rule = make_rule(name="省份分配", entity="customer", event="created",
                     actions=[{"type": "assign_owner", "strategy": "field_map", "field": "province",
                               "map": {"浙江省": "sales2", "Fujian": "sales1"}, "default": "manager"}])
    assert rule.actions[0]["map"] == {"浙江": "sales2", "福建": "sales1"}
    assert crm.create("customer", {"name": "浙二", "province": "浙江"}, user("admin")).owner.username == "sales2"
    assert crm.create("customer", {"name": "闽二", "province": "福建省"}, user("admin")).owner.username == "sales1"
    with pytest.raises(ApiError) as refused:
        make_rule(name="重复省份", entity="customer", event="created",
                  actions=[{"type": "assign_owner", "strategy": "field_map", "field": "province",
                            "map": {"浙江省": "sales2", "Zhejiang": "sales1"}}])
    assert "actions.0.map.Zhejiang" in refused.value.message


def test_fewest_open_records_in_a_group(crm, make_rule, user):
    from app.auth.services import create_group

    create_group(name="pool", members=["sales1", "sales2"])
    for index in range(2):
        crm.create("customer", {"name": f"旧客户{index}", "owner": "sales1"}, user("admin"))
    make_rule(name="最少优先", entity="customer", event="created",
              condition={"field": "source", "op": "eq", "value": "官网"},
              actions=[{"type": "assign_owner", "strategy": "fewest_open", "group": "pool"}])
    owners = [crm.create("customer", {"name": f"官网{i}", "source": "官网"}, user("admin")).owner.username
              for i in range(3)]
    assert owners == ["sales2", "sales2", "sales1"]  # 0 < 2; then 1 < 2; then 2 = 2 → by name


def test_share_with_users_and_groups(crm, make_rule, user):
    make_rule(name="共享给经理组", entity="customer", event="created",
              condition={"field": "customer_class", "op": "eq", "value": "A"},
              actions=[{"type": "share", "users": ["sales2"], "groups": ["sales-managers"]}])
    shared = crm.create("customer", {"name": "重点", "customer_class": "A"}, user("sales1"))
    assert shared.shared_usernames == ["manager", "sales2"]
    # Now sales2 sees it (visibility follows sharing).
    assert crm.can_see(shared, user("sales2"))
    # Shared later, the record counts as changed (a sync by updated_at picks it up).
    later = crm.create("customer", {"name": "稍后共享"}, user("sales2"))
    before = later.updated_at
    crm.share(later, ["sales1"], user("admin"))
    db.session.refresh(later)
    assert later.shared_usernames == ["sales1"] and later.updated_at > before


def test_notifications_also_go_by_email_through_the_outbox_when_smtp_is_configured(crm, make_rule, user):
    manager = user("manager")
    manager.email = "manager@example.com"
    db.session.commit()
    make_rule(name="邮件通知", entity="customer", event="created",
              actions=[{"type": "notify", "users": ["manager"], "to_owner": True, "template": "新客户 {name}"}])
    current_app.config["SMTP_HOST"] = "smtp.example.com"
    try:
        crm.create("customer", {"name": "邮件客户"}, user("sales1"))
    finally:
        current_app.config["SMTP_HOST"] = None
    jobs = db.session.scalars(select(Job).where(Job.kind == "notifications.email")).all()
    assert [j.payload["to"] for j in jobs] == ["manager@example.com"]  # sales1 has no address
    assert jobs[0].payload["text"] == "新客户 邮件客户" and jobs[0].status == "pending"


def test_today_is_the_companys_day_not_the_utc_day(crm, make_rule, user):
    """Kiritimati (UTC+14) and Pago Pago (UTC-11) never share a date: whichever one the UTC
    date is, a rule computing "today" from it gets the other company's day wrong."""
    from zoneinfo import ZoneInfo

    make_rule(name="开票日", entity="contract", event="created",
              actions=[{"type": "set_fields", "values": [{"field": "invoice_date", "mode": "today"}]}])
    customer = crm.create("customer", {"name": "时区客户"}, user("admin"))
    days = {}
    try:
        for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
            current_app.config["BABEL_DEFAULT_TIMEZONE"] = zone
            contract = crm.create("contract", {"customer_id": customer.id, "title": zone}, user("admin"))
            db.session.expire_all()
            days[zone] = (contract.invoice_date, datetime.now(ZoneInfo(zone)).date())
    finally:
        current_app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    assert all(got == expected for got, expected in days.values()), days
    assert days["Pacific/Kiritimati"][0] != days["Pacific/Pago_Pago"][0]


def test_delayed_todo_and_date_values(crm, make_rule, user):
    make_rule(name="签约后回访", entity="contract", event="created",
              actions=[{"type": "set_fields", "values": [
                           {"field": "invoice_date", "mode": "today"},
                           {"field": "expires_on", "mode": "copy", "from": "signed_on", "days": 365},
                           {"field": "invoice_title", "mode": "template", "template": "{title}（发票）"}]},
                       {"type": "create_todo", "assignee": "sales2", "title": "回访 {title}",
                        "start": {"mode": "today", "days": 2}, "deadline": {"mode": "copy", "from": "signed_on",
                                                                           "days": 30}}])
    customer = crm.create("customer", {"name": "签约客户"}, user("admin"))
    signed = date(2026, 1, 15)
    contract = crm.create("contract", {"customer_id": customer.id, "title": "服务合同",
                                       "signed_on": signed.isoformat()}, user("admin"))
    db.session.expire_all()
    assert contract.invoice_date == company_today() and contract.expires_on == signed + timedelta(days=365)
    assert contract.invoice_title == "服务合同（发票）"
    assert open_todos_for(user("sales2")) == []  # not started yet
    from app.automation.models import Todo

    todo = db.session.scalar(select(Todo))
    assert todo.starts_at.date() == company_today() + timedelta(days=2)
    assert todo.deadline.date() == signed + timedelta(days=30)
    # Due by the end of its day (a to-do due today was overdue the moment a rule made it at noon).
    from datetime import time

    from app.clock import company_zone
    assert todo.deadline.astimezone(company_zone()).time() == time(23, 59)
    assert todo.starts_at.astimezone(company_zone()).time() == time(9, 0)
    todo.starts_at = utcnow() - timedelta(minutes=1)  # two days later
    db.session.commit()
    assert [t.title for t in open_todos_for(user("sales2"))] == ["回访 服务合同"]


def test_the_new_owner_is_told_the_record_is_theirs(app, crm, make_rule, user):
    from app.notifications.models import Notification

    make_rule(name="福建归销售二", entity="customer", event="created",
              condition={"field": "province", "op": "contains", "value": "福建"},
              actions=[{"type": "assign_owner", "strategy": "user", "user": "sales2"}])
    given = crm.create("customer", {"name": "漳州分给你", "province": "福建"}, user("sales1"))
    kept = crm.create("customer", {"name": "杭州自己的", "province": "浙江"}, user("sales1"))
    told = db.session.scalars(select(Notification).where(Notification.user_id == user("sales2").id)).all()
    assert [n.text for n in told] == ["您现在是客户“漳州分给你”的负责人。"]
    assert told[0].link == f"/crm/customer/{given.id}" and told[0].kind == "assignment"
    # Nobody is told of a record they took themselves.
    assert db.session.scalar(select(Notification).where(Notification.user_id == user("sales1").id)) is None
    assert kept.owner.username == "sales1"
    # The assignment log keeps a code; the record page words it in its reader's language.
    db.session.commit()
    page = app.test_client()
    page.post("/login", data={"username": "sales2", "password": "demo1234"})
    assert "自动化规则“福建归销售二”" in page.get(f"/crm/customer/{given.id}").get_data(as_text=True)


def test_a_template_names_people_and_stages_as_people_read_them(crm, make_rule, user):
    from app.notifications.models import Notification

    make_rule(name="阶段通知", entity="opportunity", event="created",
              actions=[{"type": "notify", "users": ["manager"], "template": "{title}：{owner} 在 {stage}，{status}"}])
    customer = crm.create("customer", {"name": "模板客户"}, user("sales1"))
    crm.create("opportunity", {"title": "大单", "customer_id": customer.id}, user("sales1"))
    text = db.session.scalar(select(Notification.text).where(Notification.user_id == user("manager").id))
    assert text == "大单：销售一 Sales One 在 初步接触，进行中"
