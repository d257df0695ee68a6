"""Rule conditions: a JSON tree of AND/OR groups over ``{field, op, value}`` leaves.

    {"and": [{"field": "registered_capital", "op": "ge", "value": 10000000},
             {"or": [{"field": "province", "op": "contains", "value": "福建"}, ...]}]}

An empty condition (None or {}) always matches. Every leaf is evaluated (no short-circuit)
so the run log and the dry run can show each one's result.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from app.automation.fields import (BOOLEAN, CHOICE, DATE, DATETIME, NUMBER, TEXT, USER, BadValue,
                                   FieldSpec, comparable, coerce)
from app.clock import company_zone
from app.db import jsonable

# Canonical operator names; the aliases are what people type (API users, the demo in API.md).
OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "contains", "not_contains", "in", "is_empty",
             "is_not_empty", "changed", "changed_to", "changed_from")
ALIASES = {"=": "eq", "==": "eq", "≠": "ne", "!=": "ne", "<>": "ne", ">": "gt", "≥": "ge", ">=": "ge",
           "<": "lt", "≤": "le", "<=": "le", "not_in": None}
NO_VALUE = frozenset({"is_empty", "is_not_empty", "changed"})
LIST_VALUE = frozenset({"in"})

_CHANGE = CHANGE_OPERATORS = ("changed", "changed_to", "changed_from")
_EMPTY = ("is_empty", "is_not_empty")
OPERATORS_BY_TYPE = {
    TEXT: ("eq", "ne", "contains", "not_contains", "in", *_EMPTY, *_CHANGE),
    NUMBER: ("eq", "ne", "gt", "ge", "lt", "le", "in", *_EMPTY, *_CHANGE),
    DATE: ("eq", "ne", "gt", "ge", "lt", "le", *_EMPTY, *_CHANGE),
    DATETIME: ("gt", "ge", "lt", "le", *_EMPTY, "changed"),
    CHOICE: ("eq", "ne", "in", *_EMPTY, *_CHANGE),
    USER: ("eq", "ne", "in", *_EMPTY, *_CHANGE),
    BOOLEAN: ("eq", "ne", "changed", "changed_to", "changed_from"),
}


def canonical_op(op) -> str | None:
    if not isinstance(op, str):
        return None
    op = op.strip()
    if op in OPERATORS:
        return op
    return ALIASES.get(op)


@dataclass
class LeafResult:
    path: str
    field: str
    op: str
    value: object
    actual: object
    result: bool

    def to_dict(self) -> dict:
        return {"path": self.path, "field": self.field, "op": self.op, "value": jsonable(self.value),
                "actual": jsonable(self.actual), "result": self.result}


def is_group(node) -> bool:
    return isinstance(node, dict) and ("and" in node or "or" in node) and "field" not in node


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _as_day(value):
    # A moment's day is the company's, as "today" is (a naive value is already wall time).
    if isinstance(value, datetime):
        return value.astimezone(company_zone()).date() if value.tzinfo else value.date()
    return value


def _same(spec: FieldSpec, left, right) -> bool:
    if spec.type == TEXT and isinstance(left, str) and isinstance(right, str):
        return left.strip() == right.strip()
    if spec.type in (DATE, DATETIME):
        return _as_day(left) == _as_day(right)
    return left == right


def _order(spec: FieldSpec, left, right):
    if spec.type == DATETIME and isinstance(right, date) and not isinstance(right, datetime):
        left = _as_day(left)
    return left, right


def compare(spec: FieldSpec, op: str, actual, expected, change: tuple | None, today: date) -> bool:
    """One leaf: ``actual`` is the record's value, ``expected`` the condition's (already
    coerced), ``change`` the (old, new) pair if this event changed the field."""
    actual = comparable(spec, actual, today)
    if op == "is_empty":
        return _empty(actual)
    if op == "is_not_empty":
        return not _empty(actual)
    if op in _CHANGE:
        if change is None:
            return False
        old, new = (comparable(spec, v, today) for v in change)
        if _same(spec, old, new) or (_empty(old) and _empty(new)):
            return False
        if op == "changed":
            return True
        return _same(spec, new if op == "changed_to" else old, expected)
    if op == "eq":
        return actual is not None and _same(spec, actual, expected)
    if op == "ne":
        return actual is None or not _same(spec, actual, expected)
    if op == "in":
        return actual is not None and any(_same(spec, actual, item) for item in expected)
    if op in ("contains", "not_contains"):
        found = actual is not None and str(expected).casefold() in str(actual).casefold()
        return found if op == "contains" else not found
    if actual is None or expected is None:
        return False
    left, right = _order(spec, actual, expected)
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


def expected_value(spec: FieldSpec, op: str, value, today: date | None = None):
    """The condition's value coerced to the field's type; BadValue says what is wrong."""
    if op in NO_VALUE:
        return None
    if op in LIST_VALUE:
        if not isinstance(value, list) or not value:
            raise BadValue(_l("a non-empty list of values is expected"))
        return [as_stored(spec, coerce(spec, item, today)) for item in value]
    if op in ("contains", "not_contains"):
        if value is None or str(value) == "":
            raise BadValue(_l("a text to look for is expected"))
        return str(value)
    if value is None or value == "":
        raise BadValue(_l("a value is expected"))
    return as_stored(spec, coerce(spec, value, today))


def as_stored(spec: FieldSpec, value):
    if spec.canonical is None or not isinstance(value, str):
        return value
    try:
        return spec.canonical(value)
    except ValueError:  # not a valid phone, say: compared as typed, matching nothing stored
        return value


def evaluate(condition, fields: dict[str, FieldSpec], get, changes: dict, today: date):
    """(matched, [LeafResult]) for ``condition`` against a record read through ``get(field)``.

    The condition must have been validated; a leaf on an unknown field counts as False.
    """
    results: list[LeafResult] = []

    def walk(node, path: str) -> bool:
        if is_group(node):
            key = "and" if "and" in node else "or"
            prefix = f"{path}.{key}" if path else key
            outcomes = [walk(child, f"{prefix}.{i}") for i, child in enumerate(node.get(key) or [])]
            if not outcomes:
                return True
            return all(outcomes) if key == "and" else any(outcomes)
        name, op = node.get("field"), canonical_op(node.get("op"))
        spec = fields.get(name)
        if spec is None or op is None:
            results.append(LeafResult(path, str(name), str(node.get("op")), node.get("value"), None, False))
            return False
        try:
            expected = expected_value(spec, op, node.get("value"), today)
        except BadValue:
            results.append(LeafResult(path, name, op, node.get("value"), None, False))
            return False
        actual = get(name)
        outcome = compare(spec, op, actual, expected, changes.get(name), today)
        results.append(LeafResult(path, name, op, node.get("value"), actual, outcome))
        return outcome

    if not condition:
        return True, results
    return walk(condition, ""), results
