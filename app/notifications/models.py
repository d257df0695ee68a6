from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, utcnow
from app.extensions import db


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    text: Mapped[str] = mapped_column(String(2000), nullable=False)
    link: Mapped[str | None] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default="info")
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The task this notice asks its reader to act on (new, delegated, overdue): it counts as
    # read once the task is done, or taken by someone else, so unread means "yours to do".
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id", ondelete="SET NULL"), index=True)

    @property
    def read(self) -> bool:
        return self.read_at is not None
