"""A form in its reader's language.

Forms are written in the company's language (Chinese by default); an English-speaking approver
read 同意报备 / 驳回 and could not tell approve from reject. A component's custom properties
(the form designer's "Custom properties") give its texts in another language, keyed by the
language: ``label.en``, ``description.en``, ``text.en`` (a text block) and ``values.en``, the
options as ``approve=Approve; reject=Reject``. A field embedded from the CRM without its own
``label.en`` takes the CRM field's label, which the product has in every language.
"""
from __future__ import annotations

import copy

from flask import current_app
from flask_babel import get_locale

from app.forms.embedded import CRM_FIELD_PROPERTY, iter_components, record_fields

TEXTS = ("label", "description", "text")


def reader_language() -> str | None:
    """The reader's language when it is not the one forms are written in (None: it is)."""
    reading = str(get_locale() or "").split("_")[0]
    written = str(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")).split("_")[0]
    return reading if reading and reading != written else None


def in_reader_language(schema: dict | None) -> dict | None:
    language = reader_language()
    if schema is None or language is None:
        return schema
    out = copy.deepcopy(schema)
    crm_labels: dict[str, dict[str, str]] = {}
    for component in iter_components(out.get("components")):
        properties = component.get("properties") or {}
        for text in TEXTS:
            given = properties.get(f"{text}.{language}")
            if isinstance(given, str) and given.strip():
                component[text] = given
        options = _options(properties.get(f"values.{language}"))
        if options and isinstance(component.get("values"), list):
            for option in component["values"]:
                if isinstance(option, dict) and str(option.get("value")) in options:
                    option["label"] = options[str(option["value"])]
        path = properties.get(CRM_FIELD_PROPERTY)
        if isinstance(path, str) and f"label.{language}" not in properties and component.get("label"):
            record_type, _, name = path.partition(".")
            if record_type not in crm_labels:
                crm_labels[record_type] = {f["key"]: f["label"] for f in record_fields(record_type)}
            component["label"] = crm_labels[record_type].get(name, component["label"])
    return out


def _options(text) -> dict[str, str]:
    """``approve=Approve; reject=Reject`` → {value: label} (a ; or a new line between options)."""
    if not isinstance(text, str):
        return {}
    pairs = (part.partition("=") for part in text.replace("\n", ";").split(";"))
    return {value.strip(): label.strip() for value, sep, label in pairs if sep and value.strip() and label.strip()}
