"""Which diagram elements an instance has passed, for the diagram markers of the inbox's
task and instance pages (a read-only look at the loaded workflow; nothing is saved).

Added by the inbox: it needs SpiffWorkflow, which only this package may import.
"""
from __future__ import annotations

from SpiffWorkflow.util.task import TaskState

_ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.ERROR


def _bpmn_id(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def element_trace(instance) -> dict:
    """``{"completed": [bpmn ids], "active": [bpmn ids], "flows": [[source id, target id]]}``.

    ``flows`` are the steps taken between two elements of the diagram (the sequence flow is
    the one from source to target); the engine's own helper tasks are skipped over.
    """
    from . import services

    workflow = services._load(instance)
    completed, active, flows = set(), set(), set()
    for task in workflow.get_tasks():
        bpmn_id = _bpmn_id(task)
        if not bpmn_id:
            continue
        if task.has_state(TaskState.COMPLETED):
            completed.add(bpmn_id)
        elif task.has_state(_ACTIVE):
            active.add(bpmn_id)
        else:
            continue
        parent = task.parent
        while parent is not None and not _bpmn_id(parent):
            parent = parent.parent
        if parent is not None and parent.has_state(TaskState.COMPLETED):
            flows.add((_bpmn_id(parent), bpmn_id))
    return {"completed": sorted(completed), "active": sorted(active - completed),
            "flows": [list(pair) for pair in sorted(flows)]}
