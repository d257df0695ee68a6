"""The audit log reads in the administrator's language: labelled events, details as "key: value",
an event select, a CSV export an auditor can open in Excel, and ``event_label`` in the API."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.crm.models import MODELS
from tests.crm.test_pages import _english, login
from tests.trust.test_audit import audit_rows

APP = Path(__file__).resolve().parents[2] / "app"
# audit() and the engine API's _operated(), which passes its code on: the first argument, and
# the literal codes in it ("login.success" if ok else "login.failure").
FIRST_ARGUMENT = re.compile(r"\b(?:audit|_operated)\(([^,]*),")
CODE = re.compile(r'"([a-z_]+\.[a-z_]+)"')


def _written_in_source() -> set[str]:
    codes = set()
    for path in APP.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for argument in FIRST_ARGUMENT.findall(text):
            codes.update(CODE.findall(argument))
        if 'audit(f"crm.{record.entity}_deleted"' in text:
            codes.update(f"crm.{entity}_deleted" for entity in MODELS)
    return codes


def test_every_code_the_product_writes_has_a_label_and_an_area(app):
    from app.audit import area_of, labelled_events

    written = _written_in_source()
    assert {"login.failure", "process.terminated", "crm.customer_deleted", "audit.exported"} <= written
    assert sorted(written - labelled_events()) == []
    assert [code for code in labelled_events() if area_of(code) is None] == []
    assert area_of("forms.report_submitted_again") == "form"


def test_a_code_written_without_a_label_is_caught(ctx, written_audit_codes):
    from app.audit import audit, labelled_events

    audit("made.up")
    assert written_audit_codes == ["made.up"] and "made.up" not in labelled_events()
    written_audit_codes.clear()  # written on purpose: the check after this test would fail it


def test_labels_follow_the_language_and_an_unknown_code_reads_as_itself(app):
    from flask_babel import force_locale

    from app.audit import area_of, event_label

    with app.test_request_context():
        with force_locale("en"):
            assert event_label("login.failure") == "Failed login"
            assert event_label("process.terminated") == "Process instance terminated"
        with force_locale("zh_CN"):
            assert event_label("login.failure") == "登录失败"
        assert event_label("legacy.thing") == "legacy.thing"


def test_the_event_select_offers_each_area_and_its_codes_by_label(app):
    from flask_babel import force_locale

    from app.audit import AREAS, event_choices

    with app.test_request_context(), force_locale("en"):
        choices = event_choices()
        assert [area for area, _label, _codes in choices] == list(AREAS)  # every area has codes
        forms = dict(next(codes for area, _label, codes in choices if area == "form"))
        assert forms["forms.report_submitted_again"] == "Report or approval submitted from its record"
        sign_in = next(codes for area, _label, codes in choices if area == "login")
        assert sign_in == [("login.failure", "Failed login"),
                           ("login.locked", "Sign-in refused: locked after failures"), ("login.success", "Signed in")]
    with app.test_request_context(), force_locale("zh_CN"):
        assert event_choices()[0][1] == "登录"


def test_details_read_as_key_value_pairs(app):
    from flask_babel import force_locale

    from app.audit import readable_details

    details = {"email": {"from": None, "to": "new@example.com"}, "roles": ["sales", "approver"],
               "active": {"from": True, "to": False}, "comment": "", "decision": None,
               "before": {"members": ["a", "b"], "manager": None}, "records": {"customer": 3}, "odd_key": 7}
    with app.test_request_context(), force_locale("en"):
        assert readable_details(details) == [
            ("E-mail", "— → new@example.com"), ("Roles", "Sales, Approver"), ("Active", "Yes → No"),
            ("Before the change", "Members: a, b; Manager: —"), ("Records", "Customer: 3"), ("odd_key", "7")]
        assert readable_details({}) == []


def test_stored_values_read_as_their_owners_name_them(app):
    """Role codes, "changed" and the lock's scope are stored as codes; the page names them."""
    from flask_babel import force_locale

    from app.audit import readable_details

    details = {"roles": {"from": ["sales"], "to": ["approver", "sales", "auditor"]}, "password": "changed",
               "by": "network"}
    with app.test_request_context(), force_locale("zh_CN"):
        assert readable_details(details) == [("角色", "销售 → 审批人, 销售, auditor"), ("密码", "已修改"),
                                             ("锁定范围", "网络地址")]
        # A hand-over's to-do count, an approval's decision (shown "todos: 0", "审批结果: approve").
        assert readable_details({"todos": 2, "decision": "reject"}) == [("待办事项", "2"), ("审批结果", "已驳回")]


def test_what_a_row_is_about_reads_as_its_record_or_person(app):
    from flask_babel import force_locale

    from app.audit import readable_target

    with app.test_request_context(), force_locale("zh_CN"):
        assert [readable_target(t) for t in ("customer:5", "task:12", "user:sales1", "group:fujian-heads", "odd",
                                             "")] == ["客户 #5", "待办 #12", "用户 sales1", "用户组 fujian-heads", "odd", ""]


def test_times_in_details_read_on_the_company_clock(app):
    """A deleted rule's snapshot keeps its times in ISO UTC; the page shows the company's time."""
    from flask_babel import force_locale

    from app.audit import readable_details

    details = {"rule": {"name": "福建分配", "created_at": "2026-12-04T17:30:00+00:00", "updated_at": "yesterday"}}
    with app.test_request_context(), force_locale("en"):
        assert readable_details(details) == [("Rule", "Name: 福建分配; Created at: 2026-12-05 01:30; Updated at: yesterday")]
    with app.test_request_context(), force_locale("zh_CN"):
        assert readable_details(details)[0][1] == "名称: 福建分配; 创建时间: 2026-12-05 01:30; 更新时间: yesterday"


def test_page_shows_labels_readable_details_and_an_event_select(app, client, api_as):
    from app.audit import AuditEvent
    from app.extensions import db

    admin = api_as("admin")
    assert client.post("/api/v1/tokens", json={"username": "sales2", "password": "wrong"}).status_code == 401
    assert admin.patch("/api/v1/users/sales2", json={"email": "s2@example.com", "roles": ["sales", "approver"]}
                       ).status_code == 200
    with app.app_context():
        # An old row of a code nobody labels any more, with a long value.
        db.session.add(AuditEvent(event="legacy.thing", actor_name="admin", details={"reason": "长" * 300}))
        db.session.commit()
    login(client, "admin")
    _english(client)
    html = client.get("/admin/audit").get_data(as_text=True)
    rows = audit_rows(html)
    assert "Failed login" in rows and "<code class=\"small text-muted\">login.failure</code>" in rows
    assert "User changed" in rows and "E-mail:</span>" in rows and "— → s2@example.com" in rows
    assert "Sales → Approver, Sales" in rows
    assert "<summary class=\"text-muted\">JSON</summary>" in rows and "&#34;to&#34;: &#34;s2@example.com&#34;" in rows
    assert "legacy.thing" in rows and ">legacy.thing</code>" not in rows  # the code, shown once
    assert re.search(r"<details class=\"d-inline-block\"><summary>长{79}…</summary>长{300}</details>", rows)
    start = html.index('<select class="form-select" id="audit-event"')
    select = html[start:html.index("</select>", start)]
    assert '<optgroup label="Sign-in">' in select and '<option value="login">Sign-in: all events</option>' in select
    assert '<option value="login.failure">Failed login</option>' in select

    chosen = client.get("/admin/audit?event=login.failure").get_data(as_text=True)
    assert '<option value="login.failure" selected>' in chosen
    assert "User changed" not in audit_rows(chosen) and "Failed login" in audit_rows(chosen)
    # A prefix typed into the URL still filters, and stays in the select as typed.
    typed = client.get("/admin/audit?event=user.cha").get_data(as_text=True)
    assert '<option value="user.cha" selected>user.cha</option>' in typed
    assert "User changed" in audit_rows(typed) and "Failed login" not in audit_rows(typed)


def _csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode()), body[:20]
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_export_of_the_filtered_log(app, client, api_as):
    from app.audit import AuditEvent
    from app.extensions import db

    admin = api_as("admin")
    for name in ("=HYPERLINK(1)", "sales2"):  # whatever someone typed as a user name
        client.post("/api/v1/tokens", json={"username": name, "password": "wrong"})
    assert admin.post("/api/v1/groups", json={"name": "审计", "display_name": "审计组"}).status_code == 201
    login(client, "admin")
    response = client.get("/admin/audit/export.csv?event=login.failure")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert rows[0] == ["time", "actor", "event", "event_label", "target", "ip", "details"]
    assert sorted(r[1] for r in rows[1:]) == ["'=HYPERLINK(1)", "sales2"]  # kept text, not run
    at = datetime.fromisoformat(rows[1][0])
    assert at.utcoffset() == timedelta(hours=8)  # the company's time (Asia/Shanghai), offset written
    assert {r[2] for r in rows[1:]} == {"login.failure"} and rows[1][3] == "登录失败"
    everything = _csv(client.get("/admin/audit/export.csv"))
    group = next(r for r in everything if r[2] == "group.created")
    assert group[4] == "审计"
    assert group[6] == '{"display_name": "审计组", "manager": null, "members": [], "parent": null}'

    with app.app_context():
        exported = db.session.query(AuditEvent).filter_by(event="audit.exported").order_by(AuditEvent.id).all()
        assert [(e.actor_name, e.details) for e in exported] == [
            ("admin", {"filters": {"event": "login.failure"}}), ("admin", {"filters": {}})]


def test_csv_export_streams_every_row_in_batches(app, client, demo_people):
    from app.audit import AuditEvent
    from app.extensions import db

    with app.app_context():
        db.session.execute(AuditEvent.__table__.insert(), [
            {"at": datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc), "actor_name": "sales1", "event": "login.success",
             "target": str(n), "ip": "", "details": {}} for n in range(1234)])
        db.session.commit()
    login(client, "admin")
    rows = _csv(client.get("/admin/audit/export.csv?actor=sales1&since=2026-03-01&until=2026-03-01"))
    assert len(rows) == 1 + 1234 and {r[0] for r in rows[1:]} == {"2026-03-01T09:00:00+08:00"}
    assert [int(r[4]) for r in rows[1:]] == list(range(1233, -1, -1))  # newest first, none twice


def test_csv_export_is_for_administrators(app, client, demo_people):
    assert client.get("/admin/audit/export.csv").status_code in (302, 401)
    login(client, "sales1")
    assert client.get("/admin/audit/export.csv").status_code == 403


def test_api_items_carry_the_event_label(client, api_as):
    admin = api_as("admin")
    client.post("/api/v1/tokens", json={"username": "sales1", "password": "wrong"})
    for language, label in (("en", "Failed login"), ("zh-CN", "登录失败")):
        items = admin.get("/api/v1/audit-events?event=login.failure", headers={"Accept-Language": language}
                          ).get_json()["items"]
        assert [(i["event"], i["event_label"]) for i in items] == [("login.failure", label)]


def test_rules_and_bindings_read_as_in_their_editors(app, api_as):
    """A rule's or binding's audit row: record type, event, condition and actions in words, the
    mapping as record field → variable; a change to a rule names the fields by its record type."""
    from flask_babel import force_locale
    from sqlalchemy import select

    from app.audit import AuditEvent, readable_details
    from app.extensions import db

    admin = api_as("admin")
    created = admin.post("/api/v1/automation-rules", json={
        "name": "大客户", "entity": "customer", "event": "created",
        "condition": {"field": "registered_capital", "op": "≥", "value": 10000000},
        "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "value": "A"}]}]})
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert admin.patch(f"/api/v1/automation-rules/{rule['id']}", json={
        "condition": {"field": "province", "op": "=", "value": "福建"}, "version": rule["version"]}).status_code == 200

    def shown(code):
        with app.test_request_context(), force_locale("en"):
            row = db.session.scalars(select(AuditEvent).where(AuditEvent.event == code)
                                     .order_by(AuditEvent.id.desc())).first()
            out = dict(readable_details(row.details, row.event))
            db.session.remove()
        return out

    saved = shown("automation.rule_created")["Rule"]
    assert "Record type: Customer" in saved and "Event: Created" in saved and "Actions: Set fields" in saved
    assert "Conditions: Registered capital (yuan) ≥ 10000000" in saved and "{" not in saved
    changed = shown("automation.rule_changed")
    assert changed["Record type"] == "Customer"
    assert changed["Changes"] == "Conditions: Registered capital (yuan) ≥ 10000000 → Province = 福建"

    binding = {"name": "新增客户 → 客户报备", "entity": "customer", "event": "created", "process_key": "customer_report",
               "form_key": "customer_report", "mapping": [{"field": "source", "to": "lead_source"}],
               "condition": {"field": "province", "op": "=", "value": "福建"}, "enabled": True,
               "skip_if_running": True, "report_pending": False}
    with app.test_request_context(), force_locale("en"):
        [(label, text)] = readable_details({"binding": binding}, "form.binding_saved")
    assert label == "Binding" and "Record type: Customer; CRM action: Created; Process to start: customer_report" in text
    assert "Field mapping: source → lead_source; Conditions: Province = 福建" in text
