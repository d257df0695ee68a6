"""Persistence of the process engine: definitions, instances, human tasks, history.

Timers are rows of the shared job table (:mod:`app.jobs`, kind ``engine.timer``), keyed by
instance and timer task so scheduling is idempotent.  The parsed spec is not stored per
instance: ``ProcessInstance.state`` refers to ``ProcessDefinition.spec_hash`` (see
:mod:`app.engine.serialization`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import JSONType, TimestampMixin, UTCDateTime, VersionedMixin, utcnow
from app.extensions import db

INSTANCE_STATUSES = ("running", "completed", "error", "terminated", "suspended")
OPEN_STATUSES = ("running", "suspended", "error")  # not finished: an operator may still move it on
TASK_OPEN, TASK_COMPLETED, TASK_CANCELLED = "open", "completed", "cancelled"


class ProcessDefinition(TimestampMixin, db.Model):
    """One deployed version of a process; the XML of every version is kept."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definitions_key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # process version, not a lock
    is_current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Deferred: lists of versions and instance lookups should not drag every XML along.
    xml: Mapped[str] = mapped_column(Text, nullable=False, deferred=True)
    spec_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    # Not stored: set on the version a deploy has just made (a deploy of the current diagram
    # again makes none and returns the current one).
    deployed_now = False


class ProcessInstance(VersionedMixin, db.Model):
    """A running (or finished) process; ``version`` guards concurrent steps (409)."""

    __tablename__ = "process_instances"
    __table_args__ = (Index("ix_process_instances_record", "record_type", "record_id"),)

    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), nullable=False, index=True)
    process_key: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running", index=True)
    # Deferred: task lists join instances and must not load every workflow's saved state.
    state: Mapped[str] = mapped_column(Text, nullable=False, deferred=True)
    data: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)  # for display
    error: Mapped[dict | None] = mapped_column(JSONType)
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")


class HumanTask(VersionedMixin, db.Model):
    """A user task the inbox shows; kept in sync with the workflow after every step."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_uuid", name="uq_human_tasks_instance_task"),
        # Due date and id after the assignee: "assigned to me, by due date" stops after a page.
        Index("ix_human_tasks_status_assignee", "status", "assignee", "due_at", "id"),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    task_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    bpmn_id: Mapped[str] = mapped_column(String(120), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    assignee: Mapped[str | None] = mapped_column(String(80))
    candidate_users: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    candidate_groups: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    form_key: Mapped[str | None] = mapped_column(String(120))
    # The version of the form in force when the task started: it is shown and validated
    # against that version, not a newer one.  None (tasks from before 0015, forms the forms
    # module does not know): the current version.
    form_version: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=TASK_OPEN, index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    # When it reached its holder: claimed, or handed to them (delegated, reassigned, given back);
    # the reports' waiting ends and handling starts there (a reassigned task's 7 minutes in its
    # group were booked as the new holder's handling).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(80))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instance: Mapped[ProcessInstance] = relationship(lazy="joined")


class ProcessHistory(db.Model):
    """Append-only: what happened to an instance, when, and who did it."""

    __tablename__ = "process_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(80))  # username; None = the system
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    task: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSONType)
