"""Security-relevant actions leave audit rows; admins read them (API and page, filtered); no
route edits them, and on PostgreSQL the database refuses to."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app.clock import company_today
from tests.trust.test_authorization_matrix import BPMN


def _events(api, **params) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = api.get(f"/api/v1/audit-events?per_page=200&{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_security_relevant_actions_are_audited(app, client, world, api_as):
    admin, fj_head = api_as("admin"), api_as("fj_head")
    assert client.post("/api/v1/tokens", json={"username": "sales2", "password": "wrong"}).status_code == 401
    token = world.new_token("sales2")
    assert client.delete("/api/v1/tokens/current", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert admin.post("/api/v1/users", json={"username": "auditee", "password": "Strong-pass-42",
                                             "roles": ["sales"]}).status_code == 201
    assert admin.patch("/api/v1/users/auditee", json={"roles": ["sales", "approver"]}).status_code == 200
    assert admin.patch("/api/v1/users/auditee", json={"email": "new@example.com"}).status_code == 200
    assert admin.post("/api/v1/groups", json={"name": "audited", "display_name": "审计组"}).status_code == 201
    assert admin.patch("/api/v1/groups/audited", json={"members": ["auditee"]}).status_code == 200
    assert admin.post("/api/v1/processes", data=BPMN, content_type="application/xml").status_code == 201
    assert admin.post("/api/v1/processes/customer_report/versions/1/current").status_code == 200
    assert fj_head.post(f"/api/v1/tasks/{world.task}/claim").status_code == 200
    assert fj_head.post(f"/api/v1/tasks/{world.task}/complete",
                        json={"data": {"decision": "reject", "comment": "资料不全"}}).status_code == 200
    instance, _ = world.new_report_task()
    for action, body in (("suspend", {}), ("resume", None), ("terminate", {"comment": "重复"})):
        response = admin.post(f"/api/v1/process-instances/{instance}/{action}", json=body)
        assert response.status_code == 200, response.get_json()
    assert admin.patch(f"/api/v1/automation-rules/{world.rule}", json={"enabled": False}).status_code == 200
    assert admin.post("/api/v1/forms", json={"key": "audited_form", "name": "审计表单", "schema": {
        "type": "default", "components": [{"type": "textfield", "key": "t", "label": "T"}]}}).status_code == 201
    assert admin.delete(f"/api/v1/form-bindings/{world.binding}").status_code == 204

    events = _events(admin)
    seen = {(e["event"], e["actor"]) for e in events}
    expected = {
        ("login.failure", "sales2"), ("login.success", "sales2"), ("token.created", "sales2"),
        ("token.revoked", "sales2"), ("user.created", "admin"), ("user.changed", "admin"),
        ("group.created", "admin"), ("group.changed", "admin"), ("process.deployed", "admin"),
        ("process.version_current", "admin"), ("task.completed", "fj_head"), ("process.suspended", "admin"),
        ("process.resumed", "admin"), ("process.terminated", "admin"), ("automation.rule_created", "admin"),
        ("automation.rule_changed", "admin"), ("form.saved", "admin"), ("form.binding_saved", "admin"),
        ("form.binding_deleted", "admin"),
    }
    assert expected <= seen, sorted(expected - seen)
    decision = next(e for e in events if e["event"] == "task.completed")
    assert decision["details"]["decision"] == "reject" and decision["target"] == f"task:{world.task}"
    role_change = next(e for e in events if e["event"] == "user.changed" and "roles" in e["details"])
    assert "approver" in str(role_change["details"])
    email_change = next(e for e in events if e["event"] == "user.changed" and "email" in e["details"])
    assert email_change["details"]["email"] == {"from": None, "to": "new@example.com"}  # where notices now go
    # A group renamed and moved under another says so (only its manager's change was audited).
    assert admin.patch("/api/v1/groups/audited", json={"display_name": "华南审计组", "parent": "sales"}).status_code == 200
    moved = next(e for e in _events(admin) if e["event"] == "group.changed")
    assert moved["details"]["before"] == {"display_name": "审计组", "parent": None}
    assert moved["details"]["after"] == {"display_name": "华南审计组", "parent": "sales"}
    # Newest first, times with an offset.
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    assert datetime.fromisoformat(events[0]["at"]).utcoffset() == timedelta(0)


def test_audit_api_filters_and_is_admins_only_and_read_only(app, client, api_as):
    admin = api_as("admin")
    assert client.post("/api/v1/tokens", json={"username": "sales1", "password": "wrong"}).status_code == 401
    api_as("sales1")
    assert {e["event"] for e in _events(admin, event="login")} == {"login.success", "login.failure"}
    assert {e["actor"] for e in _events(admin, actor="sales1")} == {"sales1"}
    # What was acted on: a user's events however their target is written ("sales2", "user:sales2").
    assert admin.patch("/api/v1/users/sales2", json={"roles": ["sales", "approver"]}).status_code == 200
    from app.clock import company_today

    today = company_today()
    assert api_as("sales2").post("/api/v1/out-of-office", json={
        "substitute": "sales1", "starts_on": today.isoformat(), "ends_on": today.isoformat()}).status_code == 201
    about_sales2 = _events(admin, target="sales2")
    assert {e["event"] for e in about_sales2} >= {"user.changed", "inbox.out_of_office_set"}
    assert {e["target"] for e in about_sales2} == {"sales2", "user:sales2"}
    assert len(_events(admin, target="Sales2")) == len(about_sales2)  # as typed
    assert _events(admin, target="ales2") == []  # whole names, not a part of one
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": "demo1234"})
    listed = page.get("/admin/audit?target=sales2").get_data(as_text=True)
    rows = listed.split("<tbody")[1]
    assert 'value="sales2"' in listed and "inbox.out_of_office_set" in rows
    assert "login.failure" not in rows  # sales1's, at the start
    now = datetime.now(timezone.utc)
    later = (now + timedelta(hours=1)).isoformat().replace("+", "%2B")
    earlier = (now - timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert _events(admin, since=later) == []
    assert len(_events(admin, since=earlier, until=later)) == len(_events(admin))
    assert _events(admin, until=earlier) == []
    assert admin.get("/api/v1/audit-events?since=yesterday").status_code == 400
    assert admin.get("/api/v1/audit-events?actor=a%00b").status_code == 400  # PostgreSQL would fail on NUL
    assert admin.get("/api/v1/audit-events?since=2026-01-01T00:00:00").status_code == 400  # no offset
    assert client.get("/api/v1/audit-events").status_code == 401
    for user in ("sales1", "fj_head", "manager"):
        assert api_as(user).get("/api/v1/audit-events").status_code == 403
    row = _events(admin)[0]["id"]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert admin.request(method, "/api/v1/audit-events", json={}).status_code == 405
    assert admin.delete(f"/api/v1/audit-events/{row}").status_code == 404  # no such route
    writable = [rule.rule for rule in app.url_map.iter_rules()
                if "audit" in rule.rule and rule.methods - {"GET", "HEAD", "OPTIONS"}]
    assert writable == []


def audit_rows(html: str) -> str:
    """The page's list (the event select above it names every code)."""
    return html[html.index('id="audit-list"'):]


def test_audit_page_filters(app, client, api_as):
    from tests.crm.test_pages import login

    api_as("sales1")
    client.post("/api/v1/tokens", json={"username": "sales2", "password": "wrong"})
    login(client, "admin")
    with app.app_context():
        today = company_today()  # the days of the filter are the company's, as the list shows its times
    page = client.get(f"/admin/audit?event=login.fail&actor=sales2&since={today}&until={today}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "login.failure" in audit_rows(html) and "token.created" not in audit_rows(html)
    assert f'value="{today}"' in html
    nothing = client.get(f"/admin/audit?since={today + timedelta(days=1)}").get_data(as_text=True)
    assert "login.failure" not in audit_rows(nothing)
    before = client.get(f"/admin/audit?event=login.fail&until={today - timedelta(days=1)}").get_data(as_text=True)
    assert "login.failure" not in audit_rows(before)
    tolerant = client.get("/admin/audit?since=not-a-date&page=99999999999&actor=a%00b")
    assert tolerant.status_code == 200
    sales = app.test_client()
    login(sales, "sales1")
    assert sales.get("/admin/audit").status_code == 403


def test_database_refuses_to_change_audit_rows(app, api_as):
    from app.extensions import db

    api_as("sales1")
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite: no append-only trigger (see migration 0014); the product has no edit path")
        for statement in ("UPDATE audit_events SET event = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as connection:
                    connection.execute(text(statement))
        # Deleting a user still works: ON DELETE SET NULL of actor_id is the one allowed change.
        with db.engine.begin() as connection:
            user_id = connection.execute(text(
                "INSERT INTO users (username, display_name, password_hash, active, created_at, updated_at, version)"
                " VALUES ('leaver', 'Leaver', 'x', true, now(), now(), 1) RETURNING id")).scalar()
            connection.execute(text("INSERT INTO audit_events (at, actor_id, actor_name, event, target, ip, details)"
                                    " VALUES (now(), :id, 'leaver', 'login.success', 'leaver', '', '{}')"),
                               {"id": user_id})
        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
            rows = connection.execute(text("SELECT actor_id FROM audit_events WHERE actor_name = 'leaver'")).all()
        assert rows and all(r.actor_id is None for r in rows)


def test_the_date_filters_say_which_is_which(app, demo_people):
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": "demo1234"})
    page = client.get("/admin/audit").get_data(as_text=True)
    for box in ("audit-since", "audit-until"):
        label = page.split(f'for="{box}"')[0].rsplit("<label", 1)[1]
        assert "visually-hidden" not in label, box  # seen, not only read out


def test_a_report_status_change_reads_by_the_statuses_names(app):
    from app.audit import readable_details

    from app.crm import services  # noqa: F401  (registers how its events read)

    with app.test_request_context():
        said = dict(readable_details({"old": "pending", "new": "rejected", "comment": "撞单"}, "crm.report_status"))
    assert "报备审批中" in said.values() and "报备驳回" in said.values() and "pending" not in said.values()
