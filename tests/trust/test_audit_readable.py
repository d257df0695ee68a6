"""The audit log reads in the administrator's language: every event code has a label, named by
the module that writes it, and the API gives it as ``event_label``."""
from __future__ import annotations

import re
from pathlib import Path

from app.crm.models import MODELS

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
    assert {"login.failure", "process.terminated", "crm.customer_deleted"} <= written
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


def test_api_items_carry_the_event_label(client, api_as):
    admin = api_as("admin")
    client.post("/api/v1/tokens", json={"username": "sales1", "password": "wrong"})
    for language, label in (("en", "Failed login"), ("zh-CN", "登录失败")):
        items = admin.get("/api/v1/audit-events?event=login.failure", headers={"Accept-Language": language}
                          ).get_json()["items"]
        assert [(i["event"], i["event_label"]) for i in items] == [("login.failure", label)]
