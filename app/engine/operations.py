"""Registry of product operations that BPMN service tasks may call.

Other modules register what a process may do to the product (update a CRM record, notify
users, create a to-do ...)::

    from app.engine.operations import register_operation

    def set_report_status(ctx, customer_id, status, comment=None): ...

    register_operation("crm.set_report_status", set_report_status,
                       params=["customer_id", "status"], optional=["comment"],
                       description="Set a customer's report status")

A service task names the operation (Camunda Modeler: Implementation "External", Topic
``crm.set_report_status``; or a ``camunda:property`` named ``operation``) and passes
parameters as Camunda input parameters (literal text, or ``${expression}`` evaluated by the
restricted evaluator against the task data).  Deploy validation refuses unknown operations,
missing required parameters and unknown parameters.

The function is called as ``func(ctx, **params)``; ``ctx`` is an :class:`OperationContext`.
Its return value is stored in the task data if the task has ``camunda:resultVariable``.
"""
from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from flask_babel import gettext as _

__all__ = ["OperationError", "Operation", "OperationContext", "register_operation", "unregister_operation",
           "get_operation", "operation_names", "registry_snapshot", "restore_registry", "check_operation_call", "call_operation"]


class OperationError(Exception):
    """A failure an operation reports on purpose; ``code`` selects a BPMN error boundary
    event with that error code (one without a code catches every failure)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Operation:
    name: str
    func: Callable
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    description: str = ""
    accepts_any: bool = False  # params=None: accept whatever the diagram passes
    labels: dict = field(default_factory=dict, hash=False, compare=False)  # parameter → what the designer reads
    # parameter → a function giving [{"value", "label"}] the designer may pick from (the record's
    # fields for crm.update_record's "field"); asked when the designer opens, in its language.
    suggestions: dict = field(default_factory=dict, hash=False, compare=False)
    # Groups of optional parameters of which one at least needs a value (a notice needs recipients).
    one_of: tuple = ()
    # Changes the record the process was started for: a process calling it needs one to start.
    acts_on_record: bool = False
    # Parameters whose written value must be one of their suggestions (a field's key): a typo
    # there passed the check and the test run, and stopped the real instance at that step.
    closed: tuple[str, ...] = ()
    # Checks the values written in the diagram together (a choice field given a value it has
    # not): problems, as texts. Values to be computed (``${...}``) are the check's to skip.
    check_values: Callable[[dict], list[str]] | None = field(default=None, hash=False, compare=False)

    @property
    def params(self) -> tuple[str, ...]:
        return self.required + self.optional


@dataclass
class OperationContext:
    """What an operation may know about the step that calls it."""

    operation: str
    element_id: str  # BPMN id of the service task
    element_name: str | None
    data: dict  # a copy of the task data (read it; write through the return value)
    instance: dict = field(default_factory=dict)  # set by the service layer: instance_id, record, actor...

    def __getattr__(self, name):
        # ctx.instance_id, ctx.record ... read from the service layer's context
        try:
            return self.__dict__["instance"][name]
        except KeyError:
            raise AttributeError(name) from None


_lock = threading.Lock()
_registry: dict[str, Operation] = {}


def register_operation(name: str, func: Callable | None = None, params: Iterable[str] | None = None,
                       optional: Iterable[str] = (), description: str = "", replace: bool = False,
                       labels: dict | None = None, suggestions: dict | None = None, one_of: Iterable = (),
                       acts_on_record: bool = False, closed: Iterable[str] = (),
                       check_values: Callable[[dict], list[str]] | None = None):
    """Register ``func`` under ``name``; usable as a decorator when ``func`` is omitted.

    ``params`` are the required parameter names, ``optional`` the optional ones; with
    ``params=None`` and no ``optional`` any parameters are accepted.  ``labels`` name the
    parameters for the designer (lazy strings), ``suggestions`` offer it values (see
    ``Operation``).  Registering a name twice raises ``ValueError`` unless ``replace=True``
    (a typo would otherwise silently shadow).
    """
    if func is None:
        def decorator(f):
            register_operation(name, f, params, optional, description, replace, labels, suggestions, one_of,
                               acts_on_record, closed, check_values)
            return f
        return decorator
    if not name or not isinstance(name, str):
        raise ValueError("operation name must be a non-empty string")
    op = Operation(name, func, tuple(params or ()), tuple(optional), description,
                   accepts_any=params is None and not tuple(optional), labels=dict(labels or {}),
                   suggestions=dict(suggestions or {}), one_of=tuple(tuple(group) for group in one_of),
                   acts_on_record=acts_on_record, closed=tuple(closed), check_values=check_values)
    with _lock:
        if name in _registry and not replace and _registry[name].func is not func:
            raise ValueError(f"operation {name!r} is already registered")
        _registry[name] = op
    return func


def unregister_operation(name: str) -> None:
    with _lock:
        _registry.pop(name, None)


def registry_snapshot() -> dict[str, Operation]:
    """A copy of the registry (tests swap operations and put the real ones back)."""
    with _lock:
        return dict(_registry)


def restore_registry(snapshot: dict[str, Operation]) -> None:
    with _lock:
        _registry.clear()
        _registry.update(snapshot)


def get_operation(name: str) -> Operation | None:
    return _registry.get(name)


def operation_names() -> list[str]:
    return sorted(_registry)


def check_operation_call(name: str | None, given: Iterable[str]) -> list[str]:
    """Problems with calling ``name`` with parameters ``given`` (empty list: fine): names, or a
    mapping of names to the values written in the diagram (then ``one_of`` is checked too)."""
    if not name:
        return [_("service task does not name an operation: choose one under Operation in the properties panel "
                  "(in Camunda Modeler: Implementation 'External', the operation as topic)")]
    op = get_operation(name)
    if op is None:
        known = operation_names()
        if not known:
            return [_("unknown operation '%(name)s' (no operations are registered)", name=name)]
        return [_("unknown operation '%(name)s' (known: %(known)s)", name=name, known=", ".join(known))]
    written = given if isinstance(given, dict) else None
    given = list(given)
    problems = [_("operation '%(name)s' needs parameter '%(param)s'", name=name, param=p)
                for p in op.required if p not in given]
    if not op.accepts_any:
        problems += [_("operation '%(name)s' has no parameter '%(param)s'", name=name, param=p)
                     for p in given if p not in op.params]
    for group in op.one_of if written is not None else ():
        if not any(str(written.get(p) or "").strip() for p in group):
            problems.append(_("operation '%(name)s' needs a value in one of %(params)s", name=name, params=_(
                " or ").join(f"“{op.labels.get(p, p)}” ({p})" for p in group)))
    for param in op.closed if written is not None else ():
        value = str(written.get(param) or "").strip()
        known = {s["value"] for s in op.suggestions[param]()}
        if value and "${" not in value and value not in known and f"custom.{value}" not in known:  # bare custom keys too
            problems.append(_("operation '%(name)s': “%(value)s” is no %(param)s it knows; pick one from the list "
                              "in the properties panel", name=name, value=value, param=op.labels.get(param, param)))
    if written is not None and op.check_values is not None and not problems:
        problems += [_("operation '%(name)s': %(problem)s", name=name, problem=said)
                     for said in op.check_values(written)]
    return problems


# The instance whose service task is calling an operation right now: what the operation sets
# off (a record event, a rule) must not load and save that instance's state behind its back.
_ACTING: contextvars.ContextVar[int | None] = contextvars.ContextVar("engine_acting_instance", default=None)


def acting_instance_id() -> int | None:
    return _ACTING.get()


def call_operation(name: str, ctx: OperationContext, params: dict[str, Any]):
    op = get_operation(name)
    if op is None:
        raise LookupError(f"unknown operation '{name}'")
    problems = check_operation_call(name, list(params))  # names: values are checked when the diagram deploys
    if problems:
        raise ValueError("; ".join(problems))
    token = _ACTING.set(ctx.instance.get("instance_id"))
    try:
        return op.func(ctx, **params)
    finally:
        _ACTING.reset(token)
