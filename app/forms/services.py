"""Forms: what routes, the inbox and the engine call.

Pure helpers (no database) are re-exported from ``validation`` and ``embedded`` so callers
have one import: ``from app.forms import services``.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from app.forms.i18n import _
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app.api.errors import ApiError
from app.audit import audit, label_audit_events
from app.db import transaction_memo
from app.extensions import db
from app.forms.embedded import (crm_field_catalogue, embedded_diff, embedded_fields,  # noqa: F401 (re-exported)
                                fill_embedded, record_value)
from app.forms.models import FormDefinition
from app.forms.validation import (DESIGNABLE_TYPES, KEY_PATTERN, check_schema, editable_keys,  # noqa: F401
                                  errors_as_details, input_fields, normalise_schema, validate_submission)

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "forms"
MAX_NAME = 200


def checksum(name: str, schema: dict) -> str:
    canonical = json.dumps({"name": name, "schema": schema}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# Built once: building a statement and its cache key cost more than running it.
_FORM_CURRENT = select(FormDefinition).where(FormDefinition.key == bindparam("key"), FormDefinition.is_current.is_(True))
_FORM_VERSION = select(FormDefinition).where(FormDefinition.key == bindparam("key"),
                                             FormDefinition.version == bindparam("version"))


def get_form(key: str, version: int | None = None) -> FormDefinition | None:
    """The current version of form ``key``, or the given version (read once per transaction:
    a step asks for its form when it starts, validates and completes)."""
    return transaction_memo(("forms.get_form", key, version), lambda: db.session.scalar(
        _FORM_CURRENT, {"key": key}) if version is None else db.session.scalar(
        _FORM_VERSION, {"key": key, "version": version}), depends_on=(FormDefinition,))


def current_forms_query():
    return select(FormDefinition).where(FormDefinition.is_current.is_(True)).order_by(FormDefinition.key)


def list_current_forms() -> list[FormDefinition]:
    return list(db.session.scalars(current_forms_query()))


def form_versions(key: str) -> list[FormDefinition]:
    return list(db.session.scalars(select(FormDefinition).where(FormDefinition.key == key)
                                   .order_by(FormDefinition.version.desc())))


label_audit_events({"form.saved": _l("Form saved")})


def save_form(key: str, name: str, schema: dict, actor=None, base_version: int | None = None,
              drop_fields_in_use: bool = False) -> tuple[FormDefinition, bool]:
    """Store ``schema`` as the new current version of form ``key``: ``(form, created)``.

    The same name and schema as the current version store nothing (``created`` is False).
    ``base_version``: the version the designer started from; another version saved since
    is a 409 rather than a silent overwrite. ``0`` is a new form: an existing key is a 409.
    A field removed (or renamed) that a deployed process still reads is a 409
    ``fields_in_use`` naming where, unless ``drop_fields_in_use`` (the designer changes the
    process next).
    """
    problems = []
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        problems.append({"field": "key", "message": _("The key must be letters, digits and _, "
                                                     "not starting with a digit (at most 64).")})
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        problems.append({"field": "name", "message": _("A name of 1 to %(n)d characters is required.", n=MAX_NAME)})
    problems += check_schema(schema)
    if problems:
        raise ApiError(400, "invalid_form", _("The form cannot be saved."), details=problems)
    schema = normalise_schema(schema)
    digest = checksum(name, schema)
    current = get_form(key)
    if current is not None and base_version == 0:
        raise ApiError(409, "key_taken", _("A form with the key %(key)s already exists: choose another key, or open "
                                           "that form to change it.", key=key),
                       details=[{"field": "key", "message": _("This key is taken.")}])
    if current is not None and base_version is not None and base_version != current.version:
        raise ApiError(409, "stale_version", _("Version %(v)d of this form was saved in the meantime; "
                                               "reload it and apply your changes again.", v=current.version))
    if current is not None and current.checksum == digest:
        return current, False
    if current is not None and not drop_fields_in_use:
        _refuse_dropping_fields_in_use(key, current.schema, schema)
    try:
        with db.session.begin_nested():
            if current is not None:
                # Flushed before the insert: the partial unique index allows one current row.
                db.session.execute(update(FormDefinition).where(FormDefinition.key == key)
                                   .values(is_current=False))
            form = FormDefinition(key=key, name=name, schema=schema, checksum=digest, is_current=True,
                                  version=(current.version + 1) if current else 1,
                                  created_by_id=getattr(actor, "id", None))
            db.session.add(form)
            db.session.flush()
    except IntegrityError:
        raise ApiError(409, "conflict", _("Someone else saved this form at the same moment; reload it."))
    if current is not None:
        db.session.expire(current, ["is_current"])
    log.info("form %s version %d saved by %s", key, form.version, getattr(actor, "username", "system"))
    audit("form.saved", actor=actor, target=f"form:{key}", version=form.version)
    return form, True


def _refuse_dropping_fields_in_use(key: str, before: dict, after: dict) -> None:
    from app.engine.references import uses_of_form_fields

    removed = {f["key"] for f in input_fields(before)} - {f["key"] for f in input_fields(after)}
    uses = uses_of_form_fields(key, removed)
    if uses:
        raise ApiError(409, "fields_in_use", _(
            "Deployed processes still read fields this version no longer has; a task answered with it "
            "would stop its process there. Change the processes too, or save anyway."),
            details=[{"field": f"schema.{use['field']}", "message": _(
                "%(field)s is read by “%(process)s” at “%(element)s”.", field=use["field"], process=use["process"],
                element=use["element"])} for use in uses])


def read_form_file(path: Path) -> tuple[str, str, dict]:
    """``(key, name, schema)`` of a shipped ``.form`` file (a form-js schema; ``name`` on top)."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    return path.stem, schema.get("name") or path.stem, schema


def load_shipped_forms(directory: Path | None = None) -> list[FormDefinition]:
    """Store every ``forms/*.form`` whose content changed (demo step; idempotent)."""
    out = []
    for path in sorted((directory or SHIPPED_DIR).glob("*.form")):
        key, name, schema = read_form_file(path)
        form, _created = save_form(key, name, schema, drop_fields_in_use=True)  # shipped with its processes
        out.append(form)
    return out


def load_missing_shipped_forms(keys, actor=None) -> list[str]:
    """Store the shipped forms among ``keys`` the product does not have yet (a process started
    from a shipped template on a fresh install, where ``flask demo`` never ran); the keys stored."""
    loaded = []
    for key in dict.fromkeys(keys):
        path = SHIPPED_DIR / f"{key}.form"
        if KEY_PATTERN.fullmatch(key or "") and get_form(key) is None and path.is_file():
            save_form(*read_form_file(path), actor=actor)
            loaded.append(key)
    return loaded


def form_for_task(form_key: str | None, version: int | None = None) -> FormDefinition | None:
    """The form a user task names with ``camunda:formKey`` (None when it names none or an unknown one)."""
    if not form_key:
        return None
    form = get_form(form_key, version)
    if form is None:
        current_app.logger.warning("user task names unknown form %s (version %s)", form_key, version)
    return form
