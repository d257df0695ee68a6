"""Column types and mixins shared by every module's models."""
from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, Integer, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

class JSONType(TypeDecorator):
    """JSON documents: JSONB on PostgreSQL (compact, indexable), JSON text on SQLite."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


# Ids are INTEGER columns (32-bit on PostgreSQL): larger numbers cannot be ids, and they
# would overflow the database driver, so every id taken from a request is checked against this.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zones, so values are stored as naive UTC and given their zone back
    on the way out; a naive value coming in is refused rather than guessed at.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class VersionedMixin(TimestampMixin):
    """id, timestamps and an optimistic-locking ``version`` (API.md: every record has them).

    SQLAlchemy bumps ``version`` on every UPDATE and raises StaleDataError when the row
    changed underneath; the API turns that into 409.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}


__all__ = ["JSONType", "UTCDateTime", "TimestampMixin", "VersionedMixin", "utcnow"]


# --- look-ups repeated within one transaction ----------------------------------------------

_MEMO = "transaction_memo"


def transaction_memo(key, factory, depends_on: tuple = ()):
    """``factory()``, computed once per transaction of the current session.

    For rows that rarely change but that one request reads many times (custom field
    definitions: once per record event, per form field checked …). The value is dropped at
    commit and at any rollback (a savepoint's too: it may undo a change), and as soon as the
    session has a change — pending or being flushed — to an instance of ``depends_on``
    (model classes), so the transaction always sees its own changes, as a query would.
    """
    from app.extensions import db

    session = db.session()
    memo = session.info.setdefault(_MEMO, {})
    if key in memo and _touches(session, memo[key][1]):
        del memo[key]
    if key not in memo:
        memo[key] = (factory(), tuple(depends_on))
    return memo[key][0]


def _touches(session, classes: tuple) -> bool:
    """The session holds a change (pending, dirty or deleted) to an instance of ``classes``."""
    return bool(classes) and any(isinstance(obj, classes)
                                 for objects in (session.new, session.dirty, session.deleted) for obj in objects)


def _forget(session, *args):
    session.info.pop(_MEMO, None)


def _forget_at_end(session, transaction):
    if transaction.parent is None:  # the outermost transaction (a savepoint's release keeps it)
        session.info.pop(_MEMO, None)


def _forget_changed(session, flush_context, instances):
    memo = session.info.get(_MEMO)
    if memo:
        for key in [k for k, (_, classes) in memo.items() if _touches(session, classes)]:
            del memo[key]


event.listen(Session, "after_transaction_end", _forget_at_end)
event.listen(Session, "after_soft_rollback", _forget)
event.listen(Session, "before_flush", _forget_changed)
