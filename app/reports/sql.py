"""Portable SQL building blocks of the reports: time spans, week buckets, percentiles, JSON arrays.

PostgreSQL gets its native forms (``extract(epoch ...)``, ``percentile_cont``,
``jsonb_array_elements``); SQLite gets equivalents that give the same numbers. SQLite has
no ``percentile_cont``, so each connection gets aggregate functions with the same definition
(linear interpolation between the ranks ``floor`` and ``ceil`` of ``1 + p * (n - 1)``),
one per percentile the reports use. They run inside the query like any aggregate (the rows
never come back to the application); ranking with window functions (``row_number``/``count``)
gives the same result but measured about five times the cost of the scan itself on 100,000
rows, which would miss the one-second target of the process report.
"""
from __future__ import annotations

import json

from sqlalchemy import Float, Integer, cast, func, literal_column
from sqlalchemy.dialects import postgresql

from app.extensions import db

WEEK_S = 7 * 86400
MONDAY_S = 4 * 86400  # 1970-01-05 00:00 UTC was a Monday: weeks start on Mondays


def dialect() -> str:
    return db.session.get_bind().dialect.name


def epoch(col):
    """Seconds since 1970 of a UTC datetime column, as a float."""
    if dialect() == "postgresql":
        return cast(func.extract("epoch", col), Float)
    return (func.julianday(col) - 2440587.5) * 86400.0


def span(start, end):
    """Seconds from ``start`` to ``end`` (NULL when either is NULL)."""
    if dialect() == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def week_index(col, offset_s: int):
    """Number of the local week (Monday start, zone offset ``offset_s``) a datetime falls in."""
    shifted = (epoch(col) + float(offset_s - MONDAY_S)) / float(WEEK_S)
    if dialect() == "postgresql":
        return cast(func.floor(shifted), Integer)
    return cast(shifted, Integer)  # truncation = floor for dates after 1970


PERCENTILES = (0.5, 0.9)  # median and p90: every time figure of the reports


def percentiles(value):
    """One aggregate column with the median and p90 of ``value`` (NULLs left out); read it
    with :func:`unpack`. PostgreSQL: ``percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP``."""
    if dialect() == "postgresql":
        return func.percentile_cont(postgresql.array([literal_column(str(p)) for p in PERCENTILES])) \
            .within_group(value.asc())
    # FILTER: NULLs never reach the Python aggregate (fewer calls, nothing to weed out)
    return func.crm_percentiles(value).filter(value.is_not(None))


def unpack(raw) -> tuple:
    """(median, p90) from a :func:`percentiles` column (None, None when there were no values)."""
    if raw is None:
        return (None,) * len(PERCENTILES)
    if isinstance(raw, str):  # SQLite: the aggregate returns JSON text
        raw = json.loads(raw)
    return tuple(raw)


TASK_SPANS = ("waiting", "handling", "in_step")


def task_spans(created, claimed, finished) -> list:
    """Median and p90 of three spans of each task: waiting (``created`` → ``claimed``),
    handling (``claimed``, else ``created`` → ``finished``) and time in step (``created`` →
    ``finished``); ``finished`` is NULL for tasks that do not count as finished. Columns to
    select; read them with :func:`unpack_task_spans`.

    PostgreSQL: one ``percentile_cont`` per span. SQLite: one aggregate for all three, given
    each timestamp's ``julianday`` once; three :func:`percentiles` of :func:`span` parsed twelve
    timestamps per task (the FILTER repeats each span) and called into Python three times
    (the process report's step query: 3.0 → 2.1 billion instructions on 107k tasks). It
    subtracts the same doubles as :func:`span`, so the values are identical."""
    if dialect() == "postgresql":
        starts = {"waiting": created, "handling": func.coalesce(claimed, created), "in_step": created}
        ends = {"waiting": claimed, "handling": finished, "in_step": finished}
        return [percentiles(span(starts[name], ends[name])).label(name) for name in TASK_SPANS]
    return [func.crm_task_spans(func.julianday(created), func.julianday(claimed), func.julianday(finished))
            .label("task_spans")]


def unpack_task_spans(row) -> dict[str, tuple]:
    """{span name: (median, p90)} from a row holding the :func:`task_spans` columns."""
    values = row._mapping
    if "task_spans" not in values:
        return {name: unpack(values[name]) for name in TASK_SPANS}
    raw = json.loads(values["task_spans"] or "[null, null, null]")
    return {name: unpack(item) for name, item in zip(TASK_SPANS, raw)}


def rare(condition):
    """A WHERE condition few rows meet (history events such as "delegated"): tells SQLite's
    planner to start from it instead of from the instances (measured 190 → 55 ms CPU)."""
    if dialect() == "postgresql":
        return condition
    return func.likelihood(condition, literal_column("0.001"))  # must be a literal, not a parameter


def percentile_cont(values: list, p: float):
    """Linear interpolation between the two closest ranks of ``values`` (sorted, no NULLs)."""
    if not values:
        return None
    pos = p * (len(values) - 1)
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (pos - low) * (values[high] - values[low])


class _Percentiles:
    """SQLite aggregate ``crm_percentiles(value)``: PostgreSQL's ``percentile_cont`` at each
    of :data:`PERCENTILES`, as a JSON array."""

    __slots__ = ("values", "step")

    def __init__(self):
        self.values = []
        self.step = self.values.append  # called per row: a C method, no Python frame

    def finalize(self):
        if not self.values:
            return None
        self.values.sort()
        return json.dumps([percentile_cont(self.values, p) for p in PERCENTILES])


class _TaskSpans:
    """SQLite aggregate ``crm_task_spans(created, claimed, finished)`` over julian days: the
    percentiles of :func:`task_spans`, as a JSON array of three (median, p90) pairs or nulls."""

    __slots__ = TASK_SPANS

    def __init__(self):
        self.waiting, self.handling, self.in_step = [], [], []

    def step(self, created, claimed, finished):
        # (end - start) * 86400.0: the very operations of span() in SQLite
        if claimed is not None:
            self.waiting.append((claimed - created) * 86400.0)
        if finished is not None:
            self.handling.append((finished - (created if claimed is None else claimed)) * 86400.0)
            self.in_step.append((finished - created) * 86400.0)

    def finalize(self):
        out = []
        for values in (self.waiting, self.handling, self.in_step):
            values.sort()
            out.append([percentile_cont(values, p) for p in PERCENTILES] if values else None)
        return json.dumps(out)


def register_sqlite_functions() -> None:
    """Give every new SQLite connection ``crm_percentiles`` and ``crm_task_spans`` (called
    once, from init_app)."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if getattr(register_sqlite_functions, "done", False):
        return

    @event.listens_for(Engine, "connect")
    def _add_functions(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.create_aggregate("crm_percentiles", 1, _Percentiles)
            dbapi_connection.create_aggregate("crm_task_spans", 3, _TaskSpans)

    register_sqlite_functions.done = True


def json_array_items(col):
    """A table-valued function over the items of a JSON array column and a getter of an
    item's field as text: ``items, field = json_array_items(T.c.actions)``; ``field("status")``.
    ``items.c.value`` is the item itself (for arrays of strings: the string)."""
    if dialect() == "postgresql":
        items = func.jsonb_array_elements(col).table_valued("value", joins_implicitly=True)
        return items, lambda name: items.c.value.op("->>")(name)
    items = func.json_each(col).table_valued("value", joins_implicitly=True)
    return items, lambda name: func.json_extract(items.c.value, f"$.{name}")


def json_text_items(col):
    """Items of a JSON array of strings, as text (candidate groups)."""
    if dialect() == "postgresql":
        return func.jsonb_array_elements_text(col).table_valued("value", joins_implicitly=True)
    return func.json_each(col).table_valued("value", joins_implicitly=True)
