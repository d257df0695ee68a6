"""Embedded fields (嵌入式字段): form fields bound to a field of a CRM record.

A form-js field is embedded when its ``properties`` hold ``{"crm_field": "<type>.<field>"}``,
e.g. ``customer.province``. Filling and comparing are pure (the record is a model instance or
a plain dict); the fields a designer may bind are the CRM's (``app.crm.services.record_fields``).
"""
from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any, Iterator

CRM_FIELD_PROPERTY = "crm_field"


# CRM field types → the form-js type a new embedded field gets (values are shown, not edited).
FORM_TYPES = {"number": "number", "longtext": "textarea"}


def crm_services():
    try:
        from app.crm import services
    except ImportError:  # the forms work without the CRM module (nothing to embed then)
        return None
    return services


def record_fields(record_type: str) -> list[dict]:
    """The CRM's fields of ``record_type`` (custom ones as ``custom.<key>``), [] if unknown."""
    crm = crm_services()
    if crm is None or record_type not in crm.FIELDS:
        return []
    return crm.record_fields(record_type)


def record_field_keys(record_type: str) -> set[str]:
    """Field names only: safe where no request (and so no language) is at hand, e.g. the worker."""
    crm = crm_services()
    if crm is None or record_type not in crm.FIELDS:
        return set()
    return {f.key for f in crm.FIELDS[record_type]} | {f"custom.{d.key}" for d in crm.custom_field_defs(record_type)}


def is_known_crm_field(path: str) -> bool:
    record_type, _, name = (path or "").partition(".")
    return name in record_field_keys(record_type)


def record_type_label(record_type: str) -> str:
    crm = crm_services()
    label = crm.ENTITY_LABELS.get(record_type) if crm is not None else None
    return str(label) if label is not None else record_type


def crm_field_catalogue() -> list[dict]:
    """The bindable fields, for the designer's side panel (labels in the caller's language)."""
    crm = crm_services()
    if crm is None:
        return []
    return [
        {"type": record_type, "label": record_type_label(record_type),
         "fields": [{"path": f"{record_type}.{f['key']}", "name": f["key"].replace("custom.", ""),
                     "label": f["label"], "type": FORM_TYPES.get(f["type"], "textfield")}
                    for f in record_fields(record_type) if f["type"] != "users"]}
        for record_type in crm.FIELDS
    ]


def choice_options(path: str) -> list[dict] | None:
    """The labelled values of the CRM field at ``path`` (``opportunity.stage``), None if its
    values read as they are (or there is no CRM)."""
    crm = crm_services()
    record_type, _, name = (path or "").partition(".")
    if crm is None or record_type not in crm.FIELDS:
        return None
    return crm.choice_options(record_type, name)


def reference_label(path: str, value) -> str | None:
    """The name the value of the CRM field at ``path`` stands for (``contract.customer_id`` 3 →
    the customer's name), None if the value reads as it is."""
    crm = crm_services()
    record_type, _, name = (path or "").partition(".")
    if crm is None or record_type not in crm.FIELDS:
        return None
    return crm.reference_label(record_type, name, value)


def iter_components(components: list | None) -> Iterator[dict]:
    """Every component of a form-js schema, depth first (groups hold components).

    Iterative, so a maliciously deep schema cannot exhaust the interpreter's stack."""
    stack = [iter(components if isinstance(components, list) else ())]
    while stack:
        component = next(stack[-1], None)
        if component is None:
            stack.pop()
            continue
        if not isinstance(component, dict):
            continue
        yield component
        children = component.get("components")
        if isinstance(children, list):
            stack.append(iter(children))


def nesting_depth(components: list | None) -> int:
    depth, level = 0, [c for c in (components or []) if isinstance(c, dict)]
    while level:
        depth += 1
        level = [child for c in level for child in (c.get("components") or []) if isinstance(child, dict)]
    return depth


def embedded_fields(schema: dict) -> dict[str, str]:
    """``{form field key: crm field path}`` of a schema's embedded fields."""
    out = {}
    for component in iter_components((schema or {}).get("components")):
        path = (component.get("properties") or {}).get(CRM_FIELD_PROPERTY)
        if path and component.get("key"):
            out[component["key"]] = path
    return out


def record_type_of(record: Any) -> str | None:
    explicit = getattr(record, "entity", None)  # the CRM models say what they are
    if isinstance(explicit, str):
        return explicit
    if isinstance(record, dict):
        return None
    return type(record).__name__.lower()


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if name.startswith("custom."):  # an admin-defined custom field of the CRM
        custom = obj.get("custom") if isinstance(obj, dict) else getattr(obj, "custom", None)
        return (custom or {}).get(name[7:])
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
    """``{field key: (value at start, value now)}`` for embedded fields the record changed since.

    A field the start data did not capture (the process was started without this form) has
    no value at start to compare with: the form shows it from the record as it is now.
    """
    now = fill_embedded(schema, record, record_type)
    then = data_at_start or {}
    return {key: (then[key], value) for key, value in now.items() if key in then and then[key] != value}
