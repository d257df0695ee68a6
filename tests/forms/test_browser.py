"""The form designer and viewer in headless Chromium."""
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import login_in_browser, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def shipped_forms(app, demo_people):
    from app.extensions import db
    from app.forms import services

    with app.app_context():
        services.load_shipped_forms()
        db.session.commit()


def current_form(app, key):
    from app.extensions import db
    from app.forms import services

    with app.app_context():
        form = services.get_form(key)
        out = (form.version, form.schema)
        db.session.remove()
    return out


def test_designer_adds_fields_and_saves_a_new_version(page, app, shipped_forms):
    login_in_browser(page, "admin")
    page.locator("#manage-menu").click()
    page.locator("nav").get_by_text("表单").click()
    page.locator("tr[data-form-key=customer_report]").get_by_text("设计").click()
    page.wait_for_selector("#form-editor[data-ready=true]")
    assert page.locator(".fjs-palette-field[data-field-type=textfield]").is_visible()
    assert page.locator(".fjs-palette-field[data-field-type=filepicker]").is_hidden()
    # Field types carry Chinese names in a Chinese UI (zh.js), in the palette and its search.
    assert page.locator(".fjs-palette-field[data-field-type=textfield]").inner_text().strip() == "文本框"
    page.locator(".fjs-palette-search").fill("日期")
    expect(page.locator(".fjs-palette-field:visible")).to_have_text(["日期时间"])  # filtered on its next render
    page.locator(".fjs-palette-search").fill("")
    expect(page.locator(".fjs-palette-field[data-field-type=number]")).to_be_visible()

    # A plain field from the palette (keyboard: Enter adds it at the end), labelled in the panel.
    page.locator(".fjs-palette-field[data-field-type=number]").press("Enter")
    page.locator(".fjs-editor-container .fjs-form-field-number").last.click()
    expect(page.locator(".bio-properties-panel-header")).to_contain_text("数字")
    label = page.locator("#bio-properties-panel-label")
    if not label.is_visible():  # properties-panel groups start collapsed
        page.locator(".bio-properties-panel-group-header").filter(has_text="常规").click()
    label.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("预计年采购额")
    # Our conditional rule from the side panel: required when the decision is "approve".
    # The decision's option values are offered; its label as typed is stored as its value.
    page.select_option("#required-when-field", "decision")
    offered = page.eval_on_selector_all("#required-when-options option", "os => os.map(o => [o.value, o.label])")
    assert offered == [["approve", "同意报备"], ["reject", "驳回"]], offered
    page.fill("#required-when-value", "同意报备")
    page.click("#required-when-apply")
    assert page.locator("#required-when-value").input_value() == "approve"
    # An embedded field from the side panel: the customer's report status, read-only.
    page.locator("#crm-field-list li[data-crm-field='customer.report_status'] [data-action=add]").click()
    page.wait_for_selector("#crm-field-list li[data-crm-field='customer.report_status'] .badge")
    assert "customer.report_status" in page.locator("#selected-field-info").inner_text()
    page.wait_for_timeout(400)  # the properties panel debounces its edits
    screenshot(page, "form-designer")

    page.click("#save-form")
    page.wait_for_selector("#designer-messages .alert-success")
    assert "第 2 版" in page.locator("#designer-messages").inner_text()
    version, schema = current_form(app, "customer_report")
    assert version == 2
    fields = {c.get("key"): c for c in schema["components"] if c.get("key")}
    numbers = [c for c in schema["components"] if c.get("type") == "number"]
    assert [c["label"] for c in numbers] == ["预计年采购额"]
    assert numbers[0]["properties"] == {"required_when": "decision=approve"}
    assert fields["report_status"]["properties"] == {"crm_field": "customer.report_status"}
    assert fields["report_status"]["readonly"] is True
    assert schema["name"] == "客户报备表单"

    # The shipped comment field shows its rule in the side panel.
    page.locator(".fjs-editor-container .fjs-form-field-textarea").first.click()
    assert page.locator("#required-when-field").input_value() == "decision"
    assert page.locator("#required-when-value").input_value() == "reject"

    # Saving again without changes keeps version 2; the preview shows the watermark.
    page.click("#save-form")
    page.wait_for_selector("#designer-messages .alert-success")
    assert "没有改动" in page.locator("#designer-messages").inner_text()
    page.click("#toggle-preview")
    assert page.locator("#form-preview .fjs-powered-by").is_visible()
    assert page.evaluate("() => { const e = new Event('beforeunload', {cancelable: true}); "
                         "window.dispatchEvent(e); return e.defaultPrevented; }") is False  # saved: free to leave


# What the editor shows of its own (zh.js CHROME, without what the designer typed): text nodes
# and the attributes a person reads or hears.
EDITOR_CHROME_TEXT = """() => {
  const chrome = '.fjs-palette, .fjs-properties-container, .fjs-empty-editor, .fjs-context-pad, .fjs-table-body';
  const typed = '.bio-properties-panel-header-label, .bio-properties-panel-collapsible-entry-header-title, ' +
    '.cm-editor, [contenteditable], textarea, code';
  const out = [];
  for (const scope of document.querySelectorAll(chrome)) {
    const texts = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
    while (texts.nextNode()) if (!texts.currentNode.parentElement.closest(typed)) out.push(texts.currentNode.data.trim());
    for (const element of scope.querySelectorAll('[title], [placeholder], [aria-label]')) {
      if (element.closest(typed)) continue;
      for (const name of ['title', 'placeholder', 'aria-label']) out.push(element.getAttribute(name) || '');
    }
  }
  return out.filter(Boolean);
}"""
# Names that stay as they are in Chinese software.
TECHNICAL = {"ID", "FEEL", "HTML", "Markdown", "JSON", "MIME", "HTTPS", "URI", "data", "UTC", "MDN", "iframe",
             "X-FRAME-OPTIONS", "Camunda", "Tasklist", "QName", "E.164"}


def _english_in(texts):
    words = {word for text in texts for word in re.findall(r"[A-Za-z][A-Za-z.\-]*[A-Za-z0-9]", text)}
    return sorted(words - TECHNICAL)


def _select_last(page, field_type):
    name = page.locator(f".fjs-palette-field[data-field-type={field_type}]").inner_text().strip()
    page.evaluate("""(type) => { const editor = window.crmFormEditor;
      const fields = editor.get('formFieldRegistry').getAll().filter((field) => field.type === type);
      editor.get('selection').set(fields[fields.length - 1]); }""", field_type)
    expect(page.locator(".bio-properties-panel-header-type")).to_have_text(name)


def _show_every_property(page):
    closed = page.locator(".bio-properties-panel-group-header:not(.open)")
    for _ in range(30):  # a group opened may reveal another (dynamic options)
        if not closed.count():
            break
        closed.first.click()
    items = page.locator(".bio-properties-panel-collapsible-entry-header")
    for index in range(items.count()):
        items.nth(index).click()


def test_the_form_designer_speaks_chinese_and_offers_only_what_the_server_accepts(page, app, shipped_forms):
    from app.forms.validation import DESIGNABLE_TYPES

    login_in_browser(page, "admin")
    page.goto("/forms/new")
    page.wait_for_selector("#form-editor[data-ready=true]")
    offered = page.eval_on_selector_all(".fjs-palette-field", "els => els.filter(e => e.offsetParent)"
                                        ".map(e => e.dataset.fieldType)")
    assert sorted(offered) == sorted(DESIGNABLE_TYPES)
    assert page.locator(".fjs-empty-editor").inner_text().startswith("设计表单")
    assert _english_in(page.evaluate(EDITOR_CHROME_TEXT)) == []

    for field_type in DESIGNABLE_TYPES:
        page.locator(f".fjs-palette-field[data-field-type={field_type}]").press("Enter")  # added at the end
        _select_last(page, field_type)
        _show_every_property(page)
        left = _english_in(page.evaluate(EDITOR_CHROME_TEXT))
        assert left == [], f"{field_type}: English left in the editor: {left}"
    # A table on the canvas (wider than the canvas at 1,280 px) does not push the panel off the editor.
    right = page.evaluate("""(selectors) => selectors.map((s) => document.querySelector(s).getBoundingClientRect().right)""",
                          ["#form-editor", ".fjs-properties-container"])
    assert right[1] <= right[0] + 1, right
    # A tooltip, shown on hover, in Chinese.
    _select_last(page, "textfield")
    _show_every_property(page)
    page.locator(".bio-properties-panel-tooltip-wrapper").filter(has_text="键").hover()
    expect(page.locator(".bio-properties-panel-tooltip")).to_contain_text("唯一的“键”")
    assert _english_in([page.locator(".bio-properties-panel-tooltip").inner_text()]) == []
    screenshot(page, "form-designer-zh")

    # New fields are labelled in Chinese; their text in the schema is the designer's to change.
    texts = page.evaluate("""() => window.crmFormEditor.getSchema().components.flatMap(
      (c) => [c.label, c.text, ...(c.columns || []).map((column) => column.label),
              ...(c.values || []).map((option) => option.label)]).filter(Boolean)""")
    assert {"文本框", "数字", "# 文本说明", "表格", "编号", "选项 1"} <= set(texts) and not _english_in(texts)


def test_the_form_designer_in_english_is_untouched(page, app, shipped_forms):
    login_in_browser(page, "admin")
    with page.expect_navigation():
        page.select_option("select[name=locale]", "en")
    page.goto("/forms/new")
    page.wait_for_selector("#form-editor[data-ready=true]")
    assert page.locator(".fjs-palette-group-title").first.inner_text() == "Input"
    page.locator(".fjs-palette-field[data-field-type=textfield]").press("Enter")
    page.locator(".fjs-editor-container .fjs-form-field-textfield").last.click()
    expect(page.locator(".bio-properties-panel-group-header-title").first).to_have_text("General")
    assert page.evaluate("() => window.crmFormEditor.getSchema().components[0].label") == "Text field"


def test_new_form_from_scratch(page, app, shipped_forms):
    login_in_browser(page, "admin")
    page.goto("/forms/new")
    page.wait_for_selector("#form-editor[data-ready=true]")
    page.fill("#form-name", "合同审批表单")
    page.fill("#form-key", "customer_report")  # the shipped form's key: refused, nothing overwritten
    page.click("#save-form")
    page.wait_for_selector("#designer-messages .alert-danger")
    refusal = page.inner_text("#designer-messages")
    assert "customer_report" in refusal and current_form(app, "customer_report")[0] == 1
    assert "表单未保存" not in refusal or "表单无法保存" not in refusal  # said once, not twice
    page.fill("#form-key", "contract_review")
    page.locator("#record-type").select_option("contract")
    page.locator("#crm-field-list li[data-crm-field='contract.amount'] [data-action=add]").click()
    page.locator(".fjs-palette-field[data-field-type=textarea]").press("Enter")
    assert page.evaluate("() => { const e = new Event('beforeunload', {cancelable: true}); "
                         "window.dispatchEvent(e); return e.defaultPrevented; }") is True  # unsaved: asks
    page.click("#save-form")
    page.wait_for_selector("#designer-messages .alert-success")
    assert page.url.endswith("/forms/contract_review/design")
    version, schema = current_form(app, "contract_review")
    assert version == 1
    assert [c["type"] for c in schema["components"]] == ["number", "textarea"]
    # Reopened, its embedded fields offer the contract's, the record type it is bound to.
    page.reload()
    page.wait_for_selector("#form-editor[data-ready=true]")
    assert page.locator("#record-type").input_value() == "contract"


def test_viewer_shows_embedded_fields_read_only_and_server_errors(page, shipped_forms):
    login_in_browser(page, "admin")
    page.goto("/forms/customer_report/preview")
    page.wait_for_selector("#form-viewer[data-ready=true]")
    name = page.get_by_label("客户名称")
    assert name.input_value() == "厦门示例科技有限公司"
    for label in ("客户名称", "省份", "城市", "行业", "注册资金（元）", "客户类别", "联系电话", "统一社会信用代码",
                  "客户来源", "负责人"):
        field = page.get_by_label(label, exact=True)
        assert field.is_visible() and not field.is_editable(), label
    assert page.get_by_label("审批意见").is_editable()
    assert page.locator(".fjs-powered-by").is_visible()

    # Rejecting without a comment passes form-js but not the server's rule: shown under the field.
    page.get_by_label("驳回").check()
    page.click("#preview-submit")
    page.wait_for_selector("#preview-result[data-valid=false]")
    error = page.locator(".fjs-form-field-error").filter(has_text="此字段为必填项")
    assert error.count() == 1
    assert "审批意见" in error.locator("xpath=ancestor::*[contains(@class,'fjs-form-field')][1]").inner_text()
    screenshot(page, "form-viewer-errors")
    page.get_by_label("审批意见").fill("与销售二的客户撞单")
    page.click("#preview-submit")
    page.wait_for_selector("#preview-result[data-valid=true]")


def test_client_side_messages_are_translated(page, shipped_forms):
    login_in_browser(page, "admin")
    page.goto("/forms/customer_report/preview")
    page.wait_for_selector("#form-viewer[data-ready=true]")
    page.click("#preview-submit")  # decision is required: form-js says so, in Chinese
    assert page.locator(".fjs-form-field-error").filter(has_text="此字段为必填项").count() == 1


def test_form_js_own_words_in_selects_follow_the_page_language(page, app, demo_people):
    """form-js writes "Select" in an empty select and "Search" in a searchable one, in English."""
    from app.extensions import db
    from app.forms import services

    choices = [{"label": "华东", "value": "east"}, {"label": "华南", "value": "south"}]
    with app.app_context():
        services.save_form("region_pick", "选择区域", {"type": "default", "components": [
            {"type": "select", "key": "region", "label": "区域", "values": choices},
            {"type": "select", "key": "branch", "label": "分公司", "searchable": True, "values": choices},
            {"type": "taglist", "key": "regions", "label": "覆盖区域", "values": choices}]})
        db.session.commit()
    login_in_browser(page, "admin")
    page.goto("/forms/region_pick/preview")
    page.wait_for_selector("#form-viewer[data-ready=true]")
    viewer = page.locator("#form-viewer")
    assert viewer.locator(".fjs-select-placeholder").first.inner_text() == "请选择"
    assert viewer.locator('input[placeholder="搜索"]').count() == 2 and "Select" not in viewer.inner_text()
    assert viewer.locator('input[placeholder="Search"]').count() == 0
    # Chosen and cleared again, the select still speaks the page's language.
    viewer.locator(".fjs-select-display").first.click()
    page.locator(".fjs-dropdownlist-item", has_text="华南").click()
    assert viewer.locator(".fjs-select-display").first.inner_text() == "华南"
    viewer.locator(".fjs-select-cross").first.dispatch_event("mousedown")
    expect(viewer.locator(".fjs-select-placeholder").first).to_have_text("请选择")


def test_a_select_as_the_last_field_works_in_english(page, app, demo_people):
    """In English form-js' own "Select" was written over with "Select", which the watcher saw as
    a change and wrote again, forever: the task page froze. Its options, open, lay under the
    bpmn.io logo, unclickable."""
    from app.auth.services import get_user, update_user
    from app.extensions import db
    from app.forms import services

    with app.app_context():
        services.save_form("risk_pick", "Risk", {"type": "default", "components": [
            {"type": "select", "key": "level", "label": "Level", "values": [{"label": "A", "value": "a"}]},
            {"type": "select", "key": "risk", "label": "Risk", "searchable": True,
             "values": [{"label": "Low", "value": "low"}, {"label": "Medium", "value": "medium"},
                        {"label": "High", "value": "high"}]}]})
        update_user(get_user("admin"), actor=None, locale="en")
        db.session.commit()
    login_in_browser(page, "admin")
    page.set_default_timeout(5000)  # frozen, every step below times out
    page.goto("/forms/risk_pick/preview")
    page.wait_for_selector("#form-viewer[data-ready=true]")
    viewer = page.locator("#form-viewer")
    assert viewer.locator('input[placeholder="Search"]').count() == 1
    assert viewer.locator(".fjs-select-placeholder").first.inner_text() == "Select"
    viewer.locator(".fjs-select-display, .fjs-input").last.click()
    page.locator(".fjs-dropdownlist-item", has_text="Medium").click()  # not the logo lying over it
    expect(viewer.locator(".fjs-select-display, .fjs-input").last).to_have_value("Medium")


def test_data_in_a_text_block_is_text_not_markdown(page, shipped_forms):
    """A customer named "# 已由总经理批准 [同意](https://evil.example/x)" became a heading and a
    live link in the approver's form, through a text block's {{ name }}."""
    login_in_browser(page, "admin")
    page.goto("/forms/customer_report/preview")
    page.wait_for_selector("#form-viewer[data-ready=true]")
    typed = "# 已由总经理批准 [同意](https://evil.example/x) <h1>FAKE</h1> **要紧** www.evil.example boss@evil.example"
    page.evaluate("""async (name) => {
        const box = document.createElement("div");
        box.id = "probe";
        document.body.append(box);
        await window.CrmFormViewer.render(box, {data: {name}, schema: {type: "default", components: [
            {type: "text", text: "## 客户\\n客户名称：{{name}}，[资料](/customers)"},
            {type: "textfield", key: "name", label: "客户名称"}]}});
    }""", typed)
    probe = page.locator("#probe")
    text = probe.locator(".fjs-form-field-text")
    expect(text).to_contain_text(typed)
    assert text.locator("h1").count() == 0 and text.locator("strong").count() == 0
    assert [text.locator("a").nth(i).get_attribute("href") for i in range(text.locator("a").count())] == [
        "/customers"]  # the designer's own Markdown still works
    assert text.locator("h2").inner_text() == "客户"
    assert probe.get_by_label("客户名称").input_value() == typed  # the field shows the value as it is


def test_the_designers_preview_shows_typed_values_as_text_in_text_blocks(page, app, demo_people):
    from app.extensions import db
    from app.forms import services

    with app.app_context():
        services.save_form("md_preview", "预览表单", {"type": "default", "components": [
            {"type": "textfield", "key": "name", "label": "客户名称"},
            {"type": "text", "text": "客户：{{name}}"}]})
        db.session.commit()
    login_in_browser(page, "admin")
    page.goto("/forms/md_preview/design")
    page.wait_for_selector("#form-editor[data-ready=true]")
    page.click("#toggle-preview")
    preview = page.locator("#form-preview")
    preview.get_by_label("客户名称").fill("# 标题 [点我](https://evil.example) <a href='https://evil.example'>x</a>")
    text = preview.locator(".fjs-form-field-text")
    expect(text).to_contain_text("[点我](https://evil.example)")
    assert text.locator("a").count() == 0 and text.locator("h1").count() == 0


def test_binding_page_without_code(page, app, shipped_forms):
    """An admin binds "opportunity won" to the customer report form with a mapping, in the browser."""
    from app.engine import services as engine
    from app.engine.product_operations import register_product_operations
    from app.extensions import db
    from pathlib import Path

    with app.test_request_context():
        register_product_operations()
        engine.deploy((Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_bytes())
        db.session.commit()
    login_in_browser(page, "admin")
    page.goto("/forms/")
    page.locator(".nav-tabs").get_by_text("嵌入式流程").click()
    page.click("#new-binding")
    page.fill("#name", "商机成功 → 客户报备")
    page.select_option("#action", "opportunity.won")
    page.select_option("#process_key", "customer_report")
    page.select_option("#form_key", "customer_report")
    page.locator("select[name=map_field]").first.select_option("amount")
    page.locator("input[name=map_to]").first.fill("amount")
    page.get_by_role("button", name="添加条件", exact=True).click()
    leaf = page.locator(".condition-leaf")
    leaf.get_by_label("字段").select_option("amount")
    leaf.get_by_label("运算符").select_option("ge")
    leaf.get_by_label("值").fill("100000")
    screenshot(page, "form-binding-new")
    page.click("#save-binding")
    row = page.locator("#binding-list tr[data-binding-id]")
    assert row.count() == 1 and "销售机会" in row.inner_text() and "customer_report" in row.inner_text()
    assert row.locator(".binding-condition").inner_text() == "金额 ≥ 100000"


def stored_condition(app):
    from app.extensions import db
    from app.forms.models import FormBinding

    with app.app_context():
        condition = db.session.scalars(db.select(FormBinding)).one().condition
        db.session.remove()
    return condition


def test_a_binding_condition_built_with_clicks_decides_which_customers_start_the_report(page, app, demo_flow):
    """省份 包含 福建 AND (客户类别 = A OR 注册资金 ≥ 10000000) on the demo binding, with the
    builder; a half-made condition comes back as entered, with the server's reason."""
    login_in_browser(page, "admin")
    page.goto("/forms/bindings")
    page.locator("#binding-list a", has_text="新增客户 → 客户报备").click()
    builder = page.locator("#condition-root")
    builder.locator(".condition-group").wait_for()
    builder.get_by_role("button", name="添加条件", exact=True).click()
    first = builder.locator(".condition-leaf").first
    first.get_by_label("字段").select_option("province")
    first.get_by_label("运算符").select_option("contains")
    first.get_by_label("值").fill("福建")
    builder.get_by_role("button", name="添加条件组", exact=True).click()
    either = builder.locator(".condition-group .condition-group")
    either.get_by_label("条件组合方式").select_option("or")  # named apart from the conditions' operators
    either.get_by_role("button", name="添加条件", exact=True).click()
    either.get_by_role("button", name="添加条件", exact=True).click()
    by_class, by_capital = either.locator(".condition-leaf").nth(0), either.locator(".condition-leaf").nth(1)
    by_class.get_by_label("字段").select_option("customer_class")
    by_class.get_by_label("值").select_option("A")
    by_capital.get_by_label("字段").select_option("registered_capital")
    by_capital.get_by_label("运算符").select_option("ge")
    page.click("#save-binding")  # the capital has no amount yet
    expect(page.locator("#binding-errors")).to_contain_text("条件 2.2 · 值")
    assert stored_condition(app) is None
    # What was built is still there, the refused row marked: fill in the missing amount and save.
    expect(either.locator(".condition-leaf")).to_have_count(2)
    expect(first.get_by_label("值")).to_have_value("福建")
    expect(builder.locator(".condition-invalid")).to_have_count(1)
    expect(either.locator(".condition-leaf").nth(1)).to_have_class(re.compile("condition-invalid"))
    either.locator(".condition-leaf").nth(1).get_by_label("值").fill("10000000")
    expect(builder.locator(".condition-invalid")).to_have_count(0)
    screenshot(page, "form-binding-condition")
    page.click("#save-binding")
    expect(page.locator(".binding-condition")).to_have_text(
        "省份 包含 福建 并且 (客户类别 = A 或者 注册资金（元） ≥ 10000000)")
    assert stored_condition(app) == {"and": [
        {"field": "province", "op": "contains", "value": "福建"},
        {"or": [{"field": "customer_class", "op": "eq", "value": "A"},
                {"field": "registered_capital", "op": "ge", "value": 10000000}]}]}

    with app.app_context():
        from app.auth.services import get_user
        from app.crm import services as crm
        from app.extensions import db
        from app.forms.bindings import runs_for_record

        def outcome(**values):
            customer = crm.create("customer", {"name": f"客户{values}", **values}, get_user("sales1"))
            return runs_for_record("customer", customer.id)[0].outcome

        assert outcome(province="福建", customer_class="A") == "started"
        assert outcome(province="福建", registered_capital="20000000") == "started"
        assert outcome(province="福建", customer_class="B", registered_capital="500000") == "not_matched"
        assert outcome(province="广东", customer_class="A") == "not_matched"
        db.session.remove()


def test_the_condition_fields_follow_the_binding_s_record_type(page, app, demo_flow):
    login_in_browser(page, "admin")
    page.goto("/forms/bindings/new")
    builder = page.locator("#condition-root")
    builder.locator(".condition-group").wait_for()
    page.select_option("#action", "customer.created")
    builder.get_by_role("button", name="添加条件", exact=True).click()
    field = builder.locator(".condition-leaf").get_by_label("字段")
    expect(field.locator("option[value=province]")).to_have_count(1)
    assert page.locator("#report_pending").is_visible()
    page.select_option("#action", "opportunity.won")  # another record type: the condition starts over
    expect(builder.locator(".condition-leaf")).to_have_count(0)
    assert page.locator("#report_pending").is_hidden()  # only customers and contracts have such a status
    page.select_option("#action", "contract.created")
    assert page.locator("#report_pending").is_visible()
    page.select_option("#action", "opportunity.won")
    assert page.input_value("#condition") == ""
    builder.get_by_role("button", name="添加条件", exact=True).click()
    expect(field.locator("option[value=amount]")).to_have_count(1)
    expect(field.locator("option[value=province]")).to_have_count(0)
    # A change operator is offered as the binding's check accepts it.
    expect(builder.locator(".condition-leaf").get_by_label("运算符").locator("option[value=changed]")).to_have_count(1)
    # So do the mapping's record fields: only the opportunity's, under its Chinese name; a
    # customer field picked before the change is cleared.
    # (Not merely hidden: Safari shows hidden groups, and every list held 46 fields of four types.)
    mapping = page.locator("#mapping select[name=map_field]").first
    assert mapping.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)") == ["销售机会"]
    page.select_option("#action", "customer.created")
    mapping.select_option("province")
    page.select_option("#action", "opportunity.won")
    assert mapping.input_value() == ""
    assert mapping.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)") == ["销售机会"]
    assert mapping.locator("option[value=owner]").count() == 1  # one 负责人, not one per record type
    page.select_option("#action", "customer.created")  # and back: the customer's fields return
    mapping.select_option("province")
    assert mapping.input_value() == "province"


def test_an_action_picked_before_the_fields_have_loaded_still_decides_them(page, demo_flow):
    login_in_browser(page, "admin")
    held = []
    page.route("**/api/v1/automation-fields", lambda route: held.append(route))
    page.goto("/forms/bindings/new")
    while not held:
        page.wait_for_timeout(50)
    page.select_option("#action", "opportunity.won")
    held[0].continue_()
    builder = page.locator("#condition-root")
    builder.get_by_role("button", name="添加条件", exact=True).click()
    field = builder.locator(".condition-leaf").get_by_label("字段")
    expect(field.locator("option[value=amount]")).to_have_count(1)


def test_removing_a_field_a_process_reads_is_saved_only_when_confirmed(page, app, demo_flow):
    login_in_browser(page, "admin")
    page.goto("/forms/customer_report/design")
    page.wait_for_selector("#form-editor[data-ready=true]")
    # The approval's decision goes; the process's gateway still tests it.
    page.evaluate("""() => { const editor = window.crmFormEditor; const schema = editor.getSchema();
      const strip = (components) => components.filter((c) => c.key !== 'decision')
        .map((c) => c.components ? {...c, components: strip(c.components)} : c);
      editor.importSchema({...schema, components: strip(schema.components).map((c) => c.properties?.required_when
        ? {...c, properties: {}} : c)}); }""")
    page.click("#save-form")
    page.wait_for_selector("#designer-messages .alert-warning")
    assert "流程“客户报备”在“通过”处读取 decision" in page.inner_text("#designer-messages")
    assert current_form(app, "customer_report")[0] == 1
    page.click("#save-anyway")
    page.wait_for_selector("#designer-messages .alert-success")
    assert current_form(app, "customer_report")[0] == 2


def test_a_refused_save_names_the_field_as_the_canvas_shows_it(page, app, shipped_forms):
    login_in_browser(page, "admin")
    page.goto("/forms/customer_report/design")
    page.wait_for_selector("#form-editor[data-ready=true]")
    # The decision goes, but the comment's "required when" condition still refers to it.
    page.evaluate("""() => { const editor = window.crmFormEditor; const schema = editor.getSchema();
      editor.importSchema({...schema, components: schema.components.filter((c) => c.key !== 'decision')}); }""")
    page.click("#save-form")
    page.wait_for_selector("#designer-messages .alert-danger")
    said = page.inner_text("#designer-messages")
    assert "审批意见 (comment): 其“必填条件”引用的 decision 不在表单中" in said and "schema." not in said
