"""In Chromium: sales1 creates a customer through the form, finds it in the list; the pipeline
board refuses a move with the stage's message."""
import re

import pytest

from tests.helpers import login_in_browser, screenshot

pytestmark = pytest.mark.browser


def test_sales_creates_a_customer_and_sees_it_in_the_list(page, crm_stages):
    login_in_browser(page, "sales1")
    page.locator("#mainnav").get_by_role("link", name="客户").click()
    page.wait_for_url("**/customers")
    page.click("#new-record")
    # Submitting without a name shows the field's message and keeps what was typed.
    page.fill("#f-province", "福建")
    page.fill("#f-registered_capital", "很多")
    page.click("#record-form button[type=submit]")
    assert page.locator('[data-error-for="name"]').is_visible()
    assert page.locator('[data-error-for="registered_capital"]').inner_text() == "必须是数字。"
    assert page.input_value("#f-province") == "福建"
    screenshot(page, "crm-customer-form-errors")
    page.fill("#f-name", "厦门海鑫科技有限公司")
    page.fill("#f-city", "厦门")
    page.fill("#f-registered_capital", "12000000")
    page.select_option("#f-customer_class", "A")
    page.click("#record-form button[type=submit]")
    page.wait_for_url("**/crm/customer/*")
    assert page.locator("h1").inner_text().startswith("厦门海鑫科技有限公司")
    assert page.locator("#assignment-log").is_visible()
    page.goto("/customers")
    page.fill("#q", "海鑫")
    page.click("form[role=search] button[type=submit]")
    row = page.locator("#records tbody tr").first
    assert "厦门海鑫科技有限公司" in row.inner_text() and "福建" in row.inner_text()
    screenshot(page, "crm-customer-list")


def test_a_customer_beyond_the_select_is_found_by_typing(page, crm_stages, many_customers):
    login_in_browser(page, "sales1")
    page.goto("/crm/opportunity/new")
    assert page.locator(f"#f-customer_id option[value='{many_customers}']").count() == 0  # past the first ones
    page.fill("[data-customer-search='f-customer_id']", "龙岩")
    page.wait_for_selector(f"#f-customer_id option[value='{many_customers}']", state="attached")
    page.select_option("#f-customer_id", str(many_customers))
    page.fill("#f-title", "龙岩项目")
    screenshot(page, "crm-customer-search")
    page.click("#record-form button[type=submit]")
    page.wait_for_url("**/crm/opportunity/*")
    assert "龙岩最后一家有限公司" in page.locator("main").inner_text()


def test_a_refused_move_asks_for_what_the_stage_needs_and_then_moves(page, crm_stages, make_customer, api_as):
    customer = make_customer("sales1", name="杭州云杉医疗科技有限公司")
    api_as("sales1").post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "云杉审批改造"})
    login_in_browser(page, "sales1")
    page.set_viewport_size({"width": 1366, "height": 800})
    page.goto("/pipeline")
    last = page.locator(".pipeline-column").last.bounding_box()
    assert last["x"] + last["width"] <= 1366, last  # the six demo stages fit a laptop's screen
    card = page.locator(".pipeline-card", has_text="云杉审批改造")
    card.locator("select[name=stage]").select_option("negotiation")
    card.get_by_role("button").click()
    page.wait_for_load_state("networkidle")
    alert = page.locator(".alert-warning").inner_text()
    assert "商务谈判" in alert and "金额" in alert
    screenshot(page, "crm-pipeline-refused")
    # The deal's form, the stage chosen: filling what it needs and saving makes the move.
    assert page.locator("#f-stage").input_value() == "negotiation"
    assert page.locator("#f-amount.is-invalid").count() == 1
    page.fill("#f-amount", "90000")
    page.fill("#f-expected_close", "2026-12-31")
    page.locator("#record-form button[type=submit]").last.click()
    page.wait_for_load_state("networkidle")
    page.goto("/pipeline")
    negotiation = page.locator('.pipeline-column[data-stage="negotiation"]')
    assert negotiation.locator(".pipeline-card", has_text="云杉审批改造").count() == 1


def _log_in_on_the_login_page(page, username="sales1"):
    page.fill("#username", username)
    page.fill("#password", "demo1234")
    page.locator("main form button[type=submit]").last.click()


def test_typing_survives_a_session_that_ended_meanwhile(page, crm_stages, make_customer):
    from tests.helpers import logout_in_browser

    customer = make_customer("sales1")
    login_in_browser(page, "sales1")
    form = f"/crm/activity/new?customer_id={customer['id']}"
    page.goto(form)
    page.fill("#f-content", "客户说下月采购，需要报价")
    other = page.context.new_page()  # logged out in another tab
    other.goto("/")
    logout_in_browser(other)
    other.close()
    page.click("#record-form button[type=submit]")
    page.wait_for_url(lambda url: "/login?next=" in url)
    assert "会话已结束" in page.locator(".alert-warning").first.inner_text()
    _log_in_on_the_login_page(page)
    page.wait_for_url(lambda url: url.endswith(form))
    assert page.input_value("#f-content") == ""  # offered, not forced on the page
    assert "输入的内容尚未保存" in page.locator("#draft-found").inner_text()
    screenshot(page, "crm-form-draft-offered")
    page.locator("#draft-found").get_by_role("button", name="恢复").click()
    assert page.input_value("#f-content") == "客户说下月采购，需要报价"
    page.click("#record-form button[type=submit]")
    page.wait_for_url("**/crm/activity/*")
    page.goto(form)
    assert page.locator("#draft-found").count() == 0  # saved: the draft is gone

    # The browser restarted: the session cookie, and the form's token with it, are gone.
    page.fill("#f-content", "第二次拜访")
    page.context.clear_cookies()
    page.click("#record-form button[type=submit]")
    page.wait_for_url(lambda url: "/login?next=" in url)  # not a bare "CSRF token missing" page
    assert "会话已结束" in page.locator(".alert-warning").first.inner_text()
    _log_in_on_the_login_page(page)
    page.wait_for_url(lambda url: url.endswith(form))
    page.locator("#draft-found").get_by_role("button", name="恢复").click()
    assert page.input_value("#f-content") == "第二次拜访"


def test_a_merge_after_someone_elses_save_is_not_undone_by_the_draft(page, crm_stages, make_customer):
    """The merged form offered the draft typed before the save; restoring it put back the stale
    values over the other person's change, and the next save kept them."""
    customer = make_customer("sales1", name="合并客户", industry="医疗", city="厦门")
    login_in_browser(page, "sales1")
    form = f"/crm/customer/{customer['id']}/edit"
    page.goto(form)
    other = page.context.new_page()
    other.goto(form)
    other.fill("#f-industry", "制造")
    other.click("#record-form button[type=submit]")
    other.wait_for_url(f"**/crm/customer/{customer['id']}")
    other.close()
    page.fill("#f-city", "福州")
    page.click("#record-form button[type=submit]")
    page.wait_for_selector("#record-form")
    assert page.input_value("#f-industry") == "制造" and page.input_value("#f-city") == "福州"
    assert page.locator("#draft-found").count() == 0
    page.click("#record-form button[type=submit]")
    page.wait_for_url(f"**/crm/customer/{customer['id']}")
    page.goto(form)
    assert (page.input_value("#f-industry"), page.input_value("#f-city")) == ("制造", "福州")
    # A refused save shows what was typed; no draft is offered beside it.
    page.fill("#f-name", "")
    page.fill("#f-city", "泉州")
    page.click("#record-form button[type=submit]")
    page.wait_for_selector("#record-form .is-invalid")
    assert page.input_value("#f-city") == "泉州" and page.locator("#draft-found").count() == 0


def test_a_contracts_opportunities_follow_its_customer(page, crm_stages, make_customer, api_as):
    api = api_as("sales1")
    first, second = make_customer("sales1", name="甲公司"), make_customer("sales1", name="乙公司")
    mine = api.post("/api/v1/opportunities", json={"customer_id": first["id"], "title": "甲的单"}).get_json()
    theirs = api.post("/api/v1/opportunities", json={"customer_id": second["id"], "title": "乙的单"}).get_json()
    login_in_browser(page, "sales1")
    page.goto("/crm/contract/new")
    page.select_option("#f-opportunity_id", str(theirs["id"]))
    page.select_option("#f-customer_id", str(first["id"]))
    assert page.input_value("#f-opportunity_id") == ""  # the other customer's deal is no longer chosen
    offered = page.eval_on_selector_all("#f-opportunity_id option:not([hidden])", "os => os.map(o => o.value)")
    assert offered == ["", str(mine["id"])]


def test_deleting_a_stage_asks_first(page, crm_stages):
    login_in_browser(page, "admin")
    page.goto("/admin/crm/stages")
    delete = page.locator("button[value=delete]").last
    before = page.locator("button[value=delete]").count()
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    delete.click()
    page.wait_for_timeout(300)
    assert asked and asked[0].startswith("删除阶段“")
    assert page.locator("button[value=delete]").count() == before  # nothing deleted
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    page.wait_for_selector(".alert-success")
    assert page.locator("button[value=delete]").count() == before - 1


def test_back_then_save_again_adds_no_second_customer(page, crm_stages, api_as):
    """A browser that reloads the form on Back (this one keeps no back/forward cache) filled in
    the name again, and Save made a second customer, and a second report."""
    login_in_browser(page, "sales1")
    page.goto("/crm/customer/new")
    page.fill("#f-name", "返回重提客户")
    page.click("#record-form button[type=submit]")
    page.wait_for_url(re.compile(r"/crm/customer/\d+$"))
    page.go_back()
    page.wait_for_selector("#record-form")
    if not page.input_value("#f-name"):
        page.fill("#f-name", "返回重提客户")
    page.click("#record-form button[type=submit]")
    page.wait_for_url(re.compile(r"/crm/customer/\d+$"))
    assert "此表单已保存过" in page.locator("main").inner_text()
    names = [c["name"] for c in api_as("sales1").get("/api/v1/customers").get_json()["items"]]
    assert names.count("返回重提客户") == 1


def test_the_keyboard_neither_switches_the_language_by_an_arrow_nor_loses_a_refused_field(page, crm_stages):
    """ArrowDown on 语言 switched the whole interface to English at once; a refused save left the
    focus at the top of the page, its fields' messages tied to nothing."""
    login_in_browser(page, "sales1")
    page.goto("/crm/customer/new")
    language = page.locator("select[name=locale][data-autosubmit]")
    language.focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.lang").startswith("zh")  # not applied yet
    page.keyboard.press("Tab")  # nor on leaving it (a change of context nobody asked for)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.lang").startswith("zh")
    assert page.evaluate("document.activeElement.textContent.trim()") == "切换"  # its button, shown on focus
    language.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.documentElement.lang.startsWith('en')")
    language = page.locator("select[name=locale][data-autosubmit]")
    language.select_option("zh_CN")  # by the mouse: at once
    page.wait_for_function("document.documentElement.lang.startsWith('zh')")

    page.goto("/crm/customer/new")
    page.fill("#f-registered_capital", "很多")
    page.click("#record-form button[type=submit]")
    page.wait_for_selector("#record-form [aria-invalid=true]")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "f-name"  # the first refused field
    described = page.get_attribute("#f-registered_capital", "aria-describedby")
    assert described and "数字" in page.locator(f"#{described.split()[-1]}").inner_text()


def test_enter_in_the_lost_reason_marks_the_deal_lost_not_won(page, crm_stages, make_customer, api_as):
    """Enter in a form presses its first button: with 赢单 and 输单 in one form, a reason typed
    and Enter won the deal (its contract rule drafted a contract) and dropped the reason."""
    customer = make_customer("sales1", name="榕城软件有限公司")
    deal = api_as("sales1").post("/api/v1/opportunities", json={"customer_id": customer["id"], "title": "移动端二期",
                                                                 "amount": "300000"}).get_json()
    login_in_browser(page, "sales1")
    page.goto(f"/crm/opportunity/{deal['id']}")
    page.fill("#lost-reason", "客户决定自研")
    page.press("#lost-reason", "Enter")
    page.wait_for_load_state("networkidle")
    closed = api_as("sales1").get(f"/api/v1/opportunities/{deal['id']}").get_json()
    assert (closed["status"], closed["lost_reason"]) == ("lost", "客户决定自研")
    page.locator("#open-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert api_as("sales1").get(f"/api/v1/opportunities/{deal['id']}").get_json()["status"] == "open"
