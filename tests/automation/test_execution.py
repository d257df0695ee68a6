"""Loop protection, failures (logged; blocking or not), dry runs that change nothing,
dispatch that only touches the rules of the event, and the API."""
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from app.api.errors import ApiError
from app.audit import AuditEvent
from app.automation.execution import MAX_DEPTH
from app.automation.models import Rule, RuleRun, Todo
from app.crm.models import Activity, Customer
from app.extensions import db
from app.jobs import Job
from app.notifications.models import Notification
from tests.automation.conftest import count

SECRET = "signing-secret-0123456789"  # webhooks need a signing secret of 16+ characters


# Fails when it runs, not when the rule is saved: the record's name, 20 times, is too long a city.
TOO_LONG_A_CITY = {"type": "set_fields", "values": [{"field": "city", "mode": "template", "template": "{name}" * 20}]}


def _set_class(value):
    return [{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value", "value": value}]}]


def test_a_rule_pair_that_would_loop_stops_with_the_chain_logged(crm, make_rule, user):
    make_rule(name="A→B", entity="customer", event="updated",
              condition={"field": "customer_class", "op": "changed_to", "value": "A"}, actions=_set_class("B"))
    make_rule(name="B→A", entity="customer", event="updated",
              condition={"field": "customer_class", "op": "changed_to", "value": "B"}, actions=_set_class("A"))
    customer = crm.create("customer", {"name": "循环客户"}, user("sales1"))
    crm.update(customer, {"customer_class": "A"}, user("sales1"))
    db.session.expire_all()
    stopped = db.session.scalars(select(RuleRun).where(RuleRun.outcome == "stopped")).all()
    assert len(stopped) == 1
    assert [link["rule"] for link in stopped[0].chain] == ["A→B", "B→A", "A→B"]
    assert "已对该记录执行过" in stopped[0].error  # zh_CN, the default locale
    # Consistent: the last change that ran (B→A) is what is stored, and it was committed.
    assert db.session.get(Customer, customer.id).customer_class == "A"
    assert count(RuleRun, RuleRun.outcome == "matched") == 2


def test_a_cascade_over_new_records_stops_at_the_depth_limit(crm, make_rule, user):
    make_rule(name="echo", entity="activity", event="created",
              condition={"field": "content", "op": "contains", "value": "echo"},
              actions=[{"type": "create_record", "entity": "activity",
                        "mapping": [{"field": "content", "mode": "copy", "from": "content"}]}])
    customer = crm.create("customer", {"name": "回声"}, user("sales1"))
    crm.create("activity", {"customer_id": customer.id, "content": "echo"}, user("sales1"))
    assert count(Activity) == 1 + MAX_DEPTH
    stopped = db.session.scalar(select(RuleRun).where(RuleRun.outcome == "stopped"))
    assert len(stopped.chain) == MAX_DEPTH + 1 and "最多 5 层" in stopped.error
    # Its author is told, as of a failure: only the run log said so, after the loop had made records.
    from app.notifications.models import Notification

    told = db.session.scalars(select(Notification.text).where(Notification.user_id == user("admin").id)).all()
    assert [text for text in told if "echo" in text and "最多 5 层" in text]


def test_a_failing_action_is_logged_and_does_not_block_the_save(crm, make_rule, user):
    # The stage needs an amount, so moving the opportunity there fails inside the rule.
    make_rule(name="坏规则", entity="customer", event="created",
              actions=[*_set_class("B"),
                       TOO_LONG_A_CITY,
                       {"type": "notify", "users": ["manager"], "template": "{name}"}])
    customer = crm.create("customer", {"name": "照常保存"}, user("sales1"))
    db.session.expire_all()
    saved = db.session.get(Customer, customer.id)
    assert saved is not None and saved.customer_class is None  # the rule's work is undone as a whole
    run = db.session.scalar(select(RuleRun))
    assert run.outcome == "failed" and "city" in run.error
    assert [a["status"] for a in run.actions] == ["rolled_back", "failed", "not_run"]  # the run page lists all three
    # Not silent: the rule's author is told.
    assert count(Notification, Notification.user_id == user("admin").id) == 1


def test_the_failure_alert_is_in_the_authors_language(crm, make_rule, user):
    user("admin").locale = "en"  # the author reads English; the save runs in the default, Chinese
    make_rule(name="坏规则", entity="customer", event="created",
              actions=[TOO_LONG_A_CITY])
    crm.create("customer", {"name": "照常保存"}, user("sales1"))
    notice = db.session.scalar(select(Notification).where(Notification.user_id == user("admin").id))
    assert notice.text.startswith("Automation rule 坏规则 failed on 照常保存: ")
    assert notice.link.startswith("/automation/runs?rule_id=")


def test_a_blocking_rule_refuses_the_save_and_still_logs_why(crm, make_rule, user):
    make_rule(name="必须成功", entity="customer", event="created", blocking=True,
              actions=[TOO_LONG_A_CITY])
    with pytest.raises(ApiError) as refused:
        crm.create("customer", {"name": "被拒绝"}, user("sales1"))
    assert refused.value.code == "rule_blocked" and "必须成功" in refused.value.message
    db.session.rollback()
    assert count(Customer) == 0
    run = db.session.scalar(select(RuleRun))
    assert run.outcome == "failed" and run.rule_name == "必须成功"
    # The refused customer was never saved: the log names it, without an id another may get.
    assert (run.record_id, run.record_label) == (None, "被拒绝")


def _snapshot():
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def test_dry_run_changes_nothing_and_sends_nothing(within, api_as):
    def setup():
        from app.auth.services import create_group, get_user
        from app.automation.services import create_rule
        from app.crm import services as crm

        create_group(name="fujian-sales", members=["sales1", "sales2"])
        rule = create_rule(dict(
            name="试运行", entity="customer", event="created",
            condition={"field": "registered_capital", "op": "ge", "value": 10_000_000},
            actions=[*_set_class("A"),
                     {"type": "assign_owner", "strategy": "round_robin", "group": "fujian-sales"},
                     {"type": "notify", "users": ["manager"], "template": "{name} 是 {customer_class} 类"},
                     {"type": "create_todo", "title": "拜访 {name}", "deadline": {"mode": "today", "days": 3}},
                     {"type": "create_record", "entity": "activity",
                      "mapping": [{"field": "content", "mode": "template", "template": "自动：{name}"}]},
                     {"type": "webhook", "url": "https://hooks.example.com/crm", "secret": SECRET}]), get_user("admin"))
        customer = crm.create("customer", {"name": "已有客户", "registered_capital": "1"}, get_user("admin"))
        return rule.id, customer.id, _snapshot()

    api = api_as("admin")
    rule_id, customer_id, before = within(setup)
    response = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run",
                        json={"record_id": customer_id, "rule": {"condition": None}})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["matched"] is True and result["conditions"] == []
    plans = {a["type"]: a["plan"] for a in result["actions"]}
    assert plans["set_fields"]["changes"] == {"customer_class": [None, "A"]}
    assert plans["assign_owner"]["user"] == "sales1"
    assert plans["notify"] == {"recipients": ["manager"], "text": "已有客户 是 A 类", "email": False,
                               "link": f"/crm/customer/{customer_id}"}
    assert plans["create_todo"]["user"] == "sales1" and plans["create_todo"]["title"] == "拜访 已有客户"
    assert plans["create_record"]["values"]["content"] == "自动：已有客户"
    assert plans["webhook"]["body"]["record"]["name"] == "已有客户" and plans["webhook"]["signed"] is True
    # Each plan in words too, as the editor shows it: labels and names, not keys and usernames.
    said = {a["type"]: a["said"] for a in result["actions"]}
    assert said["set_fields"] == ["客户类别: — → A"]
    assert said["assign_owner"] == ["负责人：系统管理员 Admin → 销售一 Sales One"]
    assert said["notify"] == ["通知：销售经理 Sales Manager", "内容：已有客户 是 A 类"]
    assert said["create_todo"][0] == "给销售一 Sales One的待办事项：拜访 已有客户"
    assert said["create_record"][:2] == ["新建行动记录", "内容: 自动：已有客户"]
    assert f"客户: 已有客户 (#{customer_id})" in said["create_record"]  # named, not "客户: 3"
    assert said["webhook"] == ["POST 到 https://hooks.example.com/crm（已签名）"]
    stored = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run", json={"record_id": customer_id}).get_json()
    assert stored["matched"] is False and stored["conditions"][0]["actual"] == 1 and stored["actions"] == []
    sample = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run",
                      json={"record": {"name": "样例", "registered_capital": "20,000,000"}})
    assert sample.status_code == 200 and sample.get_json()["matched"] is True
    assert [a["status"] for a in sample.get_json()["actions"]][:1] == ["would_run"]
    bad = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run", json={"record": {"capital": 5}})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "record.capital"
    assert "客户" in bad.get_json()["error"]["details"][0]["message"]  # the record type as people read it
    # A record as GET returns it is a sample as it is (custom fields, version, sharing and all).
    returned = api.get(f"/api/v1/customers/{customer_id}").get_json()
    returned.update(registered_capital=20000000, custom={})
    as_returned = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run", json={"record": returned})
    assert as_returned.status_code == 200, as_returned.get_json()
    assert as_returned.get_json()["matched"] is True
    unknown = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run", json={"record": {"custom": {"nosuch": 1}}})
    assert unknown.get_json()["error"]["details"][0]["field"] == "record.custom.nosuch"
    assert within(_snapshot) == before


def test_a_dry_run_of_a_change_reads_the_record_as_changed(within, api_as):
    """The event happens after the change: a notice about the new class says the new class,
    as the real run will (before, it showed the old one)."""
    def setup():
        from app.auth.services import get_user
        from app.automation.services import create_rule
        from app.crm import services as crm

        rule = create_rule(dict(name="升级通知", entity="customer", event="updated",
                                condition={"field": "customer_class", "op": "changed_to", "value": "A"},
                                actions=[{"type": "notify", "users": ["manager"], "template": "{name} 升为 {customer_class} 类"}]),
                           get_user("admin"))
        customer = crm.create("customer", {"name": "待升级", "customer_class": "B"}, get_user("admin"))
        return rule.id, customer.id

    api = api_as("admin")
    rule_id, customer_id = within(setup)
    result = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run",
                      json={"record_id": customer_id, "changes": {"customer_class": ["B", "A"]}}).get_json()
    assert result["matched"] is True
    assert result["actions"][0]["plan"]["text"] == "待升级 升为 A 类"
    bad = api.post(f"/api/v1/automation-rules/{rule_id}/dry-run",
                   json={"record_id": customer_id, "changes": {"customer_class": ["B", "Z"]}})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "changes.customer_class"
    assert bad.get_json()["error"]["message"] == "要试的变更无效。"  # a change, not a "sample"


def test_a_dry_run_of_a_move_into_a_stage_says_what_it_will_be_refused_for(within, api_as):
    """方案报价 needs an amount: a rule moving a deal there without one would fail, and says so."""
    within(lambda: None)  # the demo stages
    rule = {"name": "新单直接报价", "entity": "opportunity", "event": "created",
            "actions": [{"type": "set_fields", "values": [{"field": "stage", "mode": "value", "value": "quotation_sent"}]}]}
    api = api_as("admin")
    without = api.post("/api/v1/automation-rules/dry-run", json={"rule": rule, "record": {"title": "无金额"}}).get_json()
    [action] = without["actions"]
    assert action["status"] == "would_fail" and "方案报价" in action["plan"]["refused"] and "金额" in action["plan"]["refused"]
    priced = api.post("/api/v1/automation-rules/dry-run",
                      json={"rule": rule, "record": {"title": "有金额", "amount": 5000}}).get_json()
    assert priced["actions"][0]["status"] == "would_run"
    # The same rule setting the amount first, in the same action, may move it.
    rule["actions"][0]["values"].insert(0, {"field": "amount", "mode": "value", "value": 1})
    both = api.post("/api/v1/automation-rules/dry-run", json={"rule": rule, "record": {"title": "无金额"}}).get_json()
    assert both["actions"][0]["status"] == "would_run"


def test_dispatch_only_touches_rules_of_the_same_entity_and_event(crm, make_rule, user, monkeypatch):
    from app.automation import execution

    loaded = []
    real = execution.rules_for
    monkeypatch.setattr(execution, "rules_for", lambda entity, event: loaded.append(real(entity, event)) or loaded[-1])
    make_rule(name="相关", entity="customer", event="updated", actions=_set_class("B"))
    for index in range(300):  # unrelated: other entities and other events
        db.session.add(Rule(name=f"无关{index}", entity=("contract", "activity", "customer")[index % 3],
                            event="deleted" if index % 3 == 2 else "updated", actions=_set_class("C"), version=1))
    db.session.commit()
    customer = crm.create("customer", {"name": "基准"}, user("sales1"))
    loaded.clear()
    crm.update(customer, {"city": "厦门"}, user("sales1"))
    # The user's edit and the rule's own edit: each loaded exactly the one related rule.
    assert [[r.name for r in rules] for rules in loaded] == [["相关"], ["相关"]]
    assert {r.rule_name for r in db.session.scalars(select(RuleRun).where(RuleRun.event == "updated"))} == {"相关"}


def test_api_crud_is_validated_audited_and_for_editors_only(api_as, within):
    designer = api_as("admin")
    bad = designer.post("/api/v1/automation-rules", json={
        "name": "坏", "entity": "customer", "event": "created",
        "condition": {"field": "registered_capital", "op": "contains", "value": "1"},
        "actions": [{"type": "set_fields", "values": [{"field": "nope", "value": 1}]}]})
    assert bad.status_code == 400
    details = {d["field"]: d["message"] for d in bad.get_json()["error"]["details"]}
    assert "不适用于 注册资金" in details["condition.op"]
    assert "没有字段 nope" in details["actions.0.values.0.field"]
    # Values that do not fit the field: named by label, said in the reader's language.
    typed = designer.post("/api/v1/automation-rules", json={
        "name": "坏值", "entity": "customer", "event": "created",
        "condition": {"field": "registered_capital", "op": "gt", "value": "一千万"},
        "actions": [{"type": "set_fields", "values": [{"field": "registered_capital", "value": "abc"}]}]})
    details = {d["field"]: d["message"] for d in typed.get_json()["error"]["details"]}
    assert details["condition.value"] == "注册资金（元）：不是数字。"
    assert details["actions.0.values.0.value"] == "注册资金（元）：不是数字。"
    good = designer.post("/api/v1/automation-rules", json={
        "name": "注册资金 ≥ 1000 万 → A 类", "entity": "customer", "event": "created",
        "condition": {"field": "registered_capital", "op": "≥", "value": 10_000_000}, "actions": _set_class("A")})
    assert good.status_code == 201, good.get_json()
    rule = good.get_json()
    assert rule["condition"]["op"] == "ge" and rule["enabled"] is True
    assert api_as("sales1").get("/api/v1/automation-rules").status_code == 403
    listing = designer.get("/api/v1/automation-rules?entity=customer").get_json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == rule["id"]
    stale = designer.patch(f"/api/v1/automation-rules/{rule['id']}", json={"enabled": False, "version": 99})
    assert stale.status_code == 409
    patched = designer.patch(f"/api/v1/automation-rules/{rule['id']}", json={"enabled": False, "version": rule["version"]})
    assert patched.status_code == 200 and patched.get_json()["enabled"] is False
    assert designer.delete(f"/api/v1/automation-rules/{rule['id']}").status_code == 204
    assert designer.get(f"/api/v1/automation-rules/{rule['id']}").status_code == 404
    events = within(lambda: [e.event for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.event.like("automation.%")).order_by(AuditEvent.id))])
    assert events == ["automation.rule_created", "automation.rule_changed", "automation.rule_deleted"]


def test_run_log_api_filters_by_rule_record_and_outcome(within, api_as):
    def setup():
        from app.auth.services import get_user
        from app.automation.services import create_rule
        from app.crm import services as crm

        rule = create_rule(dict(name="记录", entity="customer", event="created",
                                condition={"field": "province", "op": "eq", "value": "福建"},
                                actions=_set_class("B")), get_user("admin"))
        fujian = crm.create("customer", {"name": "闽", "province": "福建"}, get_user("sales1"))
        crm.create("customer", {"name": "粤", "province": "广东"}, get_user("sales1"))
        return rule.id, fujian.id

    rule_id, fujian_id = within(setup)
    api = api_as("admin")
    everything = api.get(f"/api/v1/automation-runs?rule_id={rule_id}").get_json()
    assert everything["total"] == 2
    matched = api.get("/api/v1/automation-runs?outcome=matched").get_json()["items"]
    assert [r["record_id"] for r in matched] == [fujian_id]
    by_record = api.get(f"/api/v1/automation-runs?entity=customer&record_id={fujian_id}").get_json()["items"]
    assert len(by_record) == 1 and by_record[0]["conditions"][0]["result"] is True
    assert api_as("sales1").get("/api/v1/automation-runs").status_code == 403


def test_a_once_per_record_rule_that_failed_may_try_again(crm, make_rule, user):
    from app.automation.services import rule_dict

    rule = make_rule(name="一次", entity="customer", event="updated", once_per_record=True,
                     condition={"field": "source", "op": "changed"},
                     actions=[{"type": "set_fields", "values": [{"field": "city", "mode": "copy", "from": "source"}]}])
    customer = crm.create("customer", {"name": "重试客户"}, user("sales1"))
    crm.update(customer, {"source": "x" * 60}, user("sales1"))  # too long for a city: the action fails
    crm.update(customer, {"source": "展会"}, user("sales1"))  # acts now
    crm.update(customer, {"source": "官网"}, user("sales1"))  # and never again
    outcomes = db.session.scalars(select(RuleRun.outcome).where(RuleRun.rule_id == rule.id,
                                                                RuleRun.outcome != "not_matched")  # its own edit
                                  .order_by(RuleRun.id)).all()
    assert outcomes == ["failed", "matched", "already_done"]
    assert db.session.get(Customer, customer.id).city == "展会"
    assert rule_dict(rule)["once_per_record"] is True


def test_the_audit_log_never_holds_a_webhook_secret(crm, make_rule, user):
    # The audit log cannot be edited or purged: a secret written there would leak for good.
    from app.automation.services import delete_rule, update_rule

    hook = {"type": "webhook", "url": "https://hooks.example.com/crm", "secret": SECRET}
    rule = make_rule(name="钩子", entity="customer", event="created", actions=[hook])
    update_rule(rule, {"actions": [{**hook, "secret": "rotated-secret-9876543210"}]}, user("admin"))
    delete_rule(rule, user("admin"))
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event.startswith("automation.rule"))
                              .order_by(AuditEvent.id)).all()
    assert [r.event for r in rows] == ["automation.rule_created", "automation.rule_changed", "automation.rule_deleted"]
    stored = repr([r.details for r in rows])
    assert SECRET not in stored and "rotated-secret" not in stored
    rotation = rows[1].details["changes"]["actions"]
    assert rotation["from"][0]["secret"] != rotation["to"][0]["secret"]  # the rotation shows
    assert rotation["from"][0]["secret"].startswith("sha256:")
    assert db.session.get(Rule, rule.id) is None


def test_the_upgrade_masks_webhook_secrets_the_audit_log_holds_from_before(tmp_path):
    import json

    from flask_migrate import upgrade
    from sqlalchemy import text

    from tests.helpers import database_at

    hook = {"type": "webhook", "id": "a1", "url": "https://hooks.example.com/crm", "secret": SECRET}
    written = {
        1: ("automation.rule_created", {"rule": {"name": "钩子", "actions": [hook, {"type": "notify"}]}}),
        2: ("automation.rule_changed", {"changes": {"actions": {"from": [hook], "to": [{**hook, "secret": "r" * 24}]}}}),
        3: ("automation.rule_deleted", {"rule": {"actions": [{**hook, "secret": "sha256:0badc0de…"}]}}),
        4: ("login.succeeded", {"secret": "not a rule's"}),
    }
    with database_at(tmp_path, "0028_binding_runs_outcome_index"):
        with db.engine.begin() as connection:
            for row_id, (event, details) in written.items():
                connection.execute(text("INSERT INTO audit_events (id, at, actor_name, event, target, ip, details) "
                                        "VALUES (:id, '2026-12-01 08:00:00', 'admin', :event, 'rule:1', '', :details)"),
                                   {"id": row_id, "event": event, "details": json.dumps(details)})
        upgrade()
        with db.engine.connect() as connection:
            rows = {row_id: json.loads(details) for row_id, details in
                    connection.execute(text("SELECT id, details FROM audit_events ORDER BY id"))}
    assert SECRET not in repr(rows) and "r" * 24 not in repr(rows)
    created = rows[1]["rule"]["actions"]
    assert created[0] == {**hook, "secret": created[0]["secret"]} and created[0]["secret"].startswith("sha256:")
    assert created[1] == {"type": "notify"} and rows[1]["rule"]["name"] == "钩子"
    rotation = rows[2]["changes"]["actions"]
    assert rotation["from"][0]["secret"] == created[0]["secret"] != rotation["to"][0]["secret"]  # the rotation shows
    assert rows[3] == written[3][1] and rows[4] == written[4][1]  # masked already; not a rule's


def test_a_webhook_secret_is_never_shown_and_sending_it_back_keeps_it(api_as, within):
    from app.automation.services import SECRET_KEPT

    admin = api_as("admin")
    created = admin.post("/api/v1/automation-rules", json={
        "name": "推送", "entity": "customer", "event": "created",
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/crm", "secret": SECRET}]})
    assert created.status_code == 201 and created.get_json()["actions"][0]["secret"] == SECRET_KEPT
    shown = admin.get(f"/api/v1/automation-rules/{created.get_json()['id']}").get_json()
    assert SECRET not in str(shown) and SECRET not in str(admin.get("/api/v1/automation-rules").get_json())

    def stored_secret():
        def read():
            from app.automation.models import Rule
            return db.session.get(Rule, shown["id"]).actions[0]["secret"]
        return within(read)

    # The editor sends back what it was shown (a rename here): the secret stays as it was.
    renamed = admin.patch(f"/api/v1/automation-rules/{shown['id']}",
                          json={"name": "推送到财务", "actions": shown["actions"], "version": shown["version"]})
    assert renamed.status_code == 200, renamed.get_json()
    assert stored_secret() == SECRET
    # A new secret typed in replaces it; a new webhook cannot borrow a kept secret it never had.
    rotated = admin.patch(f"/api/v1/automation-rules/{shown['id']}", json={
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/crm", "secret": "rotated-secret-9876543210"}],
        "version": renamed.get_json()["version"]})
    assert rotated.status_code == 200 and stored_secret() == "rotated-secret-9876543210"
    borrowed = admin.post("/api/v1/automation-rules", json={
        "name": "借用", "entity": "customer", "event": "created",
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/other", "secret": SECRET_KEPT}]})
    assert borrowed.status_code == 400 and borrowed.get_json()["error"]["details"][0]["field"] == "actions.0.secret"


def test_a_custom_field_rules_use_is_neither_deleted_nor_retyped_under_them(crm, make_rule, user):
    """Deleted, the rule went on "condition not met" for good and its editor showed 编号 ≥ 500000
    in its place; retyped, ≥ became =."""
    budget = crm.save_custom_field(None, entity="opportunity", key="budget", label="客户预算", type="number",
                                   choices=[], required=False, actor=user("admin"))
    crm.save_custom_field(None, entity="opportunity", key="budget_2", label="二期预算", type="number", choices=[],
                          required=False, actor=user("admin"))
    rule = make_rule(name="大预算", entity="opportunity", event="updated",
                     condition={"field": "custom.budget", "op": "ge", "value": 500000},
                     actions=[{"type": "notify", "users": ["manager"], "template": "大预算"}])
    for attempt in (lambda: crm.delete_custom_field(budget, user("admin")),
                    lambda: crm.save_custom_field(budget, entity="opportunity", key="budget", label="客户预算",
                                                  type="text", choices=[], required=False, actor=user("admin"))):
        with pytest.raises(crm.ApiError) as refused:
            attempt()
        assert refused.value.code == "field_in_use" and "“大预算”" in refused.value.message
        db.session.rollback()
    assert crm.custom_field_defs("opportunity")[0].type == "number"
    from flask import current_app

    page = current_app.test_client()
    page.post("/login", data={"username": "admin", "password": "demo1234"})
    refused = page.post(f"/admin/crm/fields/{budget.id}", data={"entity": "opportunity", "key": "budget",
                                                              "label": "客户预算", "type": "text"})
    assert refused.status_code == 400 and "“大预算”" in refused.get_data(as_text=True)
    assert 'id="c-key" name="key" maxlength="40" value=""' in refused.get_data(as_text=True)  # the new-field form stays empty
    db.session.rollback()
    # Renamed it may be; a field whose name merely begins the same is not in use.
    crm.save_custom_field(budget, entity="opportunity", key="budget", label="预算（元）", type="number", choices=[],
                          required=False, actor=user("admin"))
    crm.delete_custom_field(crm.custom_field_defs("opportunity")[1], user("admin"))
    # A message naming it counts as a use too; once no rule uses it, it goes.
    from app.automation.services import delete_rule, update_rule

    update_rule(rule, {"condition": None, "actions": [{"type": "notify", "users": ["manager"],
                                                       "template": "预算 {custom.budget}"}]}, user("admin"))
    with pytest.raises(crm.ApiError):
        crm.delete_custom_field(budget, user("admin"))
    db.session.rollback()
    delete_rule(db.session.get(Rule, rule.id), user("admin"))
    crm.delete_custom_field(db.session.get(type(budget), budget.id), user("admin"))
    assert crm.custom_field_defs("opportunity") == []


def test_a_deactivated_person_named_by_a_rule_is_said_not_silently_skipped(app, crm, make_rule, user):
    """sales2 deactivated: the rule's to-do was skipped and its notice "done" to nobody, the run
    read 条件满足，已执行动作, and a new rule naming sales2 could still be saved."""
    from app.auth.services import update_user
    from app.automation.services import update_rule

    rule = make_rule(name="银牌客户", entity="customer", event="updated",
                     actions=[{"type": "notify", "users": ["sales2"], "template": "{name} 升级"}])
    update_user(user("sales2"), actor=user("admin"), active=False)
    db.session.commit()
    customer = crm.create("customer", {"name": "升级客户"}, user("sales1"))
    crm.update(customer, {"city": "厦门"}, user("sales1"))
    run = db.session.scalars(select(RuleRun).where(RuleRun.rule_id == rule.id)).all()[-1]
    assert run.actions[0]["status"] == "skipped" and "停用" in run.actions[0]["plan"]["skipped"]
    # Saving it (or a new one) enabled is refused, naming the person; disabled, it may wait.
    with pytest.raises(ApiError) as refused:
        update_rule(rule, {"description": "改说明"}, user("admin"))
    assert refused.value.details[0]["field"] == "actions.0" and "sales2" in refused.value.details[0]["message"]
    db.session.rollback()
    update_rule(db.session.get(Rule, rule.id), {"enabled": False}, user("admin"))
    # The administrator deactivating someone hears which rules name them.
    make_rule(name="通知经理", entity="customer", event="created",
              actions=[{"type": "create_todo", "assignee": "manager", "title": "看看 {name}"}])
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": "demo1234"})
    page = client.post("/admin/users/manager", data={"display_name": "经理", "active": ""}, follow_redirects=True)
    assert "“通知经理”" in page.get_data(as_text=True)


def test_a_rule_on_deletion_does_not_link_to_the_record_it_was_about(crm, make_rule, user):
    make_rule(name="删除通知", entity="customer", event="deleted",
              actions=[{"type": "notify", "users": ["manager"], "template": "{name} 已删除"},
                       {"type": "create_todo", "assignee": "manager", "title": "确认删除 {name}"}])
    customer = crm.create("customer", {"name": "将删客户"}, user("sales1"))
    crm.delete(customer, user("sales1"))
    notice = db.session.scalar(select(Notification).where(Notification.text == "将删客户 已删除"))
    todo = db.session.scalar(select(Todo).where(Todo.title == "确认删除 将删客户"))
    assert notice.link is None and todo.record_id is None


def test_a_condition_on_a_province_reads_its_value_as_the_record_stores_it(crm, make_rule, user):
    """“省份 = Fujian” never matched: the record stores 福建, however it was typed."""
    make_rule(name="福建客户", entity="customer", event="created",
              condition={"or": [{"field": "province", "op": "eq", "value": "Fujian"},
                                {"field": "province", "op": "in", "value": ["闽", "FJ"]}]},
              actions=_set_class("A"))
    fujian = crm.create("customer", {"name": "闽江贸易", "province": "福建省"}, user("sales1"))
    other = crm.create("customer", {"name": "浙江客户", "province": "浙江"}, user("sales1"))
    db.session.expire_all()
    assert db.session.get(Customer, fujian.id).customer_class == "A"
    assert db.session.get(Customer, other.id).customer_class is None


def test_a_choice_a_rule_uses_is_not_taken_off_the_list(crm, make_rule, user):
    """高 was taken off 优先级's choices: the rule stayed enabled, could never match again, and
    every later save of it was refused."""
    priority = crm.save_custom_field(None, entity="customer", key="priority", label="优先级", type="choice",
                                     choices=["高", "中", "低"], required=False, actor=user("admin"))
    make_rule(name="高优先级提醒", entity="customer", event="updated",
              condition={"field": "custom.priority", "op": "changed_to", "value": "高"},
              actions=[{"type": "notify", "users": ["manager"], "template": "高优先级 {name}"}])
    with pytest.raises(crm.ApiError) as refused:
        crm.save_custom_field(priority, entity="customer", key="priority", label="优先级", type="choice",
                              choices=["中", "低"], required=False, actor=user("admin"))
    assert refused.value.code == "field_in_use" and "“高优先级提醒”" in refused.value.message and "“高”" in \
        refused.value.message
    db.session.rollback()
    # A choice no rule uses goes; one added is fine.
    crm.save_custom_field(priority, entity="customer", key="priority", label="优先级", type="choice",
                          choices=["高", "中", "紧急"], required=False, actor=user("admin"))
    assert crm.custom_field_defs("customer")[0].choices == ["高", "中", "紧急"]


def test_a_run_whose_every_action_was_skipped_does_not_read_as_done(crm, make_rule, user):
    """sales2 deactivated: the rule notifying them ran "Matched, actions done" in green, and
    nothing had been done."""
    from flask import current_app

    from app.automation.models import RuleRun

    make_rule(name="通知销售二", entity="customer", event="created",
              actions=[{"type": "notify", "users": ["sales2"], "template": "新客户 {name}"}])
    user("sales2").active = False
    db.session.commit()
    crm.create("customer", {"name": "无人可通知"}, user("sales1"))
    run = db.session.scalar(select(RuleRun).where(RuleRun.rule_name == "通知销售二"))
    assert run.outcome == "matched" and run.actions[0]["status"] == "skipped"
    page = current_app.test_client()
    page.post("/login", data={"username": "admin", "password": "demo1234"})
    html = page.get(f"/automation/runs/{run.id}").get_data(as_text=True)
    assert 'data-outcome="matched_nothing_done"' in html and "已匹配，但每个动作都被跳过" in html
