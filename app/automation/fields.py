"""Field metadata: what a rule may refer to on each record type.

Rules, conditions and actions are validated and evaluated against ``FieldSpec``s only, so the
evaluator does not depend on how a record is stored. ``app.automation.catalog`` builds the
specs from the CRM models (and their custom fields); tests may build them directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
import re

from flask_babel import lazy_gettext as _l

from app.clock import company_today

TEXT, NUMBER, DATE, DATETIME, CHOICE, USER, BOOLEAN = "text", "number", "date", "datetime", "choice", "user", "boolean"
FIELD_TYPES = (TEXT, NUMBER, DATE, DATETIME, CHOICE, USER, BOOLEAN)
TYPE_LABELS = {TEXT: _l("text"), NUMBER: _l("number"), DATE: _l("date"), DATETIME: _l("date and time"),
               CHOICE: _l("choice"), USER: _l("user"), BOOLEAN: _l("yes/no")}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: object = ""
    choices: tuple = ()  # allowed values of a choice field
    writable: bool = True  # rules may set it
    required: bool = False  # a record created by a rule needs it
    choice_labels: tuple = ()  # (value, label) pairs where the values are codes (stages, statuses)
    # What the record would say about a literal value (``check(value) -> message | None``):
    # ranges, lengths and formats beyond the type, so a rule cannot be saved to write -5 into 金额.
    check: object = field(default=None, compare=False)
    # How the record stores a text typed in other ways (Fujian, 闽 → 福建; a phone in full-width
    # digits): a condition's value is read alike, or "省份 = Fujian" never matched.
    canonical: object = field(default=None, compare=False)

    @property
    def said(self) -> str:
        """How messages name the field: its label in the reader's language."""
        return str(self.label or self.name)

    @property
    def type_said(self) -> str:
        return str(TYPE_LABELS.get(self.type, self.type))

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "label": self.said,
                "choices": list(self.choices), "writable": self.writable, "required": self.required,
                "choice_labels": {value: str(label) for value, label in self.choice_labels}}


@dataclass
class EntitySpec:
    name: str
    label: object
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    # Events this record type emits besides created/updated/deleted.
    extra_events: tuple = ()

    def field(self, name: str) -> FieldSpec | None:
        return self.fields.get(name)


class BadValue(ValueError):
    """A value that does not fit a field's type; the message says why."""


LARGEST_NUMBER = Decimal(10) ** 15
_RELATIVE_DAY = re.compile(r"^today\s*(?:([+-])\s*(\d{1,5}))?$", re.IGNORECASE)


def parse_relative_day(text: str, today: date) -> date | None:
    """``today``, ``today+30``, ``today-7`` → a date; anything else → None."""
    match = _RELATIVE_DAY.match(text.strip())
    if not match:
        return None
    days = int(match.group(2) or 0)
    return today + timedelta(days=-days if match.group(1) == "-" else days)


def coerce(spec: FieldSpec, value, today: date | None = None):
    """``value`` as the Python value of ``spec``'s type (None stays None); BadValue if it cannot be."""
    if value is None or (isinstance(value, str) and value.strip() == "" and spec.type != TEXT):
        return None
    kind = spec.type
    if kind == TEXT:
        return str(value)
    if kind == NUMBER:
        if isinstance(value, bool):
            raise BadValue(_l("not a number"))
        try:
            number = Decimal(str(value).replace(",", "").strip())
        except InvalidOperation:
            raise BadValue(_l("not a number")) from None
        if not number.is_finite():
            raise BadValue(_l("not a number"))
        if abs(number) >= LARGEST_NUMBER:  # no field holds it; 1e309 would be stored as JSON's invalid Infinity
            raise BadValue(_l("too large"))
        return number
    if kind in (DATE, DATETIME):
        if isinstance(value, datetime):
            return value.date() if kind == DATE else value
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            relative = parse_relative_day(value, today or company_today())
            if relative is not None:
                return relative
            try:
                if kind == DATE or len(value.strip()) == 10:
                    return date.fromisoformat(value.strip()[:10])
                return datetime.fromisoformat(value.strip())
            except ValueError:
                raise BadValue(_l("not a date (YYYY-MM-DD, or today±N)")) from None
        raise BadValue(_l("not a date (YYYY-MM-DD, or today±N)"))
    if kind == CHOICE:
        text = str(value)
        if spec.choices and text not in spec.choices:
            raise BadValue(_l("not one of: %(choices)s", choices=", ".join(map(str, spec.choices))))
        return text
    if kind == USER:
        if not isinstance(value, str):
            raise BadValue(_l("a username is expected"))
        return value
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise BadValue(_l("not true or false"))
    raise BadValue(f"unknown field type {kind}")


def comparable(spec: FieldSpec, value, today: date | None = None):
    """Like ``coerce`` but never raises (a stored value that does not fit compares as None);
    datetimes compare by day when the other side is a date."""
    try:
        return coerce(spec, value, today)
    except BadValue:
        return None
