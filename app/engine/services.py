"""Engine services: what routes, the CRM, the inbox and the worker call.

Each public function does one step and persists, in ONE transaction, the workflow state, the
human-task rows, the history and the timer jobs (and whatever CRM change an operation made
in the same session).  ``commit=False`` leaves committing to a caller that has its own
transaction (e.g. a CRM save that starts a workflow).

Concurrency: ``ProcessInstance.version`` is an optimistic lock; two completions of the same
task load the same version, the second UPDATE matches no row and raises
:class:`Conflict` (API: 409).  Only this package imports SpiffWorkflow.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Callable, Iterable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.audit import audit, label_audit_events
from app.auth.lookup import user_named
from app.db import MAX_ID, insert_row, utcnow
from app.extensions import db
from app.jobs import enqueue, job_handler
from app.jobs.models import DONE, FAILED, PENDING, Job

from . import runtime as R
from . import serialization as S
from .models import (
    OPEN_STATUSES, TASK_CANCELLED, TASK_COMPLETED, TASK_OPEN, HumanTask, ProcessDefinition, ProcessHistory,
    ProcessInstance,
)
from .operations import acting_instance_id, get_operation
from .validation import validate_diagram
from .xml import DiagramError

TIMER_JOB = "engine.timer"
log = logging.getLogger(__name__)


class EngineServiceError(Exception):
    status = 400
    code = "engine_error"


class NotFound(EngineServiceError):
    status, code = 404, "not_found"


class Forbidden(EngineServiceError):
    status, code = 403, "forbidden"


class Conflict(EngineServiceError):
    status, code = 409, "conflict"


class MovedOn(Conflict):
    """Another step of the same instance committed between this one's read and its write (the
    other branch of a parallel approval): this step was rolled back whole."""


class StateUnreadable(Conflict):
    """The saved state cannot be loaded (corrupt, or written by an incompatible version)."""
    code = "state_unreadable"


class MigrationRefused(Conflict):
    """The instance cannot follow the current version; ``problems``: ``[{element_id,
    element_name, reason, message}]``, the message says why in the user's language."""
    code = "migration_refused"

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


def _not_running(instance: ProcessInstance) -> Conflict:
    """Why nothing can be done on the instance now, as its users read it."""
    if instance.status == "suspended":
        return Conflict(_("The process is suspended: its tasks wait until an administrator resumes it."))
    if instance.status == "error":
        return Conflict(_("The process stopped with an error: an administrator has to retry it first."))
    return Conflict(_("The process has already ended."))


class StartFailed(EngineServiceError):
    """``start_instance(..., fail_on_error=True)``: the new instance stopped with an error in its
    first run (typically data its caller did not pass); the caller rolls back to its savepoint."""
    status, code = 400, "start_failed"


class InvalidData(EngineServiceError):
    status, code = 400, "invalid_data"

    def __init__(self, message, fields=()):
        super().__init__(message)
        self.fields = list(fields)


# ------------------------------------------------------------------ forms' fields
# The form designer registers each form's fields; a task accepts only these (trap 5).
_FORM_FIELDS: dict[str, tuple[str, ...]] = {"customer_report": ("decision", "comment")}


def register_form_fields(form_key: str, fields: Iterable[str]) -> None:
    _FORM_FIELDS[form_key] = tuple(fields)


def _forms():
    try:
        from app.forms import services as forms
    except ImportError:  # the engine also runs without the forms module
        return None
    return forms


def form_fields(form_key: str | None, version: int | None = None) -> list[str]:
    """The fields a task with ``form_key`` accepts: the form designer's editable fields of
    that ``version`` (default: the current one) if the forms module knows the form, else what
    was registered here."""
    forms = _forms() if form_key else None
    if forms is not None:
        form = forms.get_form(form_key, version)
        if form is None and version is not None:
            form = forms.get_form(form_key)
        if form is not None:
            return list(forms.editable_keys(form.schema))
    return list(_FORM_FIELDS.get(form_key or "", ()))


def current_form_version(form_key: str | None) -> int | None:
    """The version of ``form_key`` a task starting now works with (None: no such form)."""
    forms = _forms() if form_key else None
    form = forms.get_form(form_key) if forms is not None else None
    return form.version if form is not None else None


# ------------------------------------------------------------------ spec cache

def _load_xml_by_hash(ref: str):
    row = db.session.scalar(select(ProcessDefinition.xml).where(ProcessDefinition.spec_hash == ref).limit(1))
    return row.encode("utf-8") if row is not None else None


spec_cache = S.SpecCache(loader=_load_xml_by_hash)


def _username(user) -> str | None:
    return getattr(user, "username", None) if user is not None else None


# ------------------------------------------------------------------ definitions

label_audit_events({"process.deployed": _l("Process deployed"),
                    "process.version_current": _l("Process version made current")})


def deploy(xml: bytes | str, actor=None, commit: bool = True) -> ProcessDefinition:
    """Validate and store a new version of the diagram's process (its id is the key); the
    diagram of the current version again stores nothing and returns that version.

    Raises :class:`DiagramError` (``problems``: ``[{element_id, message}]``); nothing is
    stored then.
    """
    if isinstance(xml, bytes):
        try:
            text = xml.decode("utf-8")
        except UnicodeDecodeError:
            raise DiagramError([{"element_id": None, "message": _("diagram must be UTF-8")}]) from None
    else:
        text = xml
    process_id, spec, _subprocess_specs = validate_diagram(text.encode("utf-8"))
    latest = db.session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == process_id))
    current = list(db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == process_id,
                                                                      ProcessDefinition.is_current.is_(True))))
    if [row.spec_hash for row in current] == [S.spec_hash(text)]:
        return current[0]  # the same diagram again (a pipeline deploying every push): nothing new
    for row in current:
        row.is_current = False
    definition = ProcessDefinition(
        key=process_id, name=spec.description or process_id, version=(latest or 0) + 1,
        is_current=True, xml=text, spec_hash=S.spec_hash(text),
        deployed_by_id=getattr(actor, "id", None))
    definition.deployed_now = True
    db.session.add(definition)
    try:
        db.session.flush()
    except IntegrityError:  # another deploy of the process took this version number at the same moment
        db.session.rollback()
        raise Conflict(_("Another deploy of %(key)s was saved at the same moment; look at its versions and "
                         "deploy again if needed.", key=process_id)) from None
    audit("process.deployed", actor=actor, target=f"process:{process_id}", version=definition.version)
    if commit:
        db.session.commit()
    return definition


def list_definitions(current_only: bool = False) -> list[ProcessDefinition]:
    stmt = select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version)
    if current_only:
        stmt = stmt.where(ProcessDefinition.is_current.is_(True))
    return list(db.session.scalars(stmt))


# Statements run on every step, built once: building one and its cache key cost more than running it.
_CURRENT_DEFINITION = select(ProcessDefinition).where(ProcessDefinition.key == bindparam("key"),
                                                      ProcessDefinition.is_current.is_(True))
_DEFINITION_VERSION = select(ProcessDefinition).where(ProcessDefinition.key == bindparam("key"),
                                                      ProcessDefinition.version == bindparam("version"))
_OPEN_TASKS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"), HumanTask.status == TASK_OPEN)


def get_definition(key: str, version: int | None = None) -> ProcessDefinition:
    if version is None:
        definition = db.session.scalar(_CURRENT_DEFINITION, {"key": key})
    else:  # a version beyond any id is none there is
        definition = db.session.scalar(_DEFINITION_VERSION, {"key": key, "version": version}) \
            if 0 < version <= MAX_ID else None
    if definition is None:
        raise NotFound(_("Process %(key)s has no version %(version)s.", key=key, version=version) if version
                       else _("No process %(key)s is deployed.", key=key))
    return definition


def make_current(key: str, version: int, commit: bool = True, actor=None) -> ProcessDefinition:
    """Rollback (or forward): new instances start on ``version``; running ones keep theirs."""
    target = get_definition(key, version)
    for row in db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)):
        row.is_current = row.id == target.id
    audit("process.version_current", actor=actor, target=f"process:{key}", version=version)
    if commit:
        db.session.commit()
    return target


# ------------------------------------------------------------------ instances

def _context(instance: ProcessInstance, actor) -> dict:
    record = {"type": instance.record_type, "id": instance.record_id} if instance.record_type else None
    return {"instance_id": instance.id, "process_key": instance.process_key, "record": record,
            "actor": _username(actor)}


def _load(instance: ProcessInstance, actor=None):
    try:
        wf = S.loads(instance.state, spec_cache, context=_context(instance, actor))
    except Exception as exc:  # noqa: BLE001 - JSON, format, serializer or spec: all mean "cannot load"
        reason = f"saved state cannot be loaded ({type(exc).__name__}: {str(exc)[:300]})"
        _mark_unreadable(instance, reason)
        raise StateUnreadable(f"process instance {instance.id}: {reason}") from None
    # Timers waiting before this step: any step may fire a due one (see _persist_rows).
    wf.crm_timers_before = R.waiting_timers(wf)
    return wf


def _mark_unreadable(instance: ProcessInstance, reason: str) -> None:
    """Mark the instance ``error`` in its own transaction: the caller's request fails and rolls
    back, the mark stays (operators see why; timers stop firing at it)."""
    error = {"element_id": None, "element_name": None, "message": reason, "line": None, "error_line": None,
             "error_type": "StateUnreadable", "task_id": None}
    try:
        with db.engine.begin() as connection:
            marked = connection.execute(ProcessInstance.__table__.update()
                                        .where(ProcessInstance.id == instance.id, ProcessInstance.status != "error")
                                        .values(status="error", error=error, version=ProcessInstance.version + 1,
                                                updated_at=utcnow())).rowcount
            if marked:  # once, not at every failed look at it
                connection.execute(ProcessHistory.__table__.insert().values(
                    instance_id=instance.id, actor=None, event="error", task=None, comment=reason, at=utcnow()))
    except Exception:  # noqa: BLE001 - the mark is best effort; the refusal below is what matters
        log.exception("could not mark process instance %s as unreadable", instance.id)


def _history(instance, event, actor=None, task=None, comment=None, data=None):
    # Append-only: one INSERT now (its time and id say when it happened), not one more object
    # for every later flush to write.
    insert_row(ProcessHistory(instance_id=instance.id, actor=_username(actor) if not isinstance(actor, str) else actor,
                              event=event, task=task, comment=comment, data=data))


def _timer_key(instance_id, task_uuid, due_at: datetime) -> str:
    # The due time is part of the key: a cycle timer (R3/PT1H) waits again on the same task.
    return f"engine.timer:{instance_id}:{task_uuid}:{int(due_at.timestamp())}"


def _persist(instance: ProcessInstance, wf, result: R.StepResult, actor=None, now: datetime | None = None,
             new: bool = False):
    """Write state, task rows, timers and history for the step just taken (same session).
    ``new``: the instance was created in this transaction, so it has no task rows or timer
    jobs yet to look up."""
    # No autoflush: the stale-version check must happen once, at the final flush/commit.
    with db.session.no_autoflush:
        _persist_rows(instance, wf, result, actor, now, new)


def _persist_rows(instance, wf, result, actor, now, new=False):
    interrupted = set()  # steps a boundary timer fired on in this step (an escalation)
    for timer in R.fired_timers(wf, getattr(wf, "crm_timers_before", [])):
        _history(instance, "timer_fired", None, task=timer.name or timer.bpmn_id,
                 data={"bpmn_id": timer.bpmn_id, "attached_to": timer.attached_to})
        interrupted.add(timer.attached_to)
    now = now or utcnow()
    reached = R.outcome(wf) if result.status == "completed" else None  # before pruning drops its step
    R.prune_finished(wf)  # after fired_timers: it looks the fired timer tasks up
    instance.state = S.dumps(wf)
    if result.status != "error":
        instance.data = _display(R.instance_data(wf))
    was = instance.status
    instance.status = result.status if instance.status not in ("terminated", "suspended") else instance.status
    if result.status == "completed" and instance.completed_at is None:
        instance.completed_at = now
        _history(instance, "completed", actor, task=reached)  # which end it reached
    if result.error is not None:
        worded_error(result.error)
        instance.error = result.error.to_dict()
        if was != "error":
            # The system stopped, not the person whose step led there (their step is recorded already).
            _history(instance, "error", None, task=result.error.element_name or result.error.element_id,
                     comment=result.error.message, data=result.error.to_dict())
            _notify_error(instance, result.error)
    else:
        instance.error = None

    open_rows = {} if new else {row.task_uuid: row for row in db.session.scalars(
        _OPEN_TASKS, {"instance_id": instance.id})}
    ready = {t.id: t for t in result.user_tasks}
    # (without autoflush the query can return a row this step just completed: skip it)
    open_rows = {k: r for k, r in open_rows.items() if r.status == TASK_OPEN}
    for task_uuid, row in open_rows.items():
        if task_uuid not in ready and result.status != "error":
            row.status = TASK_CANCELLED
            # Interrupted by its escalation timer, or closed as the process went on without it
            # (another branch reached a terminate end): the reports count only the first as escalated.
            _history(instance, "task_cancelled" if row.bpmn_id in interrupted else "task_closed", None, task=row.name)
    for task_uuid, info in ready.items():
        if task_uuid in open_rows:
            continue
        db.session.add(HumanTask(
            instance_id=instance.id, task_uuid=task_uuid, bpmn_id=info.bpmn_id, name=info.name,
            assignee=info.assignee, candidate_users=info.candidate_users,
            candidate_groups=info.candidate_groups, form_key=info.form_key,
            form_version=current_form_version(info.form_key), due_at=info.due_at))
        _history(instance, "task_created", None, task=info.name,
                 data={"assignee": info.assignee, "candidate_groups": info.candidate_groups,
                       "candidate_users": info.candidate_users})

    if result.error is None:  # an errored snapshot lists no timers: leave their jobs alone
        _sync_timers(instance, wf, result.timers, new)


_JOBS_KEYED = select(Job).where(Job.key.in_(bindparam("keys", expanding=True)))  # built once


def _sync_timers(instance, wf, timers_now, new=False):
    """Timer jobs follow the workflow: new timers get a job, timers gone (fired, or their task
    finished) lose theirs.  Only jobs of timers waiting before or after this step are looked
    at, by their unique key, so the cost does not grow with the job table."""
    before = {_timer_key(instance.id, t.task_id, t.due_at) for t in getattr(wf, "crm_timers_before", [])}
    waiting = {_timer_key(instance.id, t.task_id, t.due_at): t for t in timers_now}
    keys = before | set(waiting)
    jobs = {j.key: j for j in db.session.scalars(_JOBS_KEYED, {"keys": sorted(keys)})} if keys and not new else {}
    now = utcnow()
    for key in before - set(waiting):
        job = jobs.get(key)
        if job is not None and job.status == PENDING:
            job.status, job.finished_at, job.last_error = DONE, now, "cancelled"
    for key, timer in waiting.items():
        job = jobs.get(key)
        if job is None:
            enqueue(TIMER_JOB, {"instance_id": instance.id, "task_id": timer.task_id, "bpmn_id": timer.bpmn_id},
                    due_at=timer.due_at, key=key)
        elif job.status in (DONE, FAILED):
            # Still waiting although its job ended (the instance was in error or suspended
            # when it came due): schedule it again now that the instance runs.
            job.status, job.due_at, job.attempts, job.finished_at = PENDING, max(timer.due_at, now), 0, None


def _display(data: dict) -> dict:
    """Process data as JSON for the instance row (Decimal and dates as text)."""
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def worded_error(error: R.StepError) -> R.StepError:
    """A failure the engine recognises, said in the reader's language with what to do."""
    if error.error_type == R.NO_PATH:
        error.message = _("None of the conditions out of “%(gateway)s” holds and it has no default flow: mark one "
                          "flow as the default, or retry with corrected data.",
                          gateway=error.element_name or error.element_id)
    elif error.error_type == R.UNKNOWN_VARIABLE:
        error.message = _("“%(step)s” reads %(name)s, which this process does not have (a typo in the diagram, or a "
                          "field its form no longer has): correct the diagram, or retry with %(name)s given.",
                          step=error.element_name or error.element_id, name=error.detail)
    elif error.error_type == R.MISMATCHED_TYPES:
        # Conditions and scripts alike: "len(5)" in a script is no comparison.
        error.message = _("“%(step)s” uses values of kinds that do not go together in %(expression)s (a text with "
                          "a number, say): correct the diagram, or retry with corrected data.",
                          step=error.element_name or error.element_id, expression=error.detail)
    elif error.error_type == R.OPERATION_FAILED:
        known = get_operation(error.operation)
        if known is not None and known.description:  # what it does, for the admin who did not draw it
            error.message = _("The step's operation “%(operation)s” (%(name)s) failed: %(error)s",
                              operation=known.description, name=error.operation, error=error.detail)
        else:
            error.message = _("The step's operation %(operation)s failed: %(error)s", operation=error.operation,
                              error=error.detail)
    return error


def _notify_error(instance: ProcessInstance, error: R.StepError):
    """The exception branch vendors recommend: tell the people who can fix it."""
    try:
        from app.auth.models import User, UserRole
        from app.notifications.services import notify
    except ImportError:  # notifications are optional for the engine
        return
    admins = list(db.session.scalars(select(User).join(UserRole).where(UserRole.role == "admin")))
    if admins:
        # Named as people know them: the process's and the step's names, the ids only without one.
        process = (instance.definition.name if instance.definition else None) or instance.process_key
        notify(admins, _l("Process %(key)s #%(id)s stopped with an error at %(element)s: %(error)s",
                          key=process, id=instance.id, element=error.element_name or error.element_id,
                          error=error.message),
               link=f"/process-instances/{instance.id}", kind="error")


def start_instance(process_key: str, data: dict | None = None, actor=None, record: dict | None = None,
                   version: int | None = None, commit: bool = True, fail_on_error: bool = False) -> ProcessInstance:
    """Start the current (or given) version with ``data``; ``record`` is ``{"type", "id"}``.

    An instance that stops with an error at once is kept for an operator to retry, unless
    ``fail_on_error``: then :class:`StartFailed` is raised (the caller undoes its savepoint),
    for callers that report the failure themselves (rules, bindings) rather than leave it behind.
    """
    definition = get_definition(process_key, version)
    try:
        clean = S.sanitize_data(data)
    except ValueError as exc:
        raise InvalidData(str(exc)) from None
    # By the stored hash: the (deferred) XML is read only when this process has not parsed it yet.
    spec, subs = spec_cache.get(definition.spec_hash, definition.key)
    if record is None:
        _refuse_without_record(definition, spec, subs)
    instance = ProcessInstance(
        definition_id=definition.id, process_key=definition.key, status="running", state="",
        data=_display(clean), record_type=(record or {}).get("type"), record_id=(record or {}).get("id"),
        started_by_id=getattr(actor, "id", None))
    db.session.add(instance)
    db.session.flush()  # the id goes into the operations' context
    wf = R.create_instance(spec, subs, clean, context=_context(instance, actor))
    _history(instance, "started", actor, data={"version": definition.version})
    result = R.run(wf)
    if fail_on_error and result.error is not None:
        raise StartFailed(_("Process %(key)s stopped with an error right after starting: %(error)s",
                            key=process_key, error=result.error.message))
    _persist(instance, wf, result, actor, new=True)
    _finish(commit)
    return instance


def calls_operation(instance: ProcessInstance, operation: str) -> bool:
    """Whether a step of the instance's process (or of its subprocesses) calls ``operation``."""
    spec, subs = spec_cache.get(instance.definition.spec_hash, instance.definition.key)
    return any(getattr(task_spec, "operation", None) == operation
               for process in (spec, *subs.values()) for task_spec in process.task_specs.values())


_STARTERS: dict[str, tuple[frozenset, frozenset]] = {}  # spec hash → (users, groups), read once per process


def _starters(definition: ProcessDefinition) -> tuple[frozenset, frozenset]:
    """Who the diagram lets start it (Camunda's candidateStarterUsers / candidateStarterGroups
    on the process): empty, anyone may."""
    if definition.spec_hash not in _STARTERS:
        from .validation import CAMUNDA_NS
        from .xml import BPMN_NS, load_xml

        process = load_xml(definition.xml).find(f"{{{BPMN_NS}}}process[@id='{definition.key}']")

        def names(attribute: str) -> frozenset:
            text = process.get(f"{{{CAMUNDA_NS}}}{attribute}") if process is not None else None
            return frozenset(n.strip() for n in (text or "").split(",") if n.strip())

        _STARTERS[definition.spec_hash] = (names("candidateStarterUsers"), names("candidateStarterGroups"))
    return _STARTERS[definition.spec_hash]


def start_for_person(process_key: str, data: dict | None, actor) -> ProcessInstance:
    """A person starting a process by hand (``POST /process-instances``): only those its diagram
    names as starters (and designers, administrators), when it names any. Any salesperson could
    otherwise start any process and so create tasks and notices for other people."""
    definition = get_definition(process_key)
    users, groups = _starters(definition)
    if (users or groups) and not (actor.has_role("admin", "designer") or actor.username in users
                                  or actor.group_names & groups):
        raise Forbidden(_("%(process)s is started only by %(who)s.", process=definition.name or definition.key,
                          who=", ".join(sorted(users | groups))))
    return start_instance(process_key, data, actor=actor)


def _refuse_without_record(definition: ProcessDefinition, spec, subs) -> None:
    """A process whose steps change the record it was started for cannot start without one: it
    would run up to that step and stop there with an error (an API call with data alone)."""
    for process in (spec, *subs.values()):
        for task_spec in process.task_specs.values():
            operation = get_operation(getattr(task_spec, "operation", None) or "")
            if operation is not None and operation.acts_on_record:
                raise InvalidData(_(
                    "%(process)s changes the record it is started for (step “%(step)s”), so it starts from a "
                    "record: through its embedded-process binding, or submitted again from the record "
                    "(POST /api/v1/records/<type>/<id>/report-again).",
                    process=definition.name or definition.key, step=task_spec.bpmn_name or task_spec.name))


def _finish(commit: bool):
    try:
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    except StaleDataError:
        raise _moved_on() from None


def _moved_on() -> MovedOn:
    _dead_transaction()
    return MovedOn(_("The process moved on meanwhile; reload and try again."))


def _dead_transaction() -> None:
    """A failed flush leaves nothing to save in this transaction, whoever owns it: roll it back
    now, before the answer is written (its text asks for the reader's language, which reads
    the user's row)."""
    db.session.rollback()


def _get(model, row_id):
    if not isinstance(row_id, int) or not 0 < row_id <= MAX_ID:
        return None
    return db.session.get(model, row_id)


def get_instance(instance_id: int) -> ProcessInstance:
    instance = _get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(_("No process #%(id)s.", id=instance_id))
    return instance


_OPEN_FOR_RECORD = select(ProcessInstance.id, ProcessInstance.process_key).where(
    ProcessInstance.record_type == bindparam("record_type"), ProcessInstance.record_id == bindparam("record_id"),
    ProcessInstance.status.in_(OPEN_STATUSES)).order_by(ProcessInstance.id)


def open_instances_for(record_type: str, record_id: int) -> list[tuple[int, str]]:
    """(id, process key) of the unfinished instances started for a record."""
    return [tuple(row) for row in db.session.execute(_OPEN_FOR_RECORD, {"record_type": record_type,
                                                                        "record_id": record_id})]


def follow_record_owner(record_type: str, record_id: int, was: str | None, now: str | None, actor=None) -> None:
    """The record changed hands: where its unfinished processes hold ``owner`` = ``was`` (the
    owner when they started), they hold ``now``. The approval then confirms, and its notices
    reach, whoever owns the record now, not the former owner. The instance whose own step made
    the change is left alone: it is running, and its state is about to be saved anyway."""
    if was == now:
        return
    for instance_id, _key in open_instances_for(record_type, record_id):
        if instance_id == acting_instance_id():
            continue
        instance = get_instance(instance_id)
        try:
            wf = _load(instance, actor)
        except StateUnreadable:
            continue  # marked for the operators; the hand-over itself stands
        if not R.follow_variable(wf, "owner", was, now):
            continue
        instance.state = S.dumps(wf)
        # What forms show until the next step: the last finished step's data, patched alike.
        if (instance.data or {}).get("owner") == was:
            instance.data = {**instance.data, "owner": now}
        _history(instance, "owner_followed", actor, data={"from": was, "to": now})  # the page names them


def how_they_stand(instance_ids) -> dict[int, dict]:
    """For record pages and submission lists: each instance's status, the end it reached
    (报备驳回), whether its starter withdrew it, and the last comment an approver gave (why it
    was rejected) — ``{id: {status, outcome, withdrawn, comment}}``."""
    ids = [i for i in set(instance_ids) if i]
    if not ids:
        return {}
    out = {i: {"status": s, "outcome": None, "withdrawn": False, "comment": None} for i, s in db.session.execute(
        select(ProcessInstance.id, ProcessInstance.status).where(ProcessInstance.id.in_(ids)))}
    rows = db.session.execute(select(ProcessHistory.instance_id, ProcessHistory.event, ProcessHistory.task,
                                     ProcessHistory.comment)
                              .where(ProcessHistory.instance_id.in_(ids),
                                     or_(ProcessHistory.event.in_(("completed", "withdrawn")),
                                         (ProcessHistory.event == "completed_task") & ProcessHistory.comment.is_not(None)))
                              .order_by(ProcessHistory.at, ProcessHistory.id))
    for instance_id, event, task, comment in rows:
        if event == "completed":
            out[instance_id]["outcome"] = task
        elif event == "withdrawn":
            out[instance_id]["withdrawn"] = True
        else:
            out[instance_id]["comment"] = comment  # in time order: the last one stays
    return out


def history(instance_id: int) -> list[ProcessHistory]:
    return list(db.session.scalars(select(ProcessHistory).where(ProcessHistory.instance_id == instance_id)
                                   .order_by(ProcessHistory.at, ProcessHistory.id)))


# ------------------------------------------------------------------ human tasks

def get_task(task_id: int) -> HumanTask:
    task = _get(HumanTask, task_id)
    if task is None:
        raise NotFound(_("No such task."))
    return task


def can_see(task: HumanTask, user) -> bool:
    if user.is_admin or task.assignee == user.username or task.claimed_by == user.username:
        return True
    if task.assignee or task.claimed_by:
        return False
    return offered_to(task, user)


def offered_to(task: HumanTask, user) -> bool:
    """Whether the task is offered to the user, whoever has taken it since."""
    return user.username in (task.candidate_users or []) or bool(user.group_names & set(task.candidate_groups or []))


def can_complete(task: HumanTask, user) -> bool:
    """Assignee, the candidate who claimed it, or an admin."""
    if user.is_admin:
        return True
    if task.assignee:
        return task.assignee == user.username
    return task.claimed_by == user.username


def inbox(user) -> list[HumanTask]:
    """Open tasks the user can act on: assigned/claimed, or unclaimed and offered to them."""
    stmt = select(HumanTask).where(HumanTask.status == TASK_OPEN).order_by(HumanTask.due_at, HumanTask.id)
    if not user.is_admin:
        stmt = stmt.where(or_(HumanTask.assignee == user.username, HumanTask.claimed_by == user.username,
                              HumanTask.assignee.is_(None)))
    return [t for t in db.session.scalars(stmt) if user.is_admin or can_see(t, user)]


def _open_task(task_id: int) -> HumanTask:
    task = get_task(task_id)
    if task.status != TASK_OPEN:
        raise Conflict(_("This task is already closed."))
    return task


def claim(task_id: int, user, commit: bool = True) -> HumanTask:
    task = _open_task(task_id)
    if task.claimed_by == user.username:
        return task
    if task.assignee or task.claimed_by:
        if user.is_admin or offered_to(task, user):
            raise taken_by(task)
        raise Forbidden(_("This is not your task."))
    if not (can_see(task, user)):
        raise Forbidden(_("This task is not offered to you."))
    if task.instance.status != "running":
        raise _not_running(task.instance)
    task.claimed_by, task.claimed_at = user.username, utcnow()
    _history(task.instance, "claimed", user, task=task.name)
    try:
        _finish(commit)
    except MovedOn:
        # Two people took it at the same moment: the loser is told who has it, not that
        # "the process moved on", which sends them to reload for nothing.
        task = _open_task(task_id)
        if task.claimed_by and task.claimed_by != user.username:
            raise taken_by(task) from None
        raise
    return task


def taken_by(task: HumanTask) -> Conflict:
    """Someone else holds the task: a race lost, named (409), not a lack of rights."""
    holder = user_named(task.claimed_by or task.assignee)
    if holder is None:
        return Conflict(_("Someone else has already taken this task."))
    return Conflict(_("%(user)s has already taken this task.", user=holder.label))


def unclaim(task_id: int, user, commit: bool = True) -> HumanTask:
    task = _open_task(task_id)
    if task.claimed_by is None:  # released already (a second click): a state, not a lack of rights
        raise Conflict(_("Nobody has taken this task: there is nothing to release."))
    if task.claimed_by != user.username and not user.is_admin:
        raise Forbidden(_("Only the person who took the task or an administrator can release it."))
    task.claimed_by, task.claimed_at = None, None
    _history(task.instance, "unclaimed", user, task=task.name)
    _finish(commit)
    return task


label_audit_events({"task.completed": _l("Task completed")})


def complete(task_id: int, user, data: dict | None = None, commit: bool = True) -> HumanTask:
    """Complete a task with the form's values; one completion wins, the other gets 409."""
    try:
        return _complete(task_id, user, data, commit)
    except StaleDataError:
        raise _moved_on() from None


def _complete(task_id, user, data, commit):
    task = _open_task(task_id)
    if not can_complete(task, user):
        raise Forbidden(_("Take the task first.") if can_see(task, user) else _("This is not your task."))
    instance = task.instance
    if instance.status != "running":
        raise _not_running(instance)
    wf = _load(instance, user)
    try:
        result = R.complete_user_task(wf, task.task_uuid, data, form_fields(task.form_key, task.form_version))
    except R.InvalidTaskData as exc:
        raise InvalidData(str(exc), exc.fields) from None
    except R.TaskNotReady as exc:
        raise Conflict(str(exc)) from None
    except R.TaskNotFound:
        # Its row said open, but the state another process committed meanwhile no longer has it.
        raise Conflict(_("The process moved on meanwhile; reload and try again.")) from None
    task.status, task.completed_by, task.completed_at = TASK_COMPLETED, user.username, utcnow()
    comment = (data or {}).get("comment")
    _history(instance, "completed_task", user, task=task.name, comment=comment,
             data={k: v for k, v in (data or {}).items() if k != "comment"})
    # Every path that completes a task (API, inbox page, delegate) passes here: one audit row each.
    audit("task.completed", actor=user, target=f"task:{task.id}", instance=instance.id, task=task.name,
          decision=(data or {}).get("decision"))
    instance.updated_at = utcnow()  # bumps the version even when nothing else changed
    _persist(instance, wf, result, user)
    _finish(commit)
    return task


# ------------------------------------------------------------------ timers, errors

def fire_timers(instance_id: int, commit: bool = True) -> ProcessInstance:
    instance = get_instance(instance_id)
    if instance.status != "running":
        return instance
    _fire(instance, _load(instance))
    _finish(commit)
    return instance


def _fire(instance, wf, actor=None):
    result = R.fire_due_timers(wf)
    instance.updated_at = utcnow()
    _persist(instance, wf, result, actor)


class TimerNotFired(Exception):
    """The job came due but its timer did not fire (instance not running, or clock skew):
    raising lets the job table retry it with backoff."""


@job_handler(TIMER_JOB, one_transaction=True, label=_l("Process timer"))  # fire_timers commits its step once
def _timer_job(job):
    try:
        instance = fire_timers(job.payload["instance_id"])
    except (NotFound, StateUnreadable):  # deleted, or marked error (an operator decides what next)
        return
    if instance.status in ("completed", "terminated"):
        return
    if instance.status != "running":
        raise TimerNotFired(f"timer {job.payload.get('bpmn_id')} of instance {instance.id} "
                            f"did not fire (instance {instance.status})")
    wf = _load(instance)
    if any(_timer_key(instance.id, t.task_id, t.due_at) == job.key for t in R.waiting_timers(wf)):
        raise TimerNotFired(f"timer {job.payload.get('bpmn_id')} of instance {instance.id} is not due yet")


# Written by the callers of these operations (the inbox's operator actions, the API), with their comment.
label_audit_events({"process.retried": _l("Failed step retried"), "process.suspended": _l("Process instance suspended"),
                    "process.resumed": _l("Process instance resumed"),
                    "process.terminated": _l("Process instance terminated")})


def retry(instance_id: int, actor, data: dict | None = None, commit: bool = True) -> ProcessInstance:
    """After fixing data (or the cause), run the failed step again."""
    instance = get_instance(instance_id)
    if instance.status != "error":
        raise Conflict(_("Only a process stopped by an error can be retried."))
    wf = _load(instance, actor)
    try:
        result = R.retry(wf, data)
    except ValueError as exc:
        raise InvalidData(str(exc)) from None
    _history(instance, "retried", actor, data=data or None)
    instance.status = "running"
    instance.updated_at = utcnow()
    _persist(instance, wf, result, actor)
    _finish(commit)
    return instance


def suspend(instance_id: int, actor, comment: str | None = None, commit: bool = True) -> ProcessInstance:
    """Hold an instance: its tasks cannot be completed and its timers wait until resumed."""
    instance = get_instance(instance_id)
    if instance.status != "running":
        raise _not_running(instance)
    instance.status = "suspended"
    _history(instance, "suspended", actor, comment=comment)
    _finish(commit)
    return instance


def resume(instance_id: int, actor, commit: bool = True) -> ProcessInstance:
    """Continue a suspended instance; timers that came due meanwhile fire now."""
    instance = get_instance(instance_id)
    if instance.status != "suspended":
        raise Conflict(_("The process is not suspended."))
    instance.status = "running"
    _history(instance, "resumed", actor)
    _fire(instance, _load(instance, actor), actor)
    _finish(commit)
    return instance


def terminate(instance_id: int, actor, comment: str | None = None, commit: bool = True) -> ProcessInstance:
    instance = get_instance(instance_id)
    if instance.status in ("completed", "terminated"):
        raise _not_running(instance)
    wf = _load(instance, actor)
    R.terminate(wf)
    instance.state = S.dumps(wf)
    instance.status = "terminated"
    instance.completed_at = utcnow()
    for row in db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                          HumanTask.status == TASK_OPEN)):
        row.status = TASK_CANCELLED
    with db.session.no_autoflush:
        _sync_timers(instance, wf, [])
    _history(instance, "terminated", actor, comment=comment)
    _finish(commit)
    return instance


# ------------------------------------------------------------------ moving to the current version

def _refusal_text(problem: R.MigrationProblem) -> str:
    name = problem.element_name or problem.element_id or ""
    what = ", ".join(d.strip().rstrip(".") for d in problem.details)  # the sentence ends in our own stop
    params = {"name": name, "id": problem.element_id or "", "what": what}
    texts = {
        "removed_active": _("the step “%(name)s” (%(id)s), where the instance is now, was removed", **params),
        "removed_done": _("the step “%(name)s” (%(id)s), which the instance has passed, no longer exists", **params),
        "attached_changed": _("timers or events were attached to or removed from the step “%(name)s” (%(id)s), where "
                              "the instance is or which it has passed: it cannot follow that change", **params),
        "incompatible": _("the step “%(name)s” (%(id)s), where the instance is now, changed in a way it cannot "
                          "follow (%(what)s)", **params),
        "event_changed": _("the event “%(name)s” (%(id)s) the instance waits for changed (%(what)s)", **params),
        "subprocess_removed": _("the subprocess “%(name)s” (%(id)s), which is running, was removed", **params),
        "branch_added": _("the new version adds a branch at “%(name)s” (%(id)s), which the instance has passed: "
                          "that branch would never start and the steps after the branches would wait for it "
                          "for good", **params),
        "unresolvable": _("the new settings of the step “%(name)s” (%(id)s) cannot be applied: %(what)s", **params),
    }
    return texts.get(problem.reason, _("the step “%(name)s” (%(id)s) has no counterpart in the new version",
                                       **params))


def can_migrate(instance: ProcessInstance) -> ProcessDefinition | None:
    """The current version of the instance's process if it differs from the instance's own
    and the instance has not ended (what the console offers to move it to), else None."""
    if instance.status in ("completed", "terminated"):
        return None
    current = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == instance.process_key,
                                                                ProcessDefinition.is_current.is_(True)))
    return current if current is not None and current.id != instance.definition_id else None


label_audit_events({"process.migrated": _l("Process instance moved to another version")})


def migrate_instance(instance_id: int, actor, commit: bool = True, expected_version: int | None = None
                     ) -> ProcessInstance:
    """Move an instance onto the current version of its process, if it can follow it.

    Open task rows stay (same ids, claims, drafts) and take over the new name, form and
    candidates of their step; timers keep their due times.  ``expected_version``: the
    instance version the operator saw (another change since: 409).  Refusals are
    :class:`MigrationRefused` (409) naming the steps in the way.
    """
    try:
        return _migrate(instance_id, actor, commit, expected_version)
    except StaleDataError:
        _dead_transaction()
        raise Conflict(_("The instance changed meanwhile; reload it and try again.")) from None


def _migrate(instance_id, actor, commit, expected_version):
    instance = get_instance(instance_id)
    if expected_version is not None and expected_version != instance.version:
        raise Conflict(_("The instance changed meanwhile; reload it and try again."))
    if instance.status == "completed":
        raise MigrationRefused(_("The instance has completed; there is nothing left to move."))
    if instance.status == "terminated":
        raise MigrationRefused(_("The instance was terminated; there is nothing left to move."))
    source = instance.definition
    target = get_definition(instance.process_key)
    if target.id == source.id:
        raise MigrationRefused(_("The instance already runs on version %(version)d, the current one.",
                                 version=target.version))
    wf = _load(instance, actor)
    spec, subs = spec_cache.add_xml(target.xml.encode("utf-8"), target.key)[2:]
    try:
        report = R.migrate(wf, spec, subs, S.converter_registry())
    except R.MigrationRefused as exc:
        reasons = [_refusal_text(p) for p in exc.problems]
        raise MigrationRefused(
            _("The instance cannot move from version %(old)d to version %(new)d: %(reasons)s.",
              old=source.version, new=target.version, reasons=_("; ").join(reasons)),
            [{"element_id": p.element_id, "element_name": p.element_name, "reason": p.reason, "message": text}
             for p, text in zip(exc.problems, reasons)]) from None

    updated = _follow_task_settings(instance, report)
    instance.definition = target
    instance.updated_at = utcnow()  # bumps the version even if the state text came out the same
    _history(instance, "migrated", actor, comment=f"v{source.version} → v{target.version}",
             data={"from": source.version, "to": target.version, "tasks_updated": updated})
    audit("process.migrated", actor=actor, target=f"process_instance:{instance.id}", from_version=source.version, to_version=target.version)
    if instance.status == "error":
        # Keep the recorded failure (the step still has to be retried); timers wait as they were.
        instance.state = S.dumps(wf)
    else:
        # Running: anything the new version lets proceed now does; suspended: nothing runs.
        result = R.run(wf) if instance.status == "running" else R.snapshot(wf)
        _persist(instance, wf, result, actor)
    _finish(commit)
    return instance


def _follow_task_settings(instance, report: R.MigrationReport) -> list[str]:
    """Open task rows take over what changed on their step (only what changed: a reassigned
    task keeps its holder unless the step's assignee itself changed)."""
    updated = []
    rows = {row.task_uuid: row for row in db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TASK_OPEN))}
    for task_uuid, (changes, info) in report.user_tasks.items():
        row = rows.get(task_uuid)
        if row is None:
            continue
        before = (row.name, row.form_key, row.candidate_groups, row.candidate_users, row.assignee)
        if "bpmn_name" in changes:
            row.name = info.name
        if "form" in changes and info.form_key != row.form_key:
            row.form_key, row.form_version = info.form_key, current_form_version(info.form_key)
        if "candidate_groups" in changes:
            row.candidate_groups = info.candidate_groups
        if "candidate_users" in changes:
            row.candidate_users = info.candidate_users
        if "assignee" in changes:
            row.assignee = info.assignee
        if (row.name, row.form_key, row.candidate_groups, row.candidate_users, row.assignee) != before:
            updated.append(row.name)
    return updated


# ------------------------------------------------------------------ views for the API

# Who else may see an instance: the inbox adds its rule (delegators, the groups' managers, the
# record's readers), so that the API answers as the pages do.
_INSTANCE_READERS: list[Callable] = []


def add_instance_reader(rule: Callable) -> None:
    if rule not in _INSTANCE_READERS:
        _INSTANCE_READERS.append(rule)


def can_view_instance(instance: ProcessInstance, user) -> bool:
    """Admins, the starter, anyone who has (or had) a task in it, and whom an added rule lets."""
    if user.is_admin or (instance.started_by_id is not None and instance.started_by_id == user.id):
        return True
    rows = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))
    return (any(can_see(t, user) or t.completed_by == user.username for t in rows)
            or any(rule(instance, user) for rule in _INSTANCE_READERS))


def visible_instance(instance_id: int, user) -> ProcessInstance:
    instance = _get(ProcessInstance, instance_id)
    if instance is None or not can_view_instance(instance, user):
        raise NotFound(_("No process #%(id)s.", id=instance_id))
    return instance


def task_view(task: HumanTask) -> dict:
    return {"id": task.id, "name": task.name, "bpmn_id": task.bpmn_id, "assignee": task.assignee,
            "candidate_users": task.candidate_users, "candidate_groups": task.candidate_groups,
            "claimed_by": task.claimed_by, "form_key": task.form_key, "form_version": task.form_version,
            "status": task.status,
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "created_at": task.created_at.isoformat()}


def instance_view(instance: ProcessInstance) -> dict:
    """API.md's process-instance shape."""
    open_tasks = db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TASK_OPEN).order_by(HumanTask.id))
    return {
        "id": instance.id, "process_key": instance.process_key,
        "process_version": instance.definition.version, "version": instance.version,
        "status": instance.status, "data": instance.data,
        "record": {"type": instance.record_type, "id": instance.record_id} if instance.record_type else None,
        "error": {k: v for k, v in (instance.error or {}).items()} or None,
        "active_tasks": [task_view(t) for t in open_tasks],
        "history": [{"at": h.at.isoformat(), "actor": h.actor, "event": h.event, "task": h.task,
                     "comment": h.comment} for h in history(instance.id)],
        "created_at": instance.created_at.isoformat(), "updated_at": instance.updated_at.isoformat(),
        "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
    }
