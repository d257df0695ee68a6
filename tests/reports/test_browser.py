"""The reports in headless Chromium with the known histories: charts draw (canvas not blank),
the diagram gets its heat overlay, settings save. Screenshots go to test-artifacts/."""
from __future__ import annotations

import pytest

from tests.helpers import login_in_browser, screenshot

from .histories import FIRST, LAST, build_histories, build_runs

pytestmark = pytest.mark.browser
PERIOD = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"

# Some pixel of the canvas is not transparent: the chart drew something.
CANVAS_DRAWN = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }"""

RGB = "e => getComputedStyle(e).backgroundColor.match(/\\d+/g).slice(0, 2).map(Number)"


@pytest.fixture
def histories(app, demo_people):
    from app.extensions import db

    with app.app_context():
        build_histories()
        ids = build_runs()
        db.session.remove()
    return ids


def test_process_report_charts_and_heat_overlay(page, histories):
    login_in_browser(page, "admin")
    page.goto(f"/reports/processes?process=customer_report&{PERIOD}")
    assert page.locator("#mainnav").get_by_role("link", name="报表").is_visible()
    for chart in ("#chart-weekly", "#chart-steps"):
        page.wait_for_selector(f"{chart}[data-ready=true]")
        assert page.locator(chart).evaluate(CANVAS_DRAWN) > 500, chart
        assert page.locator(chart).get_attribute("data-time-unit") == "小时", chart  # steps of hours
    page.wait_for_selector("#heat-canvas[data-ready=true]")
    assert page.locator("#heat-canvas").get_attribute("data-overlays") == "4"  # the four approval steps
    manager = page.locator(".heat-box[data-step=Task_manager_review]")
    assert manager.is_visible() and "heat-bottleneck" in manager.get_attribute("class")
    assert manager.inner_text() == "6.0 小时"  # median time in step: 21,600 s
    # the slowest step is red, a step a quarter as slow more green than red
    red, green = manager.evaluate(RGB)
    assert red > 200 and green < 40
    red, green = page.locator(".heat-box[data-step=Task_fujian_review]").evaluate(RGB)
    assert green > 200 and red < green
    assert page.locator(".bjs-powered-by").is_visible()  # bpmn.io's watermark stays visible
    row = page.locator("#steps-table tr[data-step=Task_manager_review]")
    assert "瓶颈" in row.inner_text()
    assert page.locator("[data-figure=started]").inner_text() == "9"
    # A duration and its unit stay on one line ("3 / min" broke apart in English).
    assert row.locator("td").evaluate_all(
        "tds => tds.filter(td => td.innerText.includes(' / ')).map(td => getComputedStyle(td).whiteSpace)") == ["nowrap"] * 3
    screenshot(page, "reports-process")
    # On a phone a step's name kept a readable width (it stood one character a line: 福/建/区/域),
    # and the process console did not widen the page (its hidden "Actions" heading escaped).
    page.set_viewport_size({"width": 390, "height": 844})
    assert row.locator("td").first.bounding_box()["width"] >= 140
    page.goto("/operator")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_people_and_automation_reports(page, histories):
    login_in_browser(page, "admin")
    page.goto(f"/reports/people?{PERIOD}")
    page.wait_for_selector("#chart-people[data-ready=true]")
    assert page.locator("#chart-people").evaluate(CANVAS_DRAWN) > 500
    assert "table-warning" in page.locator("#people-table tr[data-person=med_reviewer]").get_attribute("class")
    screenshot(page, "reports-people")

    page.goto(f"/reports/automation?{PERIOD}")
    page.wait_for_selector("#chart-automation[data-ready=true]")
    row = page.locator(f"#rules-table tr[data-rule='{histories['r2']}']")
    row.locator("input[name='0']").fill("30")
    row.locator("button[type=submit]").click()
    # Saved, the figures follow at once (no reload by hand) and the page says it saved.
    page.wait_for_selector("#done-message")
    assert page.locator("#done-message").inner_text() == "已保存。"
    assert row.locator("input[name='0']").input_value() == "30"  # not 30.0
    page.wait_for_selector("#chart-automation[data-ready=true]")
    assert page.locator("#chart-automation").evaluate(CANVAS_DRAWN) > 500
    assert page.locator(f"#rules-table tr[data-rule='{histories['r2']}'] [data-figure=hours_saved]").inner_text() == "1.0"
    screenshot(page, "reports-automation")


def test_manager_sees_only_the_people_and_sales_reports(page, histories):
    login_in_browser(page, "manager")
    page.goto("/reports/")
    page.wait_for_url("**/reports/people")
    assert page.locator(".nav-tabs .nav-link").all_inner_texts() == ["人员报表", "销售报表"]


def test_reports_on_the_demo_data(app, page):
    """``flask demo`` (one customer report waiting for the Fujian head): the reports render."""
    from app.cli import run_demo
    from app.extensions import db

    with app.test_request_context():
        run_demo()
        db.session.remove()
    login_in_browser(page, "admin")
    page.locator("#mainnav").get_by_role("link", name="报表", exact=True).click()
    page.wait_for_url("**/reports/processes")
    page.wait_for_selector("#chart-weekly[data-ready=true]")
    assert page.locator("#chart-weekly").evaluate(CANVAS_DRAWN) > 500
    assert page.locator("[data-figure=started]").inner_text() == "1"
    page.wait_for_selector("#heat-canvas[data-ready=true]")
    assert page.locator("#heat-canvas").get_attribute("data-overlays") == "4"
    assert page.locator("#steps-table tr[data-step=Task_fujian_review] td").nth(2).inner_text() == "1"  # open
    screenshot(page, "reports-demo")


def test_a_chart_of_minutes_long_steps_reads_in_minutes(page, app, demo_people):
    from datetime import timedelta

    from app.extensions import db

    from .histories import MANAGER, T0, Builder

    with app.app_context():
        builder = Builder()
        for n in range(4):  # each approved within a few minutes: in hours all would read 0.0
            start = T0 + timedelta(days=n)
            inst = builder.instance(start, "completed", start + timedelta(minutes=6), decision="approve")
            builder.task(inst, MANAGER, start, start + timedelta(minutes=2), "manager", start + timedelta(minutes=5),
                         "manager")
        db.session.commit()
        db.session.remove()
    login_in_browser(page, "admin")
    page.goto(f"/reports/processes?process=customer_report&{PERIOD}")
    for chart in ("#chart-weekly", "#chart-steps"):
        page.wait_for_selector(f"{chart}[data-ready=true]")
        assert page.locator(chart).get_attribute("data-time-unit") == "分钟", chart
