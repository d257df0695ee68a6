"""Field metadata of the CRM records for rules, built from the CRM models and custom fields,
and the readers/writers the evaluator and the actions go through.

A field name is a model attribute (``registered_capital``), ``owner`` (a username), or
``custom.<key>`` for an admin-defined custom field.
"""
from __future__ import annotations

from datetime import date, datetime
from functools import partial

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.automation.fields import CHOICE, DATE, DATETIME, NUMBER, TEXT, USER, EntitySpec, FieldSpec
from app.automation.validation import Catalog, private_host
from app.db import jsonable
from app.extensions import db

# CRM field types → condition types; links to other records compare as numbers (ids).
_TYPES = {"text": TEXT, "longtext": TEXT, "number": NUMBER, "date": DATE, "datetime": DATETIME, "choice": CHOICE,
          "stage": CHOICE, "user": USER, "customer": NUMBER, "opportunity": NUMBER}
# Read by rules, never written: links to other records (a created record gets them
# automatically), and the owner (the assign-owner action logs every change of it).
_NOT_WRITABLE = {"customer_id", "opportunity_id", "owner"}


def _crm():
    try:
        from app.crm import services
    except ImportError:  # the CRM module is not installed
        return None
    return services


def _choices(crm, entity: str, spec) -> tuple[tuple, tuple]:
    """The field's allowed values, and (value, label) pairs where the values are codes."""
    if spec.type == "stage":
        stages = crm.stages()
        return tuple(stage.key for stage in stages), tuple((stage.key, stage.name) for stage in stages)
    labels = crm.choice_labels(entity, spec.key) if spec.type == "choice" else None
    return tuple(spec.choices), tuple(labels.items()) if labels else ()


def entity_specs() -> dict[str, EntitySpec]:
    """Every record type with its fields, from the CRM's field catalogue and custom fields."""
    crm = _crm()
    if crm is None:
        return {}
    specs = {}
    for entity, fields_of in crm.FIELDS.items():
        fields: dict[str, FieldSpec] = {"id": FieldSpec("id", NUMBER, _l("ID"), writable=False)}
        for spec in fields_of:
            kind = _TYPES.get(spec.type)
            if kind is None:  # shared_with: a list, handled by the share action
                continue
            choices, labels = _choices(crm, entity, spec)
            fields[spec.key] = FieldSpec(spec.key, kind, spec.label, choices,
                                         writable=not spec.read_only and spec.key not in _NOT_WRITABLE,
                                         required=spec.required and not crm._has_default(entity, spec.key),
                                         choice_labels=labels, check=partial(_literal_problem, crm, entity, spec.key),
                                         canonical=spec.check)
        for definition in crm.custom_field_defs(entity):
            name = f"custom.{definition.key}"
            fields[name] = FieldSpec(name, _TYPES[definition.type], definition.label, tuple(definition.choices or ()),
                                     required=definition.required, check=partial(_literal_problem, crm, entity, name))
        fields["created_at"] = FieldSpec("created_at", DATETIME, _l("Created at"), writable=False)
        fields["updated_at"] = FieldSpec("updated_at", DATETIME, _l("Updated at"), writable=False)
        extra = ("stage_changed", "won", "lost") if entity == "opportunity" else ()
        specs[entity] = EntitySpec(entity, crm.ENTITY_LABELS[entity], fields, extra)
    return specs


def model_for(entity: str):
    crm = _crm()
    return crm.MODELS.get(entity) if crm else None


def linked_record_label(field_name: str, value) -> str | None:
    """The record a link field names (``customer_id`` 3 → its customer's name), None when it is
    not a link or the record is gone."""
    model = model_for(field_name[:-3]) if field_name in ("customer_id", "opportunity_id") else None
    try:
        record = db.session.get(model, int(value)) if model is not None and value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return record.label if record is not None else None


def api_value(spec: FieldSpec, value):
    """A coerced value in the shape the CRM services take (as the API would send it)."""
    return jsonable(value) if not isinstance(value, (date, datetime)) else value.isoformat()


def _literal_problem(crm, entity: str, key: str, value) -> str | None:
    """The CRM's word on a rule's literal (already coerced), handed over as the action will."""
    return crm.literal_problem(entity, key, api_value(None, value))


def stage_refusal(stage_key: str, read) -> str | None:
    """Why a deal (its fields as ``read`` gives them) could not enter the stage; None if it could."""
    crm = _crm()
    refusal = crm.stage_refusal(stage_key, read) if crm else None
    return refusal.message if refusal else None


def api_record(entity: str, record) -> dict | None:
    """``record`` as ``GET /api/v1/<records>/<id>`` answers it (webhooks send that shape);
    None for a dry run's sample values or without the CRM's API."""
    if isinstance(record, dict):
        return None
    try:
        from app.crm.api import RESOURCES
    except ImportError:
        return None
    return RESOURCES[entity][2]().dump(record) if entity in RESOURCES else None


def read(record, name: str):
    """A field of a model instance or of a dict of sample values."""
    if isinstance(record, dict):
        if name.startswith("custom.") and name not in record:
            return (record.get("custom") or {}).get(name[7:])
        return record.get(name)
    if name == "owner":
        return record.owner.username if getattr(record, "owner", None) else None
    if name.startswith("custom."):
        return (record.custom or {}).get(name[7:])
    return getattr(record, name, None)


# --- look-ups for validation --------------------------------------------------------------

def _user_exists(username: str) -> bool:
    from app.auth.models import User

    return db.session.scalar(select(User.id).where(User.username == username)) is not None


def _group_exists(name: str) -> bool:
    from app.auth.models import Group

    return db.session.scalar(select(Group.id).where(Group.name == name)) is not None


def process_known(key: str) -> bool | None:
    """Whether a deployed process has this key; None when there is no workflow engine."""
    try:
        from app.engine import models as engine_models
    except ImportError:
        return None
    definition = getattr(engine_models, "ProcessDefinition", None)
    if definition is None or not hasattr(definition, "key"):
        return None
    return db.session.scalar(select(definition.id).where(definition.key == key).limit(1)) is not None


def auto_links(source: str, target: str) -> set:
    """Target fields a created record gets from its source without a mapping: the link to
    the source (``opportunity_id``), its customer, and its owner."""
    crm = _crm()
    keys = {f.key for f in crm.FIELDS.get(target, [])} if crm else set()
    source_keys = {f.key for f in crm.FIELDS.get(source, [])} if crm else set()
    linked = {"owner"}
    if f"{source}_id" in keys:
        linked.add(f"{source}_id")
    if "customer_id" in keys and (source == "customer" or "customer_id" in source_keys):
        linked.add("customer_id")
    return linked


def webhook_allowlist() -> list[str]:
    from app.automation.models import Setting

    row = db.session.get(Setting, "webhook_allowlist")
    return list(row.value or []) if row is not None else []


def host_allowed(host: str) -> bool:
    """Public hosts always; loopback/private ones only when an admin allow-listed them."""
    return not private_host(host) or host.lower().strip("[]") in {h.lower() for h in webhook_allowlist()}


def catalog() -> Catalog:
    return Catalog(entities=entity_specs(), user_exists=_user_exists, group_exists=_group_exists,
                   process_known=process_known, auto_links=auto_links, host_allowed=host_allowed)
