"""A process's working copy: saved (and autosaved) without deploying."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import JSONType, UTCDateTime, VersionedMixin
from app.extensions import db


class ProcessDraft(VersionedMixin, db.Model):
    """One shared draft per process key; ``version`` guards against two editors overwriting."""

    __tablename__ = "process_drafts"

    process_key: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    xml: Mapped[str] = mapped_column(Text, nullable=False)
    # Deployed version this draft started from (None: never deployed yet).
    base_version: Mapped[int | None] = mapped_column(Integer)
    # False right after a deploy or when opened from a deployed version: nothing to deploy.
    has_changes: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    autosaved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    updated_by = relationship("User", lazy="joined")

    @property
    def updated_by_username(self) -> str | None:
        return self.updated_by.username if self.updated_by else None

    def __repr__(self) -> str:
        return f"<ProcessDraft {self.process_key} v{self.version}>"


class ProcessTestRun(VersionedMixin, db.Model):
    """A sandboxed instance of a draft: operations are recorded, never run; deleted when the
    designer closes it (and any left over after a day)."""

    __tablename__ = "process_test_runs"

    process_key: Mapped[str] = mapped_column(String(80), nullable=False)
    xml: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    log: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
