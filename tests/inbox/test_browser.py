"""Browser: fj_head claims a group task, delegates it to med_reviewer who approves; the
history shows the chain and the reporter's view updates. Screenshots in test-artifacts/."""
import re

import pytest

from tests.helpers import login_in_browser, logout_in_browser, screenshot

pytestmark = pytest.mark.browser


def test_claim_delegate_approve_and_the_reporter_sees_it(page, flows):
    instance_id = flows.report(name="福州海峡贸易有限公司", credit_code="91350100MA2XXXX01M", phone="+8659112345678")
    flows.customer(owner="sales2", name="福州海峡贸易有限公司", credit_code="91350100MA2XXXX01M")  # a rival's customer
    task = flows.open_task(instance_id)

    # fj_head: the task waits in "offered to my groups"; the badge counts it.
    login_in_browser(page, "fj_head")
    page.set_viewport_size({"width": 1300, "height": 900})
    page.goto("/inbox")
    # The filter button keeps its word on one line beside the sort (it stood one character a line).
    assert page.locator("#inbox-filters button[type=submit]").bounding_box()["height"] < 40
    badge = page.locator("[data-live-count=inbox]")
    badge.wait_for(state="visible")
    assert badge.inner_text() == "1"
    offered = page.locator("table[data-inbox-section=offered] tr[data-task-id]")
    assert offered.count() == 1 and "福州海峡贸易有限公司" in offered.inner_text()
    screenshot(page, "inbox-01-offered")
    offered.get_by_role("button", name="认领").click()
    page.wait_for_selector(f"table[data-inbox-section=mine] tr[data-task-id='{task['id']}']")
    # Said after the reload, where a screen reader hears it (the page came back silent, focus at the top).
    assert "已认领" in page.locator("#done-message[role=status]").inner_text()

    # The task page: form with read-only customer data, duplicate warning, diagram, history.
    page.goto(f"/tasks/{task['id']}")
    page.wait_for_selector("#task-form[data-ready=true]")
    page.wait_for_selector("#diagram[data-ready=true]")
    name_input = page.locator("#task-form input[name='name'], #task-form .fjs-form-field-textfield input").first
    assert name_input.input_value() == "福州海峡贸易有限公司" and not name_input.is_editable()
    assert "撞单" in page.locator("#duplicates").inner_text()
    assert page.locator("#diagram").get_attribute("data-marked-active") == "Task_fujian_review"
    assert page.locator("#diagram [data-element-id=Task_fujian_review].inbox-active").count() == 1
    screenshot(page, "inbox-02-task-claimed")
    # A refused comment is said next to its box, the text kept (an alert said "输入有误：comment").
    page.fill("#comment-form [name=comment]", "   ")
    page.click("#comment-form button[type=submit]")
    said = page.locator("#comment-form .invalid-feedback")
    said.wait_for()
    assert "必填" in said.inner_text() and "comment" not in page.locator("#comment-form").inner_text()
    assert page.locator("#comment-form [name=comment].is-invalid").count() == 1
    # A comment on two lines reads on two lines.
    page.fill("#comment-form [name=comment]", "第一行\n第二行")
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector("#done-message")  # the page reloaded, saying so
    page.wait_for_load_state("load")  # its styles too: before them the line break read as a space
    shown = page.locator("#comments .comment-text").last
    assert shown.inner_text() == "第一行\n第二行"
    assert page.locator("#done-message").inner_text() == "评论已添加。"

    page.select_option("#delegate-to", "med_reviewer")
    page.fill("#delegate-form input[name=comment]", "请医疗组帮忙核实")
    page.click("#delegate-button")
    page.wait_for_selector("#delegation-note")
    assert "医疗行业审核" in page.locator("#delegation-note").inner_text()
    assert page.locator("#complete-button").count() == 0  # the delegator cannot complete any more
    logout_in_browser(page)

    # med_reviewer approves from their inbox.
    login_in_browser(page, "med_reviewer")
    page.goto("/inbox")
    page.locator(f"table[data-inbox-section=mine] tr[data-task-id='{task['id']}'] a").first.click()
    page.wait_for_selector("#task-form[data-ready=true]")
    page.click("#complete-button")  # no decision yet: form-js refuses in Chinese, nothing is sent
    page.wait_for_selector("#action-message.text-danger")
    # Rejected without a reason, the server refuses it: the focus goes to that field, not to the
    # page's top (the button, disabled while sending, had dropped it).
    page.get_by_label("驳回").check()
    page.click("#complete-button")
    page.wait_for_function("() => document.activeElement.getAttribute('aria-invalid') === 'true'")
    assert page.evaluate("document.activeElement.closest('#task-form') !== null")
    page.get_by_label("同意报备").check()
    page.get_by_label("审批意见").fill("资料属实，同意")
    screenshot(page, "inbox-03-delegate-approves")
    page.click("#complete-button")
    page.wait_for_url(re.compile(r"/inbox\?completed=\d+$"))
    assert page.locator(f"tr[data-task-id='{task['id']}']").count() == 0
    assert "已办理" in page.locator(".alert-success").inner_text()  # the inbox says what was done
    page.go_back()  # the task page again, from the server: done, no form to submit
    assert page.locator("#complete-button").count() == 0
    logout_in_browser(page)

    # sales1 sees the result under My submissions and the chain in the history.
    login_in_browser(page, "sales1")
    page.goto("/my-submissions")
    row = page.locator(f"#submissions tr[data-instance-id='{instance_id}']")
    assert row.get_attribute("data-status") == "completed"
    assert row.locator("[data-outcome]").inner_text() == "报备通过"  # said once: how it came out
    assert row.locator("[data-report-status]").count() == 0
    screenshot(page, "inbox-04-my-submissions")
    row.get_by_role("link", name="历史").click()
    page.wait_for_selector("#diagram[data-ready=true]")
    events = page.locator("#history li[data-event]")
    chain = [e for e in events.evaluate_all("els => els.map(e => e.dataset.event)")
             if e in ("claimed", "delegated", "completed_task", "completed")]
    assert chain == ["claimed", "delegated", "completed_task", "completed"]
    text = page.locator("#history").inner_text()
    assert "福建大区负责人" in text and "医疗行业审核" in text and "资料属实，同意" in text
    # Start, the gateway, the Fujian review, "报备通过" and its end are done; the flows between them marked.
    page.wait_for_selector("#diagram [data-element-id=Task_mark_approved].inbox-completed")
    assert page.locator("#diagram [data-element-id=Task_medical_review].inbox-completed").count() == 0
    assert page.locator("#diagram [data-element-id=Flow_to_fujian].inbox-path").count() == 1
    assert page.locator("#diagram [data-element-id=Flow_to_medical].inbox-path").count() == 0
    screenshot(page, "inbox-05-instance-history")


def test_operator_console_suspend_and_terminate(page, flows):
    first = flows.report(name="泉州机械有限公司")
    second = flows.report(name="厦门新材料有限公司")
    login_in_browser(page, "admin")
    page.goto("/operator")
    assert page.locator("#instances tr[data-instance-id]").count() == 2
    assert "2" in page.locator("[data-count-status=running]").inner_text()
    page.locator(f"#instances tr[data-instance-id='{first}']").get_by_role("button", name="挂起").click()
    page.wait_for_selector(f"#instances tr[data-instance-id='{first}'] >> text=已挂起")
    page.wait_for_load_state("load")  # the reloaded page's script listens for the clicks
    assert page.locator("#done-message").inner_text() == f"流程 #{first} 已挂起。"  # said once, after the reload
    page.reload()
    assert page.locator("#done-message").count() == 0
    # The reason is asked in the page's dialog; an empty one cannot be sent, cancelling sends nothing.
    terminate = page.locator(f"#instances tr[data-instance-id='{second}']").get_by_role("button", name="终止")
    terminate.click()
    dialog = page.locator("#reason-dialog")
    dialog.wait_for(state="visible")
    assert f"#{second}" in dialog.locator("h2").inner_text()
    dialog.get_by_role("button", name="终止").click()
    assert dialog.is_visible()  # still open: a reason is required
    dialog.get_by_role("button", name="取消").click()
    assert not dialog.is_visible()
    page.wait_for_timeout(300)
    assert "已终止" not in page.locator(f"#instances tr[data-instance-id='{second}']").inner_text()
    terminate.click()
    dialog.locator("#reason-text").fill("客户重复录入")
    dialog.get_by_role("button", name="终止").click()
    page.wait_for_selector(f"#instances tr[data-instance-id='{second}'] >> text=已终止")
    assert page.locator("#done-message").inner_text() == f"流程 #{second} 已终止。"
    screenshot(page, "inbox-06-operator-console")
    page.goto(f"/process-instances/{second}")
    assert "客户重复录入" in page.locator("#history").inner_text()


def test_operator_retries_an_instance_in_error_with_corrected_data(page, flows, app, api_as):
    from app.auth.services import get_user
    from app.engine import services as engine
    from app.extensions import db

    customer_id = flows.customer(name="漳州食品有限公司")
    with app.app_context():
        # The report's data names another customer than its own: "报备通过" fails after the approval.
        instance = engine.start_instance("customer_report", {"customer_id": 999999, "name": "漳州食品有限公司",
                                                             "province": "福建", "reporter": "sales1", "owner": "sales1"},
                                         actor=get_user("sales1"), record={"type": "customer", "id": customer_id})
        instance_id = instance.id
        db.session.remove()
    task = flows.open_task(instance_id)
    head = api_as("fj_head")
    head.post(f"/api/v1/tasks/{task['id']}/claim")
    head.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "approve", "comment": "同意"}})

    login_in_browser(page, "admin")
    page.goto(f"/process-instances/{instance_id}")
    assert page.locator("#instance-status").get_attribute("data-status") == "error"
    # The example is this instance's own record, in its own variable's name.
    assert page.get_attribute("#retry-data", "placeholder") == f'{{"customer_id": {customer_id}}}'
    page.fill("#retry-data", f'{{"customer_id": {customer_id}}}')
    screenshot(page, "inbox-07-instance-error-retry")
    page.click("#retry-form button[type=submit]")
    page.wait_for_selector("#instance-status[data-status=completed]")
    assert "重试" in page.locator("#history").inner_text()


def test_on_a_phone_the_lists_keep_status_and_buttons_on_screen(page, flows):
    instance_id = flows.report(name="泉州晋江纺织有限公司")
    page.set_viewport_size({"width": 390, "height": 844})
    for user, url, row, label in (
            ("sales1", "/my-submissions", f"#submissions tr[data-instance-id='{instance_id}']", "状态"),
            ("sales1", "/crm/customer", "#records tbody tr", "省份"),
            ("fj_head", "/inbox", "table[data-inbox-section=offered] tr[data-task-id]", "记录")):
        login_in_browser(page, user)
        page.goto(url)
        assert page.evaluate("document.querySelector('.table-responsive').scrollWidth <= window.innerWidth"), url
        cells = page.locator(row).first.locator("td:visible")
        last_cell = cells.last
        box = last_cell.bounding_box()
        assert last_cell.is_visible() and box["x"] + box["width"] <= 390, url  # the buttons, not scrolled away
        # Rows stack: the first cell (the task or record) spans the row instead of a narrow column,
        # and each other cell is headed by its column's name.
        assert cells.first.bounding_box()["width"] > 300, url
        headings = cells.evaluate_all("tds => tds.map(td => getComputedStyle(td, '::before').content)")
        assert f'"{label}"' in headings, (url, headings)
        if url == "/inbox":  # which process and who asked, on the phone too
            assert {'"流程"', '"发起人"'} <= set(headings), headings
        if url == "/my-submissions":  # which process: a customer report or a contract approval
            assert cells.first.locator("[data-process-name]").inner_text() == "客户报备"
        screenshot(page, f"phone-{user}-{url.strip('/').replace('/', '-')}")
        if url == "/inbox":  # the filters fold away on a phone unless in use
            assert not page.locator("#inbox-filters").is_visible()
            page.click("#inbox-filters-toggle")
            page.wait_for_selector("#inbox-filters.show:not(.collapsing)")  # unfolded, not still moving
            page.select_option("#f-due", "week")
            page.click("#inbox-filters button[type=submit]")
            page.wait_for_url("**due=week**")
            assert page.locator("#f-due").is_visible() and page.locator("#inbox-filters-toggle .badge").inner_text() == "1"
            page.set_viewport_size({"width": 1200, "height": 844})
            page.goto("/inbox")
            assert page.locator("#f-due").is_visible() and not page.locator("#inbox-filters-toggle").is_visible()
            page.set_viewport_size({"width": 390, "height": 844})
        page.context.clear_cookies()  # log out (the user menu is folded behind the toggler here)


def test_my_submissions_filters_show_their_whole_choice_in_english(page, flows):
    flows.report()
    login_in_browser(page, "sales1")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/my-submissions")
    with page.expect_navigation():
        page.select_option("select[name=locale]", "en")
    page.goto("/my-submissions")
    for name in ("process", "status"):  # "All processes" read "All processe"
        text, room = page.eval_on_selector(f"select[name={name}]", """s => {
          const pen = document.createElement('canvas').getContext('2d'), style = getComputedStyle(s);
          pen.font = style.font;
          const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return [pen.measureText(s.options[s.selectedIndex].text).width, room]; }""")
        assert text <= room, (name, text, room)
    page.goto("/inbox")  # the record filter's hint reads whole ("Name of a customer, d" was cut)
    text, room = page.eval_on_selector("#f-record", """i => {
      const pen = document.createElement('canvas').getContext('2d'), style = getComputedStyle(i);
      pen.font = style.font;
      return [pen.measureText(i.placeholder).width,
              i.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)]; }""")
    assert text <= room, (text, room)


def test_the_console_filters_fit_a_laptop_and_offer_starters_by_name(page, flows):
    flows.report()
    page.set_viewport_size({"width": 1366, "height": 900})
    login_in_browser(page, "admin")
    page.goto("/operator")
    for field in ("#o-from", "#o-to"):  # a whole date shows, not "mm/dd/y"
        assert page.locator(field).bounding_box()["width"] >= 140, field
    assert page.locator("#o-starters option[value=sales1]").get_attribute("value") == "sales1"
    assert "销售一" in page.locator("#o-starters option[value=sales1]").inner_text()
    page.fill("#o-starter", "sales1")
    page.get_by_role("button", name="筛选").click()
    assert page.locator("#instances tr[data-instance-id]").count() == 1


def test_taking_a_task_a_colleague_took_meanwhile_says_who_and_shows_it(page, flows, app, api_as):
    """The stale page kept its 认领 button after the refusal, and said nothing more."""
    from app.auth.services import create_user
    from app.cli import DEMO_PASSWORD
    from app.extensions import db

    with app.app_context():
        create_user(username="fj_head2", password=DEMO_PASSWORD, display_name="福建负责人二", roles=["approver"],
                    groups=["fujian-heads"])
        db.session.commit()
    task = flows.open_task(flows.report(name="两人同时认领的客户"))
    login_in_browser(page, "fj_head")
    page.goto(f"/tasks/{task['id']}")
    page.wait_for_selector("#claim-button")
    assert api_as("fj_head2").post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200  # meanwhile
    page.click("#claim-button")
    said = page.locator("#done-message")
    said.wait_for()
    assert "福建负责人二" in said.inner_text() and "alert-warning" in said.get_attribute("class")
    assert page.locator("#claim-button").count() == 0 and "福建负责人二" in page.locator("#task-holder").inner_text()


def test_after_a_decision_the_inbox_is_as_it_was_left(page, flows):
    """Each decision landed on /inbox?completed=…, its filter and sort dropped: the approver
    re-applied them to find the next task."""
    first = flows.open_task(flows.report(name="厦门第一家有限公司"))
    flows.open_task(flows.report(name="厦门第二家有限公司"))
    login_in_browser(page, "fj_head")
    page.goto("/inbox?process=customer_report&sort=created")
    row = page.locator(f"tr[data-task-id='{first['id']}']")
    row.get_by_role("button", name=re.compile("认领")).click()
    page.wait_for_selector(f"table[data-inbox-section=mine] tr[data-task-id='{first['id']}']")
    page.goto(f"/tasks/{first['id']}")
    page.wait_for_selector("#task-form[data-ready=true]")
    page.get_by_label("同意报备").check()
    page.click("#complete-button")
    page.wait_for_url(re.compile(r"/inbox\?completed=\d+"))
    assert "sort=created" in page.url and "process=customer_report" in page.url
    assert page.locator("#inbox-filters select[name=sort]").input_value() == "created"


def test_an_approver_on_a_phone_sees_a_duplicate_before_deciding_and_can_tap_and_type(page, flows):
    """On a phone the duplicate warning sat 1,400 px below the decision, the radios were 13 px,
    the buttons 31 px high, fields in 14 px text (iOS zooms into them) and the folded menu gave
    no sign of the waiting task."""
    instance_id = flows.report(name="福州闽江医疗器械有限公司", credit_code="91350100MA2XXXX01M")
    flows.customer(owner="sales2", name="福州闽江医疗器械有限责任公司", credit_code="91350100MA2XXXX01M")
    task = flows.open_task(instance_id)
    page.set_viewport_size({"width": 390, "height": 844})
    login_in_browser(page, "fj_head")
    page.goto("/inbox")
    total = page.locator(".navbar-toggler [data-live-total]")
    total.wait_for(state="visible")
    counts = page.evaluate("window.crmFetch('/api/v1/live-counts')")
    assert counts["inbox"] == 1 and total.inner_text() == str(counts["inbox"] + counts["notifications"])
    box = total.bounding_box()
    assert box["y"] >= 0 and box["x"] + box["width"] <= 390  # whole, and the page does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    claim = page.locator(f"tr[data-task-id='{task['id']}']").get_by_role("button", name=re.compile("认领"))
    assert claim.bounding_box()["height"] >= 40
    opened = page.locator(f"tr[data-task-id='{task['id']}'] a.btn").first  # a link as a button: its word centred
    assert opened.evaluate("e => getComputedStyle(e).alignItems") == "center"
    claim.click()
    page.wait_for_selector(f"table[data-inbox-section=mine] tr[data-task-id='{task['id']}']")
    page.goto(f"/tasks/{task['id']}")
    page.wait_for_selector("#task-form .fjs-form")
    near = page.locator("#duplicates-near-form")
    assert near.is_visible() and "1 个已有客户" in near.inner_text()
    assert near.bounding_box()["y"] < page.locator("#task-form").bounding_box()["y"]
    assert page.locator("#complete-button").bounding_box()["height"] >= 40  # a full-size button too (38 px)
    radio = page.locator("#task-form input[type=radio]").first
    assert radio.bounding_box()["width"] >= 20
    comment = page.locator("#task-form textarea").first
    assert comment.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 16
    screenshot(page, "phone-task-with-duplicate")
    page.click("#duplicates-near-form a")
    assert page.locator("#duplicates").is_visible()
    page.set_viewport_size({"width": 1300, "height": 900})  # beside the form on a large screen: said once
    assert not near.is_visible()


def test_leaving_a_task_with_an_unsent_answer_asks_first(page, flows, api_as):
    """驳回 chosen and a comment typed, then Home: the answer was gone without a word."""
    task = flows.open_task(flows.report(name="厦门离开页面有限公司"))
    assert api_as("fj_head").post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    login_in_browser(page, "fj_head")
    page.goto(f"/tasks/{task['id']}")
    page.wait_for_selector("#task-form[data-ready=true]")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.goto("/")  # nothing typed: leaves without asking
    assert asked == []
    page.goto(f"/tasks/{task['id']}")
    page.wait_for_selector("#task-form[data-ready=true]")
    page.get_by_label("驳回").check()
    page.get_by_label("审批意见").fill("重复报备")
    page.locator("#mainnav a[href='/']").first.click()
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and "/tasks/" in page.url
