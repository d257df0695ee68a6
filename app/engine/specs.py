"""Task specs of our BPMN dialect (Camunda 7 extension attributes).

They add to SpiffWorkflow's specs only what it drops or gets wrong for us; the matching
serializer converters live in :mod:`app.engine.serialization`.
"""
from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn.specs.defaults import (
    InclusiveGateway as _InclusiveGateway,
    NoneTask as _NoneTask,
    ParallelGateway as _ParallelGateway,
    ParallelMultiInstanceTask as _ParallelMI,
    SequentialMultiInstanceTask as _SequentialMI,
    ServiceTask as _ServiceTask,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.camunda.specs.user_task import UserTask as _CamundaUserTask
from SpiffWorkflow.util.task import TaskState


class CrmUserTask(_CamundaUserTask):
    """A Camunda user task that keeps assignee, candidates and due date (trap 1).

    Values are kept as written in the diagram (literal text or ``${expression}``) and
    resolved against the task data when the task becomes ready (see runtime).
    """

    def __init__(self, wf_spec, name, form, assignee=None, candidate_groups=None,
                 candidate_users=None, due_date=None, **kwargs):
        super().__init__(wf_spec, name, form, **kwargs)
        self.assignee = assignee
        self.candidate_groups = candidate_groups
        self.candidate_users = candidate_users
        self.due_date = due_date


class CrmPassThroughTask(_NoneTask):
    """A task without a type (bpmn:task) or a manual task: passed through, as Camunda runs them.
    SpiffWorkflow made it a step for a person, and the inbox a task nobody could take."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class CrmServiceTask(_ServiceTask):
    """A service task that calls a named operation from :mod:`app.engine.operations`.

    ``params`` is a list of ``{"name": ..., "value": ...}`` as written in the diagram;
    values are text (``${...}`` evaluated), lists or dicts of them.
    """

    def __init__(self, wf_spec, name, operation=None, params=None, result_variable=None, **kwargs):
        super().__init__(wf_spec, name, **kwargs)
        self.operation = operation
        self.params = params or []
        self.result_variable = result_variable

    def _execute(self, task):
        try:
            task.workflow.script_engine.run_operation(task, self)
        except WorkflowTaskException as exc:
            if _throw_to_error_boundary(self, task, exc):
                return None  # stays STARTED; the interrupting error boundary cancels it
            raise
        return True


def _throw_to_error_boundary(spec, task, exc) -> bool:
    """A failed operation goes down a modelled error path if the task has one.

    An error boundary event without an error code catches every failure; one with a code
    catches operations that raise an exception carrying that ``code`` (see
    :class:`app.engine.operations.OperationError`).  The path gets ``error`` =
    ``{code, message, element_id}`` in its data.  Without a matching boundary the instance
    goes into error as usual.
    """
    parent = task.parent
    if parent is None or not parent.task_spec.name.endswith(".BoundaryEventSplit"):
        return False
    cause = exc.__cause__ or exc
    code = getattr(cause, "code", None)
    for boundary in parent.children:
        definition = getattr(boundary.task_spec, "event_definition", None)
        if boundary is task or boundary.state != TaskState.WAITING:
            continue
        if isinstance(definition, ErrorEventDefinition) and definition.code in (None, code):
            boundary.data["error"] = {"code": code, "message": str(cause), "element_id": spec.bpmn_id}
            event = BpmnEvent(ErrorEventDefinition(definition.name, code=code))
            boundary.task_spec.catch(boundary, event)
            boundary.task_spec._update(boundary)
            return True
    return False


def _record_child(spec, my_task, child):
    """Append the child's own contribution (form fields, element variable) to the results.

    Unlike SpiffWorkflow's default (deep-merge every child into the parent, the last one
    wins) each approver's answer is kept: ``results = [{"approver": "a", "decision": ...}]``.
    """
    parent = my_task.data
    own = {k: deepcopy(v) for k, v in child.data.items() if k not in parent or parent[k] != v}
    if spec.input_item is not None and spec.input_item.bpmn_id in child.data:
        own[spec.input_item.bpmn_id] = deepcopy(child.data[spec.input_item.bpmn_id])
    own.pop(spec.result_variable, None)
    # Kept by child id: "merged" is reset each time the task starts, so a loop back to this
    # task starts a fresh list instead of appending to the previous round's answers.
    by_child = my_task.internal_data.setdefault("results", {})
    by_child[str(child.id)] = own
    merged = my_task.internal_data.setdefault("merged", [])
    merged.append(str(child.id))
    parent[spec.result_variable] = [deepcopy(by_child[c]) for c in merged if c in by_child]


class _ResultsMixin:
    """Countersign (会签) support shared by parallel and sequential multi-instance tasks.

    The completion condition is evaluated with the last completed child's data plus
    Camunda's counters ``nrOfInstances``, ``nrOfCompletedInstances``,
    ``nrOfActiveInstances`` and the results list, so ``${decision == 'approve'}`` means
    "any one approves" and an absent condition means "all must answer".
    """

    result_variable = None

    def check_completion_condition(self, my_task):
        merged = my_task.internal_data.get("merged", [])
        if not merged or self.condition is None:
            return False
        last = next(c for c in my_task.children if str(c.id) == merged[-1])
        instances = list(self._instances(my_task))
        done = [c for c in instances if c.state == TaskState.COMPLETED]
        total = self._total_instances(my_task, instances)
        counters = {
            "nrOfInstances": total,
            "nrOfCompletedInstances": len(done),
            "nrOfActiveInstances": len([c for c in instances if not c.has_state(TaskState.FINISHED_MASK)]),
            self.result_variable: my_task.data.get(self.result_variable, []),
        }
        return bool(my_task.workflow.script_engine.evaluate(last, self.condition, external_context=counters))

    def _total_instances(self, my_task, instances):
        if self.data_input is not None and self.data_input.exists(my_task):
            return len(self.data_input.get(my_task))
        return my_task.internal_data.get("cardinality", len(instances))


class CrmParallelMultiInstanceTask(_ResultsMixin, _ParallelMI):
    def __init__(self, wf_spec, bpmn_id, task_spec, result_variable=None, **kwargs):
        super().__init__(wf_spec, bpmn_id, task_spec, **kwargs)
        self.result_variable = result_variable or f"{bpmn_id}_results"

    def merge_child(self, workflow, child):
        my_task = child.parent
        _record_child(self, my_task, child)
        if self.check_completion_condition(my_task):
            for other in self._instances(my_task):
                if not other.has_state(TaskState.FINISHED_MASK):
                    other.cancel()
            my_task._set_state(TaskState.READY)
        elif self.children_complete(my_task):
            my_task._set_state(TaskState.READY)


class CrmSequentialMultiInstanceTask(_ResultsMixin, _SequentialMI):
    def __init__(self, wf_spec, bpmn_id, task_spec, result_variable=None, **kwargs):
        super().__init__(wf_spec, bpmn_id, task_spec, **kwargs)
        self.result_variable = result_variable or f"{bpmn_id}_results"

    def merge_child(self, workflow, child):
        my_task = child.parent
        _record_child(self, my_task, child)
        if self.children_complete(my_task) or self.check_completion_condition(my_task):
            my_task._set_state(TaskState.READY)
        else:
            self.add_next_child(my_task)


def _join_branches(spec, my_task):
    """Give a join's task what the process held where the branches split, then each
    arriving branch's own changes, in the order they arrived.

    SpiffWorkflow merges the other branches and then copies the last branch's data over
    everything; every branch carries a copy of all the data from the split, so a field that
    existed before the split (a loop's earlier answer, a record field in the start data)
    got the last branch's stale copy back, undoing what an earlier branch answered.  A field
    two branches changed takes the later answer.
    """
    arrivals = sorted((t for t in my_task.workflow.tasks.values()
                       if t.task_spec == spec and t is not my_task and t.has_state(TaskState.FINISHED_MASK)
                       and not my_task.is_descendant_of(t)), key=lambda t: t.last_state_change)
    branches = [t.parent for t in arrivals] + [my_task.parent]
    before = _split_point(branches)
    merged = deepcopy(before.data) if before is not None else {}
    for branch in branches:
        for key, value in branch.data.items():
            if before is None or key not in before.data or before.data[key] != value:
                merged[key] = deepcopy(value)
    my_task.data = merged
    for task in arrivals:  # as SpiffWorkflow does: a branch reset into keeps no stale steps
        if task.has_state(TaskState.COMPLETED):
            task._drop_children(force=True)


class CrmParallelGateway(_ParallelGateway):
    """A parallel gateway whose join keeps every branch's answers (:func:`_join_branches`)."""

    def _run_hook(self, my_task):
        _join_branches(self, my_task)
        return True


class CrmInclusiveGateway(_InclusiveGateway):
    """An inclusive gateway whose join keeps every branch's answers (:func:`_join_branches`).

    SpiffWorkflow joins and chooses the outgoing branches in one step, so the choice is made
    here too, on the joined data, as SpiffWorkflow makes it.  Whether it may fire is decided
    on this round's arrivals (:meth:`_check_threshold_unstructured`).
    """

    def _check_threshold_unstructured(self, my_task):
        """Fire once every incoming flow has its branch or no open step could still bring one.

        SpiffWorkflow looked for the arrivals only above the join's earlier firing: in a loop
        back through the gateways it found none of this round's, saw no open step and fired
        on the first review of the second round.  Here the arrivals are those since the last
        firing, and an open step holds the join back when it can reach an incoming flow still
        without its branch but none that has one (BPMN 2.0, 13.3.2).
        """
        arrivals = _this_round(self, my_task)
        arrived = {t.parent.task_spec for t in arrivals if t.parent.state == TaskState.COMPLETED}
        if any(t.parent.has_state(TaskState.DEFINITE_MASK) and t.parent.task_spec not in arrived for t in arrivals):
            return False
        missing = [spec for spec in self.inputs if spec not in arrived]
        if not missing:
            return True
        open_steps = {t.task_spec for t in my_task.workflow.tasks.values()
                      if t.has_state(TaskState.READY | TaskState.WAITING) and t.task_spec is not self}
        for spec in open_steps:
            reach = _reachable_before(spec, self)
            if reach.intersection(missing) and not reach.intersection(arrived):
                return False
        return True

    def _run_hook(self, my_task):
        _join_branches(self, my_task)
        matches, defaults = self._get_matching_outputs(my_task)
        if not matches and not defaults:
            raise WorkflowTaskException("No conditions satisfied on gateway", task=my_task)
        my_task._sync_children(matches or defaults, TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
        return True


def _this_round(spec, my_task) -> list:
    """The tasks of join ``spec`` since its last firing on ``my_task``'s way (``my_task`` too):
    this round's arrivals, not an earlier round's."""
    last = my_task.parent
    while last is not None and last.task_spec is not spec:
        last = last.parent
    return [t for t in my_task.workflow.tasks.values()
            if t.task_spec is spec and (last is None or t.is_descendant_of(last))]


def _reachable_before(start, join) -> set:
    """The steps reachable from ``start`` (itself included) without passing ``join``."""
    seen, stack = {start}, [start]
    while stack:
        for nxt in stack.pop().outputs:
            if nxt is not join and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _split_point(branches):
    """The nearest step every branch descends from (``None`` for a single branch, which
    passes its data on unchanged, or for branches that share none)."""
    if len(branches) < 2:
        return None
    chain = []
    node = branches[-1]
    while node is not None:
        chain.append(node)
        node = node.parent
    position = {id(t): i for i, t in enumerate(chain)}
    highest = 0
    for branch in branches[:-1]:
        node = branch
        while node is not None and id(node) not in position:
            node = node.parent
        if node is None:
            return None
        highest = max(highest, position[id(node)])
    return chain[highest]
