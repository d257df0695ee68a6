"""API authentication: tokens, revocation, throttling (API.md "Auth")."""
import pytest

from app.cli import DEMO_PASSWORD


def login(client, username, password=DEMO_PASSWORD):
    return client.post("/api/v1/tokens", json={"username": username, "password": password})


def test_token_works_on_protected_endpoint(client, demo_people):
    response = login(client, "sales1")
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"] and "T" in body["expires_at"] and "+00:00" in body["expires_at"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["username"] == "sales1"
    assert me.get_json()["roles"] == ["sales"]


def test_protected_endpoint_without_token_is_401(client, demo_people):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "not_authenticated"


def test_wrong_password_is_401_in_error_format(client, demo_people):
    response = login(client, "sales1", "wrong-password")
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "invalid_credentials"
    assert error["message"]
    assert error["details"] == []


def test_unknown_user_is_401_like_wrong_password(client, demo_people):
    response = login(client, "nobody", "whatever12")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_credentials"


def test_repeated_failures_are_throttled_even_with_right_password(client, demo_people, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, "sales2", "wrong-password").status_code == 401
    locked = login(client, "sales2")
    assert locked.status_code == 429
    assert locked.get_json()["error"]["code"] == "too_many_requests"
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.get_json()["error"]["message"].startswith("该账号登录失败次数过多")
    # Another user is not affected.
    assert login(client, "sales1").status_code == 201


def test_an_address_with_many_failures_is_told_it_is_the_network(client, demo_people, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_IP_MAX_FAILURES", 3)  # the app outlives this test
    for name in ("ghost1", "ghost2", "ghost3"):  # someone else's failures from the same address
        login(client, name, "wrong-password")
    held = login(client, "manager")
    assert held.status_code == 429
    assert held.get_json()["error"]["message"].startswith("您所在网络的登录失败次数过多")


def test_lockout_ends_after_the_lockout_period(client, demo_people, app):
    from datetime import timedelta

    from app.auth.models import LoginAttempt
    from app.extensions import db

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        login(client, "sales2", "wrong-password")
    assert login(client, "sales2").status_code == 429
    with app.app_context():
        for attempt in db.session.query(LoginAttempt).filter_by(username="sales2"):
            attempt.at = attempt.at - timedelta(seconds=app.config["LOGIN_LOCKOUT_SECONDS"] + 1)
        db.session.commit()
    assert login(client, "sales2").status_code == 201


def test_revoked_token_is_refused(client, demo_people):
    token = login(client, "sales1").get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_expired_token_is_refused(client, demo_people, app):
    from datetime import timedelta

    from app.auth.models import ApiToken
    from app.db import utcnow
    from app.extensions import db

    token = login(client, "sales1").get_json()["token"]
    with app.app_context():
        for row in db.session.query(ApiToken):
            row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_is_stored_hashed(client, demo_people, app):
    from app.auth.models import ApiToken
    from app.extensions import db

    token = login(client, "sales1").get_json()["token"]
    with app.app_context():
        stored = [row.token_hash for row in db.session.query(ApiToken)]
    assert stored and token not in stored


def test_deactivated_user_cannot_log_in_and_tokens_stop(client, demo_people, api_as):
    token = login(client, "sales2").get_json()["token"]
    admin = api_as("admin")
    response = admin.patch("/api/v1/users/sales2", json={"active": False})
    assert response.status_code == 200, response.get_json()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    refused = login(client, "sales2")
    # The right password is told why (not "wrong password", which sends people to reset it);
    # a wrong one learns nothing about the account.
    assert refused.status_code == 401 and "已停用" in refused.get_json()["error"]["message"]
    assert "已停用" not in login(client, "sales2", "wrong-password").get_json()["error"]["message"]
    # The user still exists (records and tasks keep their owner).
    assert admin.get("/api/v1/users/sales2").get_json()["active"] is False


def test_login_events_are_audited(client, demo_people, app):
    from app.audit import AuditEvent
    from app.extensions import db

    login(client, "sales1", "wrong-password")
    login(client, "sales1")
    with app.app_context():
        events = [e.event for e in db.session.query(AuditEvent).filter_by(actor_name="sales1").order_by(AuditEvent.id)]
    assert events[-3:] == ["login.failure", "login.success", "token.created"]


def test_other_systems_get_a_token_with_csrf_protection_on(app, client, demo_people):
    """In production CSRF is on: a client without a session must still log in for a token."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = login(client, "sales1")
        assert response.status_code == 201, response.get_json()
        token = response.get_json()["token"]
        created = client.post("/api/v1/customers", json={"name": "CSRF 检查"},
                              headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.get_json()
        assert "Set-Cookie" not in response.headers
        # No credential at all: 401 with how to authenticate, not a CSRF complaint.
        for method in ("post", "patch", "delete"):
            anonymous = getattr(app.test_client(), method)("/api/v1/customers/1", json={})
            assert anonymous.status_code in (401, 405), (method, anonymous.get_json())
        anonymous = app.test_client().post("/api/v1/customers", json={"name": "x"}, headers={"Accept-Language": "en"})
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert anonymous.get_json()["error"]["message"] == "Authentication required: send a bearer token."
        in_chinese = app.test_client().post("/api/v1/customers", json={"name": "x"}, headers={"Accept-Language": "zh-CN"})
        assert in_chinese.get_json()["error"]["message"] == "需要身份验证：请发送 Bearer 令牌。"
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_a_password_reset_ends_sessions_and_tokens(app, client, demo_people, api_as):
    token = login(client, "sales2").get_json()["token"]
    browser = app.test_client()
    assert browser.post("/login", data={"username": "sales2", "password": DEMO_PASSWORD}).status_code == 302
    assert browser.get("/customers").status_code == 200
    reset = api_as("admin").patch("/api/v1/users/sales2", json={"password": "Another-Secret-2026"})
    assert reset.status_code == 200, reset.get_json()
    assert browser.get("/customers").status_code == 302  # back to the login page
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    fresh = app.test_client()
    assert fresh.post("/login", data={"username": "sales2", "password": "Another-Secret-2026"}).status_code == 302
    assert fresh.get("/customers").status_code == 200


def test_the_last_active_administrator_stays_one(client, demo_people, api_as):
    admin = api_as("admin")
    for change, field in (({"roles": ["sales"]}, "roles"), ({"active": False}, "active")):
        refused = admin.patch("/api/v1/users/admin", json=change)
        assert refused.status_code in (400, 409), refused.get_json()
        assert refused.get_json()["error"]["details"][0]["field"] == field
    assert "admin" in admin.get("/api/v1/users/admin").get_json()["roles"]
    assert admin.post("/api/v1/users", json={"username": "admin2", "display_name": "Second", "password": DEMO_PASSWORD,
                                              "roles": ["admin"]}).status_code == 201
    assert admin.patch("/api/v1/users/admin", json={"roles": ["designer"]}).status_code == 200  # someone else is
    assert api_as("admin2").patch("/api/v1/users/admin2", json={"roles": []}).get_json()["error"]["code"] == "last_admin"


def test_guessing_the_current_password_on_the_change_form_counts_as_failed_logins(app, demo_people, api_as):
    """72 wrong guesses were answered 400 each, none audited, then the right one was accepted."""
    page = app.test_client()
    page.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    for guess in range(app.config["LOGIN_MAX_FAILURES"]):
        wrong = page.post("/account/password", data={"current": f"guess-{guess}", "password": "Brand-New-2026",
                                                     "confirm": "Brand-New-2026"})
        assert wrong.status_code == 400
    right = page.post("/account/password", data={"current": DEMO_PASSWORD, "password": "Brand-New-2026",
                                                 "confirm": "Brand-New-2026"})
    assert right.status_code == 429 and "再试" in right.get_data(as_text=True)
    elsewhere = app.test_client().post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    assert elsewhere.status_code == 429  # the account's lock, as after failed sign-ins
    failures = api_as("admin").get("/api/v1/audit-events?event=login.failure").get_json()["items"]
    assert len([f for f in failures if f["target"] == "sales1"]) == app.config["LOGIN_MAX_FAILURES"]
    locked = api_as("admin").get("/api/v1/audit-events?event=login.locked").get_json()["items"]
    assert any(e["target"] == "sales1" and e["details"].get("via") == "password_change" for e in locked)


def test_the_last_two_administrators_deactivating_each_other_at_once_leave_one(app, demo_people, api_as):
    """Both PATCHes answered 200 and no active administrator was left."""
    import threading

    from app.auth.services import get_user, update_user
    from app.extensions import db

    assert api_as("admin").post("/api/v1/users", json={"username": "adm1", "display_name": "Second",
                                                       "password": DEMO_PASSWORD, "roles": ["admin"]}).status_code == 201
    barrier = threading.Barrier(2, timeout=10)
    outcomes = {}

    def deactivate(actor, target):
        with app.app_context():
            try:
                user, by = get_user(target), get_user(actor)
                barrier.wait()
                update_user(user, actor=by, active=False)
                outcomes[actor] = "done"
            except Exception as error:  # noqa: BLE001 - the refusal, or what a lock wait raised
                outcomes[actor] = getattr(error, "code", type(error).__name__)
            finally:
                db.session.rollback()
                db.session.remove()

    threads = [threading.Thread(target=deactivate, args=pair) for pair in (("admin", "adm1"), ("adm1", "admin"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values())[0] == "done" and "done" in outcomes.values()
    with app.app_context():
        assert [get_user(name).active for name in ("admin", "adm1")].count(True) == 1, outcomes
        db.session.remove()


def test_users_change_their_own_password(app, client, demo_people):
    token = login(client, "sales1").get_json()["token"]
    other = app.test_client()
    other.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    me = app.test_client()
    me.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    assert "修改密码" in me.get("/").get_data(as_text=True)  # in the user's menu
    wrong = me.post("/account/password", data={"current": "nope", "password": "New-secret-2026",
                                               "confirm": "New-secret-2026"})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    weak = me.post("/account/password", data={"current": DEMO_PASSWORD, "password": "123", "confirm": "123"})
    assert weak.status_code == 400
    typo = me.post("/account/password", data={"current": DEMO_PASSWORD, "password": "New-secret-2026",
                                              "confirm": "New-secret-2062"})  # would have locked them out
    assert typo.status_code == 400 and "两次输入的新密码不一致" in typo.get_data(as_text=True)
    assert login(client, "sales1").status_code == 201  # unchanged
    done = me.post("/account/password", data={"current": DEMO_PASSWORD, "password": "New-secret-2026",
                                              "confirm": "New-secret-2026"})
    assert done.status_code == 302
    assert me.get("/customers").status_code == 200  # this session goes on
    assert other.get("/customers").status_code == 302  # the others end
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client, "sales1", "New-secret-2026").status_code == 201


def test_create_admin_says_what_is_wrong_without_a_traceback(app, demo_people):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["create-admin", "itadmin", "--password", "short"])
    assert weak.exit_code == 1 and "Traceback" not in weak.output
    assert "密码至少需要 8 个字符" in weak.output and weak.output.startswith("Error: ")
    taken = runner.invoke(args=["create-admin", "admin", "--password", "Long-enough-2026"])
    assert taken.exit_code == 1 and "admin" in taken.output and "Traceback" not in taken.output
    assert taken.output.count("。") == 1, taken.output  # said once ("…已存在。 该名称已被占用。")
    made = runner.invoke(args=["create-admin", "itadmin", "--password", "Long-enough-2026"])
    # Said in the language its refusals are (it was English beside Chinese errors).
    assert made.exit_code == 0 and "已创建管理员 itadmin。" in made.output
    # A fresh install gets the usual pipeline, or nobody could add an opportunity.
    assert "已添加 初步接触" in made.output
    with app.app_context():
        from app.crm.services import stages
        assert [s.key for s in stages()][0] == "initial_contact"
    again = runner.invoke(args=["create-admin", "itadmin2", "--password", "Long-enough-2026"])
    assert again.exit_code == 0 and "已添加" not in again.output  # stages there: left alone
    # Asked for in the company's language when not given (it asked "Password:" in English).
    asked = runner.invoke(args=["create-admin", "itadmin3"], input="Long-enough-2026\nLong-enough-2026\n")
    assert asked.exit_code == 0 and "密码" in asked.output and "再次输入密码" in asked.output, asked.output


def test_an_administrator_sees_and_revokes_a_users_api_tokens(app, client, demo_people):
    token = login(client, "sales1").get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page = admin.get("/admin/users/sales1").get_data(as_text=True)
    assert 'id="api-tokens"' in page and "签发于" in page
    # What deactivating does, as it does it (it said they "keep their records and tasks").
    assert "停用后无法登录" in page and "退回该组" in page
    done = admin.post("/admin/users/sales1/revoke-tokens", follow_redirects=True).get_data(as_text=True)
    assert "已吊销 销售一 Sales One 的 1 个 API 令牌" in done and 'id="api-tokens"' not in done
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    seller = app.test_client()
    seller.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    assert seller.post("/admin/users/sales2/revoke-tokens").status_code == 403


@pytest.mark.parametrize("password, refused", [("password", True), ("Password1", True), ("pwtest12", True),
                                               ("PWTest2026", True), ("12345678", True), ("Tea-Garden-2026", False)])
def test_a_password_anyone_would_guess_first_is_refused(demo_people, api_as, password, refused):
    answer = api_as("admin").post("/api/v1/users", json={"username": "pwtest", "display_name": "PW",
                                                         "password": password, "roles": ["sales"]})
    assert (answer.status_code == 400) is refused, answer.get_json()
    if refused:
        assert answer.get_json()["error"]["details"][0]["field"] == "password"


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(client, demo_people, app, monkeypatch):
    """Anyone could lock the administrator out for 15 minutes with five wrong passwords."""
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_MAX_FAILURES", 8)

    def from_address(address, password="wrong-password"):
        return client.post("/api/v1/tokens", json={"username": "admin", "password": password},
                           environ_base={"REMOTE_ADDR": address})

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert from_address("203.0.113.9").status_code == 401
    assert from_address("203.0.113.9", DEMO_PASSWORD).status_code == 429  # the guesser's address is held
    assert from_address("192.0.2.10", DEMO_PASSWORD).status_code == 201  # the office's is not
    with app.app_context():
        from app.auth.services import account_lock_remaining, get_user

        assert account_lock_remaining(get_user("admin")) == 0  # a success since: nothing to lift
    for address in ("198.51.100.1", "198.51.100.2"):  # many addresses together still lock it
        for _ in range(4):
            from_address(address)
    assert from_address("192.0.2.10", DEMO_PASSWORD).status_code == 429
    with app.app_context():
        from app.auth.services import account_lock_remaining, get_user

        assert account_lock_remaining(get_user("admin")) > 0


@pytest.mark.skipif(not __import__("os").environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (several writers)")
def test_wrong_passwords_sent_at_once_get_no_more_guesses_than_the_lock_allows(app, demo_people):
    """Twenty at once all read "no failures yet": eight were checked instead of five."""
    import threading

    statuses, start = [], threading.Barrier(12)

    def guess():
        client = app.test_client()
        start.wait()
        statuses.append(client.post("/api/v1/tokens", json={"username": "med_reviewer", "password": "wrong-one"},
                                    environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(401) == app.config["LOGIN_MAX_FAILURES"] and statuses.count(429) == 12 - statuses.count(401)


@pytest.mark.parametrize("name, refused", [("li/si", True), ("..", True), (".", True), ("a\\b", True),
                                           ("${x}", True), ("tab\tin", True), ("李四", False), ("li.si-2", False)])
def test_a_user_or_group_name_that_its_page_or_a_diagram_cannot_name_is_refused(demo_people, api_as, name, refused):
    """li/si was created and signed in, but /admin/users/li/si was a 404: never deactivated."""
    admin = api_as("admin")
    user = admin.post("/api/v1/users", json={"username": name, "display_name": "X", "password": "Tea-Garden-2026",
                                             "roles": ["sales"]})
    group = admin.post("/api/v1/groups", json={"name": name, "display_name": "X"})
    assert (user.status_code, group.status_code) == ((400, 400) if refused else (201, 201)), (user.get_json(),
                                                                                             group.get_json())
    if not refused:
        assert admin.get(f"/api/v1/users/{name}").status_code == 200


def test_admin_commands_on_a_database_without_tables_say_to_migrate_first(tmp_path):
    """On a freshly made production database create-admin ended in an 88-line traceback."""
    from app import create_app

    empty = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                        "SECRET_KEY": "x"})
    runner = empty.test_cli_runner()
    for args in (["create-admin", "itadmin", "--password", "Long-enough-2026"], ["install-approvals"]):
        said = runner.invoke(args=args)
        assert said.exit_code == 1 and "Traceback" not in said.output, said.output
        assert "flask db upgrade" in said.output
