"""Form definitions: form-js schemas, stored with versions.

A row is never edited after it is written except for ``is_current``: saving a form makes a
new version, so tasks and instances that recorded a version keep seeing exactly that form.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import JSONType, TimestampMixin, UTCDateTime, VersionedMixin, utcnow
from app.extensions import db


class FormDefinition(TimestampMixin, db.Model):
    __tablename__ = "form_definitions"
    __table_args__ = (
        UniqueConstraint("key", "version", name="uq_form_definitions_key_version"),
        # At most one current version per key, enforced by the database (two designers
        # saving at once cannot both become current).
        Index("ix_form_definitions_current_key", "key", unique=True,
              postgresql_where=text("is_current"), sqlite_where=text("is_current")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    is_current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    schema: Mapped[dict] = mapped_column(JSONType, nullable=False)
    # SHA-256 of the canonical schema JSON + name: loading the same shipped file again is a no-op.
    checksum: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    created_by = relationship("User", lazy="joined")

    @property
    def created_by_username(self) -> str | None:
        return self.created_by.username if self.created_by else None

    def __repr__(self) -> str:
        return f"<FormDefinition {self.key} v{self.version}>"


class FormBinding(VersionedMixin, db.Model):
    """An embedded process (嵌入式流程): a CRM action starts a process with a form's data.

    ``mapping``: ``[{"field": record field, "to": process variable / form field}]``;
    ``condition``: an automation-rule condition on the record (None: always).
    """

    __tablename__ = "form_bindings"
    __table_args__ = (Index("ix_form_bindings_action", "entity", "event", "enabled"),)

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    entity: Mapped[str] = mapped_column(String(40), nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    process_key: Mapped[str] = mapped_column(String(120), nullable=False)
    form_key: Mapped[str | None] = mapped_column(String(80))
    mapping: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    condition: Mapped[dict | None] = mapped_column(JSONType)
    # A record already running this process does not get a second one (防止重复执行).
    skip_if_running: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Customer reports (客户报备): the customer's report_status is "pending" while the process runs.
    report_pending: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    created_by = relationship("User", lazy="joined")

    @property
    def action(self) -> str:
        return f"{self.entity}.{self.event}"


class BindingRun(db.Model):
    """What a binding did for one record event: the record's log of embedded processes."""

    __tablename__ = "form_binding_runs"
    __table_args__ = (Index("ix_form_binding_runs_record", "entity", "record_id"),
                      # The home page counts the starts that failed lately.
                      Index("ix_form_binding_runs_outcome_at", "outcome", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    binding_id: Mapped[int | None] = mapped_column(ForeignKey("form_bindings.id", ondelete="SET NULL"), index=True)
    binding_name: Mapped[str] = mapped_column(String(200), nullable=False)
    entity: Mapped[str] = mapped_column(String(40), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # started, not_matched, skipped, failed
    process_key: Mapped[str] = mapped_column(String(120), nullable=False)
    instance_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
