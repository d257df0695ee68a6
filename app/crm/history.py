"""The change history of CRM records (变更记录): who changed which fields of a record, from what
to what, and when.

One ``RecordChange`` row per ``created`` / ``updated`` / ``deleted`` event, written by the
record-event subscriber in the transaction of the change (it rolls back with it). Read newest
first, with each field's label and its values as people read them.
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import Select, select

from app.crm import services
from app.crm.models import RecordChange
from app.db import insert_row, jsonable
from app.events import RecordEvent
from app.extensions import db

# stage_changed, won and lost repeat changes that the "updated" emitted just before carries.
RECORDED_EVENTS = frozenset({"created", "updated", "deleted"})
# Set by the CRM as the stage or status changes, which the history shows already: their own
# lines only repeated the time of the change ("In stage since: 06:04 → 06:04"). A close time
# corrected by itself (a win dated back to the month it happened) has a line of its own.
FOLLOWING_FIELDS = {"stage_entered_at": "stage", "closed_at": "status"}
MAX_TEXT = 500  # longer values (an activity's content) are cut: rows stay small, the record keeps the text


def record_changes(event: RecordEvent) -> None:
    """The ``app.events`` subscriber: one row for the event's changes (none without changes)."""
    changed = event.changes or {}
    changes = {key: [_stored(old), _stored(new)] for key, (old, new) in changed.items()
               if FOLLOWING_FIELDS.get(key) not in changed}
    if event.event not in RECORDED_EVENTS or not changes:
        return
    insert_row(RecordChange(  # one INSERT, no flush: this runs on every save
        entity=event.entity, record_id=event.record.id, event=event.event,
        actor_id=getattr(event.actor, "id", None), actor_name=getattr(event.actor, "username", ""),
        cause=event.cause[:250], changes=changes))


def _stored(value):
    value = jsonable(value)
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT - 1] + "…"
    return value


def history_query(entity: str, record_id: int) -> Select:
    """The rows of one record, newest first (whoever may see it: callers check visibility)."""
    return (select(RecordChange).where(RecordChange.entity == entity, RecordChange.record_id == record_id)
            .order_by(RecordChange.id.desc()))


def record_history(entity: str, record_id: int, limit: int = 50) -> list[dict]:
    """The latest ``limit`` changes of a record, newest first, each as :func:`history_entry`."""
    return [history_entry(row) for row in db.session.scalars(history_query(entity, record_id).limit(limit))]


def history_entry(row: RecordChange) -> dict:
    """``{id, at, event, actor, actor_name, changes: [{field, label, old, new, old_text,
    new_text}]}``: ``actor`` the username (None for the system), ``actor_name`` whom people
    read; the fields in the order of the record's form, values as stored and as read."""
    order = _field_order(row.entity)
    keys = sorted(row.changes, key=lambda key: (order.get(key, len(order)), key))
    return {"id": row.id, "at": row.at, "event": row.event, "actor": row.actor_name or None,
            "actor_name": row.actor.label if row.actor else row.actor_name or _("System"),
            "cause": row.cause or None, "cause_text": cause_text(row.cause),
            "changes": [_field_change(row.entity, key, *row.changes[key]) for key in keys]}


def cause_text(cause: str) -> str:
    """What acted, in the reader's language: 自动化规则“福建分配”, 流程“客户报备” #12."""
    kind, _sep, what = (cause or "").partition(":")
    if kind == "rule":
        return _("automation rule “%(name)s”", name=what)
    if kind == "process":
        from app.engine.models import ProcessInstance

        instance = db.session.get(ProcessInstance, int(what)) if what.isdigit() else None
        name = (instance.definition.name or instance.process_key) if instance is not None else ""
        return _("process “%(name)s” #%(id)s", name=name, id=what) if name else _("process #%(id)s", id=what)
    return ""


def _field_change(entity: str, key: str, old, new) -> dict:
    return {"field": key, "label": services.field_label(entity, key), "old": old, "new": new,
            "old_text": services.display_value(entity, key, old),
            "new_text": services.display_value(entity, key, new)}


def _field_order(entity: str) -> dict[str, int]:
    keys = [f.key for f in services.FIELDS[entity]] + [f"custom.{d.key}" for d in services.custom_field_defs(entity)]
    return {key: position for position, key in enumerate(keys)}
