"""Rules, their run log, fired time-event occasions, to-dos, round-robin cursors, webhook
deliveries and the automation settings."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import JSONType, UTCDateTime, VersionedMixin, utcnow
from app.extensions import db


class Rule(VersionedMixin, db.Model):
    __tablename__ = "automation_rules"
    # Dispatch looks rules up by (entity, event, enabled): cost follows the matching rules only.
    __table_args__ = (Index("ix_automation_rules_dispatch", "entity", "event", "enabled"),)

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    event: Mapped[str] = mapped_column(String(20), nullable=False)
    # Time events: {"field": "expires_on", "days": 30}; {"days": 3} for idle records.
    event_options: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    condition: Mapped[dict | None] = mapped_column(JSONType)
    actions: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # A failing action of a blocking rule fails the user's save; otherwise it is only logged.
    blocking: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Act on a record at most once (its actions done once): "won → create the contract" must
    # not make a second contract when the deal is reopened and won again.
    once_per_record: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship(lazy="joined")


class RuleRun(db.Model):
    """One evaluation of a rule on a record: the run log."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        Index("ix_automation_runs_rule_at", "rule_id", "at"),
        Index("ix_automation_runs_record", "entity", "record_id", "at"),
        Index("ix_automation_runs_outcome_at", "outcome", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("automation_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    record_id: Mapped[int | None] = mapped_column(Integer)
    record_label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    event: Mapped[str] = mapped_column(String(20), nullable=False)
    # matched / not_matched / failed / stopped (loop protection)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    conditions: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    actions: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    chain: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class FiredOccasion(db.Model):
    """A time event that fired: never again for the same rule, record and occasion."""

    __tablename__ = "automation_fired"
    __table_args__ = (UniqueConstraint("rule_id", "entity", "record_id", "occasion",
                                       name="uq_automation_fired_occasion"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"), nullable=False)
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    occasion: Mapped[str] = mapped_column(String(120), nullable=False)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Todo(VersionedMixin, db.Model):
    """A to-do for one user (待办), shown in the inbox from ``starts_at`` on."""

    __tablename__ = "automation_todos"
    __table_args__ = (Index("ix_automation_todos_user_open", "user_id", "done", "starts_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entity: Mapped[str | None] = mapped_column(String(20))
    record_id: Mapped[int | None] = mapped_column(Integer)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("automation_rules.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(lazy="joined")


class RoundRobinCursor(db.Model):
    """The member of a group who got the last round-robin assignment."""

    __tablename__ = "automation_round_robin"

    group_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(Integer)


class WebhookDelivery(db.Model):
    """One HTTP attempt of a webhook action: the response is logged here."""

    __tablename__ = "automation_webhook_deliveries"
    __table_args__ = (Index("ix_automation_webhook_deliveries_key", "delivery_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivery_key: Mapped[str] = mapped_column(String(120), nullable=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("automation_runs.id", ondelete="SET NULL"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("automation_rules.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status_code: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    response: Mapped[str] = mapped_column(Text, nullable=False, default="")
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Setting(db.Model):
    """Admin settings of the automation module (e.g. the webhook host allow-list)."""

    __tablename__ = "automation_settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[dict | list | str | None] = mapped_column(JSONType)
