"""The login page in headless Chromium: Chinese by default, English after switching."""
import pytest
from playwright.sync_api import expect

from tests.helpers import login_in_browser, screenshot

pytestmark = pytest.mark.browser


def test_admin_logs_in_in_chinese_then_switches_to_english(page, demo_people):
    page.goto("/login")
    assert page.locator("h1").inner_text() == "登录"
    login_in_browser(page, "admin")
    assert page.locator("#current-user").inner_text().startswith("系统管理员")
    page.locator("#manage-menu").click()  # designers' and admins' tools share one menu
    assert page.locator("#mainnav").get_by_role("link", name="系统管理").is_visible()
    screenshot(page, "home-zh")
    page.select_option("select[name=locale]", "en")
    page.wait_for_load_state("networkidle")
    page.locator("#manage-menu").click()
    assert page.locator("#mainnav").get_by_role("link", name="Admin").is_visible()
    # The whole bar stays on one line at a laptop width (no label broken over two lines).
    heights = page.locator("#mainnav .nav-link").evaluate_all("links => links.map(l => l.getBoundingClientRect().height)")
    assert max(heights) < 50
    assert page.locator("h1").inner_text().startswith("Welcome")
    screenshot(page, "home-en")


def test_an_admins_english_bar_fits_a_laptop_screen(page, demo_people):
    """From 1,200 px (where the bar unfolds) the admin has the most menu entries, and English
    labels are the longest: the bar still fits, with Log out in the user's menu."""
    page.set_viewport_size({"width": 1366, "height": 700})
    login_in_browser(page, "admin")
    page.select_option("select[name=locale]", "en")
    page.wait_for_load_state("networkidle")
    for width in (1200, 1280, 1366):
        page.set_viewport_size({"width": width, "height": 700})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
        assert page.locator("#mainnav").get_by_role("link", name="Inbox").is_visible()  # not folded
    page.locator("#current-user").click()
    screenshot(page, "navbar-admin-en-1366")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: "/login" in url)


def test_the_bar_folds_into_a_menu_on_a_narrow_screen(page, demo_people):
    """At 1,024 px the manager's English bar does not fit on one line: it folds behind the
    menu button instead of running off the right edge."""
    page.set_viewport_size({"width": 1024, "height": 700})
    page.goto("/login")
    login_in_browser(page, "manager")
    page.locator(".navbar-toggler").click()  # the language switch sits in the folded menu too
    page.select_option("select[name=locale]", "en")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not page.locator("#mainnav").get_by_role("link", name="Inbox").is_visible()
    page.locator(".navbar-toggler").click()
    expect(page.locator("#mainnav").get_by_role("link", name="Inbox")).to_be_visible()
    expect(page.locator("#current-user")).to_be_visible()
    screenshot(page, "navbar-folded-en")


def test_wrong_password_in_browser(page, demo_people):
    page.goto("/login")
    page.fill("#username", "admin")
    page.fill("#password", "wrong-password")
    page.click("main button[type=submit]")
    refused = page.locator(".alert", has_text="用户名或密码错误")
    refused.wait_for()  # the answer to the post, not the page before it
    # Bootstrap CSS was loaded from our own build (no CDN): the alert is styled.
    color = refused.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "transparent")


def test_admin_pages_fit_a_small_laptop_screen(page, app):
    """At 1,024 px no admin page is wider than the screen (the audit log's rule details were)."""
    from app.auth.services import get_user
    from app.automation.services import set_webhook_allowlist
    from app.cli import run_demo
    from app.extensions import db

    with app.app_context():
        run_demo()  # demo rules, forms and processes: their audit rows carry long details
        # An audit row whose details hold a long host name (no place to break a line).
        set_webhook_allowlist(["crm-webhook-receiver.internal.example-trading-company.cn"], get_user("admin"))
        db.session.remove()
    page.set_viewport_size({"width": 1024, "height": 700})
    login_in_browser(page, "admin")
    page.locator(".navbar-toggler").click()
    page.select_option("select[name=locale]", "en")  # the longer labels
    page.wait_for_load_state("networkidle")
    for path in ("/admin/audit", "/admin/users", "/admin/groups", "/automation/", "/automation/runs", "/operator",
                 "/designer", "/forms", "/reports", "/admin/crm/fields", "/customers", "/inbox"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        # Neither the page nor a table in it runs past the edge (a table inside the centred
        # container can overflow it before the page scrolls sideways).
        overflow = page.evaluate("""() => {
            const edge = document.querySelector('main').getBoundingClientRect().right;
            return [document.documentElement.scrollWidth - window.innerWidth,
                    ...[...document.querySelectorAll('main table')].map((t) => t.getBoundingClientRect().right - edge)];
        }""")
        assert max(overflow) <= 0, (path, overflow)


ADMIN_PAGES = ["/admin/users", "/admin/groups", "/admin/crm/stages", "/admin/crm/fields", "/automation/",
               "/automation/runs", "/forms/", "/forms/bindings", "/designer/", "/reports/people", "/admin/jobs",
               "/admin/audit", "/operator"]


def test_admin_pages_do_not_scroll_sideways_on_a_phone(page, demo_people):
    """Their tables scroll within themselves; the page, its bar and its buttons stay on screen."""
    page.set_viewport_size({"width": 390, "height": 844})
    login_in_browser(page, "admin")
    wide = {}
    for url in ADMIN_PAGES:
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[url] = width
    assert wide == {}


def test_a_long_name_shows_whole_in_the_bar_on_a_laptop(page, demo_people):
    page.set_viewport_size({"width": 1366, "height": 700})
    login_in_browser(page, "manager")  # 销售经理 Sales Manager
    assert page.eval_on_selector("#current-user", "b => b.scrollWidth <= b.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_editor_saves_after_signing_in_again_in_another_tab(page, demo_people):
    """The rule editor, form designer and modeler kept the old session's CSRF token: after
    signing in again elsewhere their save said "reload the page", which threw the work away."""
    login_in_browser(page, "admin")
    page.goto("/notifications")
    page.context.clear_cookies()  # the session expired (or the browser dropped its cookie)
    other = page.context.new_page()
    ended = page.evaluate("() => window.crmFetch('/api/v1/notifications/read-all', {method: 'POST'})"
                          ".then(() => 'saved', (e) => e.message)")
    assert "会话已结束" in ended and "另一个标签页重新登录" in ended
    login_in_browser(other, "admin")
    saved = page.evaluate("() => window.crmFetch('/api/v1/notifications/read-all', {method: 'POST'})"
                          ".then(() => 'saved', (e) => e.code + ': ' + e.message)")
    assert saved == "saved"
