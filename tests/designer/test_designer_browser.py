"""The designer in headless Chromium: draw, configure in the properties panel, save, deploy,
run on the engine; version 2 beside a running version-1 instance; problems block deploying;
the shipped customer-report diagram opens, looks right and re-deploys unchanged."""
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from playwright.sync_api import expect

from tests.helpers import login_in_browser, screenshot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"

DRAW = """() => {
  const m = window.designer.modeler;
  const registry = m.get('elementRegistry'), modeling = m.get('modeling');
  const start = registry.filter(e => e.type === 'bpmn:StartEvent')[0];
  const task = modeling.appendShape(start, {type: 'bpmn:UserTask'});
  modeling.updateLabel(task, '主管审批');
  const end = modeling.appendShape(task, {type: 'bpmn:EndEvent'});
  modeling.updateLabel(end, '完成');
  modeling.updateLabel(start, '提交');
  m.get('selection').select(task);
  return task.id;
}"""


def _open_group(page, group_id):
    header = page.locator(f'[data-group-id="group-{group_id}"] .bio-properties-panel-group-header')
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def _pick(page, entry_id, typed, value):
    """Type into one of our search-as-you-type fields and click the suggestion."""
    field = page.locator(f'[data-entry-id="{entry_id}"] input')
    field.click()
    field.fill(typed)
    page.locator(f'[data-entry-id="{entry_id}"] .crm-suggestions li[data-value="{value}"]').click()


def _business_attr(page, element_id, name):
    return page.evaluate(
        "([id, name]) => window.designer.modeler.get('elementRegistry').get(id).businessObject.get(name)",
        [element_id, name])


def _key_values(entry):
    """A log entry's "key: value" lines."""
    return dict(zip(entry.locator("dt").all_inner_texts(), entry.locator("dd").all_inner_texts()))


def _new_process(page, key, name):
    """Create a blank process from the designer's list and wait for its modeler."""
    page.goto("/designer/")
    page.fill("#new-key", key)
    page.fill("#new-name", name)
    page.click("#designer-new button[type=submit]")
    page.wait_for_url(f"**/designer/{key}")
    page.wait_for_selector("#designer-modeler[data-ready=true]")


def _append_to_start(page, element_type: str) -> str:
    """Append a shape of ``element_type`` to the drawing's start event; its element id."""
    return page.evaluate("""(type) => { const m = window.designer.modeler;
      const start = m.get('elementRegistry').filter(e => e.type === 'bpmn:StartEvent')[0];
      return m.get('modeling').appendShape(start, {type}).id; }""", element_type)


def _wait_saved(page):
    page.wait_for_function("() => !window.designer.state.dirty && !window.designer.state.pending")


def _assert_watermark_visible(page):
    """The bpmn.io watermark is shown and nothing (e.g. the properties panel) covers it."""
    mark = page.locator(".bjs-powered-by")
    assert mark.is_visible()
    covered = page.evaluate("""() => {
      const el = document.querySelector('.bjs-powered-by');
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return !(hit === el || el.contains(hit)) || r.width < 10 || r.right > window.innerWidth;
    }""")
    assert not covered


@pytest.fixture
def forms(app):
    from app.extensions import db
    from app.forms.services import load_shipped_forms

    with app.test_request_context():
        load_shipped_forms()
        db.session.commit()


def _engine(app):
    """Run engine steps in the test's own app context, as the inbox would."""
    from app.engine import services as engine
    from app.auth.models import User
    from app.extensions import db
    from sqlalchemy import select

    def user(name):
        return db.session.scalar(select(User).where(User.username == name))

    return engine, user, db


def test_draw_configure_save_deploy_and_run(page, app, demo_people, forms):
    page.set_viewport_size({"width": 1400, "height": 900})
    login_in_browser(page, "admin")
    _new_process(page, "small_approval", "小额审批")
    # Chinese palette labels through bpmn-js's translate service.
    assert page.locator('.djs-palette [data-action="create.task"]').get_attribute("aria-label") == "任务"

    task_id = page.evaluate(DRAW)
    _open_group(page, "crm-assignment")
    _pick(page, "crm-candidate-groups", "sales-man", "sales-managers")
    page.wait_for_function(
        "id => window.designer.modeler.get('elementRegistry').get(id).businessObject.get('camunda:candidateGroups') === 'sales-managers'",
        arg=task_id)
    _open_group(page, "crm-form")
    _pick(page, "crm-form-key", "customer", "customer_report")
    assert page.locator('[data-entry-id="crm-due-date"] .crm-amount').get_attribute("aria-label") == "数量"  # not 金额
    page.locator('[data-entry-id="crm-due-date"] .crm-amount').fill("2")
    page.locator('[data-entry-id="crm-due-date"] .crm-amount').blur()
    assert _business_attr(page, task_id, "camunda:formKey") == "customer_report"
    assert _business_attr(page, task_id, "camunda:dueDate") == "P2D"
    screenshot(page, "designer-small-approval")

    # Autosave (debounced) stores the draft server-side without deploying.
    _wait_saved(page)
    engine, user, db = _engine(app)
    from app.designer.services import get_draft

    with app.app_context():
        draft = get_draft("small_approval")
        assert 'camunda:candidateGroups="sales-managers"' in draft.xml
        assert 'camunda:formKey="customer_report"' in draft.xml and draft.autosaved_at is not None
        assert engine.list_definitions() == []
    page.wait_for_function("() => document.querySelector('#designer-modeler').dataset.problems === '0'")

    # A sandboxed test run on the server: the task is completed by the designer himself.
    page.click("[data-action=test-run]")
    # A new diagram names no process data: the designer adds the variable to the form.
    assert page.locator("#testrun-data .testrun-field").count() == 0
    page.fill("#testrun-start-new-name", "name")
    page.click("#testrun-start-add")
    page.fill("#testrun-data [name=name]", "测试")
    page.click("#testrun-start")
    page.wait_for_selector(f'.testrun-task[data-bpmn-id="{task_id}"]')
    assert page.locator(f'.djs-element.crm-test-active[data-element-id="{task_id}"]').count() == 1
    screenshot(page, "designer-test-run")
    page.click(".testrun-complete")
    page.wait_for_selector('#testrun-status[data-status="completed"]')
    assert _key_values(page.locator("#testrun-log .testrun-log-started")) == {"name": "测试"}
    page.click("#testrun-close")
    with app.app_context():
        from app.designer.models import ProcessTestRun
        from app.engine.models import ProcessInstance
        page.wait_for_function("() => !document.querySelector('.testrun-task')")
        assert db.session.query(ProcessInstance).count() == 0

    page.click("#designer-deploy")
    page.wait_for_function("() => document.querySelector('#designer-deployed').textContent === 'v1'")

    with app.app_context():
        first = engine.start_instance("small_approval", {"name": "甲公司"}, actor=user("admin"))
        assert first.status == "running" and first.definition.version == 1
        [task] = [t for t in engine.inbox(user("manager")) if t.instance_id == first.id]
        assert task.form_key == "customer_report" and task.due_at is not None
        first_id, task_id_v1 = first.id, task.id

    # A second deploy makes version 2; the running instance stays on version 1.
    page.evaluate("() => { const m = window.designer.modeler; const r = m.get('elementRegistry');"
                  " m.get('modeling').updateLabel(r.filter(e => e.type === 'bpmn:UserTask')[0], '经理审批'); }")
    page.click("#designer-deploy")
    page.wait_for_function("() => document.querySelector('#designer-deployed').textContent === 'v2'")
    with app.app_context():
        assert [d.version for d in engine.list_definitions() if d.key == "small_approval"] == [1, 2]
        engine.claim(task_id_v1, user("manager"))
        engine.complete(task_id_v1, user("manager"), {"decision": "approve", "comment": "好"})
        done = engine.get_instance(first_id)
        assert done.status == "completed" and done.definition.version == 1
        second = engine.start_instance("small_approval", {"name": "乙公司"}, actor=user("admin"))
        assert second.definition.version == 2
        assert [t.name for t in engine.inbox(user("manager")) if t.instance_id == second.id] == ["经理审批"]

    # Leaving the page right after an edit (before the autosave delay) loses nothing.
    page.goto("/designer/small_approval")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.evaluate("() => { const m = window.designer.modeler; const r = m.get('elementRegistry');"
                  " m.get('modeling').updateLabel(r.filter(e => e.type === 'bpmn:EndEvent')[0], '刚改的名字'); }")
    page.goto("/designer/")
    with app.app_context():
        for _ in range(50):
            db.session.remove()
            if "刚改的名字" in get_draft("small_approval").xml:
                break
            page.wait_for_timeout(100)
        assert "刚改的名字" in get_draft("small_approval").xml
    page.reload()
    screenshot(page, "designer-list")
    assert "有未部署的修改" in page.locator('#designer-processes tr[data-key="small_approval"]').inner_text()

    # Versions page: who/when, compare, read-only view.
    page.goto("/designer/small_approval/versions?a=1&b=2")
    assert page.locator("#designer-versions tbody tr").count() == 2
    screenshot(page, "designer-versions")
    added = page.locator("#designer-diff .add").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert added not in ("rgba(0, 0, 0, 0)", "transparent")
    assert "经理审批" in page.locator("#designer-diff .add").all_inner_texts()[0] or any(
        "经理审批" in line for line in page.locator("#designer-diff .add").all_inner_texts())
    page.goto("/designer/small_approval/versions/1")
    page.wait_for_selector("#designer-viewer[data-ready=true]")
    assert page.locator(".djs-element .djs-label", has_text="主管审批").count() == 1
    _assert_watermark_visible(page)


def test_diagram_with_errors_shows_problems_and_cannot_be_deployed(page, app, demo_people):
    page.set_viewport_size({"width": 1400, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/designer/")
    page.fill("#new-key", "broken_flow")
    page.click("#designer-new button[type=submit]")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    ids = page.evaluate("""() => {
      const m = window.designer.modeler, r = m.get('elementRegistry'), modeling = m.get('modeling');
      const start = r.filter(e => e.type === 'bpmn:StartEvent')[0];
      const gw = modeling.appendShape(start, {type: 'bpmn:ExclusiveGateway'});
      const a = modeling.appendShape(gw, {type: 'bpmn:UserTask'});
      const b = modeling.appendShape(gw, {type: 'bpmn:EndEvent'}, {x: gw.x + 200, y: gw.y + 200});
      modeling.appendShape(a, {type: 'bpmn:EndEvent'});
      return {gateway: gw.id, task: a.id};
    }""")
    page.wait_for_function("() => Number(document.querySelector('#designer-modeler').dataset.problems) >= 3")
    problems = page.locator("#designer-problem-list li")
    element_ids = {problems.nth(i).get_attribute("data-element-id") for i in range(problems.count())}
    assert ids["task"] in element_ids  # user task without assignee
    # Both flows out of the gateway lack a condition and neither is the default (the page is Chinese,
    # and so are the engine's messages).
    flows = [problems.nth(i).inner_text() for i in range(problems.count())]
    assert sum(1 for text in flows if "从网关流出的顺序流需要条件" in text) == 2, flows
    # An unnamed flow is named by the steps it joins, not its generated id.
    assert not [text for text in flows if text.startswith("Flow_")], flows
    assert sum(1 for text in flows if text.startswith(f"{ids['gateway']} → ")) == 2, flows
    assert page.locator(f'.djs-element.crm-problem[data-element-id="{ids["task"]}"]').count() == 1
    assert page.locator(".crm-problem-badge").count() >= 3
    assert page.locator("#designer-deploy").is_disabled()
    screenshot(page, "designer-problems")
    # bpmnlint's own findings read in the page's language too (the unlabelled task).
    page.wait_for_selector(".bjsl-overlay")
    lint_texts = page.evaluate("() => [...document.querySelectorAll('.bjsl-overlay')].map(o => o.textContent).join(' ')")
    assert "元素缺少标签/名称" in lint_texts and "Element is missing" not in lint_texts, lint_texts[:300]
    # 检查 checks again and shows both kinds of findings; pressing it twice hides nothing.
    for _ in range(2):
        page.click("[data-action=lint]")
        page.wait_for_function("() => document.querySelector('#designer-status').textContent.includes('个问题阻止部署')")
        assert page.evaluate("() => window.designer.modeler.get('linting').isActive()") is True
        assert page.locator(".bjsl-overlay").count() > 0 and page.locator(".crm-problem-badge").count() >= 3

    # Forcing the deploy anyway (the script's own function) is refused by the server too.
    assert page.evaluate("() => window.designer.deploy()") is None
    from app.engine import services as engine
    with app.app_context():
        assert engine.list_definitions() == []

    # The condition builder fixes one flow, the default-flow toggle the other.
    flows = page.evaluate(f"""() => window.designer.modeler.get('elementRegistry')
        .filter(e => e.type === 'bpmn:SequenceFlow' && e.source.id === '{ids["gateway"]}').map(e => e.id)""")
    page.evaluate(f"id => window.designer.modeler.get('selection').select(window.designer.modeler.get('elementRegistry').get(id))", flows[0])
    _open_group(page, "crm-condition")
    row = page.locator(".crm-condition-row").first
    row.locator(".crm-field").fill("province")
    row.locator(".crm-field").blur()
    row.locator(".crm-value-input").fill("福建")
    row.locator(".crm-value-input").blur()
    page.wait_for_function(
        "id => (window.designer.modeler.get('elementRegistry').get(id).businessObject.conditionExpression || {}).body === \"${province == '福建'}\"",
        arg=flows[0])
    page.evaluate(f"id => window.designer.modeler.get('selection').select(window.designer.modeler.get('elementRegistry').get(id))", flows[1])
    _open_group(page, "crm-condition")
    page.locator(".crm-default").check()
    page.wait_for_function(
        "([gw, flow]) => (window.designer.modeler.get('elementRegistry').get(gw).businessObject.default || {}).id === flow",
        arg=[ids["gateway"], flows[1]])
    page.evaluate(f"id => window.designer.modeler.get('selection').select(window.designer.modeler.get('elementRegistry').get(id))", ids["task"])
    _open_group(page, "crm-assignment")
    _pick(page, "crm-assignee", "", "${owner}")
    page.wait_for_function("() => document.querySelector('#designer-modeler').dataset.problems === '0'")
    assert not page.locator("#designer-deploy").is_disabled()

    # Token simulation and the minimap toggle from the toolbar.
    page.click("[data-action=simulate]")
    assert page.locator(".bjs-container.simulation").count() == 1
    page.click("[data-action=simulate]")
    assert page.locator(".bjs-container.simulation").count() == 0
    page.click("[data-action=minimap]")
    assert page.locator(".djs-minimap.open").is_visible()
    page.click("[data-action=minimap]")

    # Keyboard: undo brings the assignee problem back, redo fixes it again.
    page.locator("#designer-canvas svg[data-element-id]").click(position={"x": 300, "y": 60})
    page.keyboard.press("Control+z")
    page.wait_for_function("() => document.querySelector('#designer-modeler').dataset.problems === '1'")
    page.keyboard.press("Control+y")
    page.wait_for_function("() => document.querySelector('#designer-modeler').dataset.problems === '0'")


def test_concurrent_edit_shows_a_conflict_instead_of_overwriting(page, app, demo_people):
    login_in_browser(page, "admin")
    page.goto("/designer/")
    page.fill("#new-key", "shared_flow")
    page.click("#designer-new button[type=submit]")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    # Another designer saves the draft meanwhile (through the same service the API uses).
    from app.auth.models import User
    from app.designer import services
    from app.extensions import db
    from sqlalchemy import select

    with app.test_request_context():
        draft = services.get_draft("shared_flow")
        other_xml = draft.xml.replace('id="StartEvent_1"', 'id="StartEvent_1" name="别人改的"')
        services.save_draft(draft, actor=db.session.scalar(select(User).where(User.username == "admin")),
                            xml=other_xml, version=draft.version)
    page.evaluate("() => { const m = window.designer.modeler; const r = m.get('elementRegistry');"
                  " m.get('modeling').updateLabel(r.filter(e => e.type === 'bpmn:StartEvent')[0], '我改的'); }")
    page.wait_for_selector("#designer-conflict:not([hidden])")
    assert page.locator("#designer-deploy").is_disabled()
    with app.app_context():
        assert "别人改的" in services.get_draft("shared_flow").xml
    page.click("#designer-conflict [data-action=reload]")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    assert page.locator(".djs-label", has_text="别人改的").count() == 1

    # Discarding a never-deployed draft deletes the process (after a confirmation).
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=discard]")
    page.wait_for_url("**/designer/")
    assert page.locator('#designer-processes tr[data-key="shared_flow"]').count() == 0


def test_duplicate_asks_the_key_of_the_copy_in_the_page_dialog(page, demo_people):
    page.on("dialog", lambda dialog: pytest.fail(f"browser prompt: {dialog.message}"))
    login_in_browser(page, "admin")
    _new_process(page, "first_flow", "第一个流程")
    page.goto("/designer/")
    duplicate = page.locator('#designer-processes tr[data-key="first_flow"]').get_by_role("button", name="复制")
    dialog = page.locator("#copy-dialog")
    # Cancelling creates nothing.
    duplicate.click()
    assert dialog.is_visible() and "第一个流程" in dialog.locator("h2").inner_text()
    dialog.get_by_role("button", name="取消").click()
    assert not dialog.is_visible()
    assert page.locator("#designer-processes tr[data-key]").count() == 1
    # The key is proposed; one that is not a key cannot be sent.
    duplicate.click()
    key = dialog.get_by_label("副本的标识")
    assert key.input_value() == "first_flow_copy"
    key.fill("2nd flow")
    dialog.get_by_role("button", name="复制").click()
    assert dialog.is_visible()
    key.fill("second_flow")
    dialog.get_by_role("button", name="复制").click()
    page.wait_for_url("**/designer/second_flow")
    page.wait_for_selector("#designer-modeler[data-ready=true]")


def test_the_simulation_and_the_panel_s_own_controls_speak_chinese(page, app, demo_people, forms):
    _open_test_run_of_the_customer_report(page, app)
    page.click("#testrun-close")
    toggle = page.locator(".bts-toggle-mode")
    expect(toggle).to_have_text("令牌模拟")
    toggle.click()
    expect(page.locator(".bts-entry[title='播放/暂停模拟']")).to_have_count(1)
    page.locator(".bts-entry[title='显示/隐藏模拟日志']").click()
    expect(page.locator(".bts-log .bts-header")).to_contain_text("模拟日志")
    expect(page.locator(".bts-log .placeholder")).to_have_text("暂无记录")
    toggle.click()
    page.evaluate("() => { const m = window.designer.modeler; m.get('selection').select("
                  "m.get('elementRegistry').get('Task_fujian_review')); }")
    page.locator("#designer-properties .bio-properties-panel-group-header").first.wait_for()
    titles = page.eval_on_selector_all("#designer-properties [title]", "els => els.map(e => e.title)")
    assert "展开/收起" in titles and not [title for title in titles if re.search(r"[A-Za-z]{3,} [a-z]{2,}", title)], titles
    # Settings this engine does not act on are not offered (they would be saved and ignored).
    for element_id in (None, "Task_fujian_review", "Task_mark_approved"):
        page.evaluate("id => { const m = window.designer.modeler; const r = m.get('elementRegistry');"
                      " m.get('selection').select(id ? r.get(id) : m.get('canvas').getRootElement()); }", element_id)
        page.wait_for_timeout(200)
        headers = page.locator("#designer-properties .bio-properties-panel-group-header-title").all_inner_texts()
        assert headers and not {"历史清理", "任务列表", "作业执行", "外部任务", "执行监听器", "异步延续"} & set(headers), headers
    # The change-type menus (every kind of event, sub-process, gateway) list Chinese names only.
    english = []
    for element_id in ("StartEvent_report", "Task_fujian_review", "Gateway_route", "Timer_fujian_remind"):
        page.evaluate("id => { const m = window.designer.modeler; const e = m.get('elementRegistry').get(id);"
                      " m.get('popupMenu').open(e, 'bpmn-replace', {x: 200, y: 200}); }", element_id)
        entries = page.eval_on_selector_all(".djs-popup .entry", "es => es.map(e => e.textContent.trim() || e.title)")
        assert entries, element_id
        english += [text for text in entries if re.search(r"[A-Za-z]{3,}", text)]
        page.keyboard.press("Escape")
    assert english == [], english


def test_designer_in_english(page, demo_people):
    login_in_browser(page, "admin")
    page.goto("/designer/")
    page.select_option("select[name=locale]", "en")
    page.wait_for_load_state("networkidle")
    page.fill("#new-key", "english_flow")
    page.click("#designer-new button[type=submit]")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    assert page.locator('.djs-palette [data-action="create.task"]').get_attribute("aria-label") == "Create task"
    assert page.locator("#designer-deploy").inner_text() == "Deploy"
    # At 1,400 px the toolbar keeps one line with the longer English labels (Deploy wrapped below).
    page.set_viewport_size({"width": 1400, "height": 900})
    page.evaluate("() => document.querySelector('#designer-status').textContent = 'Same as the deployed version'")
    tops = page.evaluate("() => ['[data-action=undo]', '#designer-deploy'].map(s => document.querySelector(s).getBoundingClientRect().top)")
    assert abs(tops[0] - tops[1]) < 5, tops

    # A diagram made in Camunda Modeler 5 imports as is; our panel reads its attributes.
    page.goto("/designer/")
    page.set_input_files("#designer-import", str(ROOT / "tests/engine/fixtures/leave_request_modeler5.bpmn"))
    page.wait_for_url("**/designer/Process_discount_approval")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.evaluate("() => { const m = window.designer.modeler; m.get('selection').select(m.get('elementRegistry').get('Activity_1finance')); }")
    _open_group(page, "crm-assignment")
    assert page.locator('[data-entry-id="crm-candidate-users"] input').input_value() == "finance1, finance2"
    _open_group(page, "crm-form")
    assert page.locator('[data-entry-id="crm-due-date"] .crm-mode').input_value() == "date"
    assert page.locator('[data-entry-id="crm-due-date"] .crm-date').input_value().startswith("2030-01-15")


def _process_signature(xml: str) -> dict:
    """Every element of the process with its attributes and texts: what the engine runs."""
    root = etree.fromstring(xml.encode("utf-8"))
    proc = root.find("{http://www.omg.org/spec/BPMN/20100524/MODEL}process")
    out = {}
    for node in proc.iter():
        if not isinstance(node.tag, str):
            continue
        key = node.get("id") or f"{node.getparent().get('id')}/{etree.QName(node).localname}/{node.get('name', '')}"
        out[key] = (node.tag, dict(node.attrib), (node.text or "").strip())
    return out


def test_customer_report_opens_looks_right_and_is_not_deployed_twice_unchanged(page, app, demo_people, forms):
    from app.engine import services as engine

    shipped = (ROOT / "bpmn" / "customer_report.bpmn").read_text(encoding="utf-8")
    with app.app_context():
        engine.deploy(shipped)

    page.set_viewport_size({"width": 1600, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/designer/")
    row = page.locator('#designer-processes tr[data-key="customer_report"]')
    assert "v1" in row.inner_text()
    row.get_by_role("link", name="打开").click()
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.wait_for_function("() => document.querySelector('#designer-modeler').dataset.problems === '0'")
    # Every element of the diagram is drawn, labels in Chinese.
    drawn = page.evaluate("() => window.designer.modeler.get('elementRegistry')"
                          ".filter(e => e.type !== 'label' && e.businessObject.$instanceOf('bpmn:FlowElement')).length")
    proc = etree.fromstring(shipped.encode("utf-8")).find("{http://www.omg.org/spec/BPMN/20100524/MODEL}process")
    assert drawn == len([c for c in proc if isinstance(c.tag, str) and c.get("id")]) == 58  # the shipped customer report: tasks, events, gateways and flows
    assert page.locator(".djs-label", has_text="福建区域负责人审批").count() == 1
    assert page.evaluate("() => [...document.fonts].some(f => f.family.includes('bpmn') && f.status === 'loaded')")
    _assert_watermark_visible(page)
    screenshot(page, "designer-customer-report")

    # The stock properties of a user task: our groups show the diagram's values.
    page.evaluate("() => { const m = window.designer.modeler; m.get('selection').select(m.get('elementRegistry').get('Task_fujian_review')); }")
    _open_group(page, "crm-assignment")
    # The group is chosen once on the route (Script_fujian_group) and read by the task and its escalation.
    assert page.locator('[data-entry-id="crm-candidate-groups"] input').input_value() == "${approver_group}"
    _open_group(page, "crm-form")
    assert page.locator('[data-entry-id="crm-form-key"] input').input_value() == "customer_report"
    assert page.locator('[data-entry-id="crm-due-date"] .crm-amount').input_value() == "3"
    page.evaluate("() => { const m = window.designer.modeler; m.get('selection').select(m.get('elementRegistry').get('Flow_to_medical')); }")
    _open_group(page, "crm-condition")
    assert page.locator(".crm-condition-row").count() == 2
    assert page.locator(".crm-condition-row .crm-field").nth(1).input_value() == "industry"
    page.evaluate("() => { const m = window.designer.modeler; m.get('selection').select(m.get('elementRegistry').get('Task_mark_approved')); }")
    _open_group(page, "crm-operation")
    assert page.locator(".crm-operation").input_value() == "crm.set_report_status"
    # Each parameter says what it is, then its name in the diagram.
    status = page.get_by_label("报备状态 status")
    assert status.get_attribute("data-param") == "status" and status.input_value() == "approved"
    offered = page.eval_on_selector_all(f"#{status.get_attribute('list')} option", "os => os.map(o => [o.value, o.label])")
    assert ["approved", "报备通过"] in offered and len(offered) == 4  # the statuses, to pick
    expect(page.locator(".crm-param label").first).to_have_text("客户编号 customer_id *")
    screenshot(page, "designer-customer-report-operation")

    # Timer picker: the reminder's P1D shows as 1 day; nothing is changed here (re-deploy unchanged).
    page.evaluate("() => { const m = window.designer.modeler; m.get('selection').select(m.get('elementRegistry').get('Timer_fujian_remind')); }")
    _open_group(page, "crm-timer")
    assert page.locator('[data-entry-id="crm-timer-value"] .crm-amount').input_value() == "1"
    assert page.locator('[data-entry-id="crm-timer-value"] .crm-unit').input_value() == "D"
    assert page.evaluate("() => window.designer.modeler.get('commandStack').canUndo()") is False

    # Deployed again unchanged (or Deploy clicked twice): no second identical version.
    page.click("#designer-deploy")
    expect(page.locator("#designer-status")).to_contain_text("此图已部署为版本 1")
    with app.app_context():
        assert [d.version for d in engine.list_definitions() if d.key == "customer_report"] == [1]
    # What the modeler would write back keeps every element, attribute and expression.
    exported = page.evaluate("async () => (await window.designer.modeler.saveXML({format: true})).xml")
    assert _process_signature(exported) == _process_signature(shipped)


def _open_test_run_of_the_customer_report(page, app):
    from app.engine import services as engine

    with app.app_context():
        engine.deploy((ROOT / "bpmn" / "customer_report.bpmn").read_text(encoding="utf-8"))
    page.set_viewport_size({"width": 1300, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/designer/customer_report")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.click("[data-action=test-run]")


def _started_data(app):
    from app.designer.models import ProcessTestRun
    from app.extensions import db

    with app.app_context():
        [run] = db.session.query(ProcessTestRun).all()
        return run.log[0]["data"]


def test_customer_report_test_run_through_the_forms(page, app, demo_people, forms):
    _open_test_run_of_the_customer_report(page, app)
    # One labelled input per variable the diagram's documentation names.
    fields = page.locator("#testrun-data .testrun-field")
    assert [fields.nth(i).get_attribute("data-field") for i in range(fields.count())] == [
        "customer_id", "name", "province", "industry", "owner", "reporter"]
    assert "省份" in page.locator('#testrun-data label[for="testrun-start-province"]').inner_text()
    page.get_by_label("省份").fill("福建")
    page.locator("#testrun-data [name=name]").fill("厦门测试公司")
    page.locator("#testrun-data [name=customer_id]").fill("42")
    page.locator('#testrun-data [data-field=industry] .testrun-remove').click()
    page.click("#testrun-start")

    task = page.locator('.testrun-task[data-bpmn-id="Task_fujian_review"]')
    task.wait_for()
    assert "fujian-heads" not in task.inner_text() and "福建" in task.inner_text()  # the group by its name
    # Its waiting timers read on the company's clock, as every other time (they were in the
    # browser's zone: UTC here, 8 hours off Shanghai).
    timer = page.locator("[data-timer]").first.inner_text()
    due = re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", timer)
    with app.app_context():
        from app.clock import company_zone
        expected = (datetime.now(timezone.utc) + timedelta(days=1)).astimezone(company_zone()).replace(tzinfo=None)
    assert due and abs(datetime.strptime(due.group(), "%Y-%m-%d %H:%M") - expected) < timedelta(minutes=5), timer
    # The task's form gives the fields' labels and the decision's choices.
    decision = task.locator("select[name=decision]")
    assert decision.locator("option").all_inner_texts() == ["同意报备", "驳回"]
    assert "审批意见" in task.inner_text()
    decision.select_option("approve")
    task.locator("[name=comment]").fill("资料齐全")
    screenshot(page, "designer-test-run-customer-report-task")
    task.locator(".testrun-complete").click()
    page.wait_for_selector('#testrun-status[data-status="completed"]')

    started = _started_data(app)
    assert started["customer_id"] == 42 and started["province"] == "福建" and "industry" not in started
    log = page.locator("#testrun-log")
    operations = log.locator(".testrun-log-operation")
    assert operations.count() == 2
    assert "crm.set_report_status" in operations.nth(0).inner_text()
    assert _key_values(operations.nth(0)) == {"comment": "资料齐全", "customer_id": "42", "status": "approved"}
    assert "crm.confirm_owner" in operations.nth(1).inner_text()
    assert "{" not in log.inner_text()  # key: value lines, no raw JSON
    screenshot(page, "designer-test-run-customer-report-done")


def test_a_test_run_starts_with_a_real_customer_s_data_as_its_embedded_process_would(page, app, demo_people, forms):
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.extensions import db
    from app.forms import bindings

    with app.test_request_context():
        from app.engine import services as engine

        engine.deploy((ROOT / "bpmn" / "customer_report.bpmn").read_text(encoding="utf-8"))
        bindings.save_binding({"name": "新增客户 → 客户报备", "entity": "customer", "event": "created",
                               "process_key": "customer_report", "form_key": "customer_report", "enabled": False,
                               "mapping": [{"field": "source", "to": "lead_source"}]}, actor=get_user("admin"))
        customer = crm.create("customer", {"name": "杭州医疗器械有限公司", "province": "浙江", "industry": "医疗"},
                              get_user("sales2"))  # no source: lead_source starts empty
        db.session.commit()
        customer_id = customer.id
    page.set_viewport_size({"width": 1300, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/designer/customer_report")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.click("[data-action=test-run]")

    fill = page.locator("#testrun-fill")
    expect(fill).to_be_visible()
    assert page.locator("#testrun-binding option").all_inner_texts() == ["新增客户 → 客户报备"]
    page.click("#testrun-fill-button")  # nothing picked yet: the field says what it needs
    assert page.evaluate("document.querySelector('#testrun-record').validationMessage") == "请从列表中选一条记录，或输入它的编号。"
    page.locator("#testrun-record").press_sequentially("杭州")  # offers the matching customers
    expect(page.locator("#testrun-records option")).to_have_count(1)
    assert page.locator("#testrun-records option").get_attribute("value") == f"杭州医疗器械有限公司 #{customer_id}"
    page.click("#testrun-fill-button")  # "杭州" finds one customer: as good as picking it
    expect(page.locator("#testrun-record")).to_have_value(f"杭州医疗器械有限公司 #{customer_id}")
    expect(page.locator("#testrun-filled")).to_have_text("已填入 杭州医疗器械有限公司 的数据。")
    assert page.locator("#testrun-data [name=province]").input_value() == "浙江"
    assert page.locator("#testrun-data [name=lead_source]").input_value() == ""  # not the text "null"
    screenshot(page, "designer-test-run-from-a-record")
    page.click("#testrun-start")
    # 医疗 outside Fujian goes to the medical reviewers, as it would for this customer.
    page.locator('.testrun-task[data-bpmn-id="Task_medical_review"]').wait_for()
    started = _started_data(app)
    assert (started["customer_id"], started["reporter"], started["industry"]) == (customer_id, "sales2", "医疗")
    assert started["lead_source"] is None  # as the record's empty field starts the real process

    page.fill("#testrun-record", "999999")
    page.click("#testrun-fill-button")
    expect(page.locator("#testrun-error")).to_be_visible()


def test_test_run_data_can_be_edited_as_json(page, app, demo_people, forms):
    _open_test_run_of_the_customer_report(page, app)
    assert not page.locator("#small-screen-note").is_visible()  # on a phone it says to draw on a computer
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("#small-screen-note").is_visible()
    page.set_viewport_size({"width": 1300, "height": 900})
    page.locator("#testrun-data [name=province]").fill("福建")
    page.click("#testrun-json")
    json_text = page.locator("#testrun-data .testrun-json")
    assert '"province": "福建"' in json_text.input_value()
    # Edited JSON shows in the form: a number stays a number, a new name gets a row.
    json_text.fill('{"province": "福建", "name": "厦门测试公司", "reporter": "sales1", "owner": "sales1", "customer_id": 7, "note": "42"}')
    page.click("#testrun-json")
    assert page.locator("#testrun-data .testrun-field").count() == 6
    assert page.locator("#testrun-data [name=customer_id]").input_value() == "7"
    assert page.locator("#testrun-data [name=note]").input_value() == '"42"'
    # JSON that is not an object keeps the JSON view and says why.
    page.click("#testrun-json")
    json_text.fill("[1]")
    page.click("#testrun-json")
    assert page.locator("#testrun-json").is_checked()
    assert page.locator("#testrun-error").is_visible()
    json_text.fill('{"province": "福建", "name": "厦门测试公司", "reporter": "sales1", "owner": "sales1", "customer_id": 7, "note": "42"}')
    page.click("#testrun-start")

    task = page.locator('.testrun-task[data-bpmn-id="Task_fujian_review"]')
    task.wait_for()
    assert _started_data(app)["note"] == "42"
    # The task opens in the JSON view too; a field the form lacks gets the server's 400.
    answer = task.locator(".testrun-json")
    assert '"decision": "approve"' in answer.input_value()
    answer.fill('{"decision": "approve", "bonus": 1}')
    task.locator(".testrun-complete").click()
    page.wait_for_selector("#testrun-error:not([hidden])")
    assert "bonus" in page.locator("#testrun-error").inner_text()
    answer.fill('{"decision": "reject", "comment": "重复报备"}')
    task.locator(".testrun-complete").click()
    page.wait_for_selector('#testrun-status[data-status="completed"]')
    assert "crm.set_report_status" in page.locator("#testrun-log").inner_text()
    assert "rejected" in page.locator("#testrun-log .testrun-log-operation").first.inner_text()


def test_an_inclusive_gateway_is_not_a_lint_error_and_deploys(page, app, demo_people, forms):
    """bpmnlint's "recommended" warns against inclusive gateways; our engine runs them."""
    login_in_browser(page, "admin")
    page.goto("/designer/")
    page.set_input_files("#designer-import", str(ROOT / "tests" / "designer" / "fixtures" / "joint_review_inclusive.bpmn"))
    page.wait_for_url("**/designer/joint_review")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    issues = page.evaluate("""async () => {
      const found = await window.designer.modeler.get('linting').lint();
      return Object.values(found).flat().map(i => [i.id, i.category, i.message]);
    }""")
    assert not [i for i in issues if i[1] == "error" or "InclusiveGateway" in i[2]], issues
    page.click("#designer-deploy")
    page.wait_for_function("() => document.querySelector('#designer-deployed').textContent === 'v1'")


def _file_without_a_drawing(tmp_path):
    bare = tmp_path / "bare.bpmn"
    bare.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="bare_flow" name="无图流程" isExecutable="true">
    <bpmn:startEvent id="Start" name="提交" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review" />
    <bpmn:userTask id="Review" name="审批" camunda:candidateGroups="sales-managers" />
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End" />
    <bpmn:endEvent id="End" name="结束" />
  </bpmn:process>
</bpmn:definitions>
""", encoding="utf-8")
    return bare


def test_a_file_without_a_drawing_is_laid_out_and_saved(page, app, demo_people, tmp_path):
    """Another tool's export may hold the process alone (no BPMNDiagram): it opens laid out."""
    login_in_browser(page, "admin")
    page.goto("/designer/")
    page.set_input_files("#designer-import", str(_file_without_a_drawing(tmp_path)))
    page.wait_for_url("**/designer/bare_flow")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    assert page.locator('.djs-element[data-element-id="Review"]').is_visible()
    assert page.locator('.djs-connection[data-element-id="f1"]').count() == 1  # the flows drawn too
    starts = page.evaluate("() => ['Start', 'Review', 'End'].map(id => "
                           "window.designer.modeler.get('elementRegistry').get(id).x)")
    assert starts == sorted(starts)  # left to right, in flow order
    assert "自动排版" in page.locator("#designer-status").inner_text()
    _wait_saved(page)
    screenshot(page, "designer-laid-out-import")
    with app.app_context():
        from app.designer.models import ProcessDraft
        from app.extensions import db

        saved = db.session.query(ProcessDraft).filter_by(process_key="bare_flow").one()
        assert 'bpmnElement="Review"' in saved.xml


def test_a_laid_out_file_whose_save_failed_is_not_said_to_be_saved(page, app, demo_people, tmp_path):
    """A 510 KB file's save was refused (413), and the status said "laid out automatically and
    saved": its layout was lost on leaving."""
    def refuse(route):
        if route.request.method == "PATCH":
            return route.fulfill(status=413, content_type="application/json",
                                 body='{"error": {"code": "too_large", "message": "太大了", "details": []}}')
        return route.continue_()

    login_in_browser(page, "admin")
    page.route("**/api/v1/designer/drafts/bare_flow", refuse)
    page.goto("/designer/")
    page.set_input_files("#designer-import", str(_file_without_a_drawing(tmp_path)))
    page.wait_for_url("**/designer/bare_flow")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    expect(page.locator("#designer-status")).to_contain_text("未保存")
    assert "自动排版" not in page.locator("#designer-status").inner_text()


def test_a_gateway_whose_ways_out_all_have_conditions_is_told_it_needs_a_default(page, demo_people):
    login_in_browser(page, "admin")
    _new_process(page, "no_default_flow", "无默认流")
    gateway = page.evaluate("""() => {
      const m = window.designer.modeler, modeling = m.get('modeling'), factory = m.get('bpmnFactory');
      const start = m.get('elementRegistry').filter(e => e.type === 'bpmn:StartEvent')[0];
      const gw = modeling.appendShape(start, {type: 'bpmn:ExclusiveGateway'});
      modeling.updateLabel(gw, '是否同意');
      for (const [y, body] of [[0, "${decision == 'approve'}"], [200, "${decision == 'reject'}"]]) {
        const end = modeling.appendShape(gw, {type: 'bpmn:EndEvent'}, {x: gw.x + 200, y: gw.y + y});
        const flow = gw.outgoing[gw.outgoing.length - 1];
        modeling.updateProperties(flow, {conditionExpression: factory.create('bpmn:FormalExpression', {body})});
      }
      return gw.id;
    }""")
    page.wait_for_function("""(id) => [...document.querySelectorAll('.bjsl-overlay')]
        .some(o => o.textContent.includes('排他网关没有默认流'))""", arg=gateway)
    # Marking one flow as the default silences it.
    page.evaluate("""(id) => { const m = window.designer.modeler; const gw = m.get('elementRegistry').get(id);
      m.get('modeling').updateProperties(gw, {default: gw.outgoing[1].businessObject}); }""", gateway)
    page.wait_for_function("""() => ![...document.querySelectorAll('.bjsl-overlay')]
        .some(o => o.textContent.includes('排他网关没有默认流'))""")


def test_a_condition_with_a_misspelt_variable_gets_a_hint_that_leads_to_it(page, app, demo_flow):
    page.set_viewport_size({"width": 1300, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/designer/customer_report")
    page.wait_for_selector("#designer-modeler[data-ready=true]")

    def slow_check(route):  # the edit's own check lands after 检查's: its findings are still the ones said
        page.wait_for_timeout(400)
        route.continue_()

    page.route("**/api/v1/designer/check**", slow_check)
    flow_id = page.evaluate("""() => {
      const modeler = window.designer.modeler, registry = modeler.get('elementRegistry');
      const flow = registry.filter((e) => (e.businessObject.conditionExpression?.body || '').includes("decision == 'approve'"))[0];
      const expression = modeler.get('moddle').create('bpmn:FormalExpression', {body: "${decison == 'approve'}"});
      modeler.get('modeling').updateProperties(flow, {conditionExpression: expression});
      return flow.id; }""")
    page.click("[data-action=lint]")
    page.wait_for_selector("#designer-hints:not([hidden])")
    hint = page.locator(f'#designer-hint-list li[data-element-id="{flow_id}"]')
    assert "decison" in hint.inner_text() and "拼写错误" in hint.inner_text()
    expect(page.locator("#designer-status")).to_contain_text("另有 1 条提示")
    assert page.locator("#designer-deploy").is_enabled()  # a hint, not a refusal
    screenshot(page, "designer-hint")


def test_deploying_a_version_without_a_step_where_instances_wait_says_so(page, app, demo_flow):
    from app.engine import services as engine

    with app.app_context():
        engine.start_instance("customer_report", {"customer_id": 1, "name": "等待中的客户", "province": "福建",
                                                  "industry": "制造", "reporter": "sales1", "owner": "sales1"},
                              record={"type": "customer", "id": 1})
    page.set_viewport_size({"width": 1400, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/designer/customer_report")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.evaluate("""() => { const m = window.designer.modeler;
      m.get('modeling').updateProperties(m.get('elementRegistry').get('Task_fujian_review'), {id: 'Task_fujian_check'}); }""")
    page.click("[data-action=deploy]")
    page.wait_for_function("() => document.querySelector('#designer-status').textContent.includes('已部署为版本 2')")
    status = page.locator("#designer-status").inner_text()
    assert "1 个在“福建区域负责人审批”" in status and "按原版本继续运行" in status, status


def test_importing_a_file_of_a_process_that_exists_offers_it_as_its_next_version(page, app, demo_people, forms):
    fixture = str(ROOT / "tests" / "designer" / "fixtures" / "joint_review_inclusive.bpmn")
    login_in_browser(page, "admin")
    page.goto("/designer/")
    page.set_input_files("#designer-import", fixture)
    page.wait_for_url("**/designer/joint_review")
    page.wait_for_selector("#designer-modeler[data-ready=true]")
    page.click("#designer-deploy")
    page.wait_for_function("() => document.querySelector('#designer-deployed').textContent === 'v1'")
    page.goto("/designer/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.set_input_files("#designer-import", fixture)
    page.wait_for_selector("#designer-error:not([hidden])")  # declined: the usual refusal stays
    assert "joint_review" in asked[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.set_input_files("#designer-import", fixture)
    page.wait_for_url("**/designer/joint_review")


def test_the_lint_count_has_singular_forms_in_english(page, demo_people):
    """It read "0 Errors, 1 Warnings"."""
    login_in_browser(page, "admin")
    page.evaluate("""async () => { const body = new URLSearchParams({locale: "en", next: "/designer/"});
        body.set("csrf_token", document.querySelector('meta[name=csrf-token]')?.content || "");
        await fetch("/language", {method: "POST", body}); }""")
    _new_process(page, "lint_words", "Lint words")
    said = page.evaluate("""() => { const t = window.designer.modeler.get('translate');
        const template = '{errors} Errors, {warnings} Warnings';
        return [t(template, {errors: 0, warnings: 1}), t(template, {errors: 2, warnings: 0})]; }""")
    assert said == ["0 errors, 1 warning", "2 errors, 0 warnings"]


def test_the_problem_list_follows_the_drawing_and_drawing_hints_are_no_errors(page, demo_people):
    """A removed step's problem stayed listed until the next autosave (a link leading nowhere);
    bpmnlint's badge said "7 errors" beside "No problems block deploying"."""
    page.set_viewport_size({"width": 1400, "height": 900})
    login_in_browser(page, "admin")
    _new_process(page, "follow_drawing", "Follow drawing")
    task = _append_to_start(page, "bpmn:UserTask")
    page.wait_for_selector(f'#designer-problem-list li[data-element-id="{task}"]')
    page.evaluate(f"""() => {{ const m = window.designer.modeler;
      m.get('modeling').removeElements([m.get('elementRegistry').get('{task}')]); }}""")
    # At once, not after the autosave (1.5 s) and its check.
    page.wait_for_function(f"""() => !document.querySelector('#designer-problem-list li[data-element-id="{task}"]')""",
                           timeout=1000)
    page.wait_for_selector(".bjsl-overlay")
    issues = page.evaluate("""() => window.designer.modeler.get('linting')._issues""")
    levels = {issue["category"] for found in issues.values() for issue in found}
    assert levels == {"warn"}, levels  # hints, every one
    # A green "no problems" badge is not shown beside problems that block deploying.
    page.evaluate("""() => { const root = document.querySelector('#designer-modeler');
      root.dataset.problems = '1'; document.querySelector('.bjsl-button').classList.add('bjsl-button-success'); }""")
    assert not page.locator(".bjsl-button").is_visible()
    page.evaluate("() => { document.querySelector('#designer-modeler').dataset.problems = '0'; }")
    assert page.locator(".bjsl-button").is_visible()


def test_the_problem_list_appearing_does_not_move_the_drawing(page, demo_people):
    """The list above the canvas came and went with each check, moving the drawing 50-100 px
    under the pointer: clicks landed on the wrong element."""
    page.set_viewport_size({"width": 1400, "height": 900})
    login_in_browser(page, "admin")
    _new_process(page, "steady_drawing", "Steady drawing")
    _append_to_start(page, "bpmn:EndEvent")
    page.wait_for_function("() => document.querySelector('#designer-modeler').dataset.problems === '0'")
    assert page.locator("#designer-problems").is_hidden()
    start = page.locator(".djs-element.djs-shape[data-element-id^='StartEvent']").first
    before = start.bounding_box()
    task = _append_to_start(page, "bpmn:UserTask")
    page.wait_for_selector(f'#designer-problem-list li[data-element-id="{task}"]')
    assert page.locator("#designer-problems").is_visible()  # above the canvas
    after = start.bounding_box()
    assert abs(after["y"] - before["y"]) <= 1 and abs(after["x"] - before["x"]) <= 1, (before, after)
