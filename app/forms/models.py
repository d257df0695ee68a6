"""Form definitions: form-js schemas, stored with versions.

A row is never edited after it is written except for ``is_current``: saving a form makes a
new version, so tasks and instances that recorded a version keep seeing exactly that form.
"""
from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import JSONType, TimestampMixin
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
