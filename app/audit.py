"""Append-only audit log of security-relevant events.

Rows are only ever inserted: there is no update or delete path in the product, and the
admin page and API only read them.

Rows store an event code (``login.failure``); people read its label. Each module names the
codes it writes with :func:`label_audit_events`, at import time, next to the code that writes
them, so a new code and its label are written together; a code without one (an old row, a
label forgotten) reads as the code itself.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from flask import has_request_context, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import company_zone, datetimeformat
from app.db import JSONType, UTCDateTime, insert_row, utcnow
from app.extensions import db
from app.spreadsheet import formula_safe


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    event: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    details: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)


_LABELS: dict[str, Any] = {}

# The namespaces codes begin with, as the page's event filter offers them (a prefix each). They
# are named here, not by the modules: several modules write into one (process.* comes from the
# engine's operations, the inbox and the API alike).
AREAS = {
    "login": _l("Sign-in"), "token": _l("API tokens"), "user": _l("Users"), "group": _l("Groups"),
    "process": _l("Processes and instances"), "task": _l("Task decisions"), "inbox": _l("Inbox"),
    "automation": _l("Automation"), "form": _l("Forms"), "crm": _l("CRM"), "jobs": _l("Background jobs"),
    "audit": _l("Audit log"),
}

# The detail keys several events share, named once; any other key shows as it is stored.
DETAIL_KEYS = {
    "reason": _l("Reason"), "comment": _l("Comment"), "to": _l("Handed to"), "by": _l("Lock applies to"),
    "old": _l("Old value"), "new": _l("New value"), "before": _l("Before the change"),
    "after": _l("After the change"), "changes": _l("Changes"), "version": _l("Version"),
    "from_version": _l("From version"), "to_version": _l("To version"), "roles": _l("Roles"),
    "groups": _l("Groups"), "members": _l("Members"), "manager": _l("Manager"), "email": _l("E-mail"),
    "display_name": _l("Display name"), "active": _l("Active"), "password": _l("Password"),
    "filename": _l("File"), "rows": _l("Rows"), "kind": _l("Kind"), "last_error": _l("Last error"),
    "decision": _l("Decision"), "task": _l("Task"), "instance": _l("Process instance"),
    "substitute": _l("Substitute"), "starts_on": _l("First day"), "ends_on": _l("Last day"),
    "required_fields": _l("Required fields"), "record": _l("Record"), "rule": _l("Rule"),
    "binding": _l("Binding"), "fields": _l("Fields"), "started": _l("Processes started"),
    "records": _l("Records"), "tasks": _l("Open tasks"), "name": _l("Name"), "enabled": _l("Enabled"),
    "customer": _l("Customer"), "activity": _l("Activity record"), "opportunity": _l("Opportunity"),
    "contract": _l("Contract"), "filters": _l("Filters"), "event": _l("Event"), "actor": _l("Actor"),
    "since": _l("From"), "until": _l("Until"), "id": "ID", "position": _l("Order"), "created_by": _l("Created by"),
    "created_at": _l("Created at"), "updated_at": _l("Updated at"), "todos": _l("To-dos"),
    "user": _l("User"), "group": _l("Group"), "description": _l("Description"), "parent": _l("Parent group"),
}

# Detail keys holding an ISO 8601 time (a deleted rule's snapshot): shown on the company's clock.
TIME_KEYS = frozenset({"created_at", "updated_at"})


def _company_time(value: str) -> str:
    try:
        return datetimeformat(value, "short")
    except ValueError:
        return value  # not a time after all: as stored


_VALUE_LABELS: dict[str, dict[str, Any]] = {}


def label_audit_values(key: str, labels: dict[str, Any]) -> None:
    """Name the stored values of a detail key (``roles``: ``sales`` → 销售), by the module that
    owns their meaning; other values show as stored."""
    _VALUE_LABELS.setdefault(key, {}).update(labels)


_EVENT_KEYS: dict[str, dict[str, Any]] = {}
_EVENT_FORMATS: dict[str, dict[str, Callable]] = {}


def label_audit_details(codes, keys: dict[str, Any] | None = None, formats: dict[str, Callable] | None = None) -> None:
    """Name the detail keys of some events where the general names do not fit (a rule's
    "entity" is its record type, a binding's "to" a process variable) and say how a structured
    value reads: ``formats[key](value, context)`` gets the row's details merged with the object
    the value sits in (a rule's condition in words needs the rule's record type)."""
    for code in codes:
        _EVENT_KEYS.setdefault(code, {}).update(keys or {})
        _EVENT_FORMATS.setdefault(code, {}).update(formats or {})


def label_audit_events(labels: dict[str, Any]) -> None:
    """Name event codes (code → lazy translation); a module calls it for the codes it writes."""
    _LABELS.update(labels)


def event_label(code: str) -> str:
    """The code's label in the current language, or the code itself when it has none."""
    label = _LABELS.get(code)
    return str(label) if label is not None else code


def labelled_events() -> frozenset[str]:
    return frozenset(_LABELS)


def area_of(code: str) -> str | None:
    """The filter area a code belongs to (``forms.report_submitted_again`` is under ``form``)."""
    return next((area for area in AREAS if code.startswith(area)), None)


def event_choices() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """``(area, its label, [(code, label)…])`` for every area with labelled codes, codes by label."""
    choices = []
    for area, area_label in AREAS.items():
        codes = sorted(((code, event_label(code)) for code in _LABELS if area_of(code) == area),
                       key=lambda pair: pair[1])
        if codes:
            choices.append((area, str(area_label), codes))
    return choices


def readable_details(details: dict, event: str | None = None) -> list[tuple[str, str]]:
    """``(key label, value text)`` per detail worth showing: a from/to pair reads "a → b", lists
    are comma-separated, nested objects "key: value; …"; empty values are left out. ``event``
    (the row's code) picks the names and formats its module registered."""
    details = details or {}
    reader = _Reader(_EVENT_KEYS.get(event, {}), _EVENT_FORMATS.get(event, {}), details)
    return [(reader.key_label(key), reader.text(value, key, details))
            for key, value in details.items() if not _empty(value)]


def _empty(value) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


class _Reader:
    def __init__(self, keys: dict, formats: dict, details: dict):
        self.keys, self.formats, self.details = keys, formats, details

    def key_label(self, key: str) -> str:
        label = self.keys.get(key, DETAIL_KEYS.get(key))
        return str(label) if label is not None else key

    def text(self, value, key: str | None, owner) -> str:
        """``value`` stored under ``key`` in ``owner`` (the dict it sits in)."""
        if isinstance(value, dict) and value.keys() == {"from", "to"}:
            return f"{self.text(value['from'], key, owner)} → {self.text(value['to'], key, owner)}"
        if value is None:
            return "—"
        if key in self.formats:
            return self.formats[key](value, {**self.details, **owner}) or "—"
        if key in TIME_KEYS and isinstance(value, str):
            return _company_time(value)
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if isinstance(value, list):
            return ", ".join(self.text(item, key, owner) for item in value) or "—"
        if isinstance(value, dict):
            # An empty list or object inside says nothing (a rule without event options);
            # None stays, as "—": a group that had no manager.
            return "; ".join(f"{self.key_label(name)}: {self.text(item, name, value)}"
                             for name, item in value.items() if item not in ([], {})) or "—"
        label = _VALUE_LABELS.get(key, {}).get(value) if isinstance(value, str) else None
        return str(label) if label is not None else str(value)


def readable_target(target: str) -> str:
    """What a row is about as people read it: ``customer:5`` → 客户 #5, ``user:sales1`` → 用户
    sales1 (stored as a code; the page showed "customer:5")."""
    kind, _sep, key = (target or "").partition(":")
    label = _VALUE_LABELS.get("entity", {}).get(kind) or DETAIL_KEYS.get(kind)
    if not key or label is None:
        return target
    return f"{label} #{key}" if key.isdigit() else f"{label} {key}"


def audit(event: str, *, actor=None, actor_name: str | None = None, target: str = "", **details) -> AuditEvent:
    """Write an audit row in the current session's transaction: it commits (or rolls back) with
    the change it describes."""
    row = AuditEvent(
        event=event,
        actor_id=getattr(actor, "id", None),
        actor_name=actor_name if actor_name is not None else getattr(actor, "username", ""),
        target=target,
        ip=(request.remote_addr or "") if has_request_context() else "",
        details=details,
    )
    return insert_row(row)  # append-only: one INSERT in the session's transaction, no flush


def audit_query(event: str | None = None, actor: str | None = None, since: datetime | None = None,
                until: datetime | None = None, target: str | None = None):
    """Newest first; ``event`` matches a prefix (``login`` → login.success, login.failure…),
    ``actor`` the exact user name, ``since``/``until`` the time range (inclusive/exclusive),
    ``target`` what was acted on: ``zheng`` finds zheng's events however stored (``zheng``,
    ``user:zheng``), ``task:5`` that task's ("who changed zheng's role" meant reading them all)."""
    from sqlalchemy import func, or_, select

    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if event:
        stmt = stmt.where(AuditEvent.event.startswith(event, autoescape=True))
    if actor:
        stmt = stmt.where(AuditEvent.actor_name == actor)
    if target:  # as typed: TASK:3, Sales2 (user names differ by more than case, see create_user)
        stored, typed = func.lower(AuditEvent.target), target.lower()
        stmt = stmt.where(or_(stored == typed, stored.endswith(f":{typed}", autoescape=True)))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return stmt


def details_json(details: dict, indent: int | None = None) -> str:
    """The details as stored, with Chinese text readable (not \\u escapes)."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True, indent=indent)


CSV_COLUMNS = ("time", "actor", "event", "event_label", "target", "ip", "details")


def csv_lines(stmt) -> Iterator[str]:
    """The rows ``stmt`` selects as CSV text for Excel (a BOM first, so it reads UTF-8 Chinese),
    fetched and written 500 rows at a time while the response streams: exporting the whole log
    never holds it in memory. Times are the company's, with their offset."""
    zone = company_zone()
    yield "\ufeff" + ",".join(CSV_COLUMNS) + "\r\n"
    for rows in db.session.scalars(stmt.execution_options(yield_per=500)).partitions():
        buffer = io.StringIO()
        csv.writer(buffer).writerows(
            [row.at.astimezone(zone).isoformat(timespec="seconds"), formula_safe(row.actor_name), row.event,
             formula_safe(event_label(row.event)), formula_safe(row.target), row.ip, details_json(row.details)]
            for row in rows)
        yield buffer.getvalue()
