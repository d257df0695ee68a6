"""In-process record events: what happened to a CRM record, delivered to subscribers.

CRM services emit an event after flushing a change and before committing, so everything a
subscriber does (automation rules setting fields, a bound workflow starting) commits or rolls
back together with the change that caused it. Subscribers run in ``order``; an exception
propagates to the emitter, which decides whether the user's save fails.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from flask import current_app

# What is acting, besides the user: "rule:<name>" while an automation rule's actions run,
# "process:<instance id>" while a process step changes its record. The change history says so.
_CAUSE: contextvars.ContextVar[str] = contextvars.ContextVar("record_change_cause", default="")


def current_cause() -> str:
    """What is acting now besides the user ("" for a person's own edit)."""
    return _CAUSE.get()


@contextmanager
def caused_by(cause: str) -> Iterator[None]:
    """Record events emitted inside carry ``cause`` (the innermost wins: a rule a process step
    set off is that rule's doing)."""
    token = _CAUSE.set(cause)
    try:
        yield
    finally:
        _CAUSE.reset(token)


@dataclass
class RecordEvent:
    entity: str  # "customer", "activity", "opportunity", "contract"
    event: str  # "created", "updated", "deleted", "stage_changed", "won", "lost", or a time event
    record: Any  # the model instance (for "deleted": the instance as it was, already flushed)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (old, new)
    actor: Any = None  # the User who acted, None for the system (worker, timers)
    # Cascade bookkeeping for loop protection (see app.automation): which rules already ran.
    chain: tuple = ()
    # False when an admin loads existing data (CSV import): rules and form bindings stay
    # quiet, subscribers that only record what happened still run.
    automate: bool = True
    # What acted besides ``actor`` (see ``caused_by``): "" for a person's own edit.
    cause: str = field(default_factory=_CAUSE.get)


Subscriber = Callable[[RecordEvent], None]


def subscribe(app, handler: Subscriber, order: int = 100) -> None:
    handlers = app.extensions.setdefault("crm_event_handlers", [])
    handlers.append((order, handler))
    handlers.sort(key=lambda pair: pair[0])


def emit(event: RecordEvent) -> None:
    for _order, handler in current_app.extensions.get("crm_event_handlers", []):
        handler(event)
