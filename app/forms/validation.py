"""Checking form-js schemas when they are saved, and submitted data against them.

The server is the authority: the browser's form-js validation is a convenience, API clients
skip it. Only the form's own editable fields are accepted; everything else is dropped. The
data a form produces is flat (one process variable per field), so keys are identifiers and
groups may not nest data under a ``path``.

Conditional requirement (our rule, kept in the field's form-js custom properties):
``{"required_when": "decision=reject"}`` (or ``!=``) makes the field required when the other
field's submitted value equals (differs from) the given text.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from typing import Any

import regex
from app.forms.i18n import _

from app.forms.embedded import CRM_FIELD_PROPERTY, is_known_crm_field, iter_components, nesting_depth

INPUT_TYPES = frozenset({"textfield", "textarea", "number", "checkbox", "checklist", "radio", "select",
                         "taglist", "datetime"})
DISPLAY_TYPES = frozenset({"text", "html", "image", "spacer", "separator", "group", "iframe", "table",
                           "button", "documentPreview", "default"})
# What the designer's palette offers ("default" is the form itself).
DESIGNABLE_TYPES = tuple(sorted((INPUT_TYPES | DISPLAY_TYPES) - {"default"}))
CHOICE_TYPES = frozenset({"radio", "select"})
MULTI_CHOICE_TYPES = frozenset({"checklist", "taglist"})
TEXT_TYPES = frozenset({"textfield", "textarea"})

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Never accepted as a field: SpiffWorkflow's serializer treats a "typename" key in task data as
# a class name to rebuild.
RESERVED_KEYS = frozenset({"typename"})
MAX_TEXT = 20000
MAX_COMPONENTS = 500
MAX_DEPTH = 8
PATTERN_TIMEOUT = 0.05  # seconds per match; user-written patterns may backtrack badly
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# form-js checks an international number (+ or 00, country code, digits); we check its shape.
PHONE_PATTERN = re.compile(r"^(\+|00)[1-9]\d{5,19}$")
TIME_RE = r"([01]\d|2[0-3]):[0-5]\d(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"
DATE_FORMATS = {
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "time": re.compile(rf"^{TIME_RE}$"),
    "datetime": re.compile(rf"^\d{{4}}-\d{{2}}-\d{{2}}T{TIME_RE}$"),
}
CONDITION_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|=)\s*(.*?)\s*$")


# --- schema inspection --------------------------------------------------------------------

def input_fields(schema: dict) -> list[dict]:
    """The schema's data fields (components that have a key and hold a value)."""
    return [c for c in iter_components((schema or {}).get("components"))
            if c.get("type") in INPUT_TYPES and c.get("key")]


def is_embedded(field: dict) -> bool:
    return bool((field.get("properties") or {}).get(CRM_FIELD_PROPERTY))


def is_editable(field: dict) -> bool:
    """A field the user fills in. ``readonly`` may be a FEEL expression: then it counts as read-only."""
    return not (field.get("readonly") or field.get("disabled") or is_embedded(field))


def editable_keys(schema: dict) -> list[str]:
    return [f["key"] for f in input_fields(schema) if is_editable(f)]


def required_when(field: dict) -> tuple[str, str, str] | None:
    rule = (field.get("properties") or {}).get("required_when")
    if not isinstance(rule, str):
        return None
    match = CONDITION_RULE.match(rule)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _choice_values(field: dict, initial: dict | None) -> list | None:
    if isinstance(field.get("values"), list):
        return [v.get("value") for v in field["values"] if isinstance(v, dict)]
    if field.get("valuesKey"):
        options = (initial or {}).get(field["valuesKey"])
        if isinstance(options, list):
            return [o.get("value") if isinstance(o, dict) else o for o in options]
    return None


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def compile_pattern(pattern: str):
    return regex.compile(pattern)


def check_schema(schema: Any) -> list[dict]:
    """Problems that stop a schema from being saved: ``[{"field": path, "message": text}]``."""
    if not isinstance(schema, dict):
        return [{"field": "schema", "message": _("The form must be a JSON object.")}]
    components = schema.get("components")
    if not isinstance(components, list):
        return [{"field": "schema.components", "message": _("The form has no component list.")}]
    problems: list[dict] = []
    all_components = list(iter_components(components))
    if len(all_components) <= MAX_COMPONENTS and nesting_depth(components) > MAX_DEPTH:
        return [{"field": "schema.components", "message": _("Groups may be nested at most %(n)d levels deep.",
                                                             n=MAX_DEPTH)}]
    if len(all_components) > MAX_COMPONENTS:
        problems.append({"field": "schema.components",
                         "message": _("A form may have at most %(n)d components.", n=MAX_COMPONENTS)})
    seen: set[str] = set()
    inputs = {c.get("key"): c for c in all_components if c.get("type") in INPUT_TYPES}
    keys = set(inputs)
    for component in all_components:
        kind = component.get("type")
        name = component.get("key") or component.get("id") or kind or "?"
        where = f"schema.{name}"

        def problem(message):
            problems.append({"field": where, "message": message})

        if kind not in INPUT_TYPES and kind not in DISPLAY_TYPES:
            problem(_("Field type %(type)s is not supported.", type=kind))
            continue
        if kind == "group" and component.get("path"):
            problem(_("Groups may not nest data under a path; leave the group's path empty."))
        if kind not in INPUT_TYPES:
            continue
        key = component.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key) or key in RESERVED_KEYS:
            problem(_("Key %(key)s is not allowed: use letters, digits and _ (not starting with a digit).",
                      key=key))
            continue
        if key in seen:
            problem(_("Key %(key)s is used by more than one field.", key=key))
        seen.add(key)
        validate = component.get("validate") or {}
        if not isinstance(validate, dict):
            problem(_("The validation settings are invalid."))
            continue
        for setting, value in validate.items():
            if _is_expression(value):
                problem(_("Validation setting %(name)s may not be an expression.", name=setting))
        if isinstance(validate.get("pattern"), str) and not _is_expression(validate["pattern"]):
            try:
                compile_pattern(validate["pattern"])
            except regex.error as exc:
                problem(_("The pattern is not a valid regular expression: %(error)s", error=str(exc)))
        for low, high in (("min", "max"), ("minLength", "maxLength")):
            lo, hi = validate.get(low), validate.get(high)
            for value in (lo, hi):
                if value is not None and not _is_expression(value) and _number(value) is None:
                    problem(_("%(name)s must be a number.", name=low if value is lo else high))
            if _number(lo) is not None and _number(hi) is not None and _number(lo) > _number(hi):
                problem(_("%(low)s is greater than %(high)s.", low=low, high=high))
        if kind in CHOICE_TYPES | MULTI_CHOICE_TYPES:
            if component.get("valuesExpression"):
                problem(_("Options from an expression are not supported; list them or use an options key."))
            elif not isinstance(component.get("values"), list) and not component.get("valuesKey"):
                problem(_("A choice field needs options."))
        path = (component.get("properties") or {}).get(CRM_FIELD_PROPERTY)
        if path is not None and not is_known_crm_field(path):
            problem(_("%(path)s is not a CRM record field.", path=path))
        rule = (component.get("properties") or {}).get("required_when")
        if rule is not None:
            parsed = required_when(component)
            if parsed is None:
                problem(_("Rule required_when must look like other_field=value or other_field!=value."))
            elif parsed[0] not in keys:
                problem(_("Its “Required when” condition refers to %(key)s, which is not in the form (removed or "
                          "renamed?): change the condition or clear it.", key=parsed[0]))
            else:
                options = [o for o in inputs[parsed[0]].get("values") or [] if isinstance(o, dict)]
                if options and parsed[2] not in {str(o.get("value")) for o in options}:
                    # The stored value counts, not the label shown (驳回 is stored as reject).
                    problem(_("Rule required_when compares %(key)s with %(value)s, which is none of its option "
                              "values: %(options)s.", key=parsed[0], value=parsed[2],
                              options=", ".join(f"{o.get('value')} ({o.get('label')})" for o in options)))
    return problems


def normalise_schema(schema: dict) -> dict:
    """The schema as stored: embedded fields are read-only (their value comes from the record)."""
    schema = json.loads(json.dumps(schema))  # a deep copy, and proof it is plain JSON
    for component in iter_components(schema.get("components")):
        if component.get("type") in INPUT_TYPES and is_embedded(component):
            component["readonly"] = True
    schema.setdefault("type", "default")
    return schema


# --- submitted data -----------------------------------------------------------------------

def _number(value: Any) -> decimal.Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = decimal.Decimal(str(value).strip()) if isinstance(value, (int, float, str)) else None
    except decimal.InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def _empty_value(field: dict) -> Any:
    """What form-js submits for an untouched field."""
    kind = field["type"]
    if kind in TEXT_TYPES:
        return ""
    if kind == "checkbox":
        return False
    if kind in MULTI_CHOICE_TYPES:
        return []
    return None


def _is_missing(field: dict, value: Any) -> bool:
    # Blank text counts as missing: a rejection "comment" of spaces says nothing.
    return (value is None or (isinstance(value, str) and not value.strip()) or value == []
            or (field["type"] == "checkbox" and value is False))


def _check_text(value, validate):
    if not isinstance(value, str):
        return _("Must be text.")
    if len(value) > MAX_TEXT:
        return _("Must have at most %(n)d characters.", n=MAX_TEXT)
    length = len(value.strip())
    if value and _number(validate.get("minLength")) is not None and length < _number(validate["minLength"]):
        return _("Must have at least %(n)s characters.", n=validate["minLength"])
    if value and _number(validate.get("maxLength")) is not None and length > _number(validate["maxLength"]):
        return _("Must have at most %(n)s characters.", n=validate["maxLength"])
    if value and isinstance(validate.get("pattern"), str):
        try:
            matched = compile_pattern(validate["pattern"]).search(value, timeout=PATTERN_TIMEOUT)
        except TimeoutError:
            return _("Could not be checked against the pattern (the pattern is too complex).")
        if not matched:
            return validate.get("patternErrorMessage") or _("Does not match the required format.")
    kind = validate.get("validationType")
    if value and kind == "email" and not EMAIL_PATTERN.match(value):
        return _("Must be a valid e-mail address.")
    if value and kind == "phone" and not PHONE_PATTERN.match(value):
        return _("Must be an international phone number, e.g. +8613800138000.")
    return None


MAX_NUMBER_DIGITS = 15  # before and after the point: what a form's number (and JSON's double) holds exactly


def _check_number(field, value, validate):
    number = _number(value)
    if number is None:
        return None, _("Must be a number.")
    # Checked before any arithmetic: "1e700000" made int() and the history's JSON spin for seconds,
    # holding the database's write lock. Zero is zero however written ("0E+20").
    if not number:
        number = decimal.Decimal(0)
    if number.adjusted() >= MAX_NUMBER_DIGITS:
        return None, _("Too large.")
    if number and -number.as_tuple().exponent > MAX_NUMBER_DIGITS:
        return None, _("Must have at most %(n)s decimal places.", n=MAX_NUMBER_DIGITS)
    digits = field.get("decimalDigits")
    if isinstance(digits, int) and digits >= 0 and -number.as_tuple().exponent > digits:
        return None, (_("Must be a whole number.") if digits == 0
                      else _("Must have at most %(n)s decimal places.", n=digits))
    low, high = _number(validate.get("min")), _number(validate.get("max"))
    if low is not None and number < low:
        return None, _("Must be at least %(n)s.", n=validate["min"])
    if high is not None and number > high:
        return None, _("Must be at most %(n)s.", n=validate["max"])
    increment = _number(field.get("increment"))
    if increment and number % increment != 0:
        return None, _("Must be a multiple of %(n)s.", n=field["increment"])
    if field.get("serializeToString"):
        return format(number, "f"), None  # the number as checked, not the text as typed (" 12 ", "1e14")
    return (int(number) if number == number.to_integral_value() else float(number)), None


def _check_datetime(field, value):
    subtype = field.get("subtype") or "date"
    pattern = DATE_FORMATS.get(subtype, DATE_FORMATS["date"])
    if not isinstance(value, str) or not pattern.match(value):
        return {"date": _("Must be a date (YYYY-MM-DD)."), "time": _("Must be a time (HH:MM)."),
                "datetime": _("Must be a date and time (YYYY-MM-DDTHH:MM).")}.get(subtype, _("Must be a date."))
    if subtype in ("date", "datetime"):
        try:
            dt.date.fromisoformat(value[:10])
        except ValueError:
            return _("Is not a valid date.")
    return None


def _check_value(field: dict, value: Any, initial: dict | None):
    """(clean value, error message or None) for a value that is present."""
    kind = field["type"]
    validate = field.get("validate") or {}
    if kind in TEXT_TYPES:
        return value, _check_text(value, validate)
    if kind == "number":
        return _check_number(field, value, validate)
    if kind == "checkbox":
        return (value, None) if isinstance(value, bool) else (None, _("Must be true or false."))
    if kind == "datetime":
        return value, _check_datetime(field, value)
    choices = _choice_values(field, initial)
    if choices is None:
        return None, _("This field has no options to choose from.")
    if kind in CHOICE_TYPES:
        if isinstance(value, (dict, list)) or value not in choices:
            return None, _("Is not one of the options.")
        return value, None
    # checklist / taglist
    if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
        return None, _("Must be a list of options.")
    if any(v not in choices for v in value):
        return None, _("Contains a value that is not one of the options.")
    return list(dict.fromkeys(value)), None


def validate_submission(schema: dict, data: Any, initial: dict | None = None) -> tuple[dict, dict]:
    """Check ``data`` submitted for ``schema``: ``(clean_data, {field key: message})``.

    ``clean_data`` has exactly the form's editable fields (missing ones get form-js' empty
    value); embedded, read-only and unknown keys are dropped. ``initial`` is the data the form
    was shown with, used for options given by an options key. Messages are in the caller's
    language.
    """
    if not isinstance(data, dict):
        return {}, {"": _("The submitted data must be an object.")}
    clean: dict = {}
    errors: dict = {}
    fields = [f for f in input_fields(schema) if is_editable(f) and f["key"] not in RESERVED_KEYS]
    for field in fields:
        key = field["key"]
        value = data[key] if key in data else field.get("defaultValue", _empty_value(field))
        if _is_missing(field, value):
            # Stored as the field's own empty value: [] kept in a number field stopped a gateway
            # comparing it ("n > 100") with mismatched_types.
            clean[key] = value if value == [] and field["type"] in MULTI_CHOICE_TYPES else (
                _empty_value(field) if value is None or isinstance(value, str) or value == [] else value)
            continue
        cleaned, error = _check_value(field, value, initial)
        if error:
            errors[key] = error
        else:
            clean[key] = cleaned
    for field in fields:
        key = field["key"]
        if key in errors or not _is_missing(field, clean.get(key)):
            continue
        required = bool((field.get("validate") or {}).get("required"))
        rule = required_when(field)
        if rule:
            other, op, expected = rule
            # A read-only other field counts with the value it was shown with, not a submitted one.
            shown = (initial or {}).get(other, data.get(other)) if other not in clean else clean[other]
            actual = "" if shown is None else str(shown)
            required = required or ((actual == expected) if op == "=" else (actual != expected))
        # A field hidden by a FEEL condition cannot be judged here, so it is not demanded.
        if required and not (field.get("conditional") or {}).get("hide"):
            errors[key] = _("This field is required.")
    return clean, errors


def errors_as_details(errors: dict) -> list[dict]:
    """``{key: message}`` as API error details ``[{"field", "message"}]``."""
    return [{"field": key, "message": message} for key, message in errors.items()]
