"""Column types and mixins shared by every module's models."""
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import JSON, DateTime, Integer, bindparam, event, insert, inspect, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from app.extensions import db

class JSONType(TypeDecorator):
    """JSON documents: JSONB on PostgreSQL (compact, indexable), JSON text on SQLite."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def jsonable(value):
    """A value as JSON columns, logs and API answers hold it: numbers as the API writes them
    (amounts are JSON numbers), dates and datetimes in ISO 8601."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


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


# --- append-only rows without the unit of work ---------------------------------------------

_ROW_SPECS: dict = {}


def _row_spec(cls):
    """(table, pk attribute, pk column, [(attribute, column key, default, has server default)],
    statements) of ``cls``."""
    spec = _ROW_SPECS.get(cls)
    if spec is None:
        mapper = inspect(cls)
        assert mapper.version_id_col is None and len(mapper.primary_key) == 1, mapper
        pk = mapper.get_property_by_column(mapper.primary_key[0]).key
        columns = [(prop.key, prop.columns[0].key, prop.columns[0].default, prop.columns[0].server_default is not None)
                   for prop in mapper.column_attrs if prop.key != pk]
        spec = _ROW_SPECS[cls] = (mapper.local_table, pk, mapper.primary_key[0], columns, {})
    return spec


def insert_row(obj, session=None):
    """INSERT ``obj`` (a new instance of a model without a version column) with one Core
    statement in the session's transaction, and give it its id.

    For append-only rows (run logs) that nothing reads back as ORM objects in the same
    transaction, where the ORM would flush the whole session just to write them: no unit of
    work. Unset columns get their Python default (set on ``obj`` too, as a flush would).
    ``obj`` stays transient (not in the session): its relationships are not loaded.
    """
    table, pk, _pk_column, columns, statements = _row_spec(type(obj))
    state, values = obj.__dict__, {}
    for key, column, default, server_default in columns:
        if key in state:
            values[column] = state[key]
        elif default is not None:
            value = default.arg(None) if default.is_callable else default.arg
            state[key] = value  # a transient object: no change history to keep
            values[column] = value
        elif not server_default:
            values[column] = None
    stmt = statements.get("insert")
    if stmt is None:
        stmt = statements["insert"] = insert(table)
    result = (session if session is not None else db.session).connection().execute(stmt, values)
    if state.get(pk) is None:
        state[pk] = result.inserted_primary_key[0]
    return obj


def update_row(obj, session=None):
    """UPDATE the row of ``obj`` (written by :func:`insert_row`) with its current values."""
    table, pk, pk_column, columns, statements = _row_spec(type(obj))
    state = obj.__dict__
    values = {column: state[key] for key, column, _default, _server in columns if key in state}
    stmt = statements.get(tuple(values))
    if stmt is None:
        stmt = statements[tuple(values)] = update(table).where(pk_column == bindparam("_pk"))
    (session if session is not None else db.session).connection().execute(stmt, {**values, "_pk": state[pk]})
    return obj


def delete_in_batches(model, *conditions, batch: int = 5000) -> int:
    """Delete ``model`` rows matching ``conditions``, ``batch`` rows per committed transaction
    (one long delete would hold SQLite's writer lock against every request); returns how many
    went. For clean-ups of old log rows, run by the worker."""
    removed = 0
    while True:
        ids = select(model.id).where(*conditions).order_by(model.id).limit(batch)
        count = db.session.execute(db.delete(model).where(model.id.in_(ids.scalar_subquery())),
                                   execution_options={"synchronize_session": False}).rowcount
        db.session.commit()
        removed += count
        if count < batch:
            return removed


# --- look-ups repeated within one transaction ----------------------------------------------

MEMO = "transaction_memo"  # the session.info key of the remembered values


def transaction_memo(key, factory, depends_on: tuple = ()):
    """``factory()``, computed once per transaction of the current session.

    For rows that rarely change but that one request reads many times (custom field
    definitions: once per record event, per form field checked …). The value is dropped at
    commit and at any rollback (a savepoint's too: it may undo a change), and as soon as the
    session has a change — pending or being flushed — to an instance of ``depends_on``
    (model classes), so the transaction always sees its own changes, as a query would.
    """
    session = db.session()
    memo = session.info.setdefault(MEMO, {})
    if key in memo and _touches(session, memo[key][1]):
        del memo[key]
    if key not in memo:
        memo[key] = (factory(), tuple(depends_on))
    return memo[key][0]


def _touches(session, classes: tuple, changed: set | None = None) -> bool:
    """The session holds a change (pending, dirty or deleted) to an instance of ``classes``
    (``changed``: the classes of the session's changed objects, if already known)."""
    if not classes:
        return False
    return any(issubclass(cls, classes) for cls in (_changed_classes(session) if changed is None else changed))


def _changed_classes(session) -> set:
    return {type(obj) for objects in (session.new, session.dirty, session.deleted) for obj in objects}


def _forget(session, *args):
    session.info.pop(MEMO, None)


def _forget_at_end(session, transaction):
    if transaction.parent is None:  # the outermost transaction (a savepoint's release keeps it)
        session.info.pop(MEMO, None)


def _forget_changed(session, flush_context, instances):
    memo = session.info.get(MEMO)
    if memo:
        changed = _changed_classes(session)  # once per flush, not once per remembered value
        for key in [k for k, (_, classes) in memo.items() if _touches(session, classes, changed)]:
            del memo[key]


event.listen(Session, "after_transaction_end", _forget_at_end)
event.listen(Session, "after_soft_rollback", _forget)
event.listen(Session, "before_flush", _forget_changed)


# --- rows read as plain data ---------------------------------------------------------------

def plain_type(cls, name: str, doc: str, **members):
    """A class whose instances hold the mapped columns of ``cls`` as plain attributes
    (``__slots__``, same names), plus ``members`` (properties for the relationships used).

    For rows that are read many times and never changed through the object (rules and
    bindings while they run): building them from a Core row costs about a third of loading
    ORM objects (identity map, instrumented attributes, joined relationships).
    """
    props = list(inspect(cls).column_attrs)
    keys = tuple(prop.key for prop in props)

    def __init__(self, row):
        for key, value in zip(keys, row):
            setattr(self, key, value)

    def __repr__(self):
        return f"<{name} {getattr(self, 'id', None)}>"

    plain = type(name, (), {"__slots__": keys, "__init__": __init__, "__repr__": __repr__, "__doc__": doc,
                            "__module__": cls.__module__, **members})
    plain.select = lambda: select(*(prop.columns[0] for prop in props))  # noqa: E731 - the columns, in order
    return plain


def read_plain(plain, stmt, params=None, session=None) -> list:
    """``plain`` instances (see :func:`plain_type`) from the rows of ``stmt`` (built on
    ``plain.select()``), in the session's transaction. The session autoflushes first, as an
    ORM query would, so the rows include the transaction's pending changes."""
    session = session if session is not None else db.session()
    if session.autoflush:  # False inside ``no_autoflush``, as a query would honour
        session.flush()
    return [plain(row) for row in session.connection().execute(stmt, params or {})]
