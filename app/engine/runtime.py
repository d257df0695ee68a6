"""Running workflow instances: pure functions over SpiffWorkflow objects, no database.

The services layer loads an instance (:func:`app.engine.serialization.loads`), calls one of
these, and saves the result together with task rows and history in one transaction.

Traps handled here: initial data goes to ``wf.task_tree.data`` (not ``wf.data``); a task is
completed only if it is READY and a user/manual task (trap 4); only the form's fields are
accepted and every form field is reset so a previous approval's answer cannot leak into this
one (trap 5); data is sanitised (trap 6); SpiffWorkflow errors become :class:`StepError` with
element id, message and line (trap 11); timers are listed with their due time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

# _EndJoin: the step after every end event, waiting for the process's other tokens (pruning)
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit, _EndJoin
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException, WorkflowException
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState

from . import trace
from .script_engine import MismatchedTypes, OperationFailed, UnknownVariable
from .serialization import attach_engine, sanitize_data
from .specs import CrmUserTask


class EngineError(Exception):
    """Base of the errors callers are expected to handle."""


class TaskNotFound(EngineError, LookupError):
    pass


class TaskNotReady(EngineError):
    """The task exists but is not open (already done, cancelled, only predicted): 409."""


class NotAUserTask(EngineError):
    pass


class InvalidTaskData(EngineError, ValueError):
    def __init__(self, message, fields=None):
        super().__init__(message)
        self.fields = list(fields or [])


@dataclass
class StepError:
    element_id: str | None
    element_name: str | None
    message: str
    line: int | None = None
    error_line: str | None = None
    error_type: str | None = None
    task_id: str | None = None
    operation: str | None = None  # OPERATION_FAILED: the operation's name, and what it said
    detail: str | None = None

    def to_dict(self):
        return asdict(self)


@dataclass
class UserTaskInfo:
    id: str  # SpiffWorkflow task UUID as text
    bpmn_id: str
    name: str
    assignee: str | None
    candidate_groups: list[str]
    candidate_users: list[str]
    form_key: str | None
    form_fields: list[str]
    due_at: datetime | None
    properties: dict = field(default_factory=dict)
    multi_instance: bool = False


@dataclass
class TimerInfo:
    task_id: str
    bpmn_id: str
    name: str | None
    due_at: datetime
    attached_to: str | None  # activity the boundary timer sits on


@dataclass
class StepResult:
    status: str  # running | completed | error
    error: StepError | None
    user_tasks: list[UserTaskInfo]
    timers: list[TimerInfo]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- create and run

def create_instance(spec, subprocess_specs, data: dict | None = None, context: dict | None = None) -> BpmnWorkflow:
    """A new instance of ``spec`` with ``data`` visible to every task (not yet run)."""
    workflow = BpmnWorkflow(spec, subprocess_specs)
    attach_engine(workflow, context)
    workflow.task_tree.data.update(sanitize_data(data))
    return workflow


NO_PATH = "no_path"  # a gateway none of whose conditions holds, without a default flow
OPERATION_FAILED = "operation_failed"  # a service task's operation raised
UNKNOWN_VARIABLE = "unknown_variable"  # an expression read a variable the process does not hold
MISMATCHED_TYPES = "mismatched_types"  # an expression compared a text with a number (or the like)


def _error_from(exc: Exception) -> StepError:
    task = getattr(exc, "task", None)
    spec = getattr(exc, "task_spec", None) or (task.task_spec if task is not None else None)
    message = getattr(exc, "error_msg", None) or str(exc)
    if message.startswith("No conditions satisfied"):  # SpiffWorkflow's words, with the element id
        return StepError(getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None),
                         "none of the conditions out of this gateway holds, and it has no default flow",
                         error_type=NO_PATH, task_id=str(task.id) if task is not None else None)
    if isinstance(exc, OperationFailed):
        return StepError(spec.bpmn_id, spec.bpmn_name, message, error_type=OPERATION_FAILED,
                         task_id=str(task.id), operation=exc.operation, detail=exc.said)
    if isinstance(exc, UnknownVariable):
        return StepError(spec.bpmn_id, spec.bpmn_name, message, error_type=UNKNOWN_VARIABLE,
                         task_id=str(task.id), detail=exc.variable)
    if isinstance(exc, MismatchedTypes):
        return StepError(spec.bpmn_id, spec.bpmn_name, message, error_type=MISMATCHED_TYPES,
                         task_id=str(task.id), detail=exc.expression)
    notes = getattr(exc, "notes", None) or []
    if notes:
        message = " ".join([message] + [n for n in notes if n])
    return StepError(
        element_id=getattr(spec, "bpmn_id", None) or getattr(spec, "name", None),
        element_name=getattr(spec, "bpmn_name", None),
        message=message,
        line=getattr(exc, "line_number", None) or None,
        error_line=getattr(exc, "error_line", None) or None,
        error_type=getattr(exc, "error_type", None) or type(exc).__name__,
        task_id=str(task.id) if task is not None else None,
    )


# Tasks run automatically in one step; a modelled endless loop stops here.  Kept well below
# SpiffWorkflow's task-iterator horizon (depth 1000, see snapshot) so a loop is reported as a
# loop before the engine loses sight of its tasks.
MAX_ENGINE_STEPS = 500


class RunawayProcess(WorkflowException):
    """A process ran more automatic tasks in one go than any sane diagram needs."""


def engine_steps(workflow: BpmnWorkflow, limit: int = MAX_ENGINE_STEPS) -> None:
    """``do_engine_steps`` with a bound: a gateway looping back through script tasks without
    a user task in between would otherwise spin forever inside a web request."""
    count = [0]

    def guard(task):
        count[0] += 1
        if count[0] > limit:
            raise RunawayProcess(
                f"stopped after {limit} automatic steps without waiting for a person or a timer "
                "(does the diagram loop?)", task_spec=task.task_spec)

    for _ in range(limit):  # bounded even if a READY task were never picked up
        workflow.do_engine_steps(will_complete_task=guard)
        # do_engine_steps refreshes timers last: one that came due is READY but not run yet,
        # and nothing else would run it (its job is gone). Step again until nothing is left.
        if not any(not t.task_spec.manual for t in workflow.get_tasks(state=TaskState.READY)):
            break


def run(workflow: BpmnWorkflow, now: datetime | None = None) -> StepResult:
    """Run engine steps until only user tasks and timers are left, or an error happens."""
    error = None
    try:
        engine_steps(workflow)
    except (SpiffWorkflowException, WorkflowException) as exc:
        error = _error_from(exc)
    return snapshot(workflow, now, error)


def snapshot(workflow: BpmnWorkflow, now: datetime | None = None, error: StepError | None = None) -> StepResult:
    """Status, open user tasks and timers of an instance (after a step)."""
    user_tasks, timers = [], []
    if error is None:
        error = _beyond_horizon(workflow)
    if error is None:
        error = next((_error_from_task(t) for t in workflow.get_tasks(state=TaskState.ERROR)), None)
    if error is None:
        try:
            user_tasks = ready_user_tasks(workflow, now)
        except (SpiffWorkflowException, WorkflowException) as exc:
            error = _error_from(exc)
    if error is None:
        timers = waiting_timers(workflow)
    status = "error" if error else ("completed" if workflow.is_completed() else "running")
    return StepResult(status, error, user_tasks, timers)


def _beyond_horizon(workflow) -> StepError | None:
    """SpiffWorkflow's task iterator stops at depth 1000: deeper tasks are invisible, so a
    long path would look *completed*.  Report it instead of silently finishing."""
    if len(workflow.tasks) < 1000:  # a path cannot be deeper than the number of tasks
        return None
    visible = sum(1 for _ in workflow.get_tasks_iterator())
    if visible >= len(_subtree(workflow.task_tree)):  # (not the ended branches pruning detached)
        return None
    last = workflow.last_task
    spec = last.task_spec if last is not None else None
    return StepError(getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None),
                     "the process went through more than about 1000 steps on one path, more than "
                     "the engine can track; start a new instance instead of looping", error_type="too_deep")


def _error_from_task(task) -> StepError:
    return StepError(task.task_spec.bpmn_id, task.task_spec.bpmn_name,
                     "step failed", task_id=str(task.id), error_type="error")


# ---------------------------------------------------------------- user tasks

def _split(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple, set)):
        out = []
        for v in value:
            out.extend(_split(v) if isinstance(v, str) else [str(v)])
        return out
    return [str(value)]


def _is_expression(text: str | None) -> bool:
    return isinstance(text, str) and text.strip().startswith(("${", "#{")) and text.strip().endswith("}")


def _resolve(workflow, task, text):
    return workflow.script_engine.evaluate(task, text.strip()) if _is_expression(text) else text


def _resolve_list(workflow, task, text) -> list[str]:
    if text is None:
        return []
    if _is_expression(text):
        return _split(_resolve(workflow, task, text))
    # "fujian-heads, ${regionGroup}" mixes literals and expressions
    out = []
    for part in _split(text):
        out.extend(_split(_resolve(workflow, task, part)) if _is_expression(part) else [part])
    return out


def _as_utc(value, start: datetime) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, timedelta):
        return start + value
    text = str(value).strip()
    if text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return _as_utc(parsed, start)


def form_fields(spec) -> list[str]:
    form = getattr(spec, "form", None)
    return [f.id for f in getattr(form, "fields", []) if f.id]


def describe_user_task(workflow, task, now: datetime | None = None) -> UserTaskInfo:
    """Resolve assignee, candidates and due date of a ready user task against its data."""
    spec = task.task_spec
    start = now or utcnow()
    assignee = candidate_groups = candidate_users = due = None
    if isinstance(spec, CrmUserTask):
        assignee = _resolve(workflow, task, spec.assignee) if spec.assignee else None
        candidate_groups = _resolve_list(workflow, task, spec.candidate_groups)
        candidate_users = _resolve_list(workflow, task, spec.candidate_users)
        if spec.due_date:
            value = _resolve(workflow, task, spec.due_date)
            try:
                due = _as_utc(value, start)
            except Exception as exc:  # a bad date is a modelling error: report on the task
                from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
                raise WorkflowTaskException(f"invalid due date {value!r}: {exc}", task=task, exception=exc) from exc
    form = getattr(spec, "form", None)
    return UserTaskInfo(
        id=str(task.id), bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
        assignee=str(assignee) if assignee not in (None, "") else None,
        candidate_groups=candidate_groups or [], candidate_users=candidate_users or [],
        form_key=(getattr(form, "key", None) or None), form_fields=form_fields(spec),
        due_at=due, properties=dict(getattr(spec, "extensions", None) or {}),
        multi_instance=spec.name.endswith(" [child]"),
    )


def ready_user_tasks(workflow, now: datetime | None = None) -> list[UserTaskInfo]:
    return [describe_user_task(workflow, t, now)
            for t in workflow.get_tasks(state=TaskState.READY, manual=True)]


ANSWERED_KEY = "crm_answered_fields"
# On a pruned tree's root: the answers of the user tasks pruned above it.
PRUNED_ANSWERS_KEY = "crm_earlier_answers"


def get_task(workflow, task_id):
    try:
        uid = task_id if isinstance(task_id, UUID) else UUID(str(task_id))
    except ValueError:
        raise TaskNotFound(f"no task {task_id!r}") from None
    try:
        task = workflow.get_task_from_id(uid)
    except TaskNotFoundException:
        # Gone from the state: another process completed it and its step was pruned meanwhile.
        task = None
    if task is None:
        raise TaskNotFound(f"no task {task_id!r}")
    return task


def task_form_data(workflow, task_id, fields) -> dict:
    """The values a form shows: only its own fields, and not answers inherited from an
    earlier user task (trap 5: level 1's "approve" must not pre-fill level 2's form).
    Values from the start data or from scripts do pre-fill."""
    task = get_task(workflow, task_id)
    answered = _earlier_answers(task)
    return {f: None if f in answered and task.data.get(f) == answered[f] else task.data.get(f)
            for f in fields}


def _earlier_answers(task) -> dict:
    """The form answers of the user tasks ``task`` descends from, the nearest one first."""
    answered = {}
    node, top = task.parent, task
    while node is not None:
        if node.state == TaskState.COMPLETED:
            for name in node.internal_data.get(ANSWERED_KEY, ()):
                answered.setdefault(name, node.data.get(name))
        node, top = node.parent, node
    for name, value in (top.internal_data.get(PRUNED_ANSWERS_KEY) or {}).items():
        answered.setdefault(name, value)
    return answered


def complete_user_task(workflow, task_id, data: dict | None, allowed_fields=None,
                       now: datetime | None = None) -> StepResult:
    """Complete a ready user task with the submitted form values and run on.

    ``allowed_fields``: the form's fields (from the form designer); the diagram's own
    ``camunda:formData`` fields are always allowed.  Unknown fields are refused, fields not
    submitted are set to None so nothing inherited from an earlier task survives.
    """
    task = get_task(workflow, task_id)
    if not task.task_spec.manual:
        raise NotAUserTask(f"task {task.task_spec.bpmn_id} is not a user task")
    if task.state != TaskState.READY:
        raise TaskNotReady(f"task {task.task_spec.bpmn_id} is {TaskState.get_name(task.state)}, not READY")
    fields = list(dict.fromkeys(list(allowed_fields or []) + form_fields(task.task_spec)))
    try:
        clean = sanitize_data(data or {}, where="data")
    except ValueError as exc:
        raise InvalidTaskData(str(exc)) from None
    unknown = [k for k in clean if k not in fields]
    if unknown:
        raise InvalidTaskData(f"fields not on this form: {', '.join(sorted(unknown))}", unknown)
    for name in fields:
        task.data[name] = clean.get(name)
    task.internal_data[ANSWERED_KEY] = fields  # see task_form_data
    task.run()
    return run(workflow, now)


# ---------------------------------------------------------------- timers

def waiting_timers(workflow) -> list[TimerInfo]:
    """Each waiting timer with its due time (UTC), for the job table."""
    out = []
    for task in list(workflow.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition) or not task.has_state(TaskState.WAITING):
            continue
        value = task._get_internal_data("event_value")
        due = None
        if isinstance(value, str):
            due = TimerEventDefinition.get_datetime(value)
        elif isinstance(value, dict) and value.get("next"):
            due = datetime.fromisoformat(value["next"]).astimezone(timezone.utc)
        if due is None:
            continue
        attached = None
        parent = task.parent
        if parent is not None and parent.task_spec.name.endswith(".BoundaryEventSplit"):
            attached = parent.task_spec.name[: -len(".BoundaryEventSplit")]
        out.append(TimerInfo(str(task.id), task.task_spec.bpmn_id, task.task_spec.bpmn_name, due, attached))
    return sorted(out, key=lambda t: t.due_at)


def fired_timers(workflow, before: list[TimerInfo]) -> list[TimerInfo]:
    """Which of the timers waiting ``before`` a step fired in it (not: were cancelled)."""
    fired = []
    for timer in before:
        task = workflow.get_task_from_id(UUID(timer.task_id))
        if task is not None and task.state == TaskState.COMPLETED:
            fired.append(timer)
    return fired


def fire_due_timers(workflow, now: datetime | None = None) -> StepResult:
    """Fire what is due and run on."""
    error = None
    try:
        workflow.refresh_timers()
        engine_steps(workflow)
    except (SpiffWorkflowException, WorkflowException) as exc:
        error = _error_from(exc)
    return snapshot(workflow, now, error)


# ---------------------------------------------------------------- errors

def errored_tasks(workflow):
    return workflow.get_tasks(state=TaskState.ERROR)


def retry(workflow, data: dict | None = None, now: datetime | None = None) -> StepResult:
    """Retry after an error, optionally merging corrected ``data`` into the failed task.

    A task in ERROR is run again; an error raised while updating a waiting task (e.g. a
    timer expression) is retried by stepping the engine again.
    """
    clean = sanitize_data(data)
    failed = errored_tasks(workflow)
    error = None
    try:
        for task in failed:
            task.data.update(clean)
            task.run()
        if not failed and clean:
            for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
                task.data.update(clean)
        engine_steps(workflow)
    except (SpiffWorkflowException, WorkflowException) as exc:
        error = _error_from(exc)
    return snapshot(workflow, now, error)


def follow_variable(workflow, name: str, was, now) -> bool:
    """The open steps holding ``name`` = ``was`` hold ``now`` instead (a variable that follows
    the record, e.g. its owner); the steps ahead take their data from these. True if any did."""
    followed = False
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR):
        if name in task.data and task.data[name] == was:
            task.data[name] = now
            followed = True
    return followed


def terminate(workflow) -> None:
    """Cancel everything still open."""
    workflow.cancel()


# ---------------------------------------------------------------- moving to another version

# What may change on a step an instance is in (waiting, running or failed) for the instance
# to follow the new version: wording, people, form, due date, and where the step leads next
# (what comes after is predicted again).  Anything else (a user task turned into a service
# task, other multi-instance settings, other data mappings) would leave the step half old,
# half new: refused.
FOLLOWABLE_CHANGES = frozenset({
    "bpmn_name", "description", "documentation", "extensions", "lane", "lookahead", "inputs", "outputs",
    "assignee", "candidate_groups", "candidate_users", "due_date", "form", "cond_task_specs",
    "default_task_spec"})
# A waiting event keeps its armed state (a timer its due time), so only its wording and
# where it leads may change.
FOLLOWABLE_EVENT_CHANGES = frozenset({"bpmn_name", "description", "documentation", "extensions", "lane",
                                      "inputs", "outputs"})
IN_PROGRESS = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass
class MigrationProblem:
    element_id: str | None
    element_name: str | None
    # removed_active | removed_done | attached_changed | incompatible | event_changed | subprocess_removed |
    # unmappable | unresolvable
    reason: str
    details: list[str] = field(default_factory=list)


class MigrationRefused(EngineError):
    def __init__(self, problems: list[MigrationProblem]):
        self.problems = problems = _one_per_element(problems)
        super().__init__("; ".join(f"{p.element_id}: {p.reason}" + (f" ({', '.join(p.details)})" if p.details else "")
                                   for p in problems))


@dataclass
class MigrationReport:
    # Open user tasks (by task id) whose settings differ in the new version: (changed
    # attributes, the task as the new version describes it).
    user_tasks: dict[str, tuple[list[str], UserTaskInfo]] = field(default_factory=dict)


def _problem(spec, reason, details=()) -> MigrationProblem:
    element = getattr(spec, "bpmn_id", None)
    if element is None and spec is not None:
        # SpiffWorkflow's own helper steps ("Task_x.BoundaryEventSplit") belong to element Task_x
        element = spec.name.split(".", 1)[0]
    return MigrationProblem(element, getattr(spec, "bpmn_name", None), reason, sorted(details))


_PRIORITY = ("removed_active", "subprocess_removed", "branch_added", "attached_changed", "incompatible",
             "event_changed", "unresolvable", "removed_done", "unmappable")


def _one_per_element(problems: list[MigrationProblem]) -> list[MigrationProblem]:
    """The most telling problem of each element, in the order the elements were met."""
    best: dict = {}
    for p in problems:
        have = best.get(p.element_id)
        if have is None or _PRIORITY.index(p.reason) < _PRIORITY.index(have.reason):
            best[p.element_id] = MigrationProblem(p.element_id, p.element_name or (have and have.element_name),
                                                  p.reason, p.details)
        elif have.element_name is None:
            have.element_name = p.element_name
    return list(best.values())


def _is_event(spec) -> bool:
    return getattr(spec, "event_definition", None) is not None


def _diffs(registry, workflow, spec, subprocess_specs):
    """``[(workflow or subworkflow, SpecDiff, WorkflowDiff, its new spec)]`` and problems.

    What ``diff_workflow`` does, keeping each ``SpecDiff`` (its ``changed`` says which
    attributes of a step differ)."""
    problems, out = [], []
    try:
        for w, new in [(workflow, spec)] + [(sp, subprocess_specs.get(sp.spec.name))
                                            for sp in workflow.subprocesses.values()]:
            if new is None:
                owner = workflow.get_task_from_id(w.parent_task_id)
                problems.append(_problem(owner.task_spec if owner is not None else w.spec, "subprocess_removed"))
                continue
            spec_diff = SpecDiff(registry, w.spec, new)
            out.append((w, spec_diff, WorkflowDiff(w, spec_diff), new))
    except (KeyError, AttributeError, TypeError):  # the diff could not align the two versions at all
        raise MigrationRefused([_problem(workflow.spec, "unmappable")]) from None
    return out, problems


def _attached_to(process_spec, step_name: str) -> bool:
    return f"{step_name}.BoundaryEventSplit" in process_spec.task_specs


def _check(workflow, spec_diff, workflow_diff, new_spec) -> list[MigrationProblem]:
    problems = []
    removed = {task.id for task in workflow_diff.removed}
    for task in workflow.get_tasks(skip_subprocesses=True):
        spec = task.task_spec
        if task.has_state(IN_PROGRESS) and not _attached_to(workflow.spec, spec.name) \
                and _attached_to(new_spec, spec.name):
            # A timer or event the new version attaches to the step the instance waits at: the
            # move would keep the step and never arm it (no escalation, ever).
            problems.append(_problem(spec, "attached_changed"))
            continue
        wrapper = isinstance(spec, (BoundaryEventSplit, BoundaryEventJoin))
        if task.id in removed:
            if wrapper:
                # SpiffWorkflow's wrapper of a step with attached events: it exists only while the
                # step has some, so adding or removing them "removes" it. Said of the step itself.
                problems.append(_problem(_wrapped_step(workflow, spec), "attached_changed"))
                continue
            if task.has_state(IN_PROGRESS):
                problems.append(_problem(spec, "removed_active"))
            elif task.has_state(TaskState.FINISHED_MASK):
                problems.append(_problem(spec, "removed_done"))
            continue  # predicted: dropped and predicted again from the new version
        changes = set(spec_diff.changed.get(spec, ()))
        if "outputs" in changes and _split_passed(task):
            # At a wrapper, the new way out is a timer or event attached to a step that already had
            # some (it was called "a branch added at Task_x (Task_x)", the instance waiting there).
            problems.append(_problem(_wrapped_step(workflow, spec), "attached_changed") if wrapper
                            else _problem(spec, "branch_added"))
            continue
        if not changes or not task.has_state(IN_PROGRESS):
            continue
        if "typename" in changes:
            problems.append(_problem(spec, "incompatible", ["typename"]))
        elif task.state == TaskState.ERROR:
            continue  # fixing the failed step is why one moves an instance in error
        elif _is_event(spec) and task.state == TaskState.WAITING:
            if changes - FOLLOWABLE_EVENT_CHANGES:
                problems.append(_problem(spec, "event_changed", changes - FOLLOWABLE_EVENT_CHANGES))
        elif changes - FOLLOWABLE_CHANGES:
            problems.append(_problem(spec, "incompatible", changes - FOLLOWABLE_CHANGES))
    return problems


def _wrapped_step(workflow, wrapper_spec):
    """The step a boundary-event wrapper ("Task_x.BoundaryEventSplit") belongs to."""
    return workflow.spec.task_specs.get(wrapper_spec.name.split(".", 1)[0]) or wrapper_spec


def _split_passed(task) -> bool:
    """``task`` forked into branches that are still running: a branch the new version adds there
    would never start, and the join after it would wait for it for good. (An exclusive or
    event-based gateway took one way only: another way added to it changes nothing now.)"""
    spec = task.task_spec
    if not task.has_state(TaskState.FINISHED_MASK) or isinstance(spec, (ExclusiveGateway, EventBasedGateway)):
        return False
    return len(spec.outputs) > 1 and any(t.has_state(IN_PROGRESS) for t in _subtree(task)[1:])


def _apply(workflow, spec_diff, workflow_diff, spec) -> None:
    # migrate_workflow resets READY tasks (their next steps are predicted again from the new
    # version) but also their data; a user task keeps its own data and answers-so-far.
    kept = {t.id: (t.data, t.internal_data) for t in workflow.get_tasks(state=TaskState.READY, skip_subprocesses=True)}
    # A waiting gateway (join) whose settings changed is set up again, as SpiffWorkflow does
    # by default; waiting events are not reset: a timer would lose its due time.
    rejoin = [t.id for t in workflow.get_tasks(state=TaskState.WAITING, skip_subprocesses=True)
              if t.task_spec in spec_diff.changed and not _is_event(t.task_spec)]
    migrate_workflow(workflow_diff, workflow, spec, reset_mask=TaskState.READY)
    for task_id, (data, internal) in kept.items():
        task = workflow.tasks.get(task_id)
        if task is not None and task.state == TaskState.READY:
            task.data, task.internal_data = data, internal
    for task_id in rejoin:
        task = workflow.tasks.get(task_id)
        if task is not None and task.state == TaskState.WAITING:
            task.reset_branch(None)
    # Predicted steps of the old version that are gone (e.g. after a waiting timer): the
    # engine predicts again when their parent finishes.
    for task in list(workflow.tasks.values()):
        if task.id in workflow.tasks and task.has_state(TaskState.PREDICTED_MASK) \
                and spec.task_specs.get(task.task_spec.name) is not task.task_spec:
            workflow._remove_task(task.id)


def _unmapped(workflow) -> list[MigrationProblem]:
    """Steps still pointing at a spec the new version does not have (they could not be loaded)."""
    problems = []
    for w in [workflow, *workflow.subprocesses.values()]:
        for task in w.tasks.values():
            if w.spec.task_specs.get(task.task_spec.name) is not task.task_spec:
                problems.append(_problem(task.task_spec, "unmappable"))
    return problems


def migrate(workflow, spec, subprocess_specs, registry, now: datetime | None = None) -> MigrationReport:
    """Move ``workflow`` onto ``spec`` (another version of its process), in place.

    Uses SpiffWorkflow's diff (``SpecDiff``, ``WorkflowDiff``, ``migrate_workflow``).  Raises
    :class:`MigrationRefused` listing every step that keeps the instance from following the
    new version; the workflow must then be thrown away (it may be half moved).
    """
    diffs, problems = _diffs(registry, workflow, spec, subprocess_specs)
    for w, spec_diff, workflow_diff, new in diffs:
        problems += _check(w, spec_diff, workflow_diff, new)
    if problems:
        raise MigrationRefused(problems)
    changed = {}
    for w, spec_diff, _, _ in diffs:
        for task in w.get_tasks(state=TaskState.READY, manual=True, skip_subprocesses=True):
            keys = spec_diff.changed.get(task.task_spec)
            if keys:
                changed[task.id] = sorted(keys)
    for w, spec_diff, workflow_diff, new in diffs:
        _apply(w, spec_diff, workflow_diff, new)
    workflow.subprocess_specs = subprocess_specs
    problems = _unmapped(workflow)
    report = MigrationReport()
    for task_id, keys in changed.items():
        task = workflow.get_task_from_id(task_id)
        if task is None or task.state != TaskState.READY:
            problems.append(_problem(task.task_spec if task else None, "unmappable"))
            continue
        try:
            report.user_tasks[str(task_id)] = (keys, describe_user_task(workflow, task, now))
        except (SpiffWorkflowException, WorkflowException) as exc:
            problems.append(_problem(task.task_spec, "unresolvable", [_error_from(exc).message]))
    if problems:
        raise MigrationRefused(problems)
    return report


# ---------------------------------------------------------------- pruning (trap 10)

def prune_finished(workflow) -> int:
    """Drop the finished steps above the deepest completed step that every open step and the
    last step taken descend from (and arrivals a join has consumed); returns how many.

    Without this the saved state of an instance that loops (a review sent back ten times, a
    daily reminder) grows with every round, each save and load gets slower, and past ~1,000
    steps on one path the engine cannot see its own tasks (``too_deep``).  What the dropped
    steps still mean to the product is kept on the new root: the diagram elements and flows
    passed (:data:`trace.PASSED_KEY`) and the answers given (trap 5).

    A branch that reached an end event while the process runs on (a reminder) leaves an
    end-join step whose data SpiffWorkflow merges in when the process ends: such steps and
    the end event before them are kept, detached from the tree.  Never above the split a
    waiting boundary or start-event join looks for; not at all in the processes
    :func:`_prunable` excludes.
    """
    consumed = _drop_consumed_joins(workflow)
    if not _prunable(workflow.spec):
        return consumed
    tasks = workflow.tasks
    ended = [t for t in tasks.values() if isinstance(t.task_spec, _EndJoin) and t.state != TaskState.COMPLETED]
    ended_ids = {t.id for e in ended for t in _subtree(e)}  # with the End step predicted below a waiting one
    keep = [t for t in tasks.values()
            if not t.has_state(TaskState.COMPLETED | TaskState.CANCELLED) and t.id not in ended_ids]  # ERROR stays
    for task in list(keep):
        split = getattr(task.task_spec, "split_task", None)
        if split and isinstance(task.task_spec, Join):
            keep.append(task.find_ancestor(split))
    if workflow.last_task is not None:
        keep.append(workflow.last_task)
    keep_ids = {t.id for t in keep if t is not None}
    on_path = set()  # the kept steps and their ancestors
    for task in keep:
        while task is not None and task.id not in on_path:
            on_path.add(task.id)
            task = task.parent

    root = node = workflow.task_tree
    while node.state == TaskState.COMPLETED and node.id not in keep_ids and not _open_subprocess(workflow, node):
        children = node.children
        ahead = [c for c in children if c.id in on_path]
        if len(ahead) != 1 or ahead[0].state != TaskState.COMPLETED:
            break
        behind = [t for c in children if c is not ahead[0] for t in _subtree(c)]
        if any(_open_subprocess(workflow, t) for t in behind):
            break
        node = ahead[0]
    if node is root:
        return consumed

    kept = {t.id for t in _subtree(node)}
    detached = [e.parent for e in ended if e.id not in kept and e.parent is not None and e.parent.parent is not None]
    kept |= ended_ids | {e.parent.id for e in ended if e.parent is not None}
    dropped = [t for t in tasks.values() if t.id not in kept]
    inner = []  # the steps of finished subprocesses dropped with their step
    for task in dropped:
        if task.id in workflow.subprocesses:
            inner += workflow.delete_subprocess(task)
    passed = trace.left_behind(workflow, dropped + detached + inner, node)
    answers = _earlier_answers(node)
    for end in detached:
        end._children = [c for c in end._children if c in ended_ids]
        end.parent = None
    for task in dropped:
        del tasks[task.id]
        workflow.event_manager.remove_task(task)
    node.parent = None
    workflow.task_tree = node
    node.internal_data[trace.PASSED_KEY] = passed
    node.internal_data[PRUNED_ANSWERS_KEY] = answers
    return consumed + len(dropped)


def _drop_consumed_joins(workflow) -> int:
    """Drop the cancelled arrivals of a parallel or inclusive gateway that has fired since.

    SpiffWorkflow cancels the earlier arrivals at a join and keeps them; in a loop back
    through the gateways it then counts last round's arrivals again, so when the branches
    finish in another order the join fires early and the reviews open twice.  An arrival
    that a later firing of its join consumed has nothing left to count.
    """
    joins = [t for t in workflow.tasks.values() if _gateway_join(t.task_spec)]
    fired = {}
    for task in joins:
        if task.state == TaskState.COMPLETED:
            fired[task.task_spec] = max(fired.get(task.task_spec, 0), task.last_state_change)
    consumed = [t for t in joins if t.state == TaskState.CANCELLED and t.last_state_change <= fired.get(t.task_spec, -1)]
    for task in consumed:
        workflow._remove_task(task.id)
    return len(consumed)


def _prunable(spec) -> bool:
    """Not processes whose parallel or inclusive gateways count and merge every branch that
    ever arrived (they look up earlier steps by element, ancestors included), nor those
    with event subprocesses or ad-hoc paths, which SpiffWorkflow attaches to the root."""
    if getattr(spec.start, "trigger_specs", None) or getattr(spec, "conditional_paths", None):
        return False
    return not any(_gateway_join(t) for t in spec.task_specs.values())


def _gateway_join(spec) -> bool:
    """A parallel or inclusive gateway (joins that count arrivals), not the end join."""
    return isinstance(spec, UnstructuredJoin) and not isinstance(spec, _EndJoin)


def _subtree(task) -> list:
    """``task`` and its descendants (not SpiffWorkflow's iterator: it stops at depth 1000)."""
    out, stack = [], [task]
    while stack:
        one = stack.pop()
        out.append(one)
        stack.extend(one.children)
    return out


def _open_subprocess(workflow, task) -> bool:
    sub = workflow.subprocesses.get(task.id)
    return sub is not None and not sub.completed


def outcome(workflow) -> str | None:
    """The name of the end event that finished the top-level process (报备通过 / 报备驳回), None
    for an unnamed one: what a finished process came to, in the designer's words."""
    ended = [t for t in workflow.tasks.values() if isinstance(t.task_spec, EndEvent)
             and t.state == TaskState.COMPLETED and t.workflow is workflow]
    if not ended:
        return None
    last = max(ended, key=lambda t: t.last_state_change)
    return last.task_spec.bpmn_name or None


def instance_data(workflow) -> dict:
    """The process data as seen by the last step (for display)."""
    task = workflow.last_task or workflow.task_tree
    return dict(task.data)
