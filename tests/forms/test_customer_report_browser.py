"""Acceptance in the browser: sales1 adds a Fujian customer → the bound customer report starts →
fj_head approves it from the inbox with the data read-only and a duplicate warning → sales1
sees "approved" under My submissions. Screenshots in test-artifacts/."""
import re

import pytest

from tests.helpers import login_in_browser, logout_in_browser, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_flow(demo_flow, app):
    """The shared demo flow, and sales2 already has this customer (same credit code): the
    approver must see it."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.extensions import db

    with app.test_request_context():
        crm.create("customer", {"name": "海沧医疗器械", "credit_code": "91350200MA2Y0000XD"}, get_user("sales2"))
        db.session.commit()


def test_sales_adds_a_fujian_customer_and_the_fujian_head_approves(page, demo_flow):
    login_in_browser(page, "sales1")
    page.goto("/crm/customer/new")
    page.fill("#f-name", "厦门海沧医疗器械有限公司")
    page.fill("#f-province", "福建")
    page.fill("#f-city", "厦门")
    page.fill("#f-industry", "制造")
    page.fill("#f-credit_code", "91350200MA2Y0000XD")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/crm/customer/\d+$"))
    logout_in_browser(page)

    login_in_browser(page, "fj_head")
    page.goto("/inbox")
    row = page.locator("tr[data-task-id]").filter(has_text="厦门海沧医疗器械有限公司")
    assert row.count() == 1
    row.locator("a").first.click()
    page.wait_for_selector("#task-form[data-ready=true]")
    for label, value in (("客户名称", "厦门海沧医疗器械有限公司"), ("省份", "福建"), ("负责人", "销售一 Sales One")):
        field = page.get_by_label(label, exact=True)
        # A reference (the owner) shows as a read-only select of the person's name.
        group = field.locator("xpath=ancestor::div[contains(@class, 'fjs-input-group')]")
        held = "readonly" in (group.get_attribute("class") or "") if group.count() else not field.is_editable()
        assert field.input_value() == value and held, label
    assert "撞单" in page.locator("#duplicates").inner_text()
    if page.locator("#claim-button").count():
        page.click("#claim-button")
        page.wait_for_selector("#complete-button")
    page.get_by_label("驳回").check()
    page.click("#complete-button")  # no comment: the server refuses it under the field
    page.wait_for_selector(".fjs-form-field-error")
    assert "此字段为必填项" in page.locator("#task-form").inner_text()
    page.get_by_label("同意报备").check()
    page.get_by_label("审批意见").fill("核实无误，归属销售一")
    screenshot(page, "customer-report-approver")
    page.click("#complete-button")
    page.wait_for_url(re.compile(r"/inbox\?completed=\d+$"))
    logout_in_browser(page)

    login_in_browser(page, "sales1")
    page.goto("/my-submissions")
    row = page.locator("#submissions tr[data-instance-id]").filter(has_text="厦门海沧医疗器械有限公司")
    assert row.get_attribute("data-status") == "completed"
    assert row.locator("[data-outcome]").inner_text() == "报备通过"
    screenshot(page, "customer-report-my-submissions")
