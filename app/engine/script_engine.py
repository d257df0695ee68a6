"""SpiffWorkflow script engine that runs everything through :mod:`app.engine.expressions`.

SpiffWorkflow calls ``script_engine.evaluate`` (conditions, timers, multi-instance),
``script_engine.execute`` (script tasks) and ``script_engine.environment.evaluate``
(process-level conditions).  All three land in the restricted evaluator; nothing reaches
Python's ``eval``/``exec``.  The engine is not serialized with a workflow, so
:mod:`app.engine.serialization` attaches a fresh one after every load (trap 3).
"""
from __future__ import annotations

import re
from collections import ChainMap

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from . import expressions, operations
from .expressions import DEFAULT_LIMITS, ExpressionError, Limits, MismatchedOperands, UnknownName


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        super().__init__({})
        self.limits = limits

    def evaluate(self, expression, context, external_context=None):
        # Task data wins over external context, as in SpiffWorkflow's own environment.
        names = ChainMap(context, external_context or {})
        return expressions.evaluate(expression, names, self.limits)

    def execute(self, script, context, external_context=None):
        expressions.execute(script, context, readonly=external_context, limits=self.limits)
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("service tasks call operations through run_operation")


_WHOLE_EL = re.compile(r"^[$#]\{[^{}]*\}$")
_EMBEDDED_EL = re.compile(r"\$\{([^{}]*)\}")


def is_whole_expression(text: str) -> bool:
    """``${expr}`` as a parameter's whole value (evaluated to any type); ``${a},${b}`` is a text
    template with two expressions. Deploy checks read parameters as run_operation does."""
    return bool(_WHOLE_EL.match(text.strip()))


def _text(value) -> str:
    return "" if value is None else str(value)


def embedded_expressions(value: str) -> list[str]:
    """The ``${...}`` expressions inside a text template (for deploy validation)."""
    return _EMBEDDED_EL.findall(value)


def _line(source: str, line: int | None) -> str | None:
    if not line:
        return None
    lines = (source or "").splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


class OperationFailed(WorkflowTaskException):
    """A service task's operation raised: the operation and what it said are kept apart, so the
    service layer can word the failure for its reader instead of re-reading this text."""

    def __init__(self, operation: str, said: str, **kwargs):
        super().__init__(f"operation '{operation}' failed: {said}", **kwargs)
        self.operation, self.said = operation, said


class UnknownVariable(WorkflowTaskException):
    """An expression or script read a variable the process does not hold (a typo in a
    condition, a field the form no longer has): named apart, for the service layer's words."""

    def __init__(self, message: str, variable: str, **kwargs):
        super().__init__(message, **kwargs)
        self.variable = variable


class MismatchedTypes(WorkflowTaskException):
    """An expression compared or combined values of different kinds (a text field with a number:
    ``${title >= 200000}``): named apart, for the service layer's words."""

    def __init__(self, message: str, expression: str, **kwargs):
        super().__init__(message, **kwargs)
        self.expression = expression


class RestrictedScriptEngine(PythonScriptEngine):
    """The only script engine our workflows ever run with.

    ``context`` is what the service layer wants operations to see (instance id, record,
    actor...); it is passed on in :class:`~app.engine.operations.OperationContext`.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, context: dict | None = None):
        super().__init__(environment=RestrictedEnvironment(limits))
        self.limits = limits
        self.context = dict(context or {})

    def validate(self, expression):
        expressions.compile_expression(expression, self.limits)

    def _task_error(self, task, source, exc, what):
        failed = _("%(what)s failed: %(error)s", what=what, error=getattr(exc, "message", None) or
                   f"{type(exc).__name__}: {exc}")
        if isinstance(exc, UnknownName):
            return UnknownVariable(failed, exc.name, task=task, exception=exc,
                                   line_number=exc.line, error_line=_line(source, exc.line))
        if isinstance(exc, MismatchedOperands):
            return MismatchedTypes(failed, (source or "").strip(), task=task, exception=exc,
                                   line_number=exc.line, error_line=_line(source, exc.line))
        if isinstance(exc, ExpressionError):
            return WorkflowTaskException(failed, task=task, exception=exc, line_number=exc.line, offset=exc.offset,
                                         error_line=_line(source, exc.line))
        return WorkflowTaskException(failed, task=task, exception=exc)

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException:
            raise
        except Exception as exc:
            raise self._task_error(task, expression, exc, _("the expression “%(source)s”", source=expression)) from exc

    def execute(self, task, script, external_context=None):
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except SpiffWorkflowException:
            raise
        except Exception as exc:
            raise self._task_error(task, script, exc, _("the script")) from exc

    # ---- service tasks
    def resolve_value(self, task, value):
        """A parameter as written in the diagram: ``${expr}`` is evaluated, text is literal."""
        if isinstance(value, str):
            stripped = value.strip()
            if is_whole_expression(stripped):
                return self.evaluate(task, stripped)
            if "${" in value:
                # "报备「${name}」被驳回" : a text template with embedded expressions
                return _EMBEDDED_EL.sub(lambda m: _text(self.evaluate(task, m.group(1))), value)
            return value
        if isinstance(value, list):
            return [self.resolve_value(task, v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve_value(task, v) for k, v in value.items()}
        return value

    def run_operation(self, task, spec):
        params = {p["name"]: self.resolve_value(task, p["value"]) for p in spec.params}
        ctx = operations.OperationContext(
            operation=spec.operation, element_id=spec.bpmn_id, element_name=spec.bpmn_name,
            data=expressions.check_data(task.data), instance=self.context)
        try:
            result = operations.call_operation(spec.operation, ctx, params)
            if spec.result_variable:
                task.data[spec.result_variable] = expressions.check_data(result)
        except (SpiffWorkflowException, SQLAlchemyError):
            # A database error (e.g. a concurrent step changed the record: StaleDataError) broke
            # the caller's transaction: not a modelled step failure; the service turns it into 409.
            raise
        except Exception as exc:
            # A refusal the product words itself (ApiError) reads as it is; anything else
            # names its kind, since its text may be terse.
            said = str(exc) if getattr(exc, "status", None) and getattr(exc, "code", None) else f"{type(exc).__name__}: {exc}"
            raise OperationFailed(spec.operation, said, task=task, exception=exc) from exc
