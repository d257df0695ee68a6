"""Embedded processes (嵌入式流程): a CRM action starts a process, its form filled from the record.

A binding names an action (``customer.created``, ``opportunity.won`` ...), a process, an
optional form whose embedded fields are filled from the record, a field mapping (record field
→ process variable) and an optional condition in the automation rules' format. The
``app.events`` subscriber starts the process in the same transaction as the record change.
A start that fails (a mapped field was deleted, the process was removed ...) is rolled back
to a savepoint and written to the record's log; the record itself is always saved.

Every started process gets ``record_type``, ``record_id``, ``<entity>_id``, ``reporter`` (the
user whose action started it) and ``owner`` (the record's owner, after the rules that hand new
records out; it follows the record when it changes hands while the process runs) besides the
form's embedded fields and the mapping, which may replace ``owner``.
"""
from __future__ import annotations

import contextvars
import json
import logging

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm.exc import StaleDataError

from app.api.errors import ApiError
from app.audit import audit, label_audit_details, label_audit_events
from app.auth.lookup import creator
from app.clock import company_today
from app.db import MAX_ID, insert_row, plain_type, read_plain, transaction_memo
from app.engine.models import OPEN_STATUSES, ProcessInstance
from app.events import RecordEvent, caused_by
from app.extensions import db
from app.forms import embedded
from app.forms.i18n import _
from app.forms.models import BindingRun, FormBinding
from app.forms.validation import KEY_PATTERN, RESERVED_KEYS

log = logging.getLogger(__name__)

ACTION_EVENTS = ("created", "updated", "stage_changed", "won", "lost")
REPORT_PENDING_LABEL = _l("Report or approval: the customer's report status, or the contract's approval status, is "
                          "“pending” while the process runs")
MAX_MAPPING = 100
# Bindings being started right now, per (binding, entity, record): a process whose start
# changes the same record again (a service task setting a status) must not start itself anew.
_STARTING: contextvars.ContextVar[frozenset] = contextvars.ContextVar("form_bindings_starting", default=frozenset())


def _engine():
    try:
        from app.engine import services
    except ImportError:  # no workflow engine installed: bindings cannot start anything
        return None
    return services


def _automation():
    try:
        from app.automation import catalog, conditions, validation
    except ImportError:
        return None
    return catalog, conditions, validation


def report_pending_entities() -> tuple[str, ...]:
    """The record types a binding may keep "pending" while its process runs (report_pending)."""
    crm = embedded.crm_services()
    return tuple(crm.REVIEW_FIELDS) if crm else ()


def entity_specs() -> dict:
    auto = _automation()
    return auto[0].entity_specs() if auto else {}


def standard_variables(entity: str) -> tuple[str, ...]:
    """The variables every process a binding starts gets (start_data)."""
    return ("record_type", "record_id", f"{entity}_id", "reporter", "owner")


def variables_started_with(process_key: str) -> set[str] | None:
    """Every variable the bindings of ``process_key`` start it with (standard ones, their forms'
    embedded fields, their mappings); None when no binding starts it (an API call may pass
    anything then)."""
    from app.forms.services import get_form

    names: set[str] = set()
    bindings = db.session.scalars(bindings_query(process_key)).all()
    for binding in bindings:
        names.update(standard_variables(binding.entity))
        form = get_form(binding.form_key) if binding.form_key else None
        if form is not None:
            names.update(embedded.embedded_fields(form.schema))
        names.update(entry["to"] for entry in binding.mapping or [])
    return names if bindings else None


def bound_entities(process_key: str) -> list[str]:
    """The record types whose actions start ``process_key`` (none: it is started otherwise)."""
    return sorted({binding.entity for binding in db.session.scalars(bindings_query(process_key))})


def action_names() -> set[str]:
    """``entity.event`` of every action a binding can react to (no labels: works anywhere)."""
    return {f"{name}.{event}" for name, spec in entity_specs().items()
            for event in ("created", "updated") + tuple(e for e in spec.extra_events if e in ACTION_EVENTS)}


def actions() -> list[dict]:
    """The CRM actions a binding can react to, with labels."""
    labels = {"created": _("created"), "updated": _("updated"), "stage_changed": _("stage changed"),
              "won": _("marked won"), "lost": _("marked lost")}
    out = []
    for name, spec in entity_specs().items():
        events = ("created", "updated") + tuple(e for e in spec.extra_events if e in ACTION_EVENTS)
        out += [{"entity": name, "event": event, "action": f"{name}.{event}",
                 "label": _("%(record)s: %(event)s", record=spec.label, event=labels[event])} for event in events]
    return out


# --- checking and saving ------------------------------------------------------------------

def _reachable(entity: str, record_type: str) -> bool:
    """An embedded field of ``record_type`` can be filled from an ``entity`` record."""
    return record_type == entity or f"{record_type}_id" in embedded.record_field_keys(entity)


def check_binding(data: dict) -> list[dict]:
    """Problems that stop a binding from being saved: ``[{"field", "message"}]``."""
    problems: list[dict] = []

    def problem(where, message):
        problems.append({"field": where, "message": message})

    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problem("name", _("A name of 1 to %(n)d characters is required.", n=200))
    specs = entity_specs()
    entity = data.get("entity")
    spec = specs.get(entity)
    if spec is None:
        problem("entity", _("Choose a record type: %(known)s.", known=", ".join(specs)))
        return problems
    if f"{entity}.{data.get('event')}" not in action_names():
        problem("event", _("This record type has no such action."))
    engine = _engine()
    process_key = data.get("process_key")
    if engine is None:
        problem("process_key", _("No workflow engine is installed."))
    else:
        try:
            engine.get_definition(process_key)
        except Exception:  # noqa: BLE001 - the engine's NotFound, or a key it cannot look up
            problem("process_key", _("Unknown process %(key)s: deploy it first.", key=process_key))
    record_keys = {"id"} | embedded.record_field_keys(entity)
    form_key = data.get("form_key")
    embedded_keys: set[str] = set()
    if form_key:
        from app.forms.services import get_form

        form = get_form(form_key)
        if form is None:
            problem("form_key", _("No such form."))
        else:
            embedded_keys = set(embedded.embedded_fields(form.schema))
            for key, path in embedded.embedded_fields(form.schema).items():
                record_type = path.partition(".")[0]
                if not embedded.is_known_crm_field(path):
                    problem("form_key", _("Form field %(key)s is bound to %(path)s, which no longer exists.",
                                          key=key, path=path))
                elif not _reachable(entity, record_type):
                    problem("form_key", _("Form field %(key)s shows %(path)s, which a %(entity)s record cannot "
                                          "provide.", key=key, path=path, entity=spec.label))
    mapping = data.get("mapping") or []
    if not isinstance(mapping, list) or len(mapping) > MAX_MAPPING:
        problem("mapping", _("The mapping is a list of at most %(n)d entries.", n=MAX_MAPPING))
        mapping = []
    targets: set[str] = set()
    for index, entry in enumerate(mapping):
        where = f"mapping.{index}"
        if not isinstance(entry, dict):
            problem(where, _('Each entry is {"field": record field, "to": variable}.'))
            continue
        if entry.get("field") not in record_keys:
            problem(f"{where}.field", _("%(entity)s has no field %(field)s.", entity=spec.label, field=entry.get("field")))
        target = entry.get("to")
        if not isinstance(target, str) or not KEY_PATTERN.match(target) or target in RESERVED_KEYS:
            problem(f"{where}.to", _("Key %(key)s is not allowed: use letters, digits and _ (not starting with a "
                                     "digit).", key=target))
        elif target in standard_variables(entity):
            problem(f"{where}.to", _("%(key)s is set automatically.", key=target))
        elif target in targets:
            problem(f"{where}.to", _("Key %(key)s is used by more than one field.", key=target))
        elif target in embedded_keys:
            problem(f"{where}.to", _("%(key)s is an embedded field of the form: it shows the record's own value "
                                     "already, so remove this row.", key=target))
        targets.add(target)
    if data.get("report_pending") and entity not in report_pending_entities():
        problem("report_pending", _("Only customers and contracts have a report or approval status."))
    elif data.get("report_pending") and data.get("enabled") and not data.get("condition"):
        # Two approvals of every new contract at once: the first decided set 审批通过 while the
        # other's review was still open. Bindings with conditions may split the records between them.
        other = next((b.name for b in db.session.scalars(select(FormBinding).where(
            FormBinding.entity == entity, FormBinding.event == data.get("event"), FormBinding.enabled.is_(True),
            FormBinding.report_pending.is_(True), FormBinding.id != (data.get("id") or 0))) if not b.condition), None)
        if other is not None:
            problem("report_pending", _("“%(name)s” already keeps this status for every such record: two processes "
                                        "would both decide it. Disable one, or give them conditions.", name=other))
    condition = data.get("condition")
    if condition:
        auto = _automation()
        if auto is None:
            problem("condition", _("Conditions need the automation module."))
        else:
            found = auto[2].Problems()
            auto[2].check_condition(condition, spec, found)
            problems += found.items
    return problems


def binding_dict(binding: FormBinding) -> dict:
    return {"id": binding.id, "name": binding.name, "entity": binding.entity, "event": binding.event,
            "action": binding.action, "process_key": binding.process_key, "form_key": binding.form_key,
            "mapping": binding.mapping or [], "condition": binding.condition, "enabled": binding.enabled,
            "skip_if_running": binding.skip_if_running, "report_pending": binding.report_pending,
            "created_by": binding.created_by.username if binding.created_by else None,
            "created_at": binding.created_at, "updated_at": binding.updated_at, "version": binding.version}


FIELDS = ("name", "entity", "event", "process_key", "form_key", "mapping", "condition", "enabled", "skip_if_running",
          "report_pending")


def _audited(binding: FormBinding) -> dict:
    return {key: getattr(binding, key) for key in FIELDS}


label_audit_events({"form.binding_saved": _l("Embedded workflow binding saved"),
                    "form.binding_deleted": _l("Embedded workflow binding deleted")})


def automation_wording():
    """The automation module's words (condition builder, event labels), or None without it."""
    try:
        from app.automation import wording
    except ImportError:  # no automation module: no condition builder, conditions shown as stored
        return None
    return wording


def condition_words(condition, entity: str | None) -> str:
    """A binding's condition in words, fields named by the record type ``entity``."""
    if not condition:
        return ""
    wording = automation_wording()
    if wording is None:
        return json.dumps(condition, ensure_ascii=False)
    return wording.describe_condition(condition, entity_specs().get(entity))


def _mapping_words(mapping, _binding) -> str:
    return ", ".join(f"{entry.get('field')} → {entry.get('to')}" for entry in mapping if isinstance(entry, dict))


def _event_words(event, _binding) -> str:
    wording = automation_wording()
    return str(wording.EVENT_LABELS.get(event, event)) if wording else event


# A binding in the audit log reads as on its page: record field → process variable, the condition in words.
label_audit_details(("form.binding_saved", "form.binding_deleted"),
                    keys={"entity": _l("Record type"), "event": _l("CRM action"), "process_key": _l("Process to start"),
                          "form_key": _l("Form"), "mapping": _l("Field mapping"), "condition": _l("Conditions"),
                          "skip_if_running": _l("Do not start it again while it is running for the same record"),
                          "report_pending": REPORT_PENDING_LABEL},
                    formats={"mapping": _mapping_words, "event": _event_words,
                             "condition": lambda condition, binding: condition_words(condition, binding.get("entity"))})


def save_binding(data: dict, actor=None, binding: FormBinding | None = None, version: int | None = None
                 ) -> FormBinding:
    """Create (``binding`` None) or change a binding; 400 with details when it cannot work."""
    if binding is not None and version is not None and version != binding.version:
        raise ApiError(409, "stale_version", _("The binding was changed by someone else; reload it."))
    merged = {**(binding_dict(binding) if binding else {"enabled": True, "skip_if_running": True,
                                                         "report_pending": False}),
              **{k: v for k, v in data.items() if k in FIELDS}}
    merged["form_key"] = merged.get("form_key") or None
    merged["condition"] = merged.get("condition") or None
    problems = check_binding(merged)
    if problems:
        raise ApiError(400, "invalid_binding", _("The binding cannot be saved."), details=problems)
    if binding is None:
        binding = FormBinding(created_by_id=getattr(actor, "id", None))
        db.session.add(binding)
    for key in FIELDS:
        setattr(binding, key, merged.get(key) if key != "name" else merged["name"].strip())
    binding.mapping = [{"field": m["field"], "to": m["to"]} for m in merged.get("mapping") or []]
    db.session.flush()
    audit("form.binding_saved", actor=actor, target=f"binding:{binding.id}", binding=_audited(binding))
    return binding


def get_binding(binding_id) -> FormBinding:
    binding = db.session.get(FormBinding, binding_id) if isinstance(binding_id, int) and 0 < binding_id <= MAX_ID else None
    if binding is None:
        raise ApiError(404, "not_found", _("No such binding."))
    return binding


def delete_binding(binding: FormBinding, actor=None) -> None:
    audit("form.binding_deleted", actor=actor, target=f"binding:{binding.id}", binding=_audited(binding))
    db.session.delete(binding)
    db.session.flush()


def bindings_using_field(entity: str, field: str) -> list[FormBinding]:
    """The embedded-process bindings of ``entity`` whose mapping or condition names ``field``."""
    from app.automation.services import mentions_field

    bindings = db.session.scalars(select(FormBinding).where(FormBinding.entity == entity).order_by(FormBinding.id))
    return [b for b in bindings if mentions_field(field, b.mapping, b.condition)]


def bindings_query(process_key: str | None = None):
    stmt = select(FormBinding).order_by(FormBinding.entity, FormBinding.event, FormBinding.id)
    return stmt if process_key is None else stmt.where(FormBinding.process_key == process_key)


def runs_for_record(entity: str, record_id: int, limit: int = 50) -> list[BindingRun]:
    """The record's log of embedded processes, newest first (for the record's page)."""
    return list(db.session.scalars(select(BindingRun).where(BindingRun.entity == entity,
                                                            BindingRun.record_id == record_id)
                                   .order_by(BindingRun.id.desc()).limit(limit)))


def run_dict(run: BindingRun) -> dict:
    return {"id": run.id, "binding_id": run.binding_id, "binding": run.binding_name, "entity": run.entity,
            "record_id": run.record_id, "event": run.event, "at": run.at.isoformat(), "outcome": run.outcome,
            "process_key": run.process_key, "instance_id": run.instance_id, "message": run.message}


# --- starting -----------------------------------------------------------------------------

class MappingError(Exception):
    pass


# What the standard start variables are called where people read a process's data
# (``<entity>_id`` too: "Customer id" for customer_id).
START_VARIABLE_LABELS = {"record_type": _l("Record type"), "record_id": _l("Record id"),
                         "reporter": _l("Started by"), "owner": _l("Owner")}


def standard_values(entity: str, record_id, actor, owner: str | None) -> dict:
    """The standard variables' values for a record: which record, who set it off, who owns it
    (an embedded start's and a rule's "start a workflow" alike)."""
    return dict(zip(standard_variables(entity),
                    (entity, record_id, record_id, getattr(actor, "username", None), owner)))


def start_data(binding: FormBinding, record, actor=None) -> dict:
    """The process variables for ``record``: standard ones, embedded fields, the mapping."""
    entity = binding.entity
    known = {"id"} | embedded.record_field_keys(entity)
    owner = getattr(record, "owner", None)
    data = standard_values(entity, record.id, actor, owner.username if owner else None)
    if binding.form_key:
        from app.forms.services import get_form

        form = get_form(binding.form_key)
        if form is None:
            raise MappingError(_("Form %(key)s no longer exists.", key=binding.form_key))
        for key, path in embedded.embedded_fields(form.schema).items():
            if not embedded.is_known_crm_field(path):
                raise MappingError(_("Form field %(key)s is bound to %(path)s, which no longer exists.",
                                     key=key, path=path))
        data.update(embedded.fill_embedded(form.schema, record, entity))
    for entry in binding.mapping or []:
        if entry["field"] not in known:
            raise MappingError(_("Mapped field %(field)s no longer exists.", field=entry["field"]))
        data[entry["to"]] = embedded.record_value(record, f"{entity}.{entry['field']}", entity)
    return data


def sample_start_data(binding: FormBinding, record_id: int, actor) -> dict:
    """What ``binding`` would start its process with for a record ``actor`` may see: a
    designer's test run with a real customer's data instead of typed samples."""
    from app.crm import services as crm

    record = crm.get_record(binding.entity, record_id, actor)  # 404 unless visible
    try:
        data = start_data(binding, record, record.owner)  # as if its owner had just saved it
    except MappingError as exc:
        raise ApiError(409, "binding_broken", str(exc)) from None
    return {"data": data, "record": {"type": binding.entity, "id": record.id, "label": record.label}}


def _condition_matches(binding: FormBinding, event: RecordEvent) -> bool:
    if not binding.condition:
        return True
    auto = _automation()
    spec = entity_specs().get(binding.entity)
    if auto is None or spec is None:
        raise MappingError(_("Conditions need the automation module."))
    catalog, conditions, _validation = auto
    matched, _leaves = conditions.evaluate(binding.condition, spec.fields,
                                           lambda name: event.record.id if name == "id" else catalog.read(event.record, name),
                                           dict(event.changes), company_today())
    return matched


# Built once: building it cost more than running it.
_RUNNING = select(ProcessInstance.id).where(
    ProcessInstance.process_key == bindparam("key"), ProcessInstance.record_type == bindparam("entity"),
    ProcessInstance.record_id == bindparam("record_id"),
    ProcessInstance.status.in_(OPEN_STATUSES)).limit(1)


def _already_running(binding: FormBinding, record_id: int) -> int | None:
    return db.session.scalar(_RUNNING, {"key": binding.process_key, "entity": binding.entity, "record_id": record_id})


def _alert_admins(binding: FormBinding, run: BindingRun, record) -> None:
    try:
        from app.auth.models import User, UserRole
        from app.notifications.services import notify
    except ImportError:
        return
    admins = list(db.session.scalars(select(User).join(UserRole).where(UserRole.role == "admin", User.active.is_(True))))
    if admins:
        notify(admins, _l("Embedded process %(name)s did not start for %(record)s: %(error)s", name=binding.name,
                          record=getattr(record, "label", record.id), error=run.message),
               link="/forms/bindings", kind="error")


def failed_start_count(since) -> int:
    return db.session.scalar(select(func.count()).select_from(BindingRun).where(
        BindingRun.outcome == "failed", BindingRun.at >= since))


def run_binding(binding: FormBinding, event: RecordEvent) -> BindingRun:
    """Start ``binding``'s process for the event's record; the outcome is logged, never raised."""
    record = event.record
    run = BindingRun(binding_id=binding.id, binding_name=binding.name, entity=binding.entity, record_id=record.id,
                     event=event.event, process_key=binding.process_key, outcome="failed")
    guard = (binding.id, binding.entity, record.id)
    try:
        if not _condition_matches(binding, event):
            run.outcome = "not_matched"
        elif (binding.report_pending and event.event == "created" and getattr(record, "entity", None) == "contract"
              and (event.changes or {}).get("status", (None, None))[1] == "signed"):  # entered signed
            # An administrator recording a contract signed before the product: approved by its
            # signature. Started anyway, a rejection left it 已签订 and 审批驳回 at once.
            run.outcome = "skipped"
            run.message = _("The contract is signed already: there is nothing to approve.")
        elif binding.skip_if_running and (running := _already_running(binding, record.id)):
            run.outcome, run.instance_id = "skipped", running
            run.message = _("Process #%(id)s is already running for this record.", id=running)
        else:
            # A record an automation rule made is submitted for its owner: they follow it in
            # their submissions and hear the outcome (a process's ${reporter}).
            submitter = event.actor or getattr(record, "owner", None)
            data = start_data(binding, record, submitter)
            token = _STARTING.set(_STARTING.get() | {guard})
            try:
                with db.session.begin_nested():
                    # Stuck at once: undone and logged as a failure, not left behind as "started".
                    instance = _engine().start_instance(binding.process_key, data, actor=submitter,
                                                        record={"type": binding.entity, "id": record.id}, commit=False,
                                                        fail_on_error=True)
                    if binding.report_pending and instance.status == "running":
                        # After the start, so a binding on customer.updated sees the process running.
                        from app.crm import services as crm

                        with caused_by(f"process:{instance.id}"):  # the history names the report started
                            crm.set_review_status(binding.entity, record.id, "pending", actor=event.actor,
                                                  commit=False, chain=event.chain)
            finally:
                _STARTING.reset(token)
            run.outcome, run.instance_id = "started", instance.id
    except StaleDataError:
        # Someone saved the record at the same moment (report-again pressed twice): the whole save
        # is a lost race, 409, not a start that "failed" with an ORM message sent to every admin.
        raise
    except Exception as error:  # noqa: BLE001 - logged on the record, the admins alerted; the save goes on
        run.outcome = "failed"
        run.message = (getattr(error, "message", None) or str(error) or error.__class__.__name__)[:2000]
        log.warning("binding %s failed on %s %s: %s", binding.id, binding.entity, record.id, run.message)
    insert_row(run)  # the log is append-only: one INSERT, no flush of the session
    if run.outcome == "failed":
        _alert_admins(binding, run, record)
    return run


# --- submitting a report again -------------------------------------------------------------

# Report statuses from which the salesperson may submit the record's report again: after a
# rejection (fixed data) or a withdrawal, or when none ever ran (a binding added later).
REPORT_AGAIN_FROM = ("none", "rejected")


def _report_bindings(entity: str) -> list[FormBinding]:
    return list(db.session.scalars(select(FormBinding).where(
        FormBinding.entity == entity, FormBinding.report_pending.is_(True), FormBinding.enabled.is_(True))
        .order_by(FormBinding.id)))


def goes_to_approval(entity: str) -> bool:
    """An enabled binding keeps ``entity``'s report or approval status: its records are decided
    by a process (a contract is approved before it is signed)."""
    return bool(_report_bindings(entity))


def review_status(record) -> str | None:
    crm = embedded.crm_services()
    return crm.review_status(record) if crm else None


def can_report_again(record) -> bool:
    return review_status(record) in REPORT_AGAIN_FROM and bool(_report_bindings(record.entity))


label_audit_events({"forms.report_submitted_again": _l("Report or approval submitted from its record")})


def report_again(entity: str, record_id: int, actor) -> list[BindingRun]:
    """The record's owner (or a manager) starts its report again, with the record as it is
    now: each enabled binding that keeps its report status runs as on its own action (its
    condition still applies). The runs are logged on the record as usual; whether one started
    is the caller's to say."""
    from app.crm import services as crm

    if entity not in crm.MODELS:
        raise ApiError(404, "not_found", _("No such record."))
    record = crm.get_record(entity, record_id, actor)  # 404 unless visible
    if not crm.can_manage(record, actor):
        raise ApiError(403, "forbidden", _("Only the owner or a manager may submit it again."))
    if review_status(record) is None:
        raise ApiError(409, "no_report_process", _("Only customers and contracts have a report or approval status."))
    if review_status(record) not in REPORT_AGAIN_FROM:
        raise ApiError(409, "report_open", _("This record's report or approval is pending or approved: there is nothing to submit "
                                             "again."))
    found = _report_bindings(record.entity)
    if not found:
        raise ApiError(409, "no_report_process", _("No embedded process keeps the report or approval status of this record type."))
    if not actor.is_admin:  # a contract goes to approval again only once its customer's report is
        crm.refuse_on_a_rejected_report(getattr(record, "customer", None))
    runs = [run_binding(binding, RecordEvent(record.entity, binding.event, record, actor=actor)) for binding in found]
    audit("forms.report_submitted_again", actor=actor, target=f"{record.entity}:{record.id}",
          started=[run.instance_id for run in runs if run.outcome == "started"])
    return runs


# A binding as a record event runs it: its columns as plain values, not an ORM object with its
# joined author (~45 us instead of ~125 us per event, measured in one process).
DispatchBinding = plain_type(FormBinding, "DispatchBinding", "A form binding as a record event runs it.",
                             created_by=property(creator), action=FormBinding.action)
_BINDINGS_FOR = (DispatchBinding.select().where(FormBinding.entity == bindparam("entity"),
                                                FormBinding.event == bindparam("event"),
                                                FormBinding.enabled.is_(True)).order_by(FormBinding.id))  # built once


def on_record_event(event: RecordEvent) -> None:
    """The ``app.events`` subscriber (after the automation rules, so it sees their changes)."""
    if event.event == "updated" and "owner" in event.changes and getattr(event.record, "id", None) is not None:
        engine = _engine()
        if engine is not None:  # the standard ``owner`` variable follows the record (start_data)
            engine.follow_record_owner(event.entity, event.record.id, *event.changes["owner"], actor=event.actor)
    if event.event not in ACTION_EVENTS or not event.automate or getattr(event.record, "id", None) is None:
        return
    bindings = transaction_memo(("forms.bindings", event.entity, event.event), lambda: read_plain(
        DispatchBinding, _BINDINGS_FOR, {"entity": event.entity, "event": event.event}), depends_on=(FormBinding,))
    for binding in bindings:
        if (binding.id, binding.entity, event.record.id) in _STARTING.get():
            continue  # this very binding is starting on this record: no self-restart
        run_binding(binding, event)


# ``flask demo``'s bindings: a new customer is reported, a new contract goes to approval.
SHIPPED_BINDINGS = (
    {"name": "新增客户 → 客户报备", "entity": "customer", "event": "created", "process_key": "customer_report",
     "form_key": "customer_report", "report_pending": True, "mapping": [{"field": "source", "to": "lead_source"}]},
    {"name": "新增合同 → 合同审批", "entity": "contract", "event": "created", "process_key": "contract_approval",
     "form_key": "contract_approval", "report_pending": True},
)


def bind_shipped_processes() -> None:
    """``flask demo`` and ``flask install-approvals``: each of SHIPPED_BINDINGS whose process is
    deployed (idempotent)."""
    engine = _engine()
    if engine is None:
        return
    for binding in SHIPPED_BINDINGS:
        if db.session.scalar(select(FormBinding.id).where(FormBinding.process_key == binding["process_key"])):
            continue
        try:
            engine.get_definition(binding["process_key"])
        except Exception:  # noqa: BLE001 - the process is not deployed: nothing to bind
            log.warning("process %s not deployed; no binding made", binding["process_key"])
            continue
        save_binding(binding)


def demo_report() -> None:
    """``flask demo``: one pending customer report, so fj_head's inbox shows the flow (idempotent)."""
    try:
        from app.auth.services import get_user
        from app.crm import services as crm
        from app.crm.models import Customer
    except ImportError:
        return
    name = "泉州晋江纺织有限公司"
    reporter = get_user("sales1")
    if reporter is None or db.session.scalar(select(Customer.id).where(Customer.name == name)) is not None:
        return
    crm.create("customer", {"name": name, "province": "福建", "city": "泉州", "industry": "纺织",
                            "registered_capital": "5000000", "source": "电话营销", "phone": "0595-8555012",
                            "credit_code": "91350582MA2Y00007H"}, reporter, commit=False)


__all__ = ["actions", "check_binding", "save_binding", "get_binding", "delete_binding", "runs_for_record",
           "run_binding", "start_data", "on_record_event", "MappingError"]
