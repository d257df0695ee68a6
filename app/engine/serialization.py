"""Saving and loading workflow instances without a copy of the spec in each one.

SpiffWorkflow's default serializer writes the whole process spec into every saved instance
(trap 9).  Here a saved instance holds ``"spec_ref": <sha256 of the XML>`` and the process
id; the parsed spec comes from a :class:`SpecCache` (parsed once per XML, shared by every
instance of that version).  After every load a fresh :class:`RestrictedScriptEngine` is
attached (trap 3), and user data is sanitised before it enters a workflow (trap 6).
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from typing import Callable
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import MultiInstanceTaskConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.spec import TaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, NoneTask, ParallelGateway
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.task_spec import UserTaskConverter

from .expressions import ExpressionError, check_data
from .parser import parse_specs
from .script_engine import RestrictedScriptEngine
from .specs import (
    CrmInclusiveGateway, CrmParallelGateway, CrmParallelMultiInstanceTask, CrmPassThroughTask,
    CrmSequentialMultiInstanceTask, CrmServiceTask, CrmUserTask,
)
from .xml import DiagramError, load_xml, problem

FORMAT = "crm-1"


def spec_hash(xml: bytes | str) -> str:
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    return hashlib.sha256(xml).hexdigest()


# ---------------------------------------------------------------- converters

class CrmUserTaskConverter(UserTaskConverter):
    FIELDS = ("assignee", "candidate_groups", "candidate_users", "due_date")

    def to_dict(self, spec):
        dct = super().to_dict(spec)
        for name in self.FIELDS:
            dct[name] = getattr(spec, name)
        return dct


class CrmServiceTaskConverter(TaskSpecConverter):
    def to_dict(self, spec):
        dct = self.get_default_attributes(spec)
        dct.update(operation=spec.operation, params=spec.params, result_variable=spec.result_variable)
        return dct

    def from_dict(self, dct):
        return self.task_spec_from_dict(dct)


class CrmMultiInstanceConverter(MultiInstanceTaskConverter):
    def to_dict(self, spec):
        dct = super().to_dict(spec)
        dct["result_variable"] = spec.result_variable
        return dct


class ReferencingWorkflowConverter(BpmnWorkflowConverter):
    """Writes ``spec_ref`` instead of the spec; reads it back through ``spec_loader``."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        ref = getattr(workflow.spec, "crm_spec_ref", None)
        if ref is None:
            raise ValueError("workflow spec has no reference; load specs through SpecCache")
        dct["spec_ref"] = ref
        dct["process_id"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec_loader=None):
        spec, subprocess_specs = spec_loader(dct.pop("spec_ref"), dct.pop("process_id"))
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _configure(referencing: bool):
    config = dict(CAMUNDA_CONFIG)
    config[CrmUserTask] = CrmUserTaskConverter
    config[CrmServiceTask] = CrmServiceTaskConverter
    config[CrmParallelMultiInstanceTask] = CrmMultiInstanceConverter
    config[CrmSequentialMultiInstanceTask] = CrmMultiInstanceConverter
    config[CrmParallelGateway] = config[ParallelGateway]
    config[CrmInclusiveGateway] = config[InclusiveGateway]
    config[CrmPassThroughTask] = config[NoneTask]
    if referencing:
        config[BpmnWorkflow] = ReferencingWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # Business data types found in CRM records (traps 6: registered, not pickled).
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda d: Decimal(d["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda d: date.fromisoformat(d["value"]))
    return registry


_instance_serializer = BpmnWorkflowSerializer(_configure(referencing=True))
_spec_serializer = BpmnWorkflowSerializer(_configure(referencing=False))


# ---------------------------------------------------------------- spec cache

class SpecCache:
    """Parsed specs keyed by (sha256 of XML, process id); bounded LRU, thread-safe.

    ``loader(spec_ref)`` returns the XML for a hash the cache has not seen (phase 2: from the
    process-definition table); without one only specs added with :meth:`add_xml` resolve.
    """

    def __init__(self, loader: Callable[[str], bytes | str | None] | None = None, size: int = 256):
        self.loader = loader
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def add_xml(self, xml: bytes | str, process_id: str | None = None):
        """Parse (or reuse) the spec of ``xml``; returns ``(ref, process_id, spec, subprocess_specs)``."""
        ref = spec_hash(xml)
        with self._lock:
            for (r, pid), value in self._items.items():
                if r == ref and (process_id is None or pid == process_id):
                    self._items.move_to_end((r, pid))
                    return (ref, pid) + value
        root = load_xml(xml)
        pid, spec, subs = parse_specs(root, process_id)
        spec.crm_spec_ref = ref
        for one in [spec, *subs.values()]:
            _preconnect_loops(one)
        with self._lock:
            self._items[(ref, pid)] = (spec, subs)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return ref, pid, spec, subs

    def get(self, ref: str, process_id: str):
        with self._lock:
            value = self._items.get((ref, process_id))
            if value is not None:
                self._items.move_to_end((ref, process_id))
                return value
        xml = self.loader(ref) if self.loader else None
        if xml is None:
            raise LookupError(f"unknown process spec {ref[:12]}…")
        if spec_hash(xml) != ref:
            raise LookupError(f"stored XML does not match spec {ref[:12]}…")
        _, _, spec, subs = self.add_xml(xml, process_id)
        return spec, subs

    def clear(self):
        with self._lock:
            self._items.clear()


default_cache = SpecCache()


def _preconnect_loops(spec) -> None:
    """Connect loop/multi-instance tasks to their children's completion once, here.

    SpiffWorkflow does it lazily at run time ("if not connected: connect"), which on a spec
    shared by threads can connect twice and merge each child twice.
    """
    from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

    for task_spec in list(spec.task_specs.values()):
        if isinstance(task_spec, LoopTask):
            child = spec.task_specs.get(task_spec.task_spec)
            if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


# ---------------------------------------------------------------- instances

def attach_engine(workflow: BpmnWorkflow, context: dict | None = None) -> BpmnWorkflow:
    """Give the workflow (and its subprocesses) the restricted engine (trap 3)."""
    workflow.script_engine = RestrictedScriptEngine(context=context)
    return workflow


def dumps(workflow: BpmnWorkflow) -> str:
    """Serialize an instance (without its spec) to a JSON string."""
    dct = _instance_serializer.to_dict(workflow)
    dct["format"] = FORMAT
    dct[BpmnWorkflowSerializer.VERSION_KEY] = _instance_serializer.VERSION
    return json.dumps(dct, cls=_instance_serializer._encoder_cls, ensure_ascii=False,
                      separators=(",", ":"))


def loads(state: str | bytes, cache: SpecCache | None = None, context: dict | None = None) -> BpmnWorkflow:
    """Load an instance saved by :func:`dumps`, with the restricted engine attached."""
    cache = cache or default_cache
    dct = json.loads(state)
    if dct.pop("format", None) != FORMAT:
        raise ValueError("not a saved CRM workflow instance")
    _instance_serializer.migrate(dct)
    workflow = _instance_serializer.from_dict(dct, spec_loader=cache.get)
    return attach_engine(workflow, context)


def converter_registry():
    """The registry that turns task specs into dicts: what ``SpecDiff`` compares."""
    return _instance_serializer.registry


def state_info(state: str | bytes) -> dict:
    """``spec_ref`` and ``process_id`` of a saved state (without loading it)."""
    dct = json.loads(state)
    return {"spec_ref": dct.get("spec_ref"), "process_id": dct.get("process_id")}


def spec_to_json(spec, subprocess_specs) -> str:
    """Serialize a parsed spec once (for a spec cache table)."""
    return json.dumps({
        "spec": _spec_serializer.to_dict(spec),
        "subprocess_specs": {k: _spec_serializer.to_dict(v) for k, v in subprocess_specs.items()},
    }, cls=_spec_serializer._encoder_cls, ensure_ascii=False, separators=(",", ":"))


def spec_from_json(text: str):
    dct = json.loads(text)
    spec = _spec_serializer.from_dict(dct["spec"])
    subs = {k: _spec_serializer.from_dict(v) for k, v in dct["subprocess_specs"].items()}
    return spec, subs


# ---------------------------------------------------------------- user data

def sanitize_data(data, where: str = "data") -> dict:
    """Validate user-supplied data before it enters a workflow (trap 6).

    Plain JSON-like data only; a ``typename`` key at any depth is refused (the serializer
    would revive it as a type); sets become lists.  Raises :class:`DiagramError`-like
    ``ValueError`` with a message naming the field.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object")
    out = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ValueError(f"{where}: keys must be text")
        if key == "typename":
            raise ValueError(f"{where}: 'typename' is a reserved key")
        try:
            out[key] = check_data(value)
        except ExpressionError as exc:
            raise ValueError(f"{where}.{key}: {exc.message}") from None
    return out


__all__ = ["spec_hash", "SpecCache", "default_cache", "attach_engine", "dumps", "loads",
           "state_info", "converter_registry", "spec_to_json", "spec_from_json", "sanitize_data", "DiagramError",
           "problem"]
