"""Embedded fields (嵌入式字段): form fields bound to a field of a CRM record.

A form-js field is embedded when its ``properties`` hold ``{"crm_field": "<type>.<field>"}``,
e.g. ``customer.province``. Pure functions, no database: the record is a model instance or a
plain dict. The catalogue below is the record fields of API.md that a designer may bind.
"""
from __future__ import annotations

import datetime as dt
import decimal
import enum
from dataclasses import dataclass
from typing import Any, Iterator

from flask_babel import lazy_gettext as _l

CRM_FIELD_PROPERTY = "crm_field"


@dataclass(frozen=True)
class RecordField:
    name: str
    label: object  # lazy_gettext
    type: str  # the form-js field type a new embedded field gets


RECORD_TYPES: dict[str, object] = {
    "customer": _l("Customer"),
    "activity": _l("Activity record"),
    "opportunity": _l("Opportunity"),
    "contract": _l("Contract"),
}

RECORD_FIELDS: dict[str, tuple[RecordField, ...]] = {
    "customer": (
        RecordField("name", _l("Customer name"), "textfield"),
        RecordField("province", _l("Province"), "textfield"),
        RecordField("city", _l("City"), "textfield"),
        RecordField("industry", _l("Industry"), "textfield"),
        RecordField("registered_capital", _l("Registered capital (yuan)"), "number"),
        RecordField("customer_class", _l("Customer class"), "textfield"),
        RecordField("source", _l("Source"), "textfield"),
        RecordField("phone", _l("Phone"), "textfield"),
        RecordField("credit_code", _l("Unified social credit code"), "textfield"),
        RecordField("owner", _l("Owner"), "textfield"),
        RecordField("report_status", _l("Report status"), "textfield"),
    ),
    "activity": (
        RecordField("kind", _l("Activity type"), "textfield"),
        RecordField("content", _l("Content"), "textarea"),
        RecordField("happened_at", _l("Happened at"), "textfield"),
        RecordField("next_follow_up", _l("Next follow-up"), "textfield"),
        RecordField("owner", _l("Owner"), "textfield"),
    ),
    "opportunity": (
        RecordField("title", _l("Opportunity title"), "textfield"),
        RecordField("amount", _l("Amount (yuan)"), "number"),
        RecordField("stage", _l("Stage"), "textfield"),
        RecordField("expected_close", _l("Expected close"), "textfield"),
        RecordField("status", _l("Status"), "textfield"),
        RecordField("owner", _l("Owner"), "textfield"),
    ),
    "contract": (
        RecordField("title", _l("Contract title"), "textfield"),
        RecordField("amount", _l("Amount (yuan)"), "number"),
        RecordField("signed_on", _l("Signed on"), "textfield"),
        RecordField("expires_on", _l("Expires on"), "textfield"),
        RecordField("status", _l("Status"), "textfield"),
        RecordField("owner", _l("Owner"), "textfield"),
    ),
}


def is_known_crm_field(path: str) -> bool:
    record_type, _, name = (path or "").partition(".")
    return any(f.name == name for f in RECORD_FIELDS.get(record_type, ()))


def crm_field_catalogue() -> list[dict]:
    """The bindable fields, for the designer's side panel (labels in the caller's language)."""
    return [
        {"type": record_type, "label": str(RECORD_TYPES[record_type]),
         "fields": [{"path": f"{record_type}.{f.name}", "name": f.name, "label": str(f.label), "type": f.type}
                    for f in fields]}
        for record_type, fields in RECORD_FIELDS.items()
    ]


def iter_components(components: list | None) -> Iterator[dict]:
    """Every component of a form-js schema, depth first (groups hold components)."""
    for component in components or ():
        if not isinstance(component, dict):
            continue
        yield component
        yield from iter_components(component.get("components"))


def embedded_fields(schema: dict) -> dict[str, str]:
    """``{form field key: crm field path}`` of a schema's embedded fields."""
    out = {}
    for component in iter_components((schema or {}).get("components")):
        path = (component.get("properties") or {}).get(CRM_FIELD_PROPERTY)
        if path and component.get("key"):
            out[component["key"]] = path
    return out


def record_type_of(record: Any) -> str | None:
    explicit = getattr(record, "record_type", None)
    if isinstance(explicit, str):
        return explicit
    if isinstance(record, dict):
        return None
    return type(record).__name__.lower()


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def to_form_value(value: Any) -> Any:
    """A record value as the form shows and stores it (JSON-safe, users by username)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_form_value(value.value)
    if hasattr(value, "username"):
        return value.username
    if isinstance(value, (list, tuple, set)):
        return [to_form_value(v) for v in value]
    return str(value)


def record_value(record: Any, path: str, record_type: str | None = None) -> Any:
    """The value at ``<type>.<field>`` of ``record``.

    When ``record`` is of another type, ``<type>`` is followed as a relation first
    (an opportunity's ``customer.province`` is ``opportunity.customer.province``).
    """
    wanted_type, _, name = path.partition(".")
    record_type = record_type or record_type_of(record)
    source = record if record_type in (None, wanted_type) else _get(record, wanted_type)
    return to_form_value(_get(source, name))


def fill_embedded(schema: dict, record: Any, record_type: str | None = None) -> dict:
    """``{field key: value}`` for every embedded field of ``schema``, taken from ``record``."""
    return {key: record_value(record, path, record_type) for key, path in embedded_fields(schema).items()}


def embedded_diff(schema: dict, data_at_start: dict, record: Any, record_type: str | None = None) -> dict:
    """``{field key: (value at start, value now)}`` for embedded fields the record changed since."""
    now = fill_embedded(schema, record, record_type)
    then = data_at_start or {}
    return {key: (then.get(key), value) for key, value in now.items() if then.get(key) != value}
