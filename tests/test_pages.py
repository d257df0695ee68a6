"""Browser-facing pages: login, CSRF, admin access, language, health."""
import re
from pathlib import Path

import pytest

from app.cli import DEMO_PASSWORD


@pytest.fixture
def csrf_app(app):
    """The same app with CSRF checking on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield app
    app.config["WTF_CSRF_ENABLED"] = False


def _csrf_token(html: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html).group(1).decode()


def _login(client, username, password=DEMO_PASSWORD):
    page = client.get("/login")
    token = _csrf_token(page.data)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_login_page_renders_in_chinese_by_default(client):
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200
    assert "登录".encode() in page.data


def test_login_page_follows_an_english_browser(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert b"Log in" in page.data


def test_login_form_without_csrf_token_is_refused(csrf_app, demo_people):
    client = csrf_app.test_client()
    response = client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    # Refused; back to the login page with a word on why, not a bare 400.
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert client.get("/", follow_redirects=False).status_code == 302  # still logged out


def test_state_changing_page_post_without_csrf_is_refused(csrf_app, demo_people):
    client = csrf_app.test_client()
    assert _login(client, "admin").status_code == 302
    response = client.post("/admin/groups/new", data={"name": "sneaky"},
                           headers={"Referer": "http://localhost/admin/groups/new"})
    # Nothing done; back to the form (where a draft waits), with a word on why.
    assert response.status_code == 303 and response.headers["Location"] == "/admin/groups/new"
    assert "页面已过期，内容未保存" in client.get("/admin/groups/new").get_data(as_text=True)
    foreign = client.post("/admin/groups/new", data={"name": "sneaky"}, headers={"Referer": "http://evil.example/x"})
    assert foreign.headers["Location"] == "/"  # never back to another site
    # Cookie-authenticated API calls need the token too (header X-CSRFToken).
    response = client.post("/api/v1/groups", json={"name": "sneaky"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    token = _csrf_token(client.get("/admin/groups/new").data)
    ok = client.post("/api/v1/groups", json={"name": "not-sneaky"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 201


def test_login_and_logout(csrf_app, demo_people):
    client = csrf_app.test_client()
    response = _login(client, "admin")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = client.get("/")
    assert home.status_code == 200 and "系统管理员".encode() in home.data
    token = _csrf_token(home.data)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_a_logout_ends_the_session_wherever_its_cookie_was_copied(csrf_app, demo_people):
    """A session cookie copied before POST /logout, and a remember-me cookie, still opened the
    product after it (the latter for a year)."""
    client = csrf_app.test_client()
    page = client.get("/login")
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD, "remember": "y",
                                "csrf_token": _csrf_token(page.data)})
    cookies = {name: client.get_cookie(name).value for name in ("session", "remember_token") if client.get_cookie(name)}
    assert {"session", "remember_token"} <= set(cookies)
    home = client.get("/")
    assert home.status_code == 200
    other = csrf_app.test_client()  # another browser open at the same time stays logged in
    other.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD,
                               "csrf_token": _csrf_token(other.get("/login").data)})
    client.post("/logout", data={"csrf_token": _csrf_token(home.data)})
    for name in ("session", "remember_token"):
        thief = csrf_app.test_client()
        thief.set_cookie(name, cookies[name])
        assert thief.get("/customers").status_code == 302, name  # to the login page
    assert other.get("/customers").status_code == 200


def test_the_login_page_after_logging_out_keeps_the_language_chosen(csrf_app, demo_people):
    from app.auth.services import get_user
    from app.extensions import db

    with csrf_app.app_context():
        get_user("admin").locale = "en"  # chosen on another day: this session never switched
        db.session.commit()
    client = csrf_app.test_client()
    _login(client, "admin")
    home = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert b"Log out" in home.data
    client.post("/logout", data={"csrf_token": _csrf_token(home.data)})
    # A Chinese browser, yet the user had chosen English: the login page stays English.
    assert b"Log in" in client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).data
    assert "已经退出" not in client.get("/login").get_data(as_text=True)


def test_session_cookie_is_secure_over_https(csrf_app, demo_people):
    client = csrf_app.test_client()
    page = client.get("/login", base_url="https://localhost")
    token = _csrf_token(page.data)
    response = client.post("/login", base_url="https://localhost",
                           data={"username": "admin", "password": DEMO_PASSWORD, "csrf_token": token})
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_shows_message(client, demo_people):
    response = client.post("/login", data={"username": "admin", "password": "nope-nope"},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401
    assert "用户名或密码错误".encode() in response.data


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example/x",
                                    "/\t/evil.example/x", "/\nevil", "/customers\r\n"])  # a line break was a 500
def test_open_redirect_after_login_is_prevented(client, demo_people, target):
    from urllib.parse import quote

    response = client.post(f"/login?next={quote(target)}", data={"username": "admin", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_line_break_in_a_next_link_of_someone_signed_in_is_not_followed(client, demo_people):
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert client.get("/login?next=/%0aevil").headers["Location"] == "/"
    changed = client.post("/language", data={"locale": "en", "next": "/customers\n"})
    assert changed.status_code == 302 and changed.headers["Location"] != "/customers\n"


def test_non_admin_cannot_reach_admin_pages(client, demo_people):
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    for path in ("/admin/users", "/admin/groups", "/admin/audit", "/admin/users/new"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/groups/new", data={"name": "x"}).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert "/login?next=/admin/users" in response.headers["Location"]


def test_the_user_form_says_what_each_role_grants(client, demo_people):
    """Taking 销售 away from someone stopped nothing (records follow their owner, tasks their
    groups) while the form let the administrator think it did."""
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page = client.get("/admin/users/sales1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'aria-describedby="role-sales-hint"' in page
    assert "The customers they work on are the ones they own." in page
    assert "A role alone takes no records or tasks away" in page
    assert "待办按组分配" in client.get("/admin/users/new").get_data(as_text=True)


def test_an_administrator_sets_the_language_of_someone_who_has_not_signed_in(client, app, demo_people):
    """A new Singapore hire's first "new task" notices and e-mails came in Chinese: nobody could
    choose their language before they signed in once."""
    from app.auth.services import get_user
    from app.extensions import db
    from app.notifications.services import notify
    from flask_babel import lazy_gettext

    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    made = client.post("/admin/users/new", data={"username": "sg1", "display_name": "Tan Wei", "password": "good-pass-1",
                                                 "roles": ["approver"], "locale": "en"})
    assert made.status_code == 302
    with app.app_context():
        [row] = notify(get_user("sg1"), lazy_gettext("New task: %(task)s", task="Review"))
        db.session.commit()
        assert row.text == "New task: Review"
    page = client.get("/admin/users/sg1").get_data(as_text=True)
    assert '<option value="en" selected>English</option>' in page
    client.post("/admin/users/sg1", data={"display_name": "Tan Wei", "roles": ["approver"], "active": "y", "locale": ""})
    with app.app_context():
        assert get_user("sg1").locale is None


def test_a_stale_user_or_group_page_does_not_undo_another_administrators_save(client, app, demo_people):
    """Two tabs: one deactivated sales2 and took their roles; the other, loaded before, changed
    the e-mail, and sales2 was active with the roles again. A group's members came back the same way."""
    from app.auth.services import get_group, get_user

    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    stale = re.search(r'name="version" value="(\d+)"', client.get("/admin/users/sales2").get_data(as_text=True))[1]
    fresh = client.post("/admin/users/sales2", data={"display_name": "销售二", "version": stale})  # deactivated
    assert fresh.status_code == 302
    refused = client.post("/admin/users/sales2", data={"display_name": "销售二", "email": "s2@example.com",
                                                       "roles": ["sales"], "active": "y", "version": stale})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "另一位管理员" in page and 'value="s2@example.com"' in page
    with app.app_context():
        user = get_user("sales2")
        assert (user.active, user.role_names, user.email) == (False, set(), None)
        current = user.version
    assert f'name="version" value="{current}"' in page  # saving this page again applies it, knowingly
    # Roles alone (their own table) move the version too; the user signing in does not.
    stale = re.search(r'name="version" value="(\d+)"', client.get("/admin/users/sales1").get_data(as_text=True))[1]
    signed_in = app.test_client()
    signed_in.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD}, headers={"Accept-Language": "en"})
    assert client.post("/admin/users/sales1", data={"display_name": "销售一", "roles": ["sales", "approver"],
                                                   "active": "y", "version": stale}).status_code == 302
    refused = client.post("/admin/users/sales1", data={"display_name": "销售一改", "roles": ["sales"], "active": "y",
                                                       "version": stale})
    assert refused.status_code == 400
    with app.app_context():
        assert get_user("sales1").role_names == {"sales", "approver"} and get_user("sales1").reads_in == "en"
    stale = re.search(r'name="version" value="(\d+)"', client.get("/admin/groups/fujian-heads").get_data(as_text=True))[1]
    client.post("/admin/groups/fujian-heads", data={"display_name": "福建", "members": ["fj_head", "manager"],
                                                   "version": stale})
    refused = client.post("/admin/groups/fujian-heads", data={"display_name": "福建", "description": "新说明",
                                                             "members": ["fj_head"], "version": stale})
    assert refused.status_code == 400
    with app.app_context():
        assert sorted(get_group("fujian-heads").member_usernames) == ["fj_head", "manager"]


def test_admin_manages_users_and_groups_in_pages(client, demo_people):
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    response = client.post("/admin/users/new", data={"username": "xm1", "display_name": "厦门一", "password": "good-pass-1",
                                                      "roles": ["sales"], "groups": ["sales"]})
    assert response.status_code == 302
    assert "厦门一".encode() in client.get("/admin/users").data
    bad = client.post("/admin/users/new", data={"username": "xm2", "password": "short"})
    assert bad.status_code == 400
    response = client.post("/admin/groups/new", data={"name": "xiamen", "display_name": "厦门", "manager": "manager",
                                                       "members": ["xm1"]})
    assert response.status_code == 302
    assert b"xm1" in client.get("/admin/groups").data
    # Emptied by hand, as by deactivating its last member: the admin hears who can no longer claim.
    emptied = client.post("/admin/groups/xiamen", data={"display_name": "厦门", "manager": "manager"},
                          headers={"Accept-Language": "en"})
    assert emptied.status_code == 302 and emptied.headers["Location"].endswith("/admin/groups/xiamen")
    assert "厦门 has no active member any more" in client.get("/admin/groups/xiamen",
                                                            headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert client.post("/admin/groups/xiamen", data={"display_name": "厦门", "manager": "manager",
                                                     "members": ["xm1"]}).headers["Location"].endswith("/admin/groups")
    # Groups read by the names people gave them, not their keys.
    listed = client.get("/admin/users").get_data(as_text=True)
    assert re.search(r"<td>[^<]*厦门[^<]*</td>", listed) and not re.search(r"<td>[^<]*xiamen[^<]*</td>", listed)
    held = re.search(r"manager of ([^<]*)", client.get("/admin/users/manager", headers={"Accept-Language": "en"})
                     .get_data(as_text=True)).group(1)
    assert "厦门" in held and "xiamen" not in held
    # Deactivate: the user stays listed, marked deactivated. The admin stays on the user's page
    # (what is left to hand over) and hears that 厦门 now has nobody to claim its tasks.
    response = client.post("/admin/users/xm1", data={"display_name": "厦门一", "roles": ["sales"],
                                                      "groups": ["xiamen", "sales"]},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users/xm1")
    page = client.get("/admin/users/xm1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "厦门一 was the last active member of 厦门: tasks" in page  # not of sales, which has others
    audit = client.get("/admin/audit?event=user").data
    assert b"user.created" in audit and b"user.changed" in audit


def test_language_switch_is_remembered_for_the_user(client, demo_people):
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert "首页".encode() in client.get("/", headers={"Accept-Language": "zh-CN"}).data
    client.post("/language", data={"locale": "en", "next": "/"})
    assert b"Home" in client.get("/", headers={"Accept-Language": "zh-CN"}).data
    # Stored on the user: a new session (another browser) gets English too.
    other = client.application.test_client()
    other.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert b"Log out" in other.get("/", headers={"Accept-Language": "zh-CN"}).data


def test_the_language_the_login_page_was_read_in_is_what_the_worker_writes_in(client, demo_people):
    """The worker writes notices and import errors in the user's language: one who never chose
    one (an English browser, never the top bar's switch) had them in Chinese. Their browser's
    is not made their choice for good, though: a Chinese browser later reads Chinese."""
    from flask_babel import lazy_gettext

    from app.auth.services import get_user
    from app.extensions import db
    from app.notifications.services import notify

    def languages():
        with client.application.app_context():
            user = get_user("sales2")
            return user.locale, user.reads_in

    def told(text):
        with client.application.app_context():
            notify(get_user("sales2"), lazy_gettext(text))  # outside any request: the worker
            db.session.commit()

    client.post("/login", data={"username": "sales2", "password": DEMO_PASSWORD}, headers={"Accept-Language": "en-US"})
    assert languages() == (None, "en")
    told("You have been logged out.")
    assert "You have been logged out." in client.get("/notifications").get_data(as_text=True)
    other = client.application.test_client()
    other.post("/login", data={"username": "sales2", "password": DEMO_PASSWORD}, headers={"Accept-Language": "zh-CN"})
    assert "首页" in other.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert languages() == (None, "zh_CN")
    # Chosen on the login page, it is their choice: it wins over any browser, and is kept.
    third = client.application.test_client()
    third.post("/language", data={"locale": "en", "next": "/login"})
    third.post("/login", data={"username": "sales2", "password": DEMO_PASSWORD}, headers={"Accept-Language": "zh-CN"})
    assert "Home" in third.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert languages() == ("en", "en")


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example"])
def test_language_switch_ignores_foreign_redirects(client, target):
    response = client.post("/language", data={"locale": "en", "next": target})
    assert response.headers["Location"] == "/"


def test_healthz_reports_database_and_migrations(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "migrations": "ok"}


def test_security_headers_on_pages_and_api(client):
    page = client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert client.get("/api/v1/openapi.json").headers["Content-Security-Policy"] == csp


def test_navigation_shows_only_what_the_user_may_open(client, demo_people):
    from app.auth.services import get_group, update_group

    client.post("/login", data={"username": "fj_head", "password": DEMO_PASSWORD})
    html = client.get("/", headers={"Accept-Language": "en"}).data.decode()
    assert 'href="/reports' not in html  # an approver who manages no group
    with client.application.app_context():
        update_group(get_group("fujian-heads"), actor=None, manager="fj_head")
    html = client.get("/", headers={"Accept-Language": "en"}).data.decode()
    assert 'href="/reports' in html
    assert client.get("/reports/").status_code in (200, 302)


def test_a_trailing_slash_finds_the_page_too(app, demo_people):
    from app.cli import DEMO_PASSWORD

    client = app.test_client()
    assert client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD}).status_code == 302
    for url in ("/inbox/", "/customers/", "/designer", "/automation"):
        page = client.get(url, follow_redirects=True)
        assert page.status_code == 200 and page.request.path.rstrip("/") == url.rstrip("/"), url


def test_english_pages_spell_the_year_out(app, demo_people, api_as):
    """English 'short' dates were 12/4/26: which is the month, and which century?"""
    import re

    from app.cli import DEMO_PASSWORD

    customer = api_as("sales1").post("/api/v1/customers", json={"name": "日期客户"}).get_json()
    for locale, pattern in (("en", r"\b20\d\d-\d\d-\d\d \d\d:\d\d\b"), ("zh_CN", r"\b20\d\d-\d\d-\d\d \d\d:\d\d\b")):
        client = app.test_client()
        client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
        client.post("/language", data={"locale": locale, "next": "/"})
        html = client.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)  # "updated at"
        assert re.search(pattern, html), locale
        assert not re.search(r"\b\d{1,4}/\d{1,2}/\d{1,2}\b", html), locale  # one way on every page


def test_times_handed_to_pages_as_iso_text_show_in_company_time(app):
    """The binding runs, the automation report's last error and the designer's drafts showed
    UTC with a "UTC" suffix while every other page shows the company's time."""
    from flask_babel import force_locale

    from app.ui.views import datetimeformat

    with app.test_request_context(), force_locale("zh_CN"):
        assert datetimeformat("2026-12-04T18:03:36+00:00", "short") == "2026-12-05 02:03"  # as record pages
    with app.test_request_context(), force_locale("en"):
        assert datetimeformat("2026-12-04T18:03:36+00:00", "short") == "2026-12-05 02:03"
    for template in ("forms/_binding_runs.html", "reports/automation.html", "designer/index.html"):
        assert " UTC" not in (Path(app.root_path) / "templates" / template).read_text(encoding="utf-8"), template


def test_an_administrator_lifts_a_sign_in_lock(app, demo_people):
    person = app.test_client()
    person.environ_base["REMOTE_ADDR"] = "10.9.0.1"  # the address's own failures stay below its limit
    for _attempt in range(app.config["LOGIN_MAX_FAILURES"]):
        person.post("/login", data={"username": "med_reviewer", "password": "wrong"})
    assert person.post("/login", data={"username": "med_reviewer", "password": DEMO_PASSWORD}).status_code == 429
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page = admin.get("/admin/users/med_reviewer").get_data(as_text=True)
    assert 'id="sign-in-locked"' in page and "已锁定" in page
    assert admin.post("/admin/users/med_reviewer/unlock").status_code == 302
    assert 'id="sign-in-locked"' not in admin.get("/admin/users/med_reviewer").get_data(as_text=True)
    assert person.post("/login", data={"username": "med_reviewer", "password": DEMO_PASSWORD}).status_code == 302
    assert 'id="sign-in-locked"' not in admin.get("/admin/users/admin").get_data(as_text=True)


def test_a_password_reset_by_an_administrator_lifts_the_lock(app, demo_people):
    person = app.test_client()
    person.environ_base["REMOTE_ADDR"] = "10.9.0.2"
    for _attempt in range(app.config["LOGIN_MAX_FAILURES"]):
        person.post("/login", data={"username": "med_reviewer", "password": "wrong"})
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    saved = admin.post("/admin/users/med_reviewer", data={"display_name": "医疗行业审核", "active": "y",
                                                          "password": "Brand-new-2026", "roles": ["approver"]})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:300]
    assert person.post("/login", data={"username": "med_reviewer", "password": "Brand-new-2026"}).status_code == 302


def test_reactivating_an_account_lifts_the_lock_its_tries_while_deactivated_set(app, api_as):
    """Someone kept trying while deactivated; reactivated, they still read "too many failed
    sign-ins, try again in 14 minutes"."""
    admin = api_as("admin")
    assert admin.patch("/api/v1/users/med_reviewer", json={"active": False}).status_code == 200
    person = app.test_client()
    person.environ_base["REMOTE_ADDR"] = "10.9.0.3"
    for _attempt in range(app.config["LOGIN_MAX_FAILURES"] + 1):
        person.post("/login", data={"username": "med_reviewer", "password": DEMO_PASSWORD})
    assert admin.patch("/api/v1/users/med_reviewer", json={"active": True}).status_code == 200
    assert person.post("/login", data={"username": "med_reviewer", "password": DEMO_PASSWORD}).status_code == 302


def test_the_user_page_refuses_an_address_notices_could_not_reach(app, demo_people):
    """zhou@example was saved from the page (the API refused it)."""
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    refused = admin.post("/admin/users/sales2", data={"display_name": "销售二", "active": "y", "roles": ["sales"],
                                                      "email": "zhou@example"})
    assert refused.status_code == 400 and "不是有效的电子邮件地址" in refused.get_data(as_text=True)
    saved = admin.post("/admin/users/sales2", data={"display_name": "销售二", "active": "y", "roles": ["sales"],
                                                    "email": " zhou@example.com "})
    assert saved.status_code == 302


def test_error_pages_speak_the_readers_language(app, demo_people):
    client = app.test_client()
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    wrong_method = client.delete("/customers")
    assert wrong_method.status_code == 405
    page = wrong_method.get_data(as_text=True)
    assert "不能这样访问此地址" in page and "The method is not allowed" not in page


def test_a_deactivated_person_is_marked_in_groups_and_cannot_become_a_manager(app, api_as, demo_people):
    admin = api_as("admin")
    assert admin.patch("/api/v1/users/med_reviewer", json={"active": False}).status_code == 200
    refused = admin.patch("/api/v1/groups/fujian-heads", json={"manager": "med_reviewer"})
    assert refused.status_code == 400 and refused.get_json()["error"]["details"][0]["field"] == "manager"
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    listing = client.get("/admin/groups").get_data(as_text=True)
    row = listing.split('href="/admin/groups/medical-reviewers"')[1].split("</tr>")[0]
    assert "med_reviewer" in row and "已停用" in row
    api_as("admin").patch("/api/v1/groups/medical-reviewers", json={"parent": "sales"})
    listing = client.get("/admin/groups").get_data(as_text=True)
    row = listing.split('href="/admin/groups/medical-reviewers"')[1].split("</tr>")[0]
    assert row.split("<td data-parent>")[1].split("</td>")[0] != "—"  # the department above, by name
    form = client.get("/admin/groups/fujian-heads").get_data(as_text=True)
    manager = form.split('id="manager"')[1].split("</select>")[0]
    assert 'value="med_reviewer"' not in manager and 'value="manager"' in manager


def test_a_field_with_two_problems_shows_both(app, demo_people):
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page = client.post("/admin/users/new", data={"username": "shortpw", "password": "shortpw", "display_name": "短"})
    assert page.status_code == 400
    feedback = page.get_data(as_text=True).split('id="password"')[1].split("</div>")[0]
    assert "至少需要 8 个字符" in feedback and "用户名" in feedback
