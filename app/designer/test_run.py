"""Test runs: a draft run on the real engine in a sandbox.

The diagram is parsed and run exactly as a deployed one would be (restricted evaluator,
conditions, due dates, timers), but service-task operations are only *recorded* with the
parameters they would have received: no CRM record changes, no notifications.  Any user
task may be completed by the designer, whoever it is assigned to.  The instance lives in
its own table (never among real instances or inbox tasks) and is deleted when closed.

Waiting timers are listed with their due time; firing them early needs an engine function
(the engine's timers follow the real clock).

Note for the engine: the sandbox swaps the engine's script engine for a subclass whose
``run_operation`` records the call; an engine-level "dry run" flag would make this
subclass unnecessary.
"""
from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, select

from app.api.errors import ApiError
from app.clock import datetimeformat
from app.db import MAX_ID, utcnow
from app.designer.models import ProcessTestRun
from app.engine import runtime as R
from app.engine import serialization as S
from app.engine import services as engine
from app.engine.expressions import ExpressionError, check_data
from app.engine.script_engine import RestrictedScriptEngine
from app.engine.validation import validate_diagram
from app.engine.xml import DiagramError
from app.extensions import db

KEEP = timedelta(days=1)


class SandboxScriptEngine(RestrictedScriptEngine):
    """Evaluates everything like the real engine, but operations only leave a record."""

    def __init__(self, calls: list, context=None):
        super().__init__(context=context)
        self.calls = calls

    def run_operation(self, task, spec):
        params = {p["name"]: self.resolve_value(task, p["value"]) for p in spec.params}
        self.calls.append({"event": "operation", "element_id": spec.bpmn_id, "name": spec.bpmn_name,
                           "operation": spec.operation, "params": check_data(params)})
        if spec.result_variable:
            task.data[spec.result_variable] = None


def _workflow(run: ProcessTestRun, calls: list):
    S.default_cache.add_xml(run.xml.encode("utf-8"), run.process_key)
    wf = S.loads(run.state, S.default_cache)
    wf.script_engine = SandboxScriptEngine(calls, context={"sandbox": True})
    return wf


def _fields(form_key):
    return engine.form_fields(form_key)


def _save(run: ProcessTestRun, wf, result: R.StepResult, calls: list, event: dict | None = None):
    log = list(run.log or [])
    if event:
        log.append(event)
    log.extend(calls)
    if result.error is not None:
        engine.worded_error(result.error)  # as a real instance's, once: the log and the answer share it
        log.append({"event": "error", **result.error.to_dict()})
    if result.status == "completed":
        log.append({"event": "completed"})
    run.log = log
    run.status = result.status
    # As a real instance is saved: unpruned, a loop's join counted last round's arrivals and
    # fired early, and the designer took the process for broken.
    R.prune_finished(wf)
    run.state = S.dumps(wf)
    db.session.commit()
    return describe(run, result)


def describe(run: ProcessTestRun, result: R.StepResult | None = None) -> dict:
    if result is None:
        result = R.snapshot(_workflow(run, []))
        if result.error is not None:
            engine.worded_error(result.error)
    return {
        "id": run.id, "key": run.process_key, "status": run.status, "version": run.version,
        "log": run.log,
        "error": result.error.to_dict() if result.error else None,
        "user_tasks": [{
            "id": t.id, "bpmn_id": t.bpmn_id, "name": t.name, "assignee": t.assignee,
            "candidate_groups": t.candidate_groups, "candidate_users": t.candidate_users,
            "form_key": t.form_key, "fields": list(dict.fromkeys(_fields(t.form_key) + t.form_fields)),
            "due_at": t.due_at.isoformat() if t.due_at else None,
        } for t in result.user_tasks],
        # Worded on the company's clock, as the pages write times (the browser's zone is not the company's).
        "timers": [{"bpmn_id": t.bpmn_id, "name": t.name, "due_at": t.due_at.isoformat(),
                    "due": datetimeformat(t.due_at, "short")} for t in result.timers],
    }


def start(key: str, xml: str, data: dict | None, actor) -> dict:
    db.session.execute(delete(ProcessTestRun).where(ProcessTestRun.updated_at < utcnow() - KEEP))
    try:
        validate_diagram(xml.encode("utf-8"), key)
    except DiagramError as exc:
        raise ApiError(400, "invalid_diagram", _("The diagram has problems; fix them before deploying."),
                       exc.problems) from None
    # Specs come from the engine's cache: saved instances refer to them by XML hash.
    _ref, _pid, spec, subs = S.default_cache.add_xml(xml.encode("utf-8"), key)
    try:
        wf = R.create_instance(spec, subs, data or {})
        started = check_data(dict(wf.task_tree.data))
    except (ValueError, ExpressionError) as exc:
        raise ApiError(400, "invalid_input", str(exc), [{"field": "data", "message": str(exc)}]) from None
    calls: list = []
    wf.script_engine = SandboxScriptEngine(calls, context={"sandbox": True})
    result = R.run(wf)
    run = ProcessTestRun(process_key=key, xml=xml, state="", user_id=actor.id, log=[])
    db.session.add(run)
    return _save(run, wf, result, calls, {"event": "started", "data": started})


def get_run(run_id: int, actor) -> ProcessTestRun:
    run = None if run_id > MAX_ID else db.session.scalar(select(ProcessTestRun).where(ProcessTestRun.id == run_id,
                                                         ProcessTestRun.user_id == actor.id))
    if run is None:
        raise ApiError(404, "not_found", _("No such test run."))
    return run


def complete(run: ProcessTestRun, task_id: str, data: dict | None) -> dict:
    calls: list = []
    wf = _workflow(run, calls)
    try:
        task = next(t for t in R.ready_user_tasks(wf) if t.id == task_id)
    except StopIteration:
        raise ApiError(409, "task_not_open", _("This task is not open.")) from None
    try:
        result = R.complete_user_task(wf, task_id, data, allowed_fields=_fields(task.form_key))
        submitted = check_data(data or {})
    except (R.InvalidTaskData, ExpressionError) as exc:
        fields = getattr(exc, "fields", None) or ["data"]
        raise ApiError(400, "invalid_input", str(exc), [{"field": f, "message": str(exc)} for f in fields]) from None
    except R.EngineError as exc:
        raise ApiError(409, "task_not_open", str(exc)) from None
    return _save(run, wf, result, calls, {"event": "completed_task", "element_id": task.bpmn_id,
                                          "name": task.name, "data": submitted})


def discard(run: ProcessTestRun) -> None:
    db.session.delete(run)
    db.session.commit()
