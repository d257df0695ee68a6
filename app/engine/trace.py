"""Which diagram elements an instance has passed, for the diagram markers of the inbox's
task and instance pages: read from the loaded workflow, plus what pruning (trap 10) left on
the root of its task tree (:func:`left_behind` writes that record).

Added by the inbox: it needs SpiffWorkflow, which only this package may import.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.util.task import TaskState

_ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.ERROR


def _bpmn_id(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


# Steps dropped from the task tree to keep saved states small (``runtime.prune_finished``)
# leave on the new root what they passed: ``{"completed": [...], "flows": [...], "above": id}``
# ("above": the element the root came from).
PASSED_KEY = "crm_passed"


def _came_from(task) -> str | None:
    """The completed element the step came from (the engine's helper tasks skipped over)."""
    node = task
    while node.parent is not None:
        node = node.parent
        if _bpmn_id(node):
            return _bpmn_id(node) if node.has_state(TaskState.COMPLETED) else None
    return (node.internal_data.get(PASSED_KEY) or {}).get("above")  # the root of a pruned tree


def _marks(tasks) -> tuple[set, set, set]:
    completed, active, flows = set(), set(), set()
    for task in tasks:
        bpmn_id = _bpmn_id(task)
        if not bpmn_id:
            continue
        if task.has_state(TaskState.COMPLETED):
            completed.add(bpmn_id)
        elif task.has_state(_ACTIVE):
            active.add(bpmn_id)
        else:
            continue
        source = None if isinstance(task.task_spec, BoundaryEvent) else _came_from(task)
        if source is not None:  # (no sequence flow leads to a boundary event)
            flows.add((source, bpmn_id))
    return completed, active, flows


def passed(workflow) -> tuple[set, set, set]:
    """(completed bpmn ids, active bpmn ids, flows as (source, target)) of the instance."""
    completed, active, flows = _marks(workflow.get_tasks())
    _add_record(workflow, completed, flows)
    return completed, active, flows


def _add_record(workflow, completed: set, flows: set) -> None:
    record = workflow.task_tree.internal_data.get(PASSED_KEY) or {}
    completed.update(record.get("completed", ()))
    flows.update(tuple(pair) for pair in record.get("flows", ()))


def left_behind(workflow, dropped, new_root) -> dict:
    """What ``dropped`` (finished steps, closed under ancestors) passed, to keep on ``new_root``
    (call before they are removed)."""
    completed, _, flows = _marks(dropped)
    _add_record(workflow, completed, flows)  # what earlier pruning left on the old root
    above = _came_from(new_root)  # what the walks that reach the new root go on to
    return {"completed": sorted(completed), "flows": sorted(map(list, flows)), "above": above}


def element_trace(instance) -> dict:
    """``{"completed": [bpmn ids], "active": [bpmn ids], "flows": [[source id, target id]]}``.

    ``flows`` are the steps taken between two elements of the diagram (the sequence flow is
    the one from source to target); the engine's own helper tasks are skipped over.
    """
    from . import services

    completed, active, flows = passed(services._load(instance))
    # A step waiting now is current, though done in an earlier round: after a correction loop
    # every step read "completed", nothing current.
    return {"completed": sorted(completed - active), "active": sorted(active),
            "flows": [list(pair) for pair in sorted(flows)]}
