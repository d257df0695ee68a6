"""The seed examples of issue 4, each end to end through the CRM services."""
from datetime import timedelta

from sqlalchemy import select

from app.automation.execution import scan_time_events
from app.automation.models import FiredOccasion, RuleRun, Todo
from app.automation.services import complete_todo, open_todos_for
from app.clock import company_today
from app.crm.models import AssignmentLog, Contract, Opportunity
from app.extensions import db
from app.notifications.models import Notification
from tests.automation.conftest import count


def test_big_registered_capital_makes_class_a_and_tells_the_manager(crm, make_rule, user):
    make_rule(name="大客户", entity="customer", event="created",
              condition={"and": [{"field": "registered_capital", "op": "≥", "value": 10_000_000}]},
              actions=[{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value", "value": "A"}]},
                       {"type": "notify", "users": ["manager"], "template": "大客户 {name}（注册资金 {registered_capital}，{customer_class}类）"}])
    big = crm.create("customer", {"name": "厦门星辰科技", "registered_capital": "12000000"}, user("sales1"))
    small = crm.create("customer", {"name": "小店", "registered_capital": "500000"}, user("sales1"))
    db.session.expire_all()
    assert big.customer_class == "A" and small.customer_class is None
    texts = [n.text for n in db.session.scalars(select(Notification).where(Notification.user_id == user("manager").id))]
    assert texts == ["大客户 厦门星辰科技（注册资金 12,000,000，A类）"]
    outcomes = {r.record_id: r.outcome for r in db.session.scalars(select(RuleRun))}
    assert outcomes == {big.id: "matched", small.id: "not_matched"}
    run = db.session.scalar(select(RuleRun).where(RuleRun.record_id == big.id))
    assert run.conditions[0]["result"] is True and [a["status"] for a in run.actions] == ["done", "done"]


def test_opportunity_won_creates_a_contract_from_it(crm, make_rule, user):
    make_rule(name="赢单生成合同", entity="opportunity", event="won", once_per_record=True,
              actions=[{"type": "create_record", "entity": "contract", "mapping": [
                  {"field": "title", "mode": "template", "template": "{title} 合同"},
                  {"field": "amount", "mode": "copy", "from": "amount"},
                  {"field": "signed_on", "mode": "today"},
                  {"field": "expires_on", "mode": "today", "days": 365}]}])
    customer = crm.create("customer", {"name": "福州海岸"}, user("sales1"))
    opportunity = crm.create("opportunity", {"customer_id": customer.id, "title": "ERP 项目", "amount": "80000",
                                             "expected_close": "2027-03-31"}, user("sales1"))
    assert count(Contract) == 0
    crm.mark_won(opportunity, user("sales1"))
    contract = db.session.scalar(select(Contract))
    assert contract.title == "ERP 项目 合同" and contract.amount == 80000
    assert contract.opportunity_id == opportunity.id and contract.customer_id == customer.id
    assert contract.owner.username == "sales1" and contract.expires_on == company_today() + timedelta(days=365)
    # Their own win made it: sales1 is not told "You are now the owner of 合同 …".
    from app.notifications.models import Notification

    assert not [text for text in db.session.scalars(select(Notification.text).where(
        Notification.user_id == user("sales1").id)) if "ERP 项目 合同" in text]
    # Reopened and won again: the rule acts on a record once, so no second contract.
    crm.update(opportunity, {"status": "open"}, user("sales1"))
    crm.mark_won(opportunity, user("sales1"))
    assert count(Contract) == 1
    outcomes = db.session.scalars(select(RuleRun.outcome).where(RuleRun.record_id == opportunity.id)
                                  .order_by(RuleRun.id)).all()
    assert outcomes == ["matched", "already_done"]


def test_an_interested_activity_creates_an_opportunity(crm, make_rule, user):
    make_rule(name="有意向 → 商机", entity="activity", event="created",
              condition={"or": [{"field": "content", "op": "contains", "value": "有意向"},
                                {"field": "content", "op": "contains", "value": "interested"}]},
              actions=[{"type": "create_record", "entity": "opportunity", "mapping": [
                  {"field": "title", "mode": "template", "template": "跟进：{content}"}]}])
    customer = crm.create("customer", {"name": "泉州制造"}, user("sales2"))
    crm.create("activity", {"customer_id": customer.id, "content": "客户暂时不需要"}, user("sales2"))
    assert count(Opportunity) == 0
    crm.create("activity", {"customer_id": customer.id, "content": "客户有意向采购"}, user("sales2"))
    crm.create("activity", {"customer_id": customer.id, "content": "Customer is Interested"}, user("sales2"))
    titles = sorted(o.title for o in db.session.scalars(select(Opportunity)))
    assert titles == ["跟进：Customer is Interested", "跟进：客户有意向采购"]
    assert {o.customer_id for o in db.session.scalars(select(Opportunity))} == {customer.id}


def test_contract_30_days_before_expiry_gives_its_owner_a_todo_once(crm, make_rule, user):
    make_rule(name="合同到期提醒", entity="contract", event="date_before",
              event_options={"field": "expires_on", "days": 30},
              actions=[{"type": "create_todo", "assignee": "owner", "title": "续签 {title}",
                        "description": "合同 {title} 将于 {expires_on} 到期",
                        "deadline": {"mode": "copy", "from": "expires_on"}}])
    customer = crm.create("customer", {"name": "漳州物流"}, user("sales1"))
    soon = crm.create("contract", {"customer_id": customer.id, "title": "年度服务",
                                   "expires_on": (company_today() + timedelta(days=30)).isoformat()}, user("sales1"))
    crm.create("contract", {"customer_id": customer.id, "title": "远期合同", "owner": "sales2",
                            "expires_on": (company_today() + timedelta(days=90)).isoformat()}, user("admin"))
    assert scan_time_events() == 1
    assert scan_time_events() == 0  # once per record and occasion, also across scans (and restarts)
    todos = open_todos_for(user("sales1"))
    assert [t.title for t in todos] == ["续签 年度服务"]
    assert todos[0].deadline.date() == soon.expires_on and todos[0].record_id == soon.id
    assert open_todos_for(user("sales2")) == []
    assert count(FiredOccasion) == 1
    complete_todo(todos[0].id, user("sales1"))
    assert open_todos_for(user("sales1")) == []
    # A new expiry date is a new occasion.
    crm.update(soon, {"expires_on": (company_today() + timedelta(days=28)).isoformat()}, user("sales1"))
    assert scan_time_events() == 1 and count(Todo) == 2


def test_a_contract_that_matches_the_condition_only_later_is_still_reminded(crm, make_rule, user):
    """A draft 30 days before expiry did not match "状态 = 已签订", and that occasion counted as
    fired: signed the next day, it never got its renewal to-do (and the dry run said it had)."""
    from app.automation.models import RuleRun

    make_rule(name="合同到期提醒", entity="contract", event="date_before",
              event_options={"field": "expires_on", "days": 30},
              condition={"field": "status", "op": "eq", "value": "signed"},
              actions=[{"type": "create_todo", "assignee": "owner", "title": "续签 {title}"}])
    customer = crm.create("customer", {"name": "漳州物流"}, user("sales1"))
    draft = crm.create("contract", {"customer_id": customer.id, "title": "年度服务",
                                    "expires_on": (company_today() + timedelta(days=30)).isoformat()}, user("sales1"))
    assert scan_time_events() == 0 and scan_time_events() == 0
    assert count(FiredOccasion) == 0 and count(RuleRun) == 0  # nor a "not met" logged every five minutes
    crm.update(draft, {"status": "signed", "signed_on": company_today().isoformat()}, user("admin"))
    assert scan_time_events() == 1 and scan_time_events() == 0
    assert [t.title for t in open_todos_for(user("sales1"))] == ["续签 年度服务"]


def test_a_contract_entered_with_fewer_days_left_is_reminded_at_once(crm, make_rule, user):
    """Entered with 9 days left, the 30-days-before rule never reminded of it (its moment had
    passed more than a week before), though it was the most urgent."""
    make_rule(name="合同到期提醒", entity="contract", event="date_before",
              event_options={"field": "expires_on", "days": 30},
              actions=[{"type": "create_todo", "assignee": "owner", "title": "续签 {title}"}])
    customer = crm.create("customer", {"name": "漳州物流"}, user("sales1"))
    for title, days in (("紧急合同", 9), ("今天到期", 0), ("昨天到期", -1), ("远期合同", 31)):
        crm.create("contract", {"customer_id": customer.id, "title": title,
                                "expires_on": (company_today() + timedelta(days=days)).isoformat()}, user("sales1"))
    assert scan_time_events() == 2
    assert sorted(t.title for t in open_todos_for(user("sales1"))) == ["续签 今天到期", "续签 紧急合同"]
    assert scan_time_events() == 0


def test_a_reminder_changed_to_another_number_of_days_does_not_remind_again(crm, make_rule, user):
    """Changing the demo's 30 days before expiry to 31 gave contract 2 a second 续签合同 to-do."""
    from app.automation.services import update_rule

    rule = make_rule(name="合同到期提醒", entity="contract", event="date_before",
                     event_options={"field": "expires_on", "days": 30},
                     actions=[{"type": "create_todo", "assignee": "owner", "title": "续签 {title}"}])
    customer = crm.create("customer", {"name": "漳州物流"}, user("sales1"))
    crm.create("contract", {"customer_id": customer.id, "title": "年度服务",
                            "expires_on": (company_today() + timedelta(days=30)).isoformat()}, user("sales1"))
    assert scan_time_events() == 1
    update_rule(rule, {"event_options": {"field": "expires_on", "days": 31}}, user("admin"))
    assert scan_time_events() == 0 and count(Todo) == 1


def test_the_upgrade_keeps_occasions_fired_with_the_days_as_fired(tmp_path):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from tests.helpers import database_at

    written = ["date_before:expires_on:30:2027-01-31", "date_before:expires_on:31:2027-01-31",
               "date_after:custom.renew_on:3:2027-02-01", "idle:3:2026-12-01T08:00:00+00:00",
               "idle:5:stage_entered_at:2026-12-01T08:00:00", "no_activity:7:2026-11-30T01:02:03", "once"]
    with database_at(tmp_path, "0029_audit_webhook_secrets"):
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO users (id, username, display_name, password_hash, active, version, "
                                    "created_at, updated_at) VALUES (1, 'admin', 'A', 'x', 1, 1, :now, :now)"),
                               {"now": "2026-12-01 08:00:00"})
            connection.execute(text(
                "INSERT INTO automation_rules (id, name, description, entity, event, event_options, actions, enabled, "
                "blocking, once_per_record, position, version, created_at, updated_at) VALUES (1, 'r', '', 'contract', "
                "'date_before', '{}', '[]', 1, 0, 0, 0, 1, :now, :now)"), {"now": "2026-12-01 08:00:00"})
            for occasion in written:
                connection.execute(text("INSERT INTO automation_fired (rule_id, entity, record_id, occasion, fired_at) "
                                        "VALUES (1, 'contract', 2, :occasion, '2026-12-01 08:00:00')"),
                                   {"occasion": occasion})
        upgrade()
        with db.engine.connect() as connection:
            kept = [row[0] for row in connection.execute(text("SELECT occasion FROM automation_fired ORDER BY id"))]
    assert kept == ["date_before:expires_on:2027-01-31", "date_after:custom.renew_on:2027-02-01",
                    "idle:2026-12-01T08:00:00+00:00", "idle:stage_entered_at:2026-12-01T08:00:00",
                    "no_activity:2026-11-30T01:02:03", "once"]


def test_days_before_a_custom_date_fire_once_per_date(crm, make_rule, user):
    """A reminder on an admin-defined date (续约提醒日, kept in the record's custom JSON)."""
    crm.save_custom_field(None, entity="contract", key="renew_on", label="续约提醒日", type="date", choices=[],
                          required=False)
    make_rule(name="续约提醒", entity="contract", event="date_before",
              event_options={"field": "custom.renew_on", "days": 3},
              actions=[{"type": "notify", "to_owner": True, "template": "{title} 三天后续约"}])
    customer = crm.create("customer", {"name": "南平茶业"}, user("sales1"))
    due = crm.create("contract", {"customer_id": customer.id, "title": "茶园托管",
                                  "custom": {"renew_on": (company_today() + timedelta(days=3)).isoformat()}},
                     user("sales1"))
    for title, days in (("远期托管", 30), ("过期托管", -30)):
        crm.create("contract", {"customer_id": customer.id, "title": title,
                                "custom": {"renew_on": (company_today() + timedelta(days=days)).isoformat()}},
                   user("sales1"))
    crm.create("contract", {"customer_id": customer.id, "title": "无提醒日"}, user("sales1"))
    assert scan_time_events() == 1
    assert scan_time_events() == 0
    assert [n.text for n in db.session.scalars(select(Notification).where(Notification.text.like("%续约%")))] \
        == ["茶园托管 三天后续约"]
    # A new date is a new occasion.
    crm.update(due, {"custom": {"renew_on": (company_today() + timedelta(days=2)).isoformat()}}, user("sales1"))
    assert scan_time_events() == 1 and count(FiredOccasion) == 2


def test_idle_opportunity_fires_after_n_days_without_change(crm, make_rule, user):
    from app.db import utcnow

    make_rule(name="停滞提醒", entity="opportunity", event="idle", event_options={"days": 3, "field": "stage_entered_at"},
              actions=[{"type": "notify", "to_owner": True, "template": "{title} 已停滞 3 天"}])
    customer = crm.create("customer", {"name": "莆田"}, user("sales1"))
    crm.create("opportunity", {"customer_id": customer.id, "title": "停滞商机"}, user("sales1"))
    assert scan_time_events() == 0
    assert scan_time_events(now=utcnow() + timedelta(days=3, minutes=1)) == 1
    assert scan_time_events(now=utcnow() + timedelta(days=4)) == 0
    assert count(Notification, Notification.text == "停滞商机 已停滞 3 天") == 1


def test_a_deal_edited_but_left_in_its_stage_is_still_idle_there(crm, make_rule, user):
    """Idle in its stage counts from entering it: a changed amount on day 2 does not restart the
    wait (before, any edit did, so a deal worked on but never moved was never flagged)."""
    from sqlalchemy import update

    from app.crm.models import Opportunity
    from app.db import utcnow

    make_rule(name="停滞提醒", entity="opportunity", event="idle", event_options={"days": 3, "field": "stage_entered_at"},
              actions=[{"type": "notify", "to_owner": True, "template": "{title} 在本阶段已停留 3 天"}])
    customer = crm.create("customer", {"name": "泉州"}, user("sales1"))
    deal = crm.create("opportunity", {"customer_id": customer.id, "title": "改过金额的商机"}, user("sales1"))
    db.session.execute(update(Opportunity).where(Opportunity.id == deal.id)
                       .values(stage_entered_at=utcnow() - timedelta(days=3, minutes=1)))
    crm.update(deal, {"amount": "80000"}, user("sales1"))  # edited today, still in its stage
    assert scan_time_events() == 1
    assert count(Notification, Notification.text == "改过金额的商机 在本阶段已停留 3 天") == 1
    assert scan_time_events() == 0  # once per stay in the stage


def test_fujian_customers_go_round_robin_to_the_fujian_sales_group(crm, make_rule, user):
    from app.auth.services import create_group, update_user

    create_group(name="fujian-sales", members=["sales1", "sales2"])
    make_rule(name="福建客户轮询分配", entity="customer", event="created",
              condition={"field": "province", "op": "contains", "value": "福建"},
              actions=[{"type": "assign_owner", "strategy": "round_robin", "group": "fujian-sales"}])
    owners = []
    for index in range(3):
        customer = crm.create("customer", {"name": f"福建客户{index}", "province": "福建"}, user("admin"))
        owners.append(customer.owner.username)
    other = crm.create("customer", {"name": "广东客户", "province": "广东"}, user("admin"))
    assert owners == ["sales1", "sales2", "sales1"] and other.owner.username == "admin"
    reasons = [row.reason for row in db.session.scalars(select(AssignmentLog).where(AssignmentLog.reason != "created"))]
    assert len(reasons) == 3 and all("福建客户轮询分配" in r for r in reasons)
    # Someone who left is skipped.
    update_user(user("sales2"), actor=None, active=False)
    customer = crm.create("customer", {"name": "福建客户3", "province": "福建"}, user("admin"))
    assert customer.owner.username == "sales1"


def test_a_round_robin_turn_that_falls_to_the_creator_still_counts(crm, make_rule, user):
    """sales1 enters every Fujian customer: the turn that falls to sales1 keeps the record with
    them, and the next one goes to sales2 (the turn used to stay with the creator for ever)."""
    from app.auth.services import create_group

    create_group(name="fujian-sales", members=["sales1", "sales2"])
    make_rule(name="福建客户轮询分配", entity="customer", event="created",
              condition={"field": "province", "op": "contains", "value": "福建"},
              actions=[{"type": "assign_owner", "strategy": "round_robin", "group": "fujian-sales"}])
    owners = [crm.create("customer", {"name": f"福建客户{index}", "province": "福建"}, user("sales1")).owner.username
              for index in range(4)]
    assert owners == ["sales1", "sales2", "sales1", "sales2"]


def test_the_demo_rules_are_valid_and_seeding_is_idempotent(crm, user):
    from app.automation import demo
    from app.automation.models import Rule

    demo.seed()
    demo.seed()
    assert count(Rule) == len(demo.RULES)
    from app.auth.services import get_group

    assert get_group("fujian-sales").member_usernames == ["sales1", "sales2"]
    big = crm.create("customer", {"name": "演示大客户", "province": "福建省", "registered_capital": "30000000",
                                  "source": "官网"}, user("admin"))
    db.session.expire_all()
    assert big.customer_class == "A" and big.owner.username == "sales1"
    # The notice names the owner the round robin gave it (it ran first), not the one entering it.
    [notice] = db.session.scalars(select(Notification).where(Notification.user_id == user("manager").id)).all()
    assert "负责人 销售一" in notice.text
    # A salesperson's own Fujian customer (not a web lead) stays theirs.
    own = crm.create("customer", {"name": "自己开发的福建客户", "province": "福建", "source": "老客户介绍"}, user("sales2"))
    assert own.owner.username == "sales2"
    # A won deal's contract is a draft: not signed, so no signing date nor an expiry to remind of.
    deal = crm.create("opportunity", {"customer_id": big.id, "title": "演示项目", "amount": "50000",
                                      "expected_close": company_today().isoformat()}, user("sales1"))
    crm.mark_won(deal, user("sales1"))
    contract = db.session.scalar(select(Contract).where(Contract.opportunity_id == deal.id))
    assert (contract.status, contract.amount, contract.signed_on, contract.expires_on) == ("draft", 50000, None, None)
    # Only a signed contract is reminded of its renewal; a draft has nothing to renew yet.
    soon = (company_today() + timedelta(days=10)).isoformat()
    crm.create("contract", {"customer_id": big.id, "title": "草稿合同", "expires_on": soon}, user("sales1"))
    crm.create("contract", {"customer_id": big.id, "title": "已签合同", "expires_on": soon, "status": "signed"},
               user("admin"))
    scan_time_events()
    assert [t.title for t in db.session.scalars(select(Todo))] == ["续签合同：已签合同"]


def test_time_events_fire_in_the_worker_outside_any_request(app, demo_people):
    """The worker has an application context but no request (and so no session or locale)."""
    from app.auth.services import get_user
    from app.automation.services import create_rule
    from app.crm import demo, services as crm

    with app.app_context():
        try:
            demo.seed_stages()
            create_rule(dict(name="到期", entity="contract", event="date_after", event_options={"field": "expires_on",
                                                                                               "days": 0},
                             actions=[{"type": "assign_owner", "strategy": "user", "user": "sales2"},
                                      {"type": "create_todo", "assignee": "owner", "title": "已到期 {title}"}]),
                        get_user("admin"))
            customer = crm.create("customer", {"name": "到期客户"}, get_user("sales1"))
            crm.create("contract", {"customer_id": customer.id, "title": "旧合同",
                                    "expires_on": company_today().isoformat()}, get_user("sales1"))
            assert scan_time_events() == 1
            todo = db.session.scalar(select(Todo))
            assert todo.title == "已到期 旧合同" and todo.user.username == "sales2"
            reason = db.session.scalar(select(AssignmentLog.reason).where(AssignmentLog.to_user_id == todo.user_id))
            assert reason == "rule:到期"  # a code the record page words in its reader's language
        finally:
            db.session.remove()


def test_customer_without_activity_for_n_days(crm, make_rule, user):
    from app.db import utcnow

    make_rule(name="久未跟进", entity="customer", event="idle", event_options={"days": 7, "field": "last_activity"},
              actions=[{"type": "notify", "to_owner": True, "template": "{name} 7 天没有跟进了"}])
    quiet = crm.create("customer", {"name": "沉默客户"}, user("sales1"))
    busy = crm.create("customer", {"name": "活跃客户"}, user("sales1"))
    for customer in (quiet, busy):  # both added 8 days ago (an activity cannot be logged ahead of now)
        customer.created_at = customer.updated_at = utcnow() - timedelta(days=8)
    db.session.commit()
    now = utcnow()
    crm.create("activity", {"customer_id": busy.id, "content": "电话回访", "happened_at": now.isoformat()},
               user("sales1"))
    assert scan_time_events(now=now) == 1
    assert count(Notification, Notification.text == "沉默客户 7 天没有跟进了") == 1
    assert scan_time_events(now=now + timedelta(days=1)) == 0
    # A new activity starts a new wait.
    crm.create("activity", {"customer_id": quiet.id, "content": "拜访", "happened_at": now.isoformat()},
               user("sales1"))
    assert scan_time_events(now=now + timedelta(days=6)) == 0
    assert scan_time_events(now=now + timedelta(days=7, minutes=1)) == 2


def test_a_dry_run_says_when_the_real_run_would_not_act_now(crm, make_rule, user):
    """"Would run" for a contract 350 days from expiry, for one reminded of already, and for a
    once-per-record rule that had acted: the run log then said otherwise."""
    from app.automation.execution import dry_run
    from app.automation.services import rule_dict
    from app.automation import catalog as cat

    rule = make_rule(name="合同到期提醒", entity="contract", event="date_before",
                     event_options={"field": "expires_on", "days": 30},
                     actions=[{"type": "create_todo", "assignee": "owner", "title": "续签 {title}"}])
    once = make_rule(name="首次赢单", entity="customer", event="created", once_per_record=True,
                     actions=[{"type": "notify", "users": ["manager"], "template": "新客户 {name}"}])
    customer = crm.create("customer", {"name": "漳州物流"}, user("sales1"))
    far, near = (crm.create("contract", {"customer_id": customer.id, "title": title,
                                         "expires_on": (company_today() + timedelta(days=days)).isoformat()},
                            user("sales1")) for title, days in (("远期", 350), ("临期", 10)))

    def tried(rule, record):
        result = dry_run(rule_dict(rule, reveal=True), record, cat.catalog())
        return result["held"], [a["status"] for a in result["actions"]]

    held, statuses = tried(rule, far)
    assert "尚未到期" in held and statuses == ["held"]
    assert tried(rule, near) == (None, ["would_run"])
    assert scan_time_events() == 1
    held, statuses = tried(rule, near)
    assert "已按此记录的日期执行过" in held and statuses == ["held"]
    held, statuses = tried(once, customer)
    assert "已对此记录执行过一次" in held and statuses == ["held"]
    undated = crm.create("contract", {"customer_id": customer.id, "title": "无到期日"}, user("sales1"))
    held, statuses = tried(rule, undated)
    assert "此记录没有到期日" in held and statuses == ["held"]  # never, not "not yet"
    # Past its moment for good, it is not promised "when its moment comes".
    expired = crm.create("contract", {"customer_id": customer.id, "title": "已过期",
                                      "expires_on": (company_today() - timedelta(days=5)).isoformat()}, user("sales1"))
    held, statuses = tried(rule, expired)
    assert "日期已过" in held and "尚未到期" not in held and statuses == ["held"]
    overdue = make_rule(name="预计成交日已过", entity="opportunity", event="date_after",
                        event_options={"field": "expected_close", "days": 0},
                        actions=[{"type": "notify", "users": ["manager"], "template": "{title} 逾期"}])
    for days_late, said in ((3, None), (36, "最多晚 7 天")):
        deal = crm.create("opportunity", {"customer_id": customer.id, "title": f"逾期 {days_late} 天", "expected_close": (
            company_today() - timedelta(days=days_late)).isoformat()}, user("sales1"))
        held, _statuses = tried(overdue, deal)
        assert (held is None) if said is None else (said in held), held
