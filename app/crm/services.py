"""CRM records: what routes, the workflow and automation rules call.

Every change goes through ``create`` / ``update`` / ``delete`` (or the helpers built on
them): values are validated per field (``ApiError`` 400 with ``details`` naming the fields),
the change is flushed, a ``RecordEvent`` is emitted (subscribers act in the same
transaction) and, unless ``commit=False``, committed. Code that already runs inside a
transaction it does not own (an event subscriber, a workflow operation) passes
``commit=False`` and, for cascades, the ``chain`` of the event it reacts to.

Events: ``created``; ``updated`` (every change, ``changes`` = {field: (old, new)}, custom
fields as ``custom.<key>``); additionally ``stage_changed``, ``won`` and ``lost`` for
opportunities; ``deleted``.

Visibility: admins and the system (``actor=None``) see everything; others see records they
own, records shared with them, and records owned by members of groups they manage; and the
activities, opportunities and contracts of customers they (or those members) own.
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from flask import current_app
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import Select, and_, bindparam, case, false, func, inspect, or_, select, true
from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased, lazyload

from app.api.errors import ApiError
from app.api.versions import refuse_stale
from app.audit import audit, label_audit_details, label_audit_events, label_audit_values
from app.auth.models import User
from app.database import is_postgresql
from app.auth.lookup import user_named, users_named
from app.auth.services import managed_user_ids
from app.clock import company_today, company_zone, datetimeformat, day_start
from app.crm.credit_code import clean_credit_code, clean_tax_number, credit_code_as_stored
from app.crm.phones import clean_phone, normalise_phone
from app.crm.regions import IN_ENGLISH, clean_city, clean_province
from app.crm.models import (ACTIVITY_KINDS, CONTRACT_STATUSES, CUSTOM_FIELD_TYPES, CUSTOMER_CLASSES, ENTITIES,
                            APPROVAL_STATUSES, MODELS, OPPORTUNITY_STATUSES, REPORT_STATUSES, Activity, AssignmentLog, Contract,
                            Customer, CustomerImport, CustomFieldDef, Opportunity, OwnedRecord, RecordChange, Stage)
from app.db import MAX_ID, UTCDateTime, insert_row, transaction_memo, utcnow
from app.events import RecordEvent, current_cause, emit
from app.notifications.services import notify
from app.extensions import db
from app.spreadsheet import as_exported, formula_safe

# Below 10^13 yuan: SQLite keeps NUMERIC as a double, exact to the fen only up to 15 digits
# (9,999,999,999,999,999.99 came back 10,000,000,000,000,000.00).
MAX_MONEY = Decimal("9999999999999.99")
CENTS = Decimal("0.01")
FLOAT_NOISE = Decimal("1e-9")  # below any amount typed: what binary floating point adds
# Columns every record has that a client may send back unchanged (a GET → PATCH round trip),
# and the warning in a created customer's answer.
ECHOED = frozenset({"id", "created_at", "updated_at", "version", "stage_entered_at", "possible_duplicates"})


# --- field catalogue ---------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    key: str
    label: Any  # lazy string
    type: str  # text, longtext, number, date, datetime, choice, customer, opportunity, stage, user, users
    required: bool = False
    choices: tuple = ()
    max_length: int | None = None
    read_only: bool = False
    # Text fields with a format of their own: returns the canonical form or raises ValueError.
    # Values stored before the check existed are kept as long as they are not changed.
    check: Any = None


def _owner_fields() -> list[Field]:
    return [Field("owner", _l("Owner"), "user"), Field("shared_with", _l("Shared with"), "users")]


FIELDS: dict[str, list[Field]] = {
    "customer": [
        Field("name", _l("Name"), "text", required=True, max_length=200),
        Field("province", _l("Province"), "text", max_length=50, check=clean_province),
        Field("city", _l("City"), "text", max_length=50, check=clean_city),
        Field("industry", _l("Industry"), "text", max_length=80),
        Field("registered_capital", _l("Registered capital (yuan)"), "number"),
        Field("customer_class", _l("Customer class"), "choice", choices=CUSTOMER_CLASSES),
        Field("source", _l("Source"), "text", max_length=80),
        Field("phone", _l("Phone"), "text", max_length=40, check=clean_phone),
        Field("credit_code", _l("Credit code"), "text", max_length=40, check=clean_credit_code),
        *_owner_fields(),
        Field("report_status", _l("Report status"), "choice", choices=REPORT_STATUSES, read_only=True),
    ],
    "activity": [
        Field("customer_id", _l("Customer"), "customer", required=True),
        Field("kind", _l("Kind"), "choice", required=True, choices=ACTIVITY_KINDS),
        Field("content", _l("Content"), "longtext", max_length=10000),
        Field("happened_at", _l("Happened at"), "datetime"),
        Field("next_follow_up", _l("Next follow-up"), "date"),
        *_owner_fields(),
    ],
    "opportunity": [
        Field("customer_id", _l("Customer"), "customer", required=True),
        Field("title", _l("Title"), "text", required=True, max_length=200),
        Field("amount", _l("Amount"), "number"),
        Field("stage", _l("Stage"), "stage"),
        Field("expected_close", _l("Expected close"), "date"),
        Field("status", _l("Status"), "choice", required=True, choices=OPPORTUNITY_STATUSES),
        Field("lost_reason", _l("Lost reason"), "text", max_length=500),
        # When it was won or lost: now, unless given (a win of last month entered or corrected
        # late counts in last month's sales report).
        Field("closed_at", _l("Closed at"), "datetime"),
        *_owner_fields(),
        Field("stage_entered_at", _l("In stage since"), "datetime", read_only=True),
    ],
    "contract": [
        Field("customer_id", _l("Customer"), "customer", required=True),
        Field("opportunity_id", _l("Opportunity"), "opportunity"),
        Field("title", _l("Title"), "text", required=True, max_length=200),
        Field("amount", _l("Amount"), "number"),
        Field("signed_on", _l("Signed on"), "date"),
        Field("expires_on", _l("Expires on"), "date"),
        Field("status", _l("Status"), "choice", required=True, choices=CONTRACT_STATUSES),
        Field("invoice_title", _l("Invoice title"), "text", max_length=200),
        Field("invoice_tax_number", _l("Invoice tax number"), "text", max_length=40, check=clean_tax_number),
        Field("invoice_amount", _l("Invoice amount"), "number"),
        Field("invoice_date", _l("Invoice date"), "date"),
        *_owner_fields(),
        Field("approval_status", _l("Approval status"), "choice", choices=APPROVAL_STATUSES, read_only=True),
    ],
}

CHOICE_LABELS = {
    "report_status": {"none": _l("Not reported"), "pending": _l("Report pending"),
                      "approved": _l("Report approved"), "rejected": _l("Report rejected")},
    "approval_status": {"none": _l("Not submitted"), "pending": _l("Approval pending"),
                        "approved": _l("Approved"), "rejected": _l("Approval rejected")},
    "kind": {"call": _l("Call"), "visit": _l("Visit"), "email": _l("E-mail"), "other": _l("Other")},
    "opportunity.status": {"open": _l("In progress"), "won": _l("Won"), "lost": _l("Lost")},
    "contract.status": {"draft": _l("Draft"), "signed": _l("Signed"), "expired": _l("Expired"),
                        "cancelled": _l("Cancelled")},
}

CUSTOM_FIELD_TYPE_LABELS = {"text": _l("Text"), "number": _l("Number"), "date": _l("Date"), "choice": _l("Choice")}
assert set(CUSTOM_FIELD_TYPE_LABELS) == set(CUSTOM_FIELD_TYPES)
ENTITY_LABELS = {"customer": _l("Customer"), "activity": _l("Activity record"),
                 "opportunity": _l("Opportunity"), "contract": _l("Contract")}
label_audit_values("entity", ENTITY_LABELS)  # a rule's or binding's record type in the audit log


def choice_label(entity: str, key: str, value) -> str:
    labels = choice_labels(entity, key) or {}
    return str(labels.get(value, value if value is not None else ""))


def choice_options(entity: str, key: str) -> list[dict] | None:
    """``[{"value", "label"}]`` of a field that stores codes (a stage's key, a status); None for
    a field whose values read as they are. Labels may be lazy (translated when shown)."""
    if (entity, key) == ("opportunity", "stage"):
        return [{"value": stage.key, "label": stage.name} for stage in stages()]
    labels = choice_labels(entity, key)
    return [{"value": value, "label": label} for value, label in labels.items()] if labels else None


def reference_label(entity: str, key: str, value) -> str | None:
    """The name a reference field's value stands for (a customer's name for its id, a person's
    name for a username); None for other fields or a value that names nothing."""
    spec = field_spec(entity, key)
    if spec is None or value in (None, ""):
        return None
    if spec.type == "user":
        user = user_named(str(value))
        return user.label if user is not None else None
    if spec.type in ("customer", "opportunity"):
        record = record_by_id(spec.type, value)
        return record.label if record is not None else None
    return None


def choice_labels(entity: str, key: str) -> dict | None:
    """``{code: lazy label}`` of a fixed choice field (statuses, kinds); None for others."""
    return CHOICE_LABELS.get(f"{entity}.{key}") or CHOICE_LABELS.get(key)


def field_spec(entity: str, key: str) -> Field | None:
    return next((f for f in FIELDS[entity] if f.key == key), None)


def custom_field_defs(entity: str) -> list[CustomFieldDef]:
    # Every record type's, read in one query once per transaction: each record event, form
    # field check and the rules' catalogue (all record types) asks.
    return list(transaction_memo("crm.custom_field_defs", _custom_field_defs_by_entity,
                                 depends_on=(CustomFieldDef,)).get(entity, ()))


_CUSTOM_FIELD_DEFS = select(CustomFieldDef).order_by(CustomFieldDef.position, CustomFieldDef.id)  # built once


def _custom_field_defs_by_entity() -> dict[str, list[CustomFieldDef]]:
    out: dict[str, list[CustomFieldDef]] = {}
    for definition in db.session.scalars(_CUSTOM_FIELD_DEFS):
        out.setdefault(definition.entity, []).append(definition)
    return out


def record_fields(entity: str) -> list[dict]:
    """Every field of ``entity`` with its label and type, custom fields as ``custom.<key>``
    (for rule editors, form mappings and CSV headers)."""
    out = [{"key": f.key, "label": str(f.label), "type": f.type, "required": f.required,
            "choices": list(f.choices), "read_only": f.read_only} for f in FIELDS[entity]]
    out += [{"key": f"custom.{d.key}", "label": d.label, "type": d.type, "required": d.required,
             "choices": list(d.choices), "read_only": False} for d in custom_field_defs(entity)]
    return out


def one_field_change(entity: str, field: str, value) -> dict:
    """``{field: value}`` as ``update`` takes it, from a field named the way a designer types it
    into a diagram: a custom field as ``custom.<key>`` or by its bare key, a choice stored as a
    code (a stage, a status) by its code or by the label people see."""
    key = str(field).strip()
    custom = {d.key for d in custom_field_defs(entity)}
    bare = key.removeprefix("custom.")
    if bare in custom and (key.startswith("custom.") or field_spec(entity, key) is None):
        return {"custom": {bare: value}}
    options = choice_options(entity, key) or []
    if isinstance(value, str) and value not in {o["value"] for o in options}:
        value = next((o["value"] for o in options if str(o["label"]) == value.strip()), value)
    return {key: value}


def fields_of_every_type(keep=lambda field: True, entities=None) -> dict[str, tuple[str, list[str]]]:
    """Each field key once across the record types (custom ones as ``custom.<key>``), with its
    label and the names of the record types that have it: for pickers that do not know the
    record type yet (a process's operations and conditions). ``keep`` filters the fields;
    ``entities`` limits the record types (those a process is started from)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for entity in [e for e in FIELDS if entities is None or e in entities]:
        for field in record_fields(entity):
            if keep(field):
                found.setdefault(field["key"], (field["label"], []))[1].append(str(ENTITY_LABELS[entity]))
    return found


def field_label(entity: str, key: str) -> str:
    if key.startswith("custom."):
        # From the per-transaction definitions: a change history names many custom fields.
        d = next((d for d in custom_field_defs(entity) if d.key == key[7:]), None)
        return d.label if d else key
    spec = field_spec(entity, key)
    return str(spec.label) if spec else key


def display_value(entity: str, key: str, value) -> str:
    """A field's value as people read it, from the record or as JSON stored it (the change
    history): choice codes and stages by their labels, references (a customer's id, usernames)
    by name, amounts with separators, datetimes in the page's format. A reference to something
    that no longer exists reads as stored; custom fields read as they are."""
    if value is None or value == "" or value == []:
        return ""
    spec = field_spec(entity, key)
    kind = spec.type if spec else None
    if kind == "users":
        users = users_named(value)
        return _(", ").join(users[name].label if name in users else name for name in value)
    if kind in ("user", "customer", "opportunity"):
        return reference_label(entity, key, value) or (str(value) if kind == "user" else f"#{value}")
    if kind == "stage":
        stage = stage_by_key(value)
        return stage.name if stage else value
    if kind == "choice":
        return choice_label(entity, key, value)
    if kind == "number":
        return format_decimal(value, "#,##0.00")
    if kind == "datetime":
        return datetimeformat(value, "short")  # the pages' format (English spells the year out)
    if entity == "customer" and key == "province" and str(get_locale()).startswith("en"):
        return IN_ENGLISH.get(value, str(value))  # stored 福建 (what rules read), read Fujian
    return str(value)


# --- value conversion --------------------------------------------------------------------

class _Invalid(Exception):
    pass


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _to_decimal(value, allow_negative: bool = False) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid(_("Must be a number."))
    # As people type amounts: full-width digits, "¥200,000", "200000元", "50万".
    text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "").replace(" ", "")
    text = text.removeprefix("¥").removesuffix("元")
    tens_of_thousands = text.endswith("万")
    text = text.removesuffix("万")
    if "e" in text.lower() and not isinstance(value, float):  # "1e10" typed: written out, as people read it
        raise _Invalid(_("Write the number out in digits (e.g. 10000000)."))
    try:
        number = Decimal(text) * (10000 if tens_of_thousands else 1)
    except (InvalidOperation, ValueError):
        raise _Invalid(_("Must be a number.")) from None
    if not number.is_finite():
        raise _Invalid(_("Must be a number."))
    if number < 0 and not allow_negative:
        raise _Invalid(_("Must not be negative."))
    if abs(number) > MAX_MONEY:
        raise _Invalid(_("Too large."))
    if isinstance(value, float) and abs(number - number.quantize(CENTS)) < FLOAT_NOISE:
        number = number.quantize(CENTS)  # a client's binary arithmetic: 0.1 + 0.2 sent as 0.30000000000000004
    if number != number.quantize(CENTS):  # stored to the fen: more would be lost without a word
        raise _Invalid(_("At most two decimal places."))
    return number.quantize(CENTS)


# A day as Excel on a Chinese Windows writes it (2019/3/5), or as people type it (2021年8月1日, 2022.1.3).
_DAY_AS_TYPED = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")


def _one_of(value, choices) -> str:
    """The choice ``value`` names, as typed in any case or width ("a" for 客户类别 A, an
    import's " A ")."""
    if value in choices:
        return value
    typed = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    for choice in choices:
        if unicodedata.normalize("NFKC", choice).casefold() == typed:
            return choice
    raise _Invalid(_("Must be one of: %(choices)s", choices=", ".join(choices)))


def _to_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    typed = _DAY_AS_TYPED.fullmatch(text)
    try:
        return date(*(int(part) for part in typed.groups())) if typed else date.fromisoformat(text)
    except ValueError:
        raise _Invalid(_("Must be a date (e.g. 2026-12-06 or 2026/12/6).")) from None


def _to_datetime(value) -> datetime:
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise _Invalid(_("Must be a date and time (ISO 8601).")) from None
    if value.tzinfo is None:
        # Browser forms send local wall time (datetime-local): the company's time zone.
        value = value.replace(tzinfo=company_zone())
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise _Invalid(_("Must be a date and time (ISO 8601).")) from None


def _to_text(value, max_length: int | None) -> str:
    if not isinstance(value, (str, int, float, Decimal)) or isinstance(value, bool):
        raise _Invalid(_("Must be text."))
    text = str(value).strip()
    if "\x00" in text:
        raise _Invalid(_("Must not contain NUL characters."))
    if max_length and len(text) > max_length:
        raise _Invalid(_("At most %(n)d characters.", n=max_length))
    return text


def _user_named(name) -> User:
    user = user_named(str(name).strip()) if name else None
    if user is None or not user.active:
        raise _Invalid(_("Unknown or inactive user: %(name)s", name=name))
    return user


def _convert(entity: str, spec: Field, value, actor, deal_customer_id=None):
    """The stored value for ``value`` typed by ``spec``, or _Invalid with a message.
    ``deal_customer_id``: the customer of a deal ``actor`` may see, named with the record (a
    contract for a deal a rule gave them, whose customer they may not open)."""
    if _is_empty(value):
        if spec.type == "users":
            return []
        return None
    kind = spec.type
    if kind in ("text", "longtext"):
        text = _to_text(value, spec.max_length)
        try:
            return spec.check(text) if spec.check else text
        except ValueError as wrong:
            raise _Invalid(str(wrong)) from None
    if kind == "number":
        return _to_decimal(value)
    if kind == "date":
        return _to_date(value)
    if kind == "datetime":
        return _to_datetime(value)
    if kind == "choice":
        return _one_of(value, spec.choices)
    if kind in ("customer", "opportunity"):
        try:
            if isinstance(value, (bool, float)):  # 9.5 is no id (int() would make it 9)
                raise ValueError(value)
            record_id = int(value)
        except (TypeError, ValueError):
            raise _Invalid(_("Must be a record id.")) from None
        record = db.session.get(MODELS[kind], record_id) if 0 < record_id <= MAX_ID else None
        if record is None or not (can_see(record, actor) or (kind == "customer" and record.id == deal_customer_id)):
            raise _Invalid(_("No such record."))
        return record
    if kind == "stage":
        if stage_by_key(str(value)) is None:
            raise _Invalid(_("Unknown stage: %(key)s", key=value))
        return str(value)
    if kind == "user":
        return _user_named(value)
    if kind == "users":
        names = value.replace(";", ",").split(",") if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)):
            raise _Invalid(_("Must be a list of usernames."))
        return [_user_named(n) for n in dict.fromkeys(str(n).strip() for n in names if str(n).strip())]
    raise AssertionError(kind)


# Field types whose check needs no record and no user: a rule's literal value can be tried
# against them when the rule is saved.
_SELF_CONTAINED = {"text", "longtext", "number", "date", "datetime", "choice", "stage"}


def diagram_value_problem(field: str, value) -> str | None:
    """What the record types having ``field`` (named as a designer types it in a diagram) say of
    writing ``value`` into it: None when one of them takes it (or none has the field)."""
    said = []
    for entity in FIELDS:
        key, written = next(iter(one_field_change(entity, field, value).items()))
        if key == "custom":
            key, written = next((f"custom.{bare}", v) for bare, v in written.items())
        elif field_spec(entity, key) is None:
            continue  # not a field of this record type
        problem = literal_problem(entity, key, written)
        if problem is None:
            return None
        said.append(problem)
    return said[0] if said else None


def literal_problem(entity: str, key: str, value) -> str | None:
    """What a save would say about writing ``value`` into the field, for a value known before any
    record is at hand (a rule's "set 金额 to -5"); None when it fits or only a record can tell."""
    try:
        if key.startswith("custom."):
            definition = next((d for d in custom_field_defs(entity) if d.key == key[7:]), None)
            if definition is not None and not _is_empty(value):
                _custom_value(definition, value)
            return None
        spec = field_spec(entity, key)
        if spec is not None and spec.type in _SELF_CONTAINED:
            _convert(entity, spec, value, None)  # a text field's own check (credit code, phone) included
    except (_Invalid, ValueError) as wrong:
        return str(wrong)
    return None


def _custom_value(definition: CustomFieldDef, value):
    """JSON-storable value of a custom field."""
    if definition.type == "text":
        return _to_text(value, 1000)
    if definition.type == "number":
        number = _to_decimal(value, allow_negative=True)
        return int(number) if number == number.to_integral_value() else float(number)
    if definition.type == "date":
        return _to_date(value).isoformat()
    if definition.type == "choice":
        return _one_of(value, definition.choices)
    raise AssertionError(definition.type)


def _clean_custom(entity: str, raw, current: dict, creating: bool, errors: list) -> dict:
    defs = {d.key: d for d in custom_field_defs(entity)}
    result = dict(current or {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append({"field": "custom", "message": _("Must be an object of custom fields.")})
        return result
    for key, value in raw.items():
        definition = defs.get(key)
        if definition is None:
            errors.append({"field": f"custom.{key}", "message": _("Unknown custom field.")})
            continue
        if definition.automated and not current_cause():
            try:
                unchanged = (None if _is_empty(value) else _custom_value(definition, value)) == result.get(key)
            except _Invalid:
                unchanged = False
            if not unchanged:  # sending back what is stored (a GET → PATCH round trip) is fine
                errors.append({"field": f"custom.{key}", "message": _(
                    "Only automation rules and processes set this field.")})
            continue
        if _is_empty(value):
            if definition.required:
                errors.append({"field": f"custom.{key}", "message": _("Required.")})
            result.pop(key, None)
            continue
        try:
            result[key] = _custom_value(definition, value)
        except _Invalid as invalid:
            errors.append({"field": f"custom.{key}", "message": str(invalid)})
    if creating:
        for key, definition in defs.items():
            if definition.required and key not in result and f"custom.{key}" not in {e["field"] for e in errors}:
                errors.append({"field": f"custom.{key}", "message": _("Required.")})
    return result


# The fields of the stage and custom-field forms, as their pages name them ("输入有误：position").
SETTING_LABELS = {"key": _l("Key"), "label": _l("Label"), "name": _l("Name"), "type": _l("Type"),
                  "choices": _l("Choices"), "position": _l("Order"), "entity": _l("Record type"),
                  "required": _l("Required"), "required_fields": _l("Required fields")}


def _invalid(errors: list, entity: str | None = None, labels: dict | None = None):
    keys = dict.fromkeys(e["field"] for e in errors)
    fields = _(", ").join(field_label(entity, k) if entity else str((labels or {}).get(k, k)) for k in keys)
    raise ApiError(400, "invalid_input", _("Invalid input: %(fields)s", fields=fields), errors)


def customer_of_visible_deal(deal_id, actor) -> int | None:
    """The customer of opportunity ``deal_id``, if ``actor`` may see that opportunity: its holder
    may name that customer on a contract though they may not open it (a deal a rule gave them)."""
    if isinstance(deal_id, bool) or not str(deal_id or "").isdigit() or not 0 < int(deal_id) <= MAX_ID:
        return None
    deal = db.session.get(Opportunity, int(deal_id))
    return deal.customer_id if deal is not None and can_see(deal, actor) else None


def _clean(entity: str, data: dict, record: OwnedRecord | None, actor) -> tuple[dict, dict | None]:
    """Validate ``data`` for a new record (``record`` None) or a change; returns (values,
    custom) with relations resolved, or raises ApiError 400 listing every bad field."""
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_input", _("Expected an object."))
    specs = {f.key: f for f in FIELDS[entity]}
    values: dict = {}
    errors: list[dict] = []
    deal_customer = customer_of_visible_deal(data["opportunity_id"], actor) if "opportunity_id" in data else None
    for key, raw in data.items():
        if key in ECHOED or key == "custom":
            continue
        spec = specs.get(key)
        if spec is None:
            errors.append({"field": key, "message": _("Unknown field.")})
            continue
        if spec.read_only:
            current = _value(record, key) if record is not None else None
            if raw is not None and raw != current and str(raw) != str(current or ""):
                errors.append({"field": key, "message": _("Read-only; it is set by the workflow.")})
            continue
        if spec.check and record is not None and raw == _value(record, key):
            continue  # an edit of other fields is not held up by an older value in an older format
        if spec.type in ("customer", "opportunity") and record is not None and raw is not None \
                and not isinstance(raw, (bool, float)) and str(raw) == str(_value(record, key)):
            continue  # kept as it is: its owner may edit a deal whose customer they may not open
        try:
            values[key] = _convert(entity, spec, raw, actor, deal_customer)
        except _Invalid as invalid:
            errors.append({"field": key, "message": str(invalid)})
            continue
        if spec.required and values[key] is None:
            errors.append({"field": key, "message": _("Required.")})
    if record is None:
        for spec in FIELDS[entity]:
            if spec.required and spec.key not in data and not _has_default(entity, spec.key):
                errors.append({"field": spec.key, "message": _("Required.")})
    custom = None
    if "custom" in data or record is None:
        custom = _clean_custom(entity, data.get("custom"), record.custom if record else {}, record is None, errors)
    # Said together with the fields' own problems (not in a second round), except for pairs
    # where one side is already wrong.
    errors += _inconsistent(entity, values, record, {e["field"] for e in errors})
    for key, message in _NOT_AHEAD.get(entity, ()):
        if isinstance(values.get(key), datetime) and values[key] > utcnow() + timedelta(minutes=10):  # clocks differ
            errors.append({"field": key, "message": str(message)})
    if entity == "opportunity" and values.get("closed_at") is not None \
            and values.get("status", getattr(record, "status", "open")) not in CLOSED:
        errors.append({"field": "closed_at", "message": _("Only a won or lost deal has a close time: mark it won "
                                                          "or lost, or leave this empty.")})
    elif entity == "opportunity" and isinstance(values.get("closed_at"), datetime) \
            and values["closed_at"].astimezone(company_zone()).year < EARLIEST_CLOSE_YEAR:
        # 1900-01-01 from an ERP's empty date: a win no report period reaches (they start in 2000).
        errors.append({"field": "closed_at", "message": _("A deal closed before %(year)d is no report's: check the "
                                                          "date.", year=EARLIEST_CLOSE_YEAR)})
    if entity == "contract" and ("status" in values or "signed_on" in values):
        status, signed_on = (values.get(key, getattr(record, key, None)) for key in ("status", "signed_on"))
        if status == "signed" and isinstance(signed_on, date) and signed_on > company_today():
            # Signed "on" a day to come, it counted in no period of the sales report until then.
            errors.append({"field": "signed_on", "message": _("A signed contract's signing date cannot be in the "
                                                              "future.")})
    if errors:
        _invalid(errors, entity)
    return values, custom


# Times of what already happened: (field, why it cannot be ahead of now).
_NOT_AHEAD = {"activity": [("happened_at", _l("An activity record says what happened, so its time cannot be in "
                                              "the future; plan what comes next with the next follow-up."))],
              "opportunity": [("closed_at", _l("A deal is won or lost when it happened: not in the future."))]}

# Fields of one record whose values must come in order: (lower, higher, the field to mark, why).
_ORDERED = {
    "contract": [("signed_on", "expires_on", "expires_on", _l("The expiry must not be before the signing date.")),
                 ("invoice_amount", "amount", "invoice_amount",
                  _l("The invoice amount must not exceed the contract amount."))],
    "activity": [("happened_at", "next_follow_up", "next_follow_up",
                  _l("The next follow-up must not be before the activity."))],
}


def _inconsistent(entity: str, values: dict, record, wrong=frozenset()) -> list[dict]:
    """Values that each pass but make no sense together (a contract expiring before it was
    signed, invoiced beyond its amount), with the record's stored values for the ones not sent.
    Pairs with a field in ``wrong`` (refused on its own) are left out."""
    def value(key):
        return values[key] if key in values else (getattr(record, key, None) if record is not None else None)

    problems = []
    for lower, higher, field, message in _ORDERED.get(entity, []):
        if lower not in values and higher not in values:
            continue  # an edit of other fields is not held up by an older mismatch
        if lower in wrong or higher in wrong:
            continue
        low, high = value(lower), value(higher)
        if low is None or high is None:
            continue
        if isinstance(low, datetime) != isinstance(high, datetime):  # a date against a datetime: by day
            low, high = (v.astimezone(company_zone()).date() if isinstance(v, datetime) else v for v in (low, high))
        if low > high:
            problems.append({"field": field, "message": str(message)})
    return problems


def _has_default(entity: str, key: str) -> bool:
    return (entity, key) in {("activity", "kind"), ("opportunity", "status"), ("contract", "status")}


# --- visibility --------------------------------------------------------------------------

def _sees_all(user) -> bool:
    return user is None or user.is_admin


def visible_clause(model: type[OwnedRecord], user):
    """A WHERE clause: the rows of ``model`` that ``user`` may see."""
    if _sees_all(user):
        return true()
    if not user.is_authenticated:
        return false()
    owners = managed_user_ids(user) | {user.id}
    shared = select(model.shares.c.record_id).where(model.shares.c.user_id == user.id)
    own = or_(model.owner_id.in_(owners), model.id.in_(shared))
    if model is Customer:
        return own
    # A customer's owner (and their managers) see everything that belongs to it: the call a
    # colleague logged, the deals and contracts made with it. Sharing stays per record.
    return or_(own, model.customer_id.in_(select(Customer.id).where(Customer.owner_id.in_(owners))))


def answered_for_clause(model: type[OwnedRecord], user, credited=None):
    """A WHERE clause: the rows of ``model`` that ``user`` answers for in a report (their own,
    their department's, everyone's for an administrator), not what was shared with them.
    ``credited``: the column naming whose figure a row is, when not its owner (who signed)."""
    if _sees_all(user):
        return true()
    return (credited if credited is not None else model.owner_id).in_(managed_user_ids(user) | {user.id})


def _owned_by_or_under(owner_id, user) -> bool:
    """Owned by ``user`` or by someone in a group ``user`` manages."""
    return owner_id is not None and (owner_id == user.id or owner_id in managed_user_ids(user))


def can_see(record: OwnedRecord, user) -> bool:
    if _sees_all(user) or _owned_by_or_under(record.owner_id, user):
        return True
    if any(u.id == user.id for u in record.shared_with):
        return True
    # A customer's owner (and their managers) see what belongs to it (see visible_clause).
    return not isinstance(record, Customer) and _owned_by_or_under(record.customer.owner_id, user)


def can_manage(record: OwnedRecord, user) -> bool:
    """Change owner, sharing, or delete: admins, the owner, and the owner's managers."""
    return _sees_all(user) or _owned_by_or_under(record.owner_id, user)


def record_by_id(entity: str, record_id) -> OwnedRecord | None:
    """The record whoever may see it (for the system's own work: processes, rules)."""
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        return None
    model = MODELS.get(entity)
    return db.session.get(model, record_id) if model is not None and 0 < record_id <= MAX_ID else None


def get_record(entity: str, record_id, user) -> OwnedRecord:
    """The record if ``user`` may see it; otherwise 404 (also for records that exist)."""
    record = record_by_id(entity, record_id)
    if record is None or not can_see(record, user):
        raise ApiError(404, "not_found", _("No such %(entity)s.", entity=str(ENTITY_LABELS[entity]).lower()))
    return record


def may_assign(actor, new_owner: User, record: OwnedRecord | None) -> bool:
    """Who may hand a record to whom: admins anyone; managers their people; a user
    themselves; and the current owner may hand it over."""
    if _sees_all(actor):
        return True
    # Someone a record is merely shared with may not take it or give it away.
    if record is None or can_manage(record, actor):
        if new_owner.id == actor.id or new_owner.id in managed_user_ids(actor):
            return True
        if record is not None and record.owner_id == actor.id:
            return True
    return False


def _check_owner_choice(actor, new_owner: User, record: OwnedRecord | None) -> None:
    if not may_assign(actor, new_owner, record):
        raise ApiError(403, "forbidden", _("You may not assign records to %(name)s.", name=new_owner.label),
                       [{"field": "owner", "message": _("Not allowed.")}])


# --- snapshots and events ----------------------------------------------------------------

def _value(record: OwnedRecord, key: str):
    if key == "owner":
        return record.owner.username if record.owner else None
    if key == "shared_with":
        return record.shared_usernames
    if key.startswith("custom."):
        return (record.custom or {}).get(key[7:])
    return getattr(record, key)


def snapshot(record: OwnedRecord) -> dict:
    """Comparable values of every field (owner as username, custom fields as custom.<key>)."""
    out = {f.key: _value(record, f.key) for f in FIELDS[record.entity]}
    out.update({f"custom.{k}": v for k, v in (record.custom or {}).items()})
    return out


def _diff(before: dict, after: dict) -> dict:
    return {k: (before.get(k), after.get(k)) for k in dict.fromkeys([*before, *after])
            if before.get(k) != after.get(k)}


def _emit(entity, event, record, changes, actor, chain, automate: bool = True) -> None:
    emit(RecordEvent(entity, event, record, changes=changes, actor=actor, chain=tuple(chain or ()),
                     automate=automate))


def record_path(entity: str, record_id) -> str | None:
    """The record's page, for notifications. Built from the URL map, not url_for: rules and
    processes also run in the worker, outside any request."""
    if not record_id or "crm.detail" not in current_app.view_functions:
        return None
    return current_app.url_map.bind("localhost").build("crm.detail", {"entity": entity, "record_id": record_id})


def _log_assignment(record: OwnedRecord, old: User | None, new: User, actor, reason: str,
                    tell: bool = True) -> AssignmentLog:
    """Log who got which record, and tell them unless they gave it to themselves: a rule's
    round robin, a report's decision or a manager's choice hands them work. A bulk hand-over
    tells once for all (``tell`` False here)."""
    row = AssignmentLog(entity=record.entity, record_id=record.id, record_label=record.label[:200],
                        from_user_id=old.id if old else None, to_user_id=new.id,
                        actor_id=getattr(actor, "id", None), reason=(reason or "")[:200])
    if tell and getattr(actor, "id", None) != new.id:
        notify(new, _l("You are now the owner of %(entity)s “%(record)s”.", entity=ENTITY_LABELS[record.entity],
                       record=record.label), link=record_path(record.entity, record.id), kind="assignment")
    return insert_row(row)  # insert-only log: one INSERT now, not a flush later


# --- stages ------------------------------------------------------------------------------

_STAGES = select(Stage).order_by(Stage.position, Stage.id)  # built once


def stages() -> list[Stage]:
    return list(transaction_memo("crm.stages", lambda: list(db.session.scalars(_STAGES)), depends_on=(Stage,)))


def pipeline_figures(deals: Select) -> dict[str, tuple[int, Decimal | None]]:
    """``{stage key: (how many, their amounts' sum)}`` of the opportunities ``deals`` selects."""
    listed = deals.order_by(None).subquery()
    return {stage: (count, total) for stage, count, total in db.session.execute(
        select(listed.c.stage, func.count(), func.sum(listed.c.amount)).group_by(listed.c.stage))}


def first_stage_key() -> str | None:
    """Where a new deal starts unless told otherwise (None: no stages defined)."""
    first = next(iter(stages()), None)
    return first.key if first else None


def stage_by_key(key: str) -> Stage | None:
    return next((stage for stage in stages() if stage.key == key), None)  # stages(): read once per transaction


CLOSED = ("won", "lost")
OPPORTUNITY_REQUIRABLE = ("title", "amount", "expected_close", "lost_reason")


def missing_for_stage(read, stage: Stage) -> list[str]:
    """Required fields of ``stage`` left empty by a deal whose fields ``read`` gives by key (a
    record's, or the values a rule's dry run would set)."""
    return [key for key in stage.required_fields or [] if _is_empty(read(key))]


def _reader(record: OwnedRecord):
    return lambda key: _value(record, key)


def _refusal(stage: Stage, missing: list[str], new: bool = False) -> str:
    fields = _(", ").join(field_label("opportunity", k) for k in missing)
    if new:  # nothing is being moved: it is being entered in that stage
        return _("An opportunity in stage “%(stage)s” needs %(fields)s filled in.", stage=stage.name,
                 fields=fields)
    return _("Cannot move to stage “%(stage)s”: fill in %(fields)s first.", stage=stage.name, fields=fields)


def stage_refusal(stage_key: str, read, new: bool = False) -> ApiError | None:
    """Why a deal whose fields ``read`` gives could not enter the stage (the message names the
    missing fields, a detail marks each), or None if it could; ``new``: a deal being created."""
    stage = stage_by_key(stage_key)
    missing = missing_for_stage(read, stage) if stage else []
    if not missing:
        return None
    return ApiError(400, "stage_requirements_missing", _refusal(stage, missing, new), [
        {"field": k, "message": _("Required in stage “%(stage)s”.", stage=stage.name)} for k in missing])


def refusal_to_enter(opportunity: Opportunity, stage_key: str) -> ApiError | None:
    """What moving ``opportunity`` into the stage as it is would be refused with (None: it may)."""
    return stage_refusal(stage_key, _reader(opportunity))


def _check_won_requirements(opportunity: Opportunity) -> None:
    """A won deal has what the last stage asks for (its contract is made from it): winning from
    an early stage must not skip the fields a move through the stages would have required."""
    last = stages()[-1] if stages() else None
    missing = missing_for_stage(_reader(opportunity), last) if last else []
    if missing:
        labels = [field_label("opportunity", k) for k in missing]
        raise ApiError(
            400, "stage_requirements_missing",
            _("Cannot mark it won: fill in %(fields)s first.", fields=_(", ").join(labels)),
            [{"field": k, "message": _("Required to mark it won.")} for k in missing],
        )


def _check_stage_requirements(opportunity: Opportunity, new: bool = False) -> None:
    refusal = stage_refusal(opportunity.stage, _reader(opportunity), new)
    if refusal is not None:
        raise refusal


# --- the name key for the duplicate finder -----------------------------------------------

_SUFFIXES = ("股份有限公司", "有限责任公司", "集团有限公司", "集团股份", "有限公司", "分公司", "总公司", "集团", "股份",
             "公司", "co.,ltd.", "co.,ltd", "co.ltd", "ltd.", "ltd", "inc.", "inc", "corporation", "corp.",
             "corp", "company", "limited", "group")
_NOISE = re.compile(r"[\s\u3000·.,，。、'\"“”‘’()（）\[\]【】\-_/]+")


def normalise_name(name: str) -> str:
    """Lower-case, no brackets' content, spaces, punctuation or company suffixes:
    "厦门海鑫科技有限公司" and "厦门 海鑫科技（集团）" both become "厦门海鑫科技"."""
    # Full-width letters typed with a Chinese input method (ＴＣＬ) read as TCL.
    text = unicodedata.normalize("NFKC", name or "").lower()
    text = re.sub(r"[（(][^）)]*[）)]", "", text)
    text = _NOISE.sub("", text)
    changed = True
    while changed and text:
        changed = False
        for suffix in _SUFFIXES:
            bare = _NOISE.sub("", suffix)
            if text.endswith(bare) and len(text) > len(bare):
                text = text[: -len(bare)]
                changed = True
    return text[:200]


DUPLICATE_REASONS = {"same_name": _l("same name"), "similar_name": _l("similar name"),
                     "same_credit_code": _l("same credit code"), "same_phone": _l("same phone")}


def duplicate_reason(reason: str) -> str:
    return str(DUPLICATE_REASONS.get(reason, reason))


def find_possible_duplicates(customer: Customer, limit: int = 20) -> list[dict]:
    """Customers that look like ``customer``: owned by someone else with the
    same or a very similar name (after ``normalise_name``) or the same phone number (after
    ``normalise_phone``), and any other
    customer with the same credit code, the same company whoever owns it (a rule may have
    handed the new one to the existing one's owner). The same owner's customers count with the
    same name or phone too (one company entered twice), not with a similar name only (a
    salesperson often holds a group's several companies). For approvers of the customer report
    (防撞单); ignores visibility on purpose.

    Each item: ``{id, name, owner, owner_name, report_status, reasons}`` with reasons among
    "same_name", "similar_name", "same_credit_code", "same_phone".
    """
    key = customer.name_key or normalise_name(customer.name)
    exact = []
    if key:
        exact.append(Customer.name_key == key)
    if customer.credit_code:
        exact.append(Customer.credit_code == customer.credit_code)
    phone_key = customer.phone_key or normalise_phone(customer.phone)
    if phone_key:
        exact.append(Customer.phone_key == phone_key)
    if not exact:
        return []
    others = select(Customer) if customer.id is None else select(Customer).where(Customer.id != customer.id)
    # The same name, code or phone first, all of them: among names sharing a common beginning
    # (828 others start with 上海) a cap would drop the very twin this is for.
    candidates = list(db.session.scalars(others.where(or_(*exact)).order_by(Customer.id).limit(500)))
    if key:
        # Then similar names of someone else's: the same first four characters (two for a short
        # name), the newest first.
        similar = Customer.name_key.startswith(key[:4] if len(key) >= 4 else key[:2], autoescape=True)
        seen = {other.id for other in candidates}
        candidates += [other for other in db.session.scalars(
            others.where(similar, Customer.owner_id != customer.owner_id).order_by(Customer.id.desc()).limit(500))
            if other.id not in seen]
    found = []
    for other in candidates:
        reasons = []
        if key and other.name_key == key:
            reasons.append("same_name")
        elif key and other.name_key and (
                key in other.name_key or other.name_key in key
                or difflib.SequenceMatcher(None, key, other.name_key).ratio() >= 0.8):
            reasons.append("similar_name")
        if customer.credit_code and other.credit_code == customer.credit_code:
            reasons.append("same_credit_code")
        if phone_key and other.phone_key == phone_key:
            reasons.append("same_phone")
        if other.owner_id == customer.owner_id and reasons == ["similar_name"]:
            continue
        if reasons:
            found.append({"id": other.id, "name": other.name, "owner": other.owner_username,
                          "owner_name": other.owner.label if other.owner else None,
                          "report_status": other.report_status, "reasons": reasons})
        if len(found) >= limit:
            break
    return found


# --- create / update / delete ------------------------------------------------------------

def _apply(record: OwnedRecord, values: dict, custom: dict | None, actor, reason: str, tell: bool = True) -> None:
    for key, value in values.items():
        if key == "owner":
            if value is not None and value.id != record.owner_id:
                _check_owner_choice(actor, value, record if record.id else None)
                if record.id is not None:
                    _log_assignment(record, record.owner, value, actor, reason, tell=tell)
                record.owner = value
        elif key == "shared_with":
            if {u.id for u in value} == {u.id for u in record.shared_with}:
                continue
            if record.id is not None and not can_manage(record, actor):
                raise ApiError(403, "forbidden", _("Only the owner or a manager may change sharing."),
                               [{"field": "shared_with", "message": _("Not allowed.")}])
            record.shared_with = value
            record.updated_at = utcnow()  # else only the version moves: a sync by updated_at misses it
        elif key in ("customer_id", "opportunity_id"):
            # The column too: the change is compared (and its history written) before any flush
            # would copy the relationship's id into it.
            setattr(record, key[:-3], value)
            setattr(record, key, value.id if value is not None else None)
        else:
            setattr(record, key, value)
    if custom is not None:
        record.custom = custom
    if isinstance(record, Customer):
        record.name_key = normalise_name(record.name)
        record.phone_key = normalise_phone(record.phone)
    if isinstance(record, Contract) and record.opportunity is not None and record.customer is not None \
            and record.opportunity.customer_id != record.customer.id:
        raise ApiError(400, "invalid_input", _("The opportunity belongs to another customer."),
                       [{"field": "opportunity_id", "message": _("The opportunity belongs to another customer.")}])
    if isinstance(record, Opportunity) and "customer_id" in values and record.id is not None \
            and record.customer is not None:
        _keep_with_its_contracts(record)


SIGNED = ("signed", "expired")  # an expired contract was signed in its time
EARLIEST_CLOSE_YEAR = 2000  # the sales report's periods start then


def _date_the_signature(record: OwnedRecord) -> None:
    """A contract marked signed without a date was signed today: undated, it counted in no
    period of the sales report. Its owner then is who signed it, the report's credit for good."""
    if not isinstance(record, Contract):
        return
    if record.status == "signed" and record.signed_on is None:
        record.signed_on = company_today()
    if record.status not in SIGNED:
        record.signed_by_id = None  # back to draft, or cancelled: signed again, by whoever owns it then
    elif record.signed_by_id is None:
        record.signed_by_id = record.owner_id if record.owner_id is not None else getattr(record.owner, "id", None)


def _status_side_effects(record: OwnedRecord, before: dict) -> None:
    _date_the_signature(record)
    if isinstance(record, Opportunity):
        was = before.get("status")
        if was in CLOSED and record.status != was and record.status in CLOSED:
            raise ApiError(409, "opportunity_closed", _("This opportunity is already closed; reopen it first."),
                           [{"field": "status", "message": _("Reopen it first.")}])
        if record.stage != before.get("stage"):
            if was in CLOSED and record.status in CLOSED:
                raise ApiError(409, "opportunity_closed",
                               _("This opportunity is closed; reopen it before moving it to another stage."),
                               [{"field": "stage", "message": _("Reopen it first.")}])
            record.stage_entered_at = utcnow()
            _check_stage_requirements(record)
        if record.status != was:
            given = record.closed_at != before.get("closed_at") and record.closed_at is not None
            record.closed_at = (record.closed_at if given else utcnow()) if record.status in CLOSED else None
            if record.status == "won":
                _check_won_requirements(record)
        elif record.status in CLOSED and record.closed_at is None:
            record.closed_at = before.get("closed_at") or utcnow()  # emptied: it closed when it did


def create(entity: str, data: dict, actor, *, commit: bool = True, chain=(), automate: bool = True,
           on_behalf_of=None) -> OwnedRecord:
    """A new record of ``entity`` from API-shaped ``data``; owner defaults to ``actor``.
    ``automate=False`` (an admin's import) emits events that rules and bindings ignore.
    ``on_behalf_of``: the person whose action made a rule create it; they are not told they own
    what their own action made (the won deal's contract draft)."""
    values, custom = _clean(entity, data, None, actor)
    record = MODELS[entity]()
    owner = values.pop("owner", None) or (actor if actor is not None else None)
    if owner is None:
        _invalid([{"field": "owner", "message": _("Required.")}])
    if actor is not None:
        _check_owner_choice(actor, owner, None)
    record.owner = owner
    if isinstance(record, Opportunity):
        values.setdefault("status", "open")
        if values.get("stage") is None:
            values["stage"] = first_stage_key()
            if values["stage"] is None:
                _invalid([{"field": "stage", "message": _("No pipeline stages are defined.")}])
    if isinstance(record, Activity):
        values["kind"] = values.get("kind") or "call"
        values["happened_at"] = values.get("happened_at") or utcnow()
    if isinstance(record, Contract):
        values["status"] = values.get("status") or "draft"
        if values["status"] == "signed" and actor is not None and not actor.is_admin and _goes_to_approval("contract"):
            # As an edit to 已签订 is: signed only once approved (an admin recording old contracts may).
            said = _("Contracts are approved before they are signed: save this one as a draft (it goes to approval), "
                     "and mark it signed once it is approved.")
            raise ApiError(409, "approval_needed", said, details=[{"field": "status", "message": said}])
    _apply(record, values, custom, actor, "")
    if isinstance(record, (Opportunity, Contract)):
        # Nor by a rule for them: a won deal on a rejected customer drafted a contract and sent it to approval.
        acting_for = actor if actor is not None else on_behalf_of
        if acting_for is None or not acting_for.is_admin:
            refuse_on_a_rejected_report(record.customer)
    _date_the_signature(record)
    if isinstance(record, Opportunity):
        record.stage_entered_at = utcnow()
        if record.status in CLOSED and record.closed_at is None:
            record.closed_at = utcnow()
        _check_stage_requirements(record, new=True)
        if record.status == "won":
            _check_won_requirements(record)
    if "shared_with" not in record.__dict__:
        record.shared_with = []  # known to be empty: no query to load it after the insert
    db.session.add(record)
    db.session.flush()
    # An admin loading existing data tells nobody: each owner heard "you now own …" per row.
    _log_assignment(record, None, owner, actor, "created",
                    tell=automate and getattr(on_behalf_of, "id", None) != getattr(owner, "id", None))
    after = snapshot(record)
    _emit(entity, "created", record, {k: (None, v) for k, v in after.items() if not _is_empty(v)}, actor, chain,
          automate)
    if isinstance(record, Opportunity):
        # Entered straight into a later stage, it reached that stage: its stage rules run as for
        # a move (a deal starting where every deal starts did not change stage).
        if record.stage != first_stage_key():
            _emit(entity, "stage_changed", record, {"stage": (None, record.stage)}, actor, chain, automate)
        if record.status in CLOSED:  # entered as won: its rules run as for a win
            _emit(entity, record.status, record, {"status": (None, record.status)}, actor, chain, automate)
    if commit:
        db.session.commit()
    return record


def refuse_on_a_rejected_report(customer: Customer | None) -> None:
    """No new deal or contract for a customer whose report was rejected (防撞单: most often
    because it is someone else's), until it is reported again: a 600,000 contract went to an
    approver who saw nothing of the rejection."""
    if customer is not None and customer.report_status == "rejected":
        said = _("The report of %(customer)s was rejected: report it again (on its page), and add deals and "
                 "contracts once it is approved or under review.", customer=customer.name)
        raise ApiError(409, "report_rejected", said, [{"field": "customer_id", "message": said}])


def _keep_with_its_contracts(opportunity: Opportunity) -> None:
    """A deal stays with the customer its contracts are signed with: moved alone, each contract
    would name one customer and a deal of another."""
    with db.session.no_autoflush:  # the deal's change is written once, after the checks
        signed_with = db.session.scalar(select(Customer).join(Contract, Contract.customer_id == Customer.id).where(
            Contract.opportunity_id == opportunity.id, Contract.customer_id != opportunity.customer.id).limit(1))
    if signed_with is not None:
        said = _("This deal has contracts with %(customer)s, so it stays with that customer. Link the contracts "
                 "to another deal first.", customer=signed_with.name)
        raise ApiError(409, "has_contracts", said, [{"field": "customer_id", "message": said}])


BY_USER = "changed by user"  # update()'s reason for a person's edit (rules and processes name theirs)


def update(record: OwnedRecord, data: dict, actor, *, version: int | None = None, commit: bool = True,
           chain=(), reason: str = BY_USER, automate: bool = True) -> OwnedRecord:
    """Change ``record``; ``version`` (if given) must match. Emits ``updated`` and, for
    opportunities, ``stage_changed`` / ``won`` / ``lost``. No change: no event."""
    refuse_stale(record, version)
    entity = record.entity
    values, custom = _clean(entity, data, record, actor)
    before = snapshot(record)
    _apply(record, values, custom, actor, reason, tell=automate)
    _status_side_effects(record, before)
    changes = _diff(before, snapshot(record))
    if not changes:
        return record
    _keep_to_the_approval(record, changes, reason, actor)
    if "customer_id" in changes and reason == BY_USER and actor is not None and not actor.is_admin:
        refuse_on_a_rejected_report(getattr(record, "customer", None))  # moved onto one, as created on one
    db.session.flush()
    _emit(entity, "updated", record, changes, actor, chain, automate)
    if isinstance(record, Customer) and "owner" in changes:
        _follow_customer(record, changes["owner"][0], actor, chain)
    if review_status(record) == "approved" and set(changes) & set(APPROVED_TERMS.get(entity, ())):
        set_review_status(entity, record.id, "none", comment=_("Changed after its approval"), actor=actor,
                          commit=False, chain=chain)
    if isinstance(record, Opportunity):
        if "stage" in changes:
            _emit(entity, "stage_changed", record, {"stage": changes["stage"]}, actor, chain, automate)
        if "status" in changes and record.status in ("won", "lost"):
            _emit(entity, record.status, record, {"status": changes["status"]}, actor, chain, automate)
    if commit:
        db.session.commit()
    return record


label_audit_events({"crm.customer_deleted": _l("Customer deleted"),
                    "crm.activity_deleted": _l("Activity record deleted"),
                    "crm.opportunity_deleted": _l("Opportunity deleted"), "crm.contract_deleted": _l("Contract deleted")})


def delete(record: OwnedRecord, actor, *, version: int | None = None, commit: bool = True, chain=()) -> None:
    refuse_stale(record, version)
    if not can_manage(record, actor):
        raise ApiError(403, "forbidden", _("Only the owner or a manager may delete this record."))
    if isinstance(record, Opportunity) and not _sees_all(actor) and _ever_won(record):
        # Deleted, a win left its month's sales figures without a trace but the audit log (reopened
        # first, too: the reopening does not make the win not have happened).
        raise ApiError(409, "closed_deal", _("This opportunity was won, which the sales figures and its history "
                                             "keep; only an administrator may delete it."))
    if isinstance(record, Customer):
        related = sum(db.session.scalar(select(func.count()).select_from(m).where(m.customer_id == record.id))
                      for m in (Activity, Opportunity, Contract))
        if related:
            raise ApiError(409, "has_related_records",
                           _("This customer has %(n)d activity records, opportunities or contracts; delete them first.",
                             n=related))
    _refuse_while_processes_run(record)
    before = snapshot(record)
    db.session.delete(record)
    db.session.flush()
    audit(f"crm.{record.entity}_deleted", actor=actor, target=f"{record.entity}:{record.id}",
          record=json.loads(json.dumps({k: v for k, v in before.items() if not _is_empty(v)}, default=str)))
    _emit(record.entity, "deleted", record, {k: (v, None) for k, v in before.items() if not _is_empty(v)}, actor, chain)
    if commit:
        db.session.commit()


def _ever_won(opportunity: Opportunity) -> bool:
    if opportunity.status == "won":
        return True
    changes = db.session.scalars(select(RecordChange.changes).where(RecordChange.entity == "opportunity",
                                                                    RecordChange.record_id == opportunity.id))
    return any((c.get("status") or [None, None])[-1] == "won" for c in changes if isinstance(c, dict))


def _refuse_while_processes_run(record: OwnedRecord) -> None:
    """A process still running for the record would go on with a record that is gone (and,
    where ids are reused, with the next record given its id): it has to end first."""
    from app.engine.services import open_instances_for

    running = open_instances_for(record.entity, record.id)
    if running:
        raise ApiError(409, "process_running", _(
            "A process is still running for this record (%(processes)s); withdraw or terminate it first.",
            processes=", ".join(f"#{instance_id}" for instance_id, _key in running)))


def move_stage(opportunity: Opportunity, stage_key: str, actor, *, version: int | None = None,
               commit: bool = True, chain=()) -> Opportunity:
    """Move to ``stage_key``; refused (400 ``stage_requirements_missing``, the message names
    the missing fields) while the stage's required fields are empty."""
    return update(opportunity, {"stage": stage_key}, actor, version=version, commit=commit, chain=chain)


def mark_won(opportunity: Opportunity, actor, *, commit: bool = True, chain=(), closed_at=None) -> Opportunity:
    """Won, now or at ``closed_at`` (a win entered late counts in its own month)."""
    data = {"status": "won", **({"closed_at": closed_at} if closed_at else {})}
    return update(opportunity, data, actor, commit=commit, chain=chain)


def mark_lost(opportunity: Opportunity, actor, reason: str | None = None, *, commit: bool = True,
              chain=(), closed_at=None) -> Opportunity:
    data = {"status": "lost", **({"closed_at": closed_at} if closed_at else {})}
    if reason:
        data["lost_reason"] = reason
    return update(opportunity, data, actor, commit=commit, chain=chain)


def assign_owner(record: OwnedRecord, user, actor=None, reason: str = "", *, commit: bool = True,
                 chain=(), tell: bool = True) -> AssignmentLog | None:
    """Make ``user`` (User or username) the owner, log it ("who got which customer") and
    emit ``updated`` with ``{"owner": (old, new)}``. No permission check: for the workflow
    and automation rules (round-robin ...). An inactive user is refused (400)."""
    try:
        target = user if isinstance(user, User) else _user_named(user)
    except _Invalid as invalid:
        raise ApiError(400, "invalid_input", str(invalid), [{"field": "owner", "message": str(invalid)}]) from None
    if not target.active:
        raise ApiError(400, "invalid_input", _("Unknown or inactive user: %(name)s", name=target.username),
                       [{"field": "owner", "message": _("Inactive user.")}])
    if record.owner_id == target.id:
        return None
    old = record.owner
    row = _log_assignment(record, old, target, actor, reason, tell)
    record.owner = target
    db.session.flush()
    _emit(record.entity, "updated", record, {"owner": (old.username if old else None, target.username)}, actor, chain)
    if isinstance(record, Customer) and old is not None:
        _follow_customer(record, old.username, actor, chain)
    if commit:
        db.session.commit()
    return row


FOLLOWS_CUSTOMER = "follows customer"  # the assignment log's reason for a deal moved with its customer
_OPEN_WORK = ((Opportunity, Opportunity.status == "open"), (Contract, Contract.status.in_(("draft", "signed"))))


def _follow_customer(customer: Customer, previous: str | None, actor, chain) -> None:
    """A customer's open opportunities and running contracts held by its previous owner go to
    the new one with it: otherwise the previous owner keeps deals of a customer they may no
    longer open, and renewal reminders go to the wrong person. Work someone else holds on the
    customer (a colleague's deal) stays theirs. The new owner is told once, of the customer."""
    if not previous or previous == customer.owner.username:
        return
    for model, still_open in _OPEN_WORK:
        held = select(model).join(User, User.id == model.owner_id).where(
            model.customer_id == customer.id, User.username == previous, still_open).order_by(model.id)
        for record in db.session.scalars(held).all():
            assign_owner(record, customer.owner, actor, FOLLOWS_CUSTOMER, commit=False, chain=chain, tell=False)


def share(record: OwnedRecord, users: Iterable, actor=None, *, commit: bool = True, chain=()) -> OwnedRecord:
    """Add users (User objects or usernames) to the record's ``shared_with``; no permission
    check (automation). Emits ``updated`` when someone was added."""
    before = record.shared_usernames
    current = {u.id for u in record.shared_with}
    for item in users:
        target = item if isinstance(item, User) else db.session.scalar(select(User).where(User.username == item))
        if target is not None and target.active and target.id not in current and target.id != record.owner_id:
            record.shared_with.append(target)
            current.add(target.id)
    after = sorted(u.username for u in record.shared_with)
    if after != before:
        record.updated_at = utcnow()
        db.session.flush()
        _emit(record.entity, "updated", record, {"shared_with": (before, after)}, actor, chain)
        if commit:
            db.session.commit()
    return record


# --- for the report and approval workflows -------------------------------------------------

_CUSTOMER_BY_ID = select(Customer).where(Customer.id == bindparam("id")).options(lazyload(Customer.shared_with))


def _customer(customer_id: int) -> Customer | None:
    """``session.get(Customer, customer_id)``, except that a customer read from the database
    (or refreshed after a rollback) leaves its sharing list to load when used: the workflow's
    operations rarely read it, and its selectin query cost three times the customer's."""
    customer = db.session.identity_map.get(db.session.identity_key(Customer, customer_id))
    if customer is not None and not inspect(customer).expired:
        return db.session.get(Customer, customer_id)  # as loaded (no SQL)
    with db.session.no_autoflush:  # as session.get
        return db.session.scalar(_CUSTOMER_BY_ID, {"id": customer_id})


# The field an embedded process keeps "pending" while it runs (FormBinding.report_pending) and
# its process sets to approved or rejected: a customer's report (客户报备), a contract's
# approval (合同审批).
REVIEW_FIELDS = {"customer": "report_status", "contract": "approval_status"}
# The process operation that decides each: a process calling it on its record is that record's
# report or approval (pending while it runs, however it was started).
REVIEW_OPERATIONS = {"customer": "crm.set_report_status", "contract": "crm.set_approval_status"}

label_audit_events({"crm.report_status": _l("Customer report status set"),
                    "crm.approval_status": _l("Contract approval status set")})


def _status_names(field: str) -> dict:
    """An audit row's old and new values read as the statuses' names (报备审批中), not the codes
    stored (pending)."""
    def name(value, _context):
        return str(CHOICE_LABELS[field].get(value, value))
    return {"old": name, "new": name}


label_audit_details(["crm.report_status"], formats=_status_names("report_status"))
label_audit_details(["crm.approval_status"], formats=_status_names("approval_status"))


def review_status(record) -> str | None:
    """Where the record's report or approval stands; None for records that have none."""
    field = REVIEW_FIELDS.get(getattr(record, "entity", None))
    return getattr(record, field) if field else None


# A contract under approval is what its approvers are deciding on: people may not change it
# meanwhile, only hand it over or share it. (A customer's report decides who owns it: its data
# may still be corrected, and the approver's form shows what changed.)
LOCKED_WHILE_PENDING = frozenset({"contract"})
OPEN_WHILE_PENDING = frozenset({"owner", "shared_with"})
# What a contract's approval approved: changing it afterwards needs approval again, so its
# approval status goes back to "none" and the owner may submit it again.
APPROVED_TERMS = {"contract": ("customer_id", "opportunity_id", "amount")}


def _keep_to_the_approval(record: OwnedRecord, changes: dict, reason: str, actor) -> None:
    """A person may not change a contract its approvers are deciding on, nor sign one they did
    not approve (rejected, or its approved terms changed since), nor change the approved terms
    of a signed one, where contracts go to approval (an administrator correcting one may)."""
    if reason != BY_USER or record.entity not in LOCKED_WHILE_PENDING:
        return
    status = review_status(record)
    if status == "pending" and set(changes) - OPEN_WHILE_PENDING:
        raise ApiError(409, "approval_pending", _(
            "This contract is awaiting approval and cannot be changed until it is decided. To change it now, "
            "withdraw the approval (My submissions) and submit it again afterwards."))
    terms = [key for key in APPROVED_TERMS[record.entity] if key in changes]
    if (record.status == "signed" and "status" not in changes and terms and not (actor and actor.is_admin)
            and _goes_to_approval(record.entity)):
        said = _("This contract is signed as it was approved: its %(fields)s cannot change. To change them, set "
                 "it back to draft in the same save, and submit it for approval again.",
                 fields=_(", ").join(field_label(record.entity, key) for key in APPROVED_TERMS[record.entity]))
        raise ApiError(409, "contract_signed", said, details=[{"field": key, "message": said} for key in terms])
    if changes.get("status", (None, None))[1] != "signed":
        return
    if status == "approved" and set(changes) & set(APPROVED_TERMS[record.entity]):
        status = "none"  # this very save takes the approval back
    if status == "rejected":
        said = _("This contract's approval was rejected, so it cannot be marked signed. Correct it and submit "
                 "it for approval again (on its page).")
        raise ApiError(409, "approval_rejected", said, details=[{"field": "status", "message": said}])
    if status == "none" and _goes_to_approval(record.entity):
        said = _("Contracts are approved before they are signed: submit this one for approval (on its page), "
                 "and mark it signed once it is approved.")
        raise ApiError(409, "approval_needed", said, details=[{"field": "status", "message": said}])
    if not (actor and actor.is_admin):
        # Approved while its customer's report was being rejected (撞单): not signed on a colleague's customer.
        refuse_on_a_rejected_report(getattr(record, "customer", None))


def _goes_to_approval(entity: str) -> bool:
    try:
        from app.forms.bindings import goes_to_approval
    except ImportError:  # no embedded processes: nothing decides records
        return False
    return goes_to_approval(entity)


def fields_locked_by_approval(record) -> frozenset[str]:
    """The fields of ``record`` a person may not change now (its edit form shows them disabled)."""
    if record is None or record.entity not in LOCKED_WHILE_PENDING or review_status(record) != "pending":
        return frozenset()
    keys = {spec.key for spec in FIELDS[record.entity]} | {f"custom.{d.key}" for d in custom_field_defs(record.entity)}
    return frozenset(keys - OPEN_WHILE_PENDING)


def approval_notice(record) -> str | None:
    """What an edit form says about the record's approval: that it cannot be changed while it is
    awaited, or which changes would need it again."""
    if record is None or record.entity not in LOCKED_WHILE_PENDING:
        return None
    status = review_status(record)
    if status == "pending":
        return _("This contract is awaiting approval: until it is decided, only its owner and sharing may change. To "
                 "change more now, withdraw it and submit it again.")
    terms = _(", ").join(field_label(record.entity, key) for key in APPROVED_TERMS[record.entity])
    if record.status == "signed" and _goes_to_approval(record.entity):
        return _("This contract is signed as it was approved: its %(fields)s change only if it is set back to "
                 "draft, and it then needs approval again.", fields=terms)
    if status == "approved":
        return _("This contract is approved. Changing its %(fields)s means it needs approval again.", fields=terms)
    return None


def review_label(record) -> str:
    """The record's report or approval status by its name (报备审批中, 审批中); "" if it has none."""
    status = review_status(record)
    return choice_label(record.entity, REVIEW_FIELDS[record.entity], status) if status else ""


def set_review_status(entity: str, record_id: int, status: str, *, comment: str | None = None, actor=None,
                      commit: bool = True, chain=()) -> OwnedRecord:
    """Set a customer's report status or a contract's approval status (none/pending/approved/
    rejected); emits ``updated``."""
    field = REVIEW_FIELDS.get(entity)
    if field is None:
        raise ApiError(409, "no_review_status", _("Only customers and contracts have a report or approval status."))
    if status not in REPORT_STATUSES:
        raise ApiError(400, "invalid_input", _("Must be one of: %(choices)s", choices=", ".join(REPORT_STATUSES)),
                       [{"field": "status", "message": _("Unknown status.")}])
    record = _customer(int(record_id)) if entity == "customer" else record_by_id(entity, record_id)
    if record is None:
        raise ApiError(404, "not_found", _("No such record."))
    old = getattr(record, field)
    if old == status:
        return record
    setattr(record, field, status)
    audit(f"crm.{field}", actor=actor, target=f"{entity}:{record.id}", old=old, new=status, comment=comment or "")
    db.session.flush()
    _emit(entity, "updated", record, {field: (old, status)}, actor, chain)
    if commit:
        db.session.commit()
    return record


def confirm_owner(customer_id: int, username: str, *, actor=None, commit: bool = True, chain=()) -> Customer:
    """The report decided who owns the customer (客户归属): make ``username`` the owner.

    Someone who has left since the report began (deactivated, their work handed over) cannot be
    confirmed: the customer stays with whom the hand-over gave it to, instead of the approval
    stopping with an error."""
    customer = _customer(int(customer_id))
    if customer is None:
        raise ApiError(404, "not_found", _("No such customer."))
    named = user_named(str(username).strip()) if username else None
    if named is not None and not named.active and customer.owner is not None and customer.owner.active \
            and customer.owner_id != named.id:
        return customer
    assign_owner(customer, username, actor, "customer report", commit=commit, chain=chain)
    return customer


# --- lists ---------------------------------------------------------------------------------

SEARCH_COLUMNS = {
    "customer": ("name", "phone", "credit_code", "province", "city", "industry"),
    "activity": ("content",),
    "opportunity": ("title",),
    "contract": ("title", "invoice_title"),
}
# Equality filters per entity (query parameter → column).
FILTERS = {
    "customer": ("province", "city", "industry", "customer_class", "source", "report_status", "credit_code",
                 "phone"),
    "activity": ("customer_id", "kind"),
    "opportunity": ("customer_id", "stage", "status"),
    "contract": ("customer_id", "opportunity_id", "status", "approval_status"),
}
# Columns lists sort by (where the record has them). Not the stage (its order is the pipeline's,
# not the key's) nor references (owner, customer: the order of ids means nothing to a reader).
SORTS = {"updated_at", "created_at", "closed_at", "name", "title", "amount", "registered_capital", "expected_close",
         "expires_on", "signed_on", "happened_at", "next_follow_up", "province", "city", "industry",
         "customer_class", "report_status", "approval_status", "kind", "status", "id"}


# Newest first; activities by when they happened (one logged late still falls into its place).
DEFAULT_SORT = {"activity": "happened_at"}
# A number however written, its extension too (0592-2361 9620转627: the search finds the number).
_PHONE_LIKE = re.compile(r"^[\d\s+\-()（）０-９＋－]+((转|ext\.?|x|#)\s*[\d０-９]+)?$", re.IGNORECASE)


def can_sort(entity: str, column: str) -> bool:
    return column in SORTS and hasattr(MODELS[entity], column)


def _a_day_of_a_time(column, value) -> bool:
    return (isinstance(value, date) and not isinstance(value, datetime)
            and isinstance(column.type, UTCDateTime))


def list_query(entity: str, user, q: str | None = None, filters: dict | None = None,
               sort: str | None = None) -> Select:
    """SELECT of the ``entity`` rows ``user`` may see, searched and filtered."""
    model = MODELS[entity]
    stmt = select(model).where(visible_clause(model, user))
    q = (q or "").replace("\x00", "")  # PostgreSQL text cannot hold NUL
    words = []
    for term in q.split()[:8]:  # each word somewhere: "福州 有限公司" finds 福州某某有限公司
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"
        found = [getattr(model, c).ilike(pattern, escape="\\") for c in SEARCH_COLUMNS[entity]]
        if model is Customer:  # typed half-width, stored full-width (福州ＴＣＬ电子): found by its key, as 防撞单 finds it
            found.append(Customer.name_key.contains(unicodedata.normalize("NFKC", term).lower(), autoescape=True))
        else:  # a deal, contract or activity by its customer's name too ("厦门")
            found.append(model.customer_id.in_(select(Customer.id).where(Customer.name.ilike(pattern, escape="\\"))))
        words.append(or_(*found))
    phone = normalise_phone(q) if model is Customer and _PHONE_LIKE.match(q) else ""
    if len(phone) >= 5:  # a number however it is written: 05925551234 finds 0592-555 1234
        stmt = stmt.where(or_(and_(*words), Customer.phone_key.contains(phone, autoescape=True)))
    elif words:
        stmt = stmt.where(*words)
    for key, value in (filters or {}).items():
        if value is None or value == "":
            continue
        if isinstance(value, datetime) and value.tzinfo is None:
            # A time without its offset is the company's, as when a record is written with it.
            value = value.replace(tzinfo=company_zone())
        if isinstance(value, str):
            value = value.replace("\x00", "")
        if isinstance(value, int) and key.endswith("_id") and not 0 < value <= MAX_ID:
            value = 0  # matches nothing
        if key == "owner":
            stmt = stmt.join(User, User.id == model.owner_id).where(User.username == value)
        elif key == "follow_up_open" and model is Activity:
            stmt = stmt.where(follow_up_open())
        elif key == "shared_with":
            shared = select(model.shares.c.record_id).join(User, User.id == model.shares.c.user_id) \
                .where(User.username == value)
            stmt = stmt.where(model.id.in_(shared))
        elif key == "phone" and model is Customer:  # however it is written: 138-0013-8000, １３８…
            stmt = stmt.where(Customer.phone_key == normalise_phone(str(value)))
        elif key == "credit_code" and model is Customer:  # however it is typed: lower case, spaced
            stmt = stmt.where(Customer.credit_code == credit_code_as_stored(str(value)))
        elif key == "province" and model is Customer:  # stored by its Chinese name (Fujian → 福建)
            stmt = stmt.where(Customer.province == clean_province(str(value)))
        elif key == "city" and model is Customer:  # stored without 市
            stmt = stmt.where(Customer.city == clean_city(str(value)))
        elif key.endswith("_min") and hasattr(model, key[:-4]):
            stmt = stmt.where(getattr(model, key[:-4]) >= value)
        elif key.endswith("_max") and hasattr(model, key[:-4]):
            stmt = stmt.where(getattr(model, key[:-4]) <= value)
        elif key.endswith("_before") and hasattr(model, key[:-7]):
            column = getattr(model, key[:-7])
            if _a_day_of_a_time(column, value):  # activities until 12-31: all of that company day
                stmt = stmt.where(column < day_start(value + timedelta(days=1)))
            else:
                stmt = stmt.where(column <= value)
        elif key.endswith("_after") and hasattr(model, key[:-6]):
            column = getattr(model, key[:-6])
            stmt = stmt.where(column >= (day_start(value) if _a_day_of_a_time(column, value) else value))
        elif key in FILTERS[entity]:
            stmt = stmt.where(getattr(model, key) == value)
        else:
            raise ApiError(400, "invalid_input", _("Unknown filter: %(name)s", name=key),
                           [{"field": key, "message": _("Unknown filter.")}])
    column, descending = DEFAULT_SORT.get(entity, "updated_at"), True
    if sort:
        column, descending = sort.lstrip("-"), sort.startswith("-")
        if not can_sort(entity, column):
            sortable = ", ".join(c for c in SORTS if can_sort(entity, c))
            raise ApiError(400, "invalid_input", _("Cannot sort by %(name)s; sort by one of: %(columns)s (\"-\" "
                                                   "before it for descending).", name=column, columns=sortable),
                           [{"field": "sort", "message": _("Unknown sort column.")}])
    order = getattr(model, column)
    order = order.desc() if descending else order.asc()
    if getattr(model, column).nullable:  # empty values last either way, on SQLite and PostgreSQL alike
        order = order.nulls_last()
    return stmt.order_by(order, model.id.desc() if descending else model.id)


EXPIRY_WINDOW_DAYS = 30  # "expiring soon" on the home page


@dataclass(frozen=True)
class StageFigure:
    key: str
    name: str  # as configured; an opportunity in a stage since removed shows its key
    count: int
    amount: Decimal


@dataclass(frozen=True)
class SalesSummary:
    """What ``user`` may see of the CRM that asks for work, counted as the lists filter it."""
    customers: int
    reports_pending: int
    reports_rejected: int
    contracts_expiring: int  # signed, expiring from today through EXPIRY_WINDOW_DAYS from now
    follow_ups_due: int  # activities whose next follow-up is today or past
    contracts_pending: int  # awaiting approval
    contracts_rejected: int  # approval rejected: to fix and submit again
    pipeline: list[StageFigure]  # open opportunities per stage, in the stages' order


def follow_up_open():
    """An activity's follow-up still waits: nothing was logged for its customer after it (a
    later call or visit is the follow-up, so the older date no longer counts as due)."""
    later = aliased(Activity)
    return ~select(later.id).where(later.customer_id == Activity.customer_id,
                                   later.happened_at > Activity.happened_at).exists()


def expiry_window(today: date) -> tuple[date, date]:
    return today, today + timedelta(days=EXPIRY_WINDOW_DAYS)


def sales_summary(user) -> SalesSummary:
    """Two aggregates over the visible rows (the lists' visibility); days are the company's."""
    today = company_today()
    first, last = expiry_window(today)

    def visible_count(model, *where):
        return select(func.count()).select_from(model).where(visible_clause(model, user), *where).scalar_subquery()

    counts = db.session.execute(select(
        func.count(),
        func.count(case((Customer.report_status == "pending", 1))),
        func.count(case((Customer.report_status == "rejected", 1))),
        visible_count(Contract, Contract.status == "signed", Contract.expires_on.between(first, last)),
        visible_count(Activity, Activity.next_follow_up <= today, follow_up_open()),
        visible_count(Contract, Contract.approval_status == "pending"),
        visible_count(Contract, Contract.approval_status == "rejected"),
    ).select_from(Customer).where(visible_clause(Customer, user))).one()
    return SalesSummary(*counts, pipeline=open_pipeline(user))


def open_pipeline(user, scope=visible_clause) -> list[StageFigure]:
    """The open opportunities ``user`` may see (or, with ``scope``, answers for), per stage in
    the pipeline's order (a stage since removed last, by its key): one aggregate."""
    per_stage = {key: (number, Decimal(amount or 0)) for key, number, amount in db.session.execute(
        select(Opportunity.stage, func.count(), func.sum(Opportunity.amount))
        .where(scope(Opportunity, user), Opportunity.status == "open").group_by(Opportunity.stage))}
    pipeline = [StageFigure(stage.key, stage.name, *per_stage.pop(stage.key, (0, Decimal(0)))) for stage in stages()]
    return pipeline + [StageFigure(key, key, *figures) for key, figures in sorted(per_stage.items())]


def assignment_log(entity: str, record_id: int) -> list[AssignmentLog]:
    """Newest first, as the change history reads."""
    return list(db.session.scalars(select(AssignmentLog).where(
        AssignmentLog.entity == entity, AssignmentLog.record_id == record_id).order_by(AssignmentLog.id.desc())))


# --- configuration: stages and custom fields ----------------------------------------------

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KEY_MAX, LABEL_MAX = 40, 120  # the custom fields' and stages' columns
STAGE_NAME_MAX = 80  # the stages table's column
POSITION_MAX = 100000  # as the rules' order


def _key_problems(key: str) -> list[dict]:
    if len(key) > KEY_MAX:
        return [{"field": "key", "message": _("At most %(n)d characters.", n=KEY_MAX)}]
    if not _KEY.match(key):
        return [{"field": "key", "message": _("Lower-case letters, digits and _; starts with a letter.")}]
    return []


def _position_problems(position) -> list[dict]:
    if isinstance(position, int) and 0 <= position <= POSITION_MAX:
        return []  # a bigger one was a bare 400 page ("Python int too large to convert to SQLite INTEGER")
    return [{"field": "position", "message": _("A whole number from 0 to %(n)d.", n=POSITION_MAX)}]


label_audit_events({"crm.stage_saved": _l("Pipeline stage saved"), "crm.stage_deleted": _l("Pipeline stage deleted"),
                    "crm.custom_field_saved": _l("Custom field saved"),
                    "crm.custom_field_deleted": _l("Custom field deleted")})


def save_stage(stage: Stage | None, *, key: str, name: str, position: int, required_fields: list[str],
               actor=None) -> Stage:
    errors = []
    key = (key or "").strip()
    if stage is None:
        errors += _key_problems(key) or ([{"field": "key", "message": _("Already exists.")}]
                                         if stage_by_key(key) else [])
    errors += _position_problems(position)
    name = (name or "").strip()
    if not name:
        errors.append({"field": "name", "message": _("Required.")})
    elif len(name) > STAGE_NAME_MAX:
        errors.append({"field": "name", "message": _("At most %(n)d characters.", n=STAGE_NAME_MAX)})
    elif any(other.name.strip().casefold() == name.casefold() and other is not stage for other in stages()):
        # Two columns alike on the board, and rules and processes naming the stage by its name.
        errors.append({"field": "name", "message": _("Another stage has this name.")})
    defs = custom_field_defs("opportunity")
    allowed = set(OPPORTUNITY_REQUIRABLE) | {f"custom.{d.key}" for d in defs}
    unknown = [f for f in required_fields if f not in allowed]
    if unknown:
        errors.append({"field": "required_fields", "message": _("Unknown field: %(name)s", name=", ".join(unknown))})
    automated = [d.label for d in defs if d.automated and f"custom.{d.key}" in required_fields]
    if automated:  # nobody could fill it in, so no deal could enter the stage
        errors.append({"field": "required_fields", "message": _(
            "Only rules and processes set %(names)s, so people cannot fill it in before a move.",
            names=_(", ").join(automated))})
    if errors:
        _invalid(errors, labels=SETTING_LABELS)
    if stage is None:
        stage = Stage(key=key)
        db.session.add(stage)
    stage.name, stage.position, stage.required_fields = name, int(position), list(required_fields)
    audit("crm.stage_saved", actor=actor, target=stage.key, required_fields=list(required_fields))
    db.session.commit()
    return stage


def delete_stage(stage: Stage, actor=None) -> None:
    in_stage = select(func.count()).select_from(Opportunity).where(Opportunity.stage == stage.key)
    used = db.session.scalar(in_stage.where(Opportunity.status.not_in(CLOSED)))
    if used:
        raise ApiError(409, "stage_in_use", ngettext("%(num)d opportunity is in this stage; move it first.",
                                                         "%(num)d opportunities are in this stage; move them first.", used))
    closed = db.session.scalar(in_stage)
    if closed:  # a closed deal cannot be moved: "move them first" would ask the impossible
        raise ApiError(409, "stage_in_use", ngettext(
            "%(num)d won or lost opportunity was closed in this stage and keeps it as its history; rename the stage "
            "instead of deleting it.",
            "%(num)d won or lost opportunities were closed in this stage and keep it as their history; rename the "
            "stage instead of deleting it.", closed))
    from app.automation.services import rules_naming

    rules = rules_naming("opportunity", "stage", stage.key)
    if rules:  # it would stay enabled and never match again, and refuse every later save
        raise ApiError(409, "stage_in_use", _("The rules %(names)s use this stage; change them first.",
                                              names=_(", ").join(f"“{rule.name}”" for rule in rules)))
    db.session.delete(stage)
    audit("crm.stage_deleted", actor=actor, target=stage.key)
    db.session.commit()


def save_custom_field(definition: CustomFieldDef | None, *, entity: str, key: str, label: str, type: str,
                      choices: list[str], required: bool, position: int = 0, actor=None,
                      automated: bool = False) -> CustomFieldDef:
    errors = []
    if automated and required:  # nobody could create the record: people may not fill it in
        errors.append({"field": "required", "message": _(
            "A field only rules and processes set cannot be required.")})
    key = (key or "").strip()
    if definition is None:
        if entity not in ENTITIES:
            errors.append({"field": "entity", "message": _("Unknown record type.")})
        if key_problems := _key_problems(key):
            errors += key_problems
        elif db.session.scalar(select(CustomFieldDef).where(CustomFieldDef.entity == entity,
                                                            CustomFieldDef.key == key)):
            errors.append({"field": "key", "message": _("Already exists.")})
    errors += _position_problems(position)
    if not (label or "").strip():
        errors.append({"field": "label", "message": _("Required.")})
    elif len(label.strip()) > LABEL_MAX:  # was cut to 120 without a word
        errors.append({"field": "label", "message": _("At most %(n)d characters.", n=LABEL_MAX)})
    elif entity in ENTITIES:
        other = _field_labelled(entity, label, except_key=definition.key if definition else key)
        if other:
            # Forms, conditions and CSV columns name fields by label: two alike cannot be told apart.
            errors.append({"field": "label", "message": _("Another field is called that already (%(key)s).",
                                                          key=other)})
    if type not in CUSTOM_FIELD_TYPES:
        errors.append({"field": "type", "message": _("Must be one of: %(choices)s", choices=", ".join(CUSTOM_FIELD_TYPES))})
    choices = [c.strip() for c in choices if c and c.strip()]
    if type == "choice" and not choices:
        errors.append({"field": "choices", "message": _("A choice field needs at least one choice.")})
    twice = sorted({c for c in choices if choices.count(c) > 1})
    if type == "choice" and twice:  # the drop-down showed it twice
        errors.append({"field": "choices", "message": _("Each choice once: %(choices)s comes more than once.",
                                                        choices=_(", ").join(twice))})
    if errors:
        _invalid(errors, labels=SETTING_LABELS)
    if definition is None:
        definition = CustomFieldDef(entity=entity, key=key)
        db.session.add(definition)
    elif type != definition.type:  # their conditions and values were written for the old type
        _refuse_while_rules_use(definition, _("Change them before changing the field's type."))
    elif type == "choice":
        _refuse_removing_choices_rules_use(definition, choices)
    definition.label, definition.type = label.strip(), type
    definition.choices = choices if type == "choice" else []
    definition.required, definition.position, definition.automated = bool(required), int(position), bool(automated)
    audit("crm.custom_field_saved", actor=actor, target=f"{definition.entity}.{definition.key}")
    db.session.commit()
    return definition


def _refuse_removing_choices_rules_use(definition: CustomFieldDef, choices: list[str]) -> None:
    """A choice a rule compares with or sets, taken off the list: the rule stayed enabled, never
    matched again and refused every later save of itself (as a deleted stage would)."""
    from app.automation.services import rules_naming

    for removed in [c for c in definition.choices or [] if c not in choices]:
        rules = rules_naming(definition.entity, f"custom.{definition.key}", removed)
        if rules:
            raise ApiError(409, "field_in_use", _(
                "The rules %(names)s use the choice “%(choice)s”; change them before taking it off the list.",
                names=_(", ").join(f"“{rule.name}”" for rule in rules), choice=removed),
                [{"field": "choices", "message": _("“%(choice)s” is in use by a rule.", choice=removed)}])


def _refuse_while_rules_use(definition: CustomFieldDef, what_to_do: str) -> None:
    """409 naming the automation rules and embedded-process bindings that read or set the field:
    deleted or retyped under them, they would compare or set nothing, without a word."""
    from app.automation.services import rules_using_field

    try:
        from app.forms.bindings import bindings_using_field
    except ImportError:  # no embedded processes
        bindings = []
    else:
        bindings = bindings_using_field(definition.entity, f"custom.{definition.key}")
    rules = rules_using_field(definition.entity, f"custom.{definition.key}")
    if rules or bindings:
        names = _(", ").join([f"“{rule.name}”" for rule in rules] + [f"“{b.name}”" for b in bindings])
        raise ApiError(409, "field_in_use", join_sentences([
            _("The automation rules or embedded processes %(names)s use this field.", names=names), what_to_do]))


def _labels_in_both_languages(keys, label) -> dict[str, set[str]]:
    """Each label ``label(key)`` gives in English and in Chinese (trimmed, lower-case) → the
    ``keys`` it names: more than one when fields are labelled alike."""
    from flask_babel import force_locale

    names: dict[str, set[str]] = {}
    for locale in ("en", "zh_CN"):
        with force_locale(locale):
            for key in keys:
                names.setdefault(label(key).strip().lower(), set()).add(key)
    return names


def _field_labelled(entity: str, label: str, except_key: str) -> str | None:
    """The key of the record type's field (built-in, in either language, or custom) whose label
    is ``label`` (spaces and case aside), other than the custom field ``except_key``."""
    keys = [spec.key for spec in FIELDS[entity]]
    keys += [f"custom.{d.key}" for d in custom_field_defs(entity) if d.key != except_key]
    found = _labels_in_both_languages(keys, lambda key: field_label(entity, key)).get(label.strip().lower())
    return min(found, key=lambda key: (key.startswith("custom."), key)) if found else None  # built-in first


def delete_custom_field(definition: CustomFieldDef, actor=None) -> None:
    """Removes the definition; values already stored stay in the records' ``custom``. Refused
    (409) while a current process sets the field (its step would stop with an error), or a rule
    or an embedded-process binding uses it."""
    from app.engine.references import uses_of_custom_field

    uses = uses_of_custom_field(definition.key)
    if uses:
        raise ApiError(409, "field_in_use", join_sentences([_(
            "“%(process)s” sets this field at “%(element)s”.", process=use["process"], element=use["element"])
            for use in uses] + [_("Change those processes before deleting the field.")]))
    _refuse_while_rules_use(definition, _("Change them before deleting the field."))
    db.session.delete(definition)
    audit("crm.custom_field_deleted", actor=actor, target=f"{definition.entity}.{definition.key}")
    db.session.commit()


# --- CSV export and import -----------------------------------------------------------------

# The last column of an import's failed rows downloaded: passed over when the corrected file comes back.
IMPORT_PROBLEM = "import_problem"
EXPORT_COLUMNS = ("id", "name", "province", "city", "industry", "registered_capital", "customer_class", "source",
                  "phone", "credit_code", "owner", "shared_with", "report_status", "created_at", "updated_at")
# Columns of an exported file that an import ignores (set by the system). A row's ``id``
# names the customer it updates: an exported file re-imported changes, not duplicates.
IMPORT_IGNORED = frozenset({"report_status", "created_at", "updated_at", "version", IMPORT_PROBLEM})
IMPORT_SYNC_ROWS = 200  # up to this many rows are imported in the request itself
IMPORT_BATCH = 100
# A batch also ends after this long: with rules and workflows a row takes ~0.1 s, and a batch of
# 100 held SQLite's write lock past others' 10 s wait (a salesperson's upload answered 503).
IMPORT_BATCH_SECONDS = 1.0
# An exported file's columns that are no field of the record: its id and times.
_NON_FIELD_LABELS = {"id": _l("ID"), "created_at": _l("Created at"), "updated_at": _l("Updated at"),
                     IMPORT_PROBLEM: _l("Import problem")}


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(value)
    elif isinstance(value, datetime):
        value = value.isoformat()
    return formula_safe(str(value))


def _csv_columns() -> list[str]:
    """Keys of an exported file's columns: the fixed ones, then the custom fields."""
    return [*EXPORT_COLUMNS, *(f"custom.{d.key}" for d in custom_field_defs("customer"))]


def csv_column_label(key: str) -> str:
    """A column's header in the current language (``ID``/``编号``, ``名称``, a custom field's label)."""
    return str(_NON_FIELD_LABELS[key]) if key in _NON_FIELD_LABELS else field_label("customer", key)


def export_customers_csv(user, q=None, filters=None, sort=None, *, labels: bool = False) -> Iterable[str]:
    """CSV lines (UTF-8 with BOM for Excel) of the customers ``user`` may see; the header row
    names the columns by key, or with ``labels`` as people read them, in the current language.

    The query (who sees what) is built now, while ``user`` is in the request's session; the
    lines are produced while the response streams, after that session may be gone."""
    stmt = list_query("customer", user, q, filters, sort).execution_options(yield_per=500)
    return _csv_lines(stmt, labels)


def _csv_row(cells: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def _csv_lines(stmt, labels: bool) -> Iterable[str]:
    columns = _csv_columns()
    yield "\ufeff" + _csv_row([csv_column_label(k) for k in columns] if labels else columns)
    for customer in db.session.scalars(stmt):
        yield _csv_row([_csv_cell(_export_value(customer, k, labels)) for k in columns])


def _export_value(customer: Customer, key: str, labels: bool):
    value = _value(customer, key)
    # Read-only, so the import skips it: people read the status by its label. The columns an
    # import reads keep the values it takes (codes, usernames): the file round-trips.
    if labels and key == "report_status":
        return choice_label("customer", key, value)
    if labels and isinstance(value, datetime):  # read-only too: the company's clock, as Excel reads a time
        return value.astimezone(company_zone()).strftime("%Y-%m-%d %H:%M:%S")
    if labels and key == "province":  # Fujian in an English file: the import takes it back as 福建
        return display_value("customer", key, value)
    return value


def import_template_csv() -> str:
    """A header-only file for new customers, columns named in the current language."""
    keys = [k for k in _csv_columns() if k not in IMPORT_IGNORED | {"id"}]
    return "\ufeff" + _csv_row([csv_column_label(k) for k in keys])


def _decode(raw: bytes) -> str:
    # A zip (.xlsx) or an old binary workbook (.xls, which could even read as GBK junk): not text.
    if raw[:4] == b"PK\x03\x04" or raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ApiError(400, "invalid_input", _("This is an Excel workbook, not a CSV file: in Excel, save it as "
                                               "“CSV UTF-8” and import that."),
                       [{"field": "file", "message": _("An Excel workbook.")}])
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves GBK
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ApiError(400, "invalid_input", _("The file is neither UTF-8 nor GBK text."),
                   [{"field": "file", "message": _("Unreadable encoding.")}])


# What other CRMs' and spreadsheets' exports call the customer's columns, besides their labels.
COLUMN_ALIASES = {
    "name": ("客户名称", "公司名称", "企业名称", "单位名称", "customer", "customer name", "company", "company name"),
    "province": ("省", "所在省份", "省/直辖市", "省市", "state"),
    "city": ("市", "所在城市", "城市名称"),
    "industry": ("所属行业", "行业类别"),
    "registered_capital": ("注册资金", "注册资本", "注册资本（元）", "registered capital"),
    "customer_class": ("客户类型", "客户等级", "客户分类", "客户级别", "class", "customer type"),
    "source": ("客户来源", "来源渠道", "线索来源", "lead source"),
    "phone": ("电话", "手机", "手机号", "手机号码", "联系电话", "固定电话", "座机", "mobile", "telephone", "tel"),
    "credit_code": ("统一社会信用代码", "社会信用代码", "信用代码", "unified social credit code"),
    "owner": ("负责人账号", "销售", "所属销售", "归属人"),
}


def _column_key(name: str) -> str:
    """A column's name as it is compared: brackets and letters half-width, no spaces, lower-case
    (注册资本(元) is 注册资本（元）, Customer Name is customer name)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).lower()


def _column_names() -> dict[str, set[str]]:
    """Every name a column may have (its key, its label in Chinese or English, or a name other
    exports give it; compared as :func:`_column_key` reads them) → the keys it names: more than
    one when a custom field is labelled like another field."""
    keys = [*_csv_columns(), "version", IMPORT_PROBLEM]
    names: dict[str, set[str]] = {}
    for label, named in _labels_in_both_languages(keys, csv_column_label).items():
        names.setdefault(_column_key(label), set()).update(named)
    for key in keys:
        names.setdefault(_column_key(key), set()).add(key)
    for key, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            names.setdefault(_column_key(alias), set()).add(key)
    return names


def join_sentences(sentences: list[str]) -> str:
    """Sentences one after the other: in Chinese "。" ends one and takes no space before the next."""
    return "".join(str(p) if str(p).endswith("。") else f"{p} " for p in sentences).strip()


def _header_keys(header: list[str], rows: list[tuple[int, list[str]]], *, leave_out: list[str] | None = None) -> list[str]:
    """The key each column of the header row names ("" for a column left out). ApiError 400
    (before any row is imported) naming each column that names no field, several fields, or a
    field named already, and each column with values but no name. With ``leave_out`` (a list),
    a column naming no field is left out and its name added to the list instead: the person
    chose to import the file without them."""
    names = _column_names()
    keys: list[str] = []
    problems = []
    unknown = []
    for number, cell in enumerate(header, start=1):
        found = sorted(names.get(_column_key(cell), ()))
        if not cell.strip():
            # Excel leaves empty columns after the data: without a name and a value, nothing is lost.
            if any(len(row) >= number and row[number - 1].strip() for _line, row in rows):
                unknown.append((_("Column %(number)d", number=number),
                                _("Column %(number)d has values but no name.", number=number)))
            keys.append("")
            continue
        elif not found:
            unknown.append((cell.strip(), _("Unknown column “%(name)s”.", name=cell.strip())))
        elif len(found) > 1:
            problems.append(_("Column “%(name)s” could be any of %(keys)s: name it by one of these keys.",
                              name=cell.strip(), keys=", ".join(found)))
        elif found[0] in keys:
            problems.append(_("Columns “%(first)s” and “%(second)s” are the same field; keep one.",
                              first=header[keys.index(found[0])].strip(), second=cell.strip()))
        keys.append(found[0] if len(found) == 1 else "")
    if leave_out is not None:
        leave_out.extend(name for name, _problem in unknown)
    else:
        problems = [problem for _name, problem in unknown] + problems
    if problems:
        taken = _("Columns taken (label in Chinese or English, or key): %(columns)s.", columns=", ".join(
            f"{csv_column_label(k)} ({k})" for k in _csv_columns()))
        advice = [_("To import the file without the columns that are no customer field, choose to leave them out.")
                  ] if unknown and leave_out is None else []
        message = join_sentences([*problems, taken, *advice])
        raise ApiError(400, "invalid_input", message,
                       [{"field": "file", "message": p} for p in problems])
    return keys


def _rows(content: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows under it, each with its row number as Excel shows it: blank rows
    are skipped but counted, so an error names the row a user fixes."""
    rows = [(number, r) for number, r in enumerate(csv.reader(io.StringIO(content)), start=1)
            if any(cell.strip() for cell in r)]
    if not rows:
        raise ApiError(400, "invalid_input", _("The file is empty."), [{"field": "file", "message": _("Empty file.")}])
    return rows[0][1], rows[1:]


label_audit_events({"crm.import_without_automation": _l("Customers imported without automation")})


def start_customer_import(raw: bytes, filename: str, actor, *, automate: bool = True,
                          leave_out_unknown: bool = False) -> CustomerImport:
    """Check the file's header and create the import. Small files are imported at once;
    larger ones by the worker (job ``crm.import_customers``), with progress on the row.

    ``automate=False`` (admins only) loads existing data without running rules and
    workflows: no report is filed for each customer, nobody is notified. A salesperson's
    customers always go through the report, which is the company's guard against 撞单.
    ``leave_out_unknown``: columns that name no customer field (another system's 备注, 联系人)
    are not imported, and the import lists them, instead of refusing the file."""
    if not automate and not _sees_all(actor):
        raise ApiError(403, "forbidden", _("Only an administrator may import without rules and workflows."),
                       [{"field": "automate", "message": _("Not allowed.")}])
    content = _decode(raw)
    header, rows = _rows(content)
    left_out = [] if leave_out_unknown else None
    keys = _header_keys(header, rows, leave_out=left_out)
    if "name" not in keys:
        raise ApiError(400, "invalid_input", _("The file needs a name column."),
                       [{"field": "file", "message": _("Missing column: name")}])
    # New customers each file a report; rows with an id update (an export edited and imported again).
    id_at = keys.index("id") if "id" in keys else len(header)
    new = sum(1 for _line, row in rows if id_at >= len(row) or not row[id_at].strip())
    limit = current_app.config["CUSTOMER_IMPORT_MAX_ROWS"]
    if new > limit and not _sees_all(actor):
        said = _("The file has %(rows)d new customers; a salesperson imports at most %(limit)d at once. Split the "
                 "file, or ask an administrator to import it.", rows=new, limit=limit)
        raise ApiError(400, "invalid_input", said, [{"field": "file", "message": said}])
    job = CustomerImport(user=actor, filename=(filename or "")[:200], total_rows=len(rows), content=content,
                         automate=automate, left_out_columns=left_out)
    db.session.add(job)
    db.session.flush()
    if not automate:
        audit("crm.import_without_automation", actor=actor, target=f"import:{job.id}", filename=job.filename,
              rows=len(rows))
    from app.jobs import enqueue

    if len(rows) <= IMPORT_SYNC_ROWS:
        db.session.commit()
        try:
            run_customer_import(job.id)
        except OperationalError:
            # The database was busy (SQLite: a second import sent at the same moment): the worker
            # goes on from the last batch kept. It stayed "running" with nothing to finish it.
            db.session.rollback()
            enqueue("crm.import_customers", {"import_id": job.id}, key=f"crm.import:{job.id}")
            db.session.commit()
    else:
        enqueue("crm.import_customers", {"import_id": job.id}, key=f"crm.import:{job.id}")
        db.session.commit()
    return db.session.get(CustomerImport, job.id)


def columns_the_product_sets(raw: bytes) -> list[str]:
    """The file's columns an import passes over because the product sets them (创建时间 of an old
    system's export: the customers are dated the day they are imported), as the header names them."""
    header, rows = _rows(_decode(raw))
    return [name.strip() for name, key in zip(header, _header_keys(header, rows, leave_out=[]))
            if key in IMPORT_IGNORED and key != IMPORT_PROBLEM]


def _row_data(keys: list[str], row: list[str]) -> tuple[str, dict]:
    """The row's ``id`` cell ("" for a new customer) and its fields, API-shaped."""
    data: dict = {}
    row_id = ""
    for key, cell in zip(keys, row):
        cell = cell.strip()
        if key == "id":
            row_id = cell
            continue
        if not key or key in IMPORT_IGNORED:
            continue
        cell = as_exported(cell)  # undo the export's guard (a formula, a long number)
        if key in ("owner", "shared_with"):
            cell = ";".join(_username(key, name.strip()) for name in re.split(r"[;,]", cell) if name.strip())
        if key.startswith("custom."):
            data.setdefault("custom", {})[key[7:]] = cell or None
        else:
            data[key] = cell or None
    return row_id, data


def _username(field: str, name: str) -> str:
    """The username ``name`` is, or else the one active user's whose display name it is: in a
    spreadsheet people write 张伟 rather than zhangwei. A name several people share is refused."""
    if user_named(name) is not None:
        return name
    usernames = db.session.scalars(select(User.username).where(User.display_name == name, User.active.is_(True))
                                   .order_by(User.username).limit(5)).all()
    if len(usernames) > 1:
        _invalid([{"field": field, "message": _(
            "Several people are called “%(name)s” (%(usernames)s): write the username.",
            name=name, usernames=", ".join(usernames))}])
    return usernames[0] if usernames else name


def _import_row(job: CustomerImport, row_id: str, data: dict) -> None:
    """One row in the current savepoint: update the customer its id names, or create one
    unless a customer with the same credit code exists (a file imported twice)."""
    actor = job.user
    if row_id:
        customer = record_by_id("customer", row_id)
        if customer is None or not can_manage(customer, actor):
            _invalid([{"field": "id", "message": _("No customer #%(id)s that you may change.", id=row_id)}])
        before = customer.version
        update(customer, data, actor, commit=False, reason="import", automate=job.automate)
        if customer.version != before:
            job.updated_rows += 1
        else:
            job.unchanged_rows += 1
        return
    credit_code = data.get("credit_code")  # cells are stripped; an empty one is None
    try:
        credit_code = credit_code and clean_credit_code(credit_code)
    except ValueError:
        credit_code = None  # create() says what is wrong with it
    if credit_code:
        existing = db.session.scalar(select(Customer).where(Customer.credit_code == credit_code).limit(1))
        if existing is not None and can_manage(existing, actor):
            _invalid([{"field": "credit_code", "message": _(
                "Customer #%(id)s %(name)s already has this credit code; to change it, give its id.",
                id=existing.id, name=existing.name)}])
        if existing is not None:  # someone else's (防撞单): an id would not help, and their customer stays theirs
            _invalid([{"field": "credit_code", "message": _(
                "This credit code is %(owner)s's customer already (%(name)s): it is not imported again. Ask "
                "%(owner)s or a manager if it should be yours.", owner=existing.owner.label, name=existing.name)}])
    _refuse_a_second_of(data, actor)
    create("customer", data, actor, commit=False, automate=job.automate)
    job.imported_rows += 1


def _refuse_cells_beyond_the_header(keys: list[str], row: list[str]) -> None:
    """A row with more cells than the header has an unquoted comma somewhere (1,000,000 typed in
    a text editor): its cells no longer sit under their columns. It was imported, 注册资金 1."""
    extra = [cell for cell in row[len(keys):] if cell.strip()]
    if extra:
        said = _("The row has %(cells)d cells, the header %(columns)d: a comma inside a value (1,000,000) needs the "
                 "value in quotes, or no comma. The row is not imported.", cells=len(row), columns=len(keys))
        _invalid([{"field": "", "message": said}])


def _refuse_a_second_of(data: dict, actor) -> None:
    """A row without an id naming a customer already on record (the same name however written:
    有限公司 or 有限责任公司, brackets, spaces; in the same city, or either without one), as a
    corrected file imported again has: refused, not a second customer and a second report (an
    earlier row of the same file counts, as it is on record by then)."""
    name, city = (data.get("name") or "").strip(), clean_city(data.get("city") or "")
    key = normalise_name(name)
    if not key:
        return  # create() says it is required
    in_city = func.coalesce(Customer.city, "")
    existing = db.session.scalar(select(Customer).where(
        Customer.name_key == key, or_(in_city == city, in_city == "", city == "")).order_by(Customer.id).limit(1))
    if existing is None:
        return
    if can_manage(existing, actor):
        said = _("Customer #%(id)s (%(name)s) is this company already; to change it, give its id (or leave the row "
                 "out).", id=existing.id, name=existing.name)
    else:
        said = _("This is %(owner)s's customer already (%(name)s): it is not imported again. Ask %(owner)s or a "
                 "manager if it should be yours.", owner=existing.owner.label, name=existing.name)
    _invalid([{"field": "name", "message": said}])


def failed_rows_csv(job: CustomerImport) -> str:
    """The rows an import refused, as the file had them, each with its problems in a last column:
    corrected and imported again (the problem column is passed over), they are the rest of the file."""
    said: dict[int, list[str]] = {}
    for error in job.errors:  # named by the column's label, as the status page's Field column does
        named = csv_column_label(error["field"]) if error.get("field") else ""
        said.setdefault(error["row"], []).append(_("%(field)s: %(problem)s", field=named, problem=error["message"])
                                                 if named else error["message"])
    kept = job.failed_rows_file or {"header": [], "rows": []}
    width = len(kept["header"])
    lines = ["\ufeff" + _csv_row([*kept["header"], csv_column_label(IMPORT_PROBLEM)])]
    for line, cells in kept["rows"]:
        # A problem of the file itself (row 1, its header) is every row's.
        problems = said.get(line) or said.get(1, [])
        lines.append(_csv_row([formula_safe(c) for c in cells] + [""] * (width - len(cells))
                              + [join_sentences(problems)]))
    return "".join(lines)


def run_customer_import(import_id: int) -> CustomerImport:
    """Import the rows not yet processed, a batch per transaction. Each row is its own
    savepoint: a bad row is reported and leaves nothing behind; the others are kept."""
    from flask_babel import force_locale

    job = db.session.get(CustomerImport, import_id)
    if job is None or job.status == "done":
        return job
    # In the worker there is no request to take the language from: use the importer's.
    with force_locale(job.user.writes_in or "zh_CN"):
        return _run_import(job)


def _run_import(job: CustomerImport) -> CustomerImport:
    job.status = "running"
    db.session.commit()
    header, rows = _rows(job.content)
    try:
        keys = _header_keys(header, rows, leave_out=None if job.left_out_columns is None else [])
    except ApiError as error:  # a custom field changed after the file was checked: no row is imported
        keys, job.processed_rows = [], len(rows)
        job.errors = [{"row": 1, "field": "", "message": error.message}]
        job.failed_rows_file = {"header": header, "rows": [[line, row] for line, row in rows]}
    while job.processed_rows < len(rows):
        start = job.processed_rows
        _one_import_batch_at_a_time()
        errors = list(job.errors)
        failed = list((job.failed_rows_file or {}).get("rows", []))
        ends = time.monotonic() + IMPORT_BATCH_SECONDS
        for line, row in rows[start:start + IMPORT_BATCH]:
            if job.processed_rows > start and time.monotonic() > ends:
                break
            savepoint = db.session.begin_nested()
            try:
                _refuse_cells_beyond_the_header(keys, row)
                _import_row(job, *_row_data(keys, row))
                savepoint.commit()
            except ApiError as error:
                savepoint.rollback()
                details = error.details or [{"field": "", "message": error.message}]
                errors += [{"row": line, "field": d.get("field", ""), "message": d.get("message", "")} for d in details]
                failed.append([line, row])
            job.processed_rows += 1
        job.errors = errors
        if failed:
            job.failed_rows_file = {"header": header, "rows": failed}
        db.session.commit()
    job.status, job.finished_at, job.content = "done", utcnow(), ""
    db.session.commit()
    return job


def _one_import_batch_at_a_time() -> None:
    """Until this batch commits, other imports' batches wait: a row is refused when its customer
    is on record already, and two imports of one file at the same moment each read "not on
    record" and added every customer twice (91 customers for 40 rows, each filing a report).
    SQLite lets one transaction write at a time already."""
    if is_postgresql():
        db.session.execute(sql_text("SELECT pg_advisory_xact_lock(hashtext('crm:customer-import'))"))


def import_visible_to(job: CustomerImport, user) -> bool:
    return _sees_all(user) or job.user_id == user.id


def register_jobs() -> None:
    from app.jobs import job_handler

    # Retried more than once or twice: on SQLite, people saving meanwhile can lock the file for a
    # moment ("database is locked"); each retry goes on from the last batch kept.
    # An administrator's import of many thousand rows runs for longer than a webhook call: its
    # lease is an hour, so no other worker starts it again meanwhile.
    @job_handler("crm.import_customers", max_attempts=8, label=_l("Customer import"), lease=timedelta(hours=1))
    def _import_job(job):
        try:
            run_customer_import(int(job.payload["import_id"]))
        except Exception:
            if job.attempts >= job.max_attempts:  # given up: its page must stop saying "running"
                _mark_import_stopped(int(job.payload["import_id"]))
            raise


def _mark_import_stopped(import_id: int) -> None:
    """In a transaction of its own: the job's is rolled back (and retried if an admin asks)."""
    with db.engine.begin() as connection:
        connection.execute(CustomerImport.__table__.update()
                           .where(CustomerImport.id == import_id, CustomerImport.status != "done")
                           .values(status="failed", finished_at=utcnow()))
