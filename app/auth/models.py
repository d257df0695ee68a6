from __future__ import annotations

import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Table, Column, bindparam, event, inspect, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import MEMO, UTCDateTime, VersionedMixin, transaction_memo, utcnow
from app.extensions import db

ROLES = ("admin", "designer", "approver", "sales")

group_members = Table(
    "group_members",
    db.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(UserMixin, VersionedMixin, db.Model):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # Deactivated users keep their records and tasks; they just cannot log in or be picked.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    locale: Mapped[str | None] = mapped_column(String(16))  # chosen by the user (the language switch)
    # The language their last login was read in (their browser's, unless chosen): what the worker
    # writes for someone who never chose one, without making the browser's a choice for good.
    reads_in: Mapped[str | None] = mapped_column(String(16))
    email_notifications: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="1")

    # Loaded when first used, not with every user: most look-ups (notifications, owners,
    # actors) never read them, and eager groups pulled in every member of every group.
    # Lists that show them ask for them (selectinload).
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="select"
    )
    groups: Mapped[list[Group]] = relationship(
        secondary=group_members, back_populates="members", lazy="select"
    )

    # flask-login
    @property
    def is_active(self) -> bool:
        return self.active

    # The browser session this user object was loaded for (or opened by a login): its token,
    # whose hash a LoginSession row keeps until the logout ends it. Not a column.
    login_token = None

    def get_id(self) -> str:
        """The session names the password it was opened with, so a password reset ends every
        session (and remember-me cookie) opened before it, and its own login, which a logout
        ends on the server: a copied cookie or remember-me token stops working with it."""
        return f"{self.id}:{self.session_key}:{self.login_token or ''}"

    @property
    def session_key(self) -> str:
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:20]

    @property
    def writes_in(self) -> str | None:
        """The language texts written for this user outside a request are in (None: the default)."""
        return self.locale or self.reads_in

    @property
    def role_names(self) -> set[str]:
        names = _names_per_transaction(self, "roles")
        return names if names is not None else {r.role for r in self.roles}

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return self.has_role("admin")

    @property
    def group_names(self) -> set[str]:
        names = _names_per_transaction(self, "groups")
        return names if names is not None else {g.name for g in self.groups}

    @property
    def sorted_roles(self) -> list[str]:
        return sorted(self.role_names)

    @property
    def sorted_groups(self) -> list[str]:
        return sorted(self.group_names)

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[User] = relationship(back_populates="roles")


class Group(VersionedMixin, db.Model):
    """A group or department: candidate groups of tasks, visibility scope of managers."""

    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))

    manager: Mapped[User | None] = relationship(foreign_keys=[manager_id], lazy="joined")
    members: Mapped[list[User]] = relationship(
        secondary=group_members, back_populates="groups", lazy="select"
    )

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def manager_username(self) -> str | None:
        return self.manager.username if self.manager else None

    @property
    def member_usernames(self) -> list[str]:
        return sorted(u.username for u in self.members)


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class LoginSession(db.Model):
    """A browser session opened by a login, until its logout (or a password change) ends it."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)


class LoginAttempt(db.Model):
    """Recent login attempts, kept in the database so throttling holds across processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), nullable=False)
    ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)


# Role and group names are asked for on every permission check. Loading the relationship
# builds an ORM collection; one column query per transaction gives the same answer for about
# a third of the CPU time, and sees other processes' changes at the next transaction.
_NAMES = {
    "roles": (select(UserRole.role).where(UserRole.user_id == bindparam("user_id")), (User, UserRole)),
    "groups": (select(Group.name).join(group_members, group_members.c.group_id == Group.id)
               .where(group_members.c.user_id == bindparam("user_id")), (User, Group)),
}


def _names_per_transaction(user: User, attribute: str) -> set[str] | None:
    """``user``'s role or group names, read once per transaction of the app's session (and
    again when the user is expired, by a rollback, ``expire`` or ``refresh``), and read again
    as soon as the session holds a change to a user, role or group. None (use the relationship) when it is loaded, i.e. being read or changed through
    it, or when ``user`` is not a persistent object of the app's session."""
    state = inspect(user)
    if attribute in state.dict or state.key is None or state.session is None:
        return None
    try:
        if state.session is not db.session():
            return None
    except RuntimeError:  # outside an application context
        return None
    user_id = state.key[1][0]
    statement, depends_on = _NAMES[attribute]
    return set(transaction_memo(("auth." + attribute, user_id),
                                lambda: db.session.scalars(statement, {"user_id": user_id}).all(),
                                depends_on=depends_on))


@event.listens_for(User, "expire")
def _forget_names(user: User | None, attributes) -> None:
    state = inspect(user) if user is not None else None  # (None: already garbage-collected)
    memo = state.session.info.get(MEMO) if state is not None and state.session and state.key else None
    if memo:
        memo.pop(("auth.roles", state.key[1][0]), None)
        memo.pop(("auth.groups", state.key[1][0]), None)
