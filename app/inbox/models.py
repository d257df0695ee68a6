"""The inbox's own tables, on top of the engine's task rows.

- ``inbox_task_offers``: who a task is offered to, one row per candidate group / user, so
  "tasks offered to my groups" is an index lookup (the engine keeps candidates as a JSON list,
  which no portable index can search).
- out-of-office periods, delegations, drafts and attachments of tasks.

Two indexes are added to engine tables (declared here, created by the inbox migration): the
inbox looks tasks up by claimant, and "my submissions" looks instances up by starter.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.clock import company_zone
from app.db import JSONType, UTCDateTime, VersionedMixin, utcnow
from app.engine.models import HumanTask, ProcessInstance
from app.extensions import db

# Columns after the claimant: "claimed by me, by due date" is an index walk that stops after a page.
Index("ix_human_tasks_status_claimed_by", HumanTask.status, HumanTask.claimed_by, HumanTask.due_at, HumanTask.id)
Index("ix_process_instances_started_by", ProcessInstance.started_by_id, ProcessInstance.id)


def group_principal(name: str) -> str:
    return f"g:{name}"


def user_principal(username: str) -> str:
    return f"u:{username}"


class TaskOffer(db.Model):
    """A task is offered to a candidate group ("g:<name>") or candidate user ("u:<name>").

    ``held`` (the task has an assignee or a claimant) and ``due_at`` repeat the task's own
    columns, kept in step by the inbox hooks: "unclaimed tasks offered to me, by due date" is
    then a walk of one index that stops after a page, and its count reads no task rows, so
    an approver's inbox costs the same with 1,000 or 100,000 tasks in their queue.
    """

    __tablename__ = "inbox_task_offers"
    __table_args__ = (Index("ix_inbox_task_offers_queue", "principal", "held", "due_at", "task_id"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(90), primary_key=True)
    held: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutOfOffice(VersionedMixin, db.Model):
    """While away (``starts_at`` ≤ now < ``ends_at``), new tasks for ``user`` go to ``substitute``."""

    __tablename__ = "inbox_out_of_office"
    __table_args__ = (Index("ix_inbox_out_of_office_user_period", "user_id", "starts_at", "ends_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    substitute_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    substitute: Mapped[User] = relationship(foreign_keys=[substitute_id], lazy="joined")

    @property
    def starts_on(self) -> date:
        """The first day away (company time zone), as it was entered."""
        return self.starts_at.astimezone(company_zone()).date()

    @property
    def ends_on(self) -> date:
        """The last day away, inclusive, as it was entered (``ends_at`` is the next midnight)."""
        return (self.ends_at.astimezone(company_zone()) - timedelta(days=1)).date()


class TaskDelegation(db.Model):
    """The holder of a task handed it to ``delegate``; with ``return_to_delegator`` the
    delegate's answer comes back to the delegator, who completes the task."""

    __tablename__ = "inbox_task_delegations"
    __table_args__ = (Index("ix_inbox_task_delegations_task", "task_id", "active"),
                      Index("ix_inbox_task_delegations_delegator", "delegator", "active"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), nullable=False)
    delegator: Mapped[str] = mapped_column(String(80), nullable=False)
    delegate: Mapped[str] = mapped_column(String(80), nullable=False)
    return_to_delegator: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskDraft(db.Model):
    """Form values saved without completing; one per task and user."""

    __tablename__ = "inbox_task_drafts"
    __table_args__ = (UniqueConstraint("task_id", "username", name="uq_inbox_task_drafts_task_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), nullable=False)
    username: Mapped[str] = mapped_column(String(80), nullable=False)
    data: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class TaskAttachment(db.Model):
    """A file attached to a task (kept with the instance); the bytes live on disk."""

    __tablename__ = "inbox_attachments"
    __table_args__ = (Index("ix_inbox_attachments_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), nullable=False)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_name: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(80), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)
