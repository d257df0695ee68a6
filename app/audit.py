"""Append-only audit log of security-relevant events.

Rows are only ever inserted: there is no update or delete path in the product, and the
admin page and API only read them.

Rows store an event code (``login.failure``); people read its label. Each module names the
codes it writes with :func:`label_audit_events`, at import time, next to the code that writes
them, so a new code and its label are written together; a code without one (an old row, a
label forgotten) reads as the code itself.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import JSONType, UTCDateTime, insert_row, utcnow
from app.extensions import db


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
                until: datetime | None = None):
    """Newest first; ``event`` matches a prefix (``login`` → login.success, login.failure…),
    ``actor`` the exact user name, ``since``/``until`` the time range (inclusive/exclusive)."""
    from sqlalchemy import select

    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if event:
        stmt = stmt.where(AuditEvent.event.startswith(event, autoescape=True))
    if actor:
        stmt = stmt.where(AuditEvent.actor_name == actor)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return stmt
