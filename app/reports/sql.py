"""Portable SQL building blocks of the reports: time spans, week buckets, percentiles, JSON arrays.

PostgreSQL gets its native forms (``extract(epoch ...)``, ``percentile_cont``,
``jsonb_array_elements``); SQLite gets equivalents that give the same numbers:
``percentile_cont`` is linear interpolation between the ranks ``floor`` and ``ceil`` of
``1 + p * (n - 1)``, which window functions (``row_number``/``count``) compute in one pass.
"""
from __future__ import annotations

from sqlalchemy import Float, Integer, case, cast, func, literal, select

from app.extensions import db

PERCENTILES = (0.5, 0.9)
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


def percentile_name(value: str, p: float) -> str:
    return f"{value}_p{round(p * 100)}"


def percentiles(source, keys: list[str], values: list[str], ps=PERCENTILES):
    """``SELECT keys, <v>_n, <v>_p50, <v>_p90 ... FROM source GROUP BY keys``.

    ``source`` is a subquery with the ``keys`` and ``values`` columns; NULL values are left out
    (as ``percentile_cont`` does).
    """
    key_cols = [source.c[k] for k in keys]
    out = []
    if dialect() == "postgresql":
        for v in values:
            col = source.c[v]
            out.append(func.count(col).label(f"{v}_n"))
            out += [func.percentile_cont(p).within_group(col.asc()).label(percentile_name(v, p)) for p in ps]
        return select(*key_cols, *out).group_by(*key_cols)
    partition = key_cols or None
    ranked_cols = []
    for v in values:
        col = source.c[v]
        ranked_cols += [col.label(v),
                        func.row_number().over(partition_by=partition, order_by=col.asc().nulls_last()).label(f"{v}_rn"),
                        func.count(col).over(partition_by=partition).label(f"{v}_n")]
    ranked = select(*key_cols, *ranked_cols).subquery()
    for v in values:
        val, rn, n = ranked.c[v], ranked.c[f"{v}_rn"], ranked.c[f"{v}_n"]
        out.append(func.max(n).label(f"{v}_n"))
        for p in ps:
            pos = literal(p, Float) * (n - 1)  # 0-based rank of the percentile
            low = cast(pos, Integer)
            frac = pos - low
            # No ELSE: rows that are neither neighbour add NULL, which SUM ignores; a group
            # without values sums only NULLs and gives NULL, like percentile_cont.
            out.append(func.sum(case((rn == low + 1, val * (1 - frac)), (rn == low + 2, val * frac)))
                       .label(percentile_name(v, p)))
    rkeys = [ranked.c[k] for k in keys]
    return select(*rkeys, *out).group_by(*rkeys)


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
