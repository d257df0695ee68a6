"""The no-code editor in headless Chromium: build a rule with dropdowns, save it, dry-run it,
and see its run on the customer's page."""
import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.helpers import login_in_browser, screenshot

pytestmark = pytest.mark.browser


def test_designer_builds_saves_and_dry_runs_a_rule(page, app, demo_people):
    login_in_browser(page, "admin")
    page.goto("/automation/")
    page.get_by_role("link", name="新建规则").click()
    page.wait_for_selector("#rule-entity option", state="attached")
    page.fill("#rule-name", "大客户定级")
    page.select_option("#rule-entity", "opportunity")  # the dry run's examples follow the record type
    assert '"amount":100000' in page.get_attribute("#dry-sample", "placeholder")
    page.select_option("#rule-entity", "customer")
    assert '"registered_capital":100000' in page.get_attribute("#dry-sample", "placeholder")
    page.select_option("#rule-event", "created")
    page.get_by_role("button", name="添加条件", exact=True).click()
    leaf = page.locator(".condition-leaf").first
    leaf.get_by_label("字段").select_option("registered_capital")
    leaf.get_by_label("运算符").select_option("ge")
    leaf.get_by_label("值").fill("10000000")
    page.select_option("#new-action-type", "set_fields")
    page.click("#add-action")
    action = page.locator(".rule-action").first
    action.get_by_role("button", name="添加字段").click()
    action.get_by_label("字段").select_option("customer_class")
    action.get_by_label("值").last.select_option("A")
    page.select_option("#new-action-type", "notify")
    page.click("#add-action")
    notify = page.locator(".rule-action").nth(1)
    people = notify.locator("label", has_text="用户（逗号分隔）").locator("input")
    # People and groups are offered by name as one types (from the page's lists).
    assert page.eval_on_selector_all(f"#{people.get_attribute('list')} option",
                                     "os => os.map(o => [o.value, o.label])")[:2] == [["admin", "系统管理员 Admin"],
                                                                                      ["fj_head", "福建大区负责人 Fujian Head"]]
    groups = notify.locator("label", has_text="用户组").locator("input")
    assert page.eval_on_selector_all(f"#{groups.get_attribute('list')} option", "os => os.map(o => o.value)") == \
        page.eval_on_selector_all("#rule-groups option", "os => os.map(o => o.value)")
    # A list goes on growing: after a comma each offer keeps the names typed, without them again.
    people.fill("admin，fj_head, ")
    offered = page.eval_on_selector_all(f"#{people.get_attribute('list')} option", "os => os.map(o => o.value)")
    assert offered[0] == "admin，fj_head, manager" and "admin，fj_head, admin" not in offered, offered
    people.fill("manager")
    notify.get_by_label("模板，例如 {name}").fill("大客户 {name}")
    notify.get_by_text("记录负责人").click()  # the words tick the box
    assert notify.get_by_label("记录负责人").is_checked()
    notify.get_by_text("记录负责人").click()
    assert action.get_by_label("取值方式").count() == 1  # the mode and the value are not both "值"
    page.check("#rule-once")
    page.fill("#rule-position", "20")  # after a round robin at 10, say
    page.click("#save-rule")
    page.wait_for_url(re.compile(r"/automation/rules/\d+\?saved=1$"))
    expect(page.locator("#rule-saved")).to_be_visible()  # the first save said nothing, later ones did
    page.wait_for_function("() => !window.location.search")  # a reload does not say it again
    expect(page.locator("#rule-position")).to_have_value("20")
    expect(page.locator("#rule-name")).to_have_value("大客户定级")
    page.fill("#dry-sample", '{"name": "样例公司", "registered_capital": 20000000}')
    page.click("#dry-run")
    page.wait_for_selector("#dry-verdict")
    assert page.locator("#dry-verdict").inner_text() == "条件满足"
    assert "大客户 样例公司" in page.locator(".dry-action").nth(1).inner_text()
    assert page.locator(".dry-action").first.locator(".dry-said").inner_text() == "客户类别: — → A"
    assert page.locator(".dry-action pre").first.is_hidden()  # the raw plan on request only
    screenshot(page, "automation-editor-dry-run")
    # A dry run that cannot run says so beside the button; the last verdict does not stay as if it were this one's.
    page.fill("#dry-sample", "{not json")
    page.click("#dry-run")
    page.wait_for_selector("#dry-error")
    assert page.locator("#dry-verdict").count() == 0 and page.locator(".dry-action").count() == 0
    page.fill("#dry-sample", '{"name": "样例公司", "registered_capital": 20000000}')

    with app.app_context():
        from sqlalchemy import select

        from app.auth.services import get_user
        from app.automation.models import Rule
        from app.crm import services as crm
        from app.extensions import db

        rule = db.session.scalar(select(Rule))
        assert rule.condition == {"and": [{"field": "registered_capital", "op": "ge", "value": 10000000}]}
        assert [a["type"] for a in rule.actions] == ["set_fields", "notify"] and rule.once_per_record is True
        assert rule.position == 20
        customer = crm.create("customer", {"name": "浏览器大客户", "registered_capital": "15000000"}, get_user("admin"))
        customer_id = customer.id
        db.session.remove()
    page.goto(f"/crm/customer/{customer_id}")
    panel = page.locator("#automation-log")
    assert "大客户定级" in panel.inner_text() and "条件满足，已执行动作" in panel.inner_text()
    screenshot(page, "automation-record-panel")
    page.goto("/automation/runs?outcome=matched")
    assert page.locator("#run-list tbody tr").count() == 1
    screenshot(page, "automation-run-log")


def test_a_rejected_definition_shows_the_reasons(page, demo_people):
    login_in_browser(page, "admin")
    page.goto("/automation/rules/new")
    page.wait_for_selector("#rule-entity option", state="attached")
    page.click("#save-rule")
    errors = page.locator("#rule-errors")
    errors.wait_for(state="visible")
    assert "规则需要名称" in errors.inner_text() and "规则至少需要一个动作" in errors.inner_text()
    assert "名称: 规则需要名称" in errors.inner_text() and "name:" not in errors.inner_text()  # the page's words
    assert "actions:" not in errors.inner_text()
    # An incomplete action: the message names it as the page does, and its card turns red.
    page.fill("#rule-name", "通知负责人")
    page.select_option("#new-action-type", "notify")
    page.click("#add-action")
    page.click("#save-rule")
    expect(errors).to_contain_text("动作 1 (发送通知)")
    assert "actions.0" not in errors.inner_text()
    expect(page.locator(".rule-action").first).to_have_class(re.compile(r"border-danger"))
    # A condition without its value: its row is outlined until it is edited.
    conditions = page.locator("#condition-root")
    conditions.get_by_role("button", name="添加条件", exact=True).click()
    leaf = conditions.locator(".condition-leaf").first
    leaf.get_by_label("字段").select_option("registered_capital")
    leaf.get_by_label("运算符").select_option("ge")
    page.click("#save-rule")
    expect(errors).to_contain_text("条件 1 · 值")
    expect(leaf).to_have_class(re.compile(r"condition-invalid"))
    leaf.get_by_label("值").fill("10000000")
    expect(conditions.locator(".condition-invalid")).to_have_count(0)


def test_a_custom_date_field_is_offered_for_days_before_but_not_for_idle_time(page, app, demo_people):
    from app.crm import services as crm
    from app.extensions import db

    with app.app_context():
        crm.save_custom_field(None, entity="contract", key="renew_on", label="续约提醒日", type="date", choices=[],
                              required=False)
        db.session.remove()
    login_in_browser(page, "admin")
    page.goto("/automation/rules/new")
    page.wait_for_selector("#rule-entity option", state="attached")
    page.select_option("#rule-entity", "contract")
    page.select_option("#rule-event", "date_before")
    expect(page.locator("#event-field option[value='custom.renew_on']")).to_have_count(1)
    page.select_option("#rule-event", "idle")
    expect(page.locator("#event-field option[value='custom.renew_on']")).to_have_count(0)
    # A deal is idle in its stage: that is what the editor proposes for opportunities.
    page.goto("/automation/rules/new")
    page.wait_for_selector("#rule-entity option", state="attached")
    page.select_option("#rule-entity", "opportunity")
    page.select_option("#rule-event", "idle")
    expect(page.locator("#event-field")).to_have_value("stage_entered_at")


def _open_update_rule(page, app, name, condition, template):
    """A customer-updated rule that notifies the manager, opened in the editor as admin."""
    with app.app_context():
        from app.auth.services import get_user
        from app.automation.services import create_rule
        from app.extensions import db

        rule = create_rule({"name": name, "entity": "customer", "event": "updated", "condition": condition,
                            "actions": [{"type": "notify", "users": ["manager"], "template": template}]},
                           get_user("admin"))
        rule_id = rule.id
        db.session.remove()
    login_in_browser(page, "admin")
    page.goto(f"/automation/rules/{rule_id}")
    page.wait_for_selector("#rule-entity option", state="attached")


def test_a_dry_run_tries_a_change_for_an_update_rule(page, app, demo_people):
    _open_update_rule(page, app, "升为A类", {"field": "customer_class", "op": "changed_to", "value": "A"},
                      "{name} 升为A类")
    page.fill("#dry-sample", '{"name": "样例公司", "customer_class": "A"}')
    page.click("#dry-run")
    expect(page.locator("#dry-verdict")).to_contain_text("条件不满足")  # no change given: A was A before
    page.fill("#dry-changes", '{"customer_class": ["B", "A"]}')
    page.click("#dry-run")
    expect(page.locator("#dry-verdict")).to_have_text("条件满足")
    assert "样例公司 升为A类" in page.locator(".dry-action").first.inner_text()
    assert page.locator("#dry-result td").first.inner_text() == "客户类别"  # the field as the editor names it
    screenshot(page, "automation-editor-dry-run-change")
    page.fill("#dry-changes", '{"customer_class": ["B", "A"')
    page.click("#dry-run")
    expect(page.locator("#dry-error")).to_contain_text("要试的变更不是有效的 JSON")  # beside the button
    page.fill("#dry-changes", '{"no_such_field": [1, 2]}')
    page.click("#dry-run")
    expect(page.locator("#dry-error")).to_contain_text("no_such_field")  # said beside the button ...
    expect(page.locator("#rule-errors")).to_be_hidden()  # ... not as if the rule could not be saved
    page.fill("#dry-changes", "")
    page.fill("#dry-sample", '{"name": "样例公司", "registered_capital": "很多"}')
    page.click("#dry-run")
    expect(page.locator("#dry-error li")).to_contain_text("注册资金")  # by the field's label, not record.registered_capital
    expect(page.locator("#rule-errors")).to_be_hidden()


def test_a_dry_run_names_choices_as_the_editor_does(page, app, demo_people):
    _open_update_rule(page, app, "报备通过后通知", {"field": "report_status", "op": "changed_to", "value": "approved"},
                      "{name} 报备通过")
    page.fill("#dry-sample", '{"name": "样例公司", "report_status": "approved"}')
    page.fill("#dry-changes", '{"report_status": ["pending", "approved"]}')
    page.click("#dry-run")
    expect(page.locator("#dry-verdict")).to_have_text("条件满足")
    cells = page.locator("#dry-result tbody td").all_inner_texts()
    assert cells[2:4] == ["报备通过", "报备通过"], cells  # not "approved" in quotes


def test_the_run_log_keeps_its_columns_in_view_beside_a_long_title(page, app, demo_people):
    """A 200-character unbroken deal title pushed 事件/结果/时长 off a 1,366 px screen."""
    with app.app_context():
        from app.auth.services import get_user
        from app.automation.services import create_rule
        from app.crm import services as crm
        from app.crm.demo import seed_stages
        from app.extensions import db

        seed_stages()
        create_rule({"name": "新商机通知", "entity": "opportunity", "event": "created",
                     "actions": [{"type": "notify", "users": ["manager"], "template": "{title}"}]}, get_user("admin"))
        customer = crm.create("customer", {"name": "长标题客户"}, get_user("sales1"))
        crm.create("opportunity", {"customer_id": customer.id, "title": "X" * 200}, get_user("sales1"))
        db.session.remove()
    page.set_viewport_size({"width": 1366, "height": 800})
    login_in_browser(page, "admin")
    page.goto("/automation/runs")
    table = page.locator("#run-list")
    expect(table).to_contain_text("新商机通知")
    width = page.evaluate("() => document.querySelector('#run-list').parentElement.clientWidth")
    assert page.evaluate("() => document.querySelector('#run-list').scrollWidth") <= width


def test_a_dry_run_marks_an_action_that_would_fail(page, app, demo_people):
    with app.app_context():
        from app.auth.services import get_user
        from app.automation.services import create_rule
        from app.crm.demo import seed_stages
        from app.extensions import db

        seed_stages()
        rule = create_rule({"name": "新单直接报价", "entity": "opportunity", "event": "created",
                            "actions": [{"type": "set_fields", "values": [
                                {"field": "stage", "mode": "value", "value": "quotation_sent"}]}]}, get_user("admin"))
        db.session.commit()
        rule_id = rule.id
        db.session.remove()
    login_in_browser(page, "admin")
    page.goto(f"/automation/rules/{rule_id}")
    page.fill("#dry-sample", '{"title": "无金额"}')
    page.click("#dry-run")
    badge = page.locator(".dry-action [data-status=would_fail]")
    expect(badge).to_have_class(re.compile("text-bg-danger"))  # not the grey of "would run"
    expect(page.locator(".dry-action")).to_contain_text("方案报价")


def test_a_dry_run_on_a_record_the_rule_acted_on_once_says_it_would_not_act_again(page, app, demo_people):
    with app.app_context():
        from app.auth.services import get_user
        from app.automation.services import create_rule
        from app.crm import services as crm
        from app.extensions import db

        rule = create_rule({"name": "新客户提醒", "entity": "customer", "event": "updated", "once_per_record": True,
                            "actions": [{"type": "notify", "users": ["manager"], "template": "{name}"}]},
                           get_user("admin"))
        customer = crm.create("customer", {"name": "已提醒客户"}, get_user("sales1"))
        crm.update(customer, {"industry": "医疗"}, get_user("sales1"))  # the rule acts, once
        rule_id, customer_id = rule.id, customer.id
        db.session.remove()
    login_in_browser(page, "admin")
    page.goto(f"/automation/rules/{rule_id}")
    page.wait_for_selector("#rule-entity option", state="attached")
    page.fill("#dry-record-id", str(customer_id))
    page.click("#dry-run")
    expect(page.locator("#dry-held")).to_contain_text("已对此记录执行过一次")
    expect(page.locator(".dry-action [data-status]")).to_have_text("此时不会执行")


def test_changing_the_record_type_asks_before_clearing_conditions_and_leaving_asks_before_losing_edits(page, app,
                                                                                                        demo_people):
    _open_update_rule(page, app, "升为A类", {"field": "customer_class", "op": "changed_to", "value": "A"},
                      "{name} 升为A类")
    asked = []

    def asked_and_dismissed(dialog):
        asked.append((dialog.type, dialog.message))
        dialog.dismiss()

    page.on("dialog", asked_and_dismissed)
    page.select_option("#rule-entity", "opportunity")
    assert asked and asked[0][0] == "confirm" and "将被清空" in asked[0][1]
    expect(page.locator("#rule-entity")).to_have_value("customer")  # dismissed: nothing changed
    expect(page.locator("#condition-root .condition-leaf")).to_have_count(1)
    # Accepted, the fields its actions set go too: a set-fields action showed another type's field.
    page.select_option("#new-action-type", "set_fields")
    page.click("#add-action")
    fields_action = page.locator(".rule-action").last
    fields_action.get_by_role("button", name="添加字段").click()
    fields_action.get_by_label("字段").select_option("customer_class")
    page.once("dialog", lambda dialog: dialog.accept())
    page.remove_listener("dialog", asked_and_dismissed)
    page.select_option("#rule-entity", "opportunity")
    expect(page.locator("#rule-entity")).to_have_value("opportunity")
    expect(page.locator(".rule-action").last.get_by_label("字段")).to_have_count(0)
    page.on("dialog", asked_and_dismissed)
    page.fill("#rule-name", "升为A类（改）")
    with pytest.raises(PlaywrightError):  # the page asks before the edit is lost; dismissed, it stays
        page.goto("/automation/")
    assert "beforeunload" in [kind for kind, _ in asked]
    expect(page.locator("#rule-name")).to_have_value("升为A类（改）")


def test_a_dry_run_of_a_rule_that_is_not_valid_says_what_as_save_does(page, app, demo_people):
    """It said only "The rule is not valid: actions.1.users"."""
    _open_update_rule(page, app, "分享给经理", None, "{name}")
    page.select_option("#new-action-type", "share")
    page.click("#add-action")
    page.locator(".rule-action").nth(1).locator("textarea, input").first.fill("销售经理")
    page.fill("#dry-sample", '{"name": "样例公司"}')
    page.click("#dry-run")
    said = page.locator("#dry-error li")
    expect(said).to_have_count(1)
    assert said.inner_text().startswith("动作 2 (共享)") and "未知用户 销售经理" in said.inner_text()
    assert "actions.1" not in page.locator("#dry-error").inner_text()
