"""Users by username, each looked up at most once per transaction.

One user action names the same people again and again (the actor of each service task, the
reporter, the manager a rule notifies and the inbox offers the task to); the session's
identity map cannot answer "by username", so this remembers the answers until the
transaction ends or a user changes in it (``app.db.transaction_memo``).
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import bindparam, select

from app.auth.models import User
from app.db import transaction_memo
from app.extensions import db

# Built once: building a statement and its cache key cost more than running it.
_USERS_NAMED = select(User).where(User.username.in_(bindparam("names", expanding=True)))


def creator(row) -> User | None:
    """The user ``row.created_by_id`` names (for rows read as plain data, which carry the id only)."""
    return db.session.get(User, row.created_by_id) if row.created_by_id is not None else None


def users_named(names: Iterable[str]) -> dict[str, User]:
    """``{username: User}`` for those of ``names`` that exist (active or not)."""
    wanted = {name for name in names if isinstance(name, str) and name}
    known: dict[str, User | None] = transaction_memo("auth.users_named", dict, depends_on=(User,))
    missing = wanted - known.keys()
    if missing:
        found = {u.username: u for u in db.session.scalars(_USERS_NAMED, {"names": sorted(missing)})}
        known.update({name: found.get(name) for name in missing})
    return {name: known[name] for name in wanted if known[name] is not None}


def user_named(name: str | None) -> User | None:
    return users_named([name]).get(name) if name else None
