"""BPMN parser for our Camunda 7 dialect.

SpiffWorkflow's ``CamundaParser`` keeps ``camunda:formKey`` and ``camunda:properties`` but
drops ``camunda:assignee``, ``camunda:candidateGroups``, ``camunda:candidateUsers`` and
``camunda:dueDate`` (trap 1).  The parsers here put them on :class:`CrmUserTask`, read
service tasks' operation and input parameters, and build multi-instance tasks that do not
rewrite the (shared, cached) spec at run time as SpiffWorkflow's Camunda variant does.

Always feed it XML loaded by :func:`app.engine.xml.load_xml` (safe lxml settings), through
:func:`parse_specs`.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser, GatewayParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.defaults import ScriptTask
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import (
    CamundaTaskParser, ScriptTaskParser, UserTaskParser,
)

from .specs import (
    CrmInclusiveGateway, CrmParallelGateway, CrmParallelMultiInstanceTask, CrmPassThroughTask,
    CrmSequentialMultiInstanceTask, CrmServiceTask, CrmUserTask,
)
from .xml import DiagramError, problem

_EL = re.compile(r"^\s*[$#]\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\s*$")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class CrmValidationError(ValidationException):
    """Raised by the parsers here: the message is our own (already translated), not
    SpiffWorkflow's, so :func:`parse_specs` reports it without the "could not be parsed" frame."""


def _refuse(parser, message: str):
    raise CrmValidationError(message, parser.node, parser.filename)


def variable_name(text: str | None) -> str | None:
    """``approvers`` or ``${approvers}`` → ``approvers``; anything else → None."""
    if text is None:
        return None
    match = _EL.match(text)
    if match:
        return match.group(1)
    text = text.strip()
    return text if _IDENT.match(text) else None


class _MultiInstanceMixin:
    """Camunda multi-instance: ``camunda:collection`` + ``camunda:elementVariable``,
    ``loopCardinality`` and ``completionCondition``; results kept per child (countersign)."""

    def _add_multiinstance_task(self, loop_characteristics):
        sequential = loop_characteristics.get("isSequential") == "true"
        prefix = "bpmn:multiInstanceLoopCharacteristics"
        cardinality = self.xpath(f"./{prefix}/bpmn:loopCardinality")
        cardinality = cardinality[0].text.strip() if cardinality and cardinality[0].text else None
        collection_text = self.attribute("collection", "camunda", loop_characteristics)
        element_var = self.attribute("elementVariable", "camunda", loop_characteristics)
        condition = self.xpath(f"./{prefix}/bpmn:completionCondition")
        condition = condition[0].text.strip() if condition and condition[0].text else None

        data_input = input_item = None
        if collection_text is not None:
            name = variable_name(collection_text)
            if name is None:
                _refuse(self, _("multi-instance collection must be a process variable name, not %(text)s",
                                text=repr(collection_text)))
            data_input = TaskDataReference(name)
            cardinality = None
        elif cardinality is None:
            _refuse(self, _("multi-instance task needs a collection or a loop cardinality"))
        if element_var is not None:
            if not _IDENT.match(element_var):
                _refuse(self, _("invalid element variable %(name)s: use letters, digits and _ (not starting with a digit)",
                                name=repr(element_var)))
            input_item = TaskDataReference(element_var)

        extensions = getattr(self.task, "extensions", None) or {}
        result_variable = extensions.get("resultVariable") or f"{self.bpmn_id}_results"
        original = self.spec.task_specs.pop(self.task.name)
        cls = CrmSequentialMultiInstanceTask if sequential else CrmParallelMultiInstanceTask
        self.task = cls(
            self.spec, original.name, "", cardinality=cardinality, data_input=data_input,
            data_output=None, input_item=input_item, output_item=None, condition=condition,
            result_variable=result_variable,
            description="Sequential MultiInstance" if sequential else "Parallel MultiInstance")
        self.task.extensions = extensions
        self._copy_task_attrs(original, loop_characteristics)


class CrmUserTaskParser(_MultiInstanceMixin, UserTaskParser):
    def create_task(self):
        return self.spec_class(
            self.spec, self.bpmn_id, form=self.get_form(),
            assignee=self.attribute("assignee", "camunda"),
            candidate_groups=self.attribute("candidateGroups", "camunda"),
            candidate_users=self.attribute("candidateUsers", "camunda"),
            due_date=self.attribute("dueDate", "camunda"),
            **self.bpmn_attributes)


class CrmServiceTaskParser(_MultiInstanceMixin, CamundaTaskParser):
    def create_task(self):
        operation = None
        if self.attribute("type", "camunda") == "external":
            operation = self.attribute("topic", "camunda")
        if not operation:
            operation = self.parse_extensions().get("operation")
        return self.spec_class(
            self.spec, self.bpmn_id, operation=(operation or "").strip() or None,
            params=self._input_parameters(),
            result_variable=self.attribute("resultVariable", "camunda"),
            **self.bpmn_attributes)

    def _input_parameters(self):
        params = []
        for node in self.xpath("./bpmn:extensionElements/camunda:inputOutput/camunda:inputParameter"):
            params.append({"name": node.get("name"), "value": self._param_value(node)})
        return params

    def _param_value(self, node):
        ns = "{" + self.nsmap["camunda"] + "}"
        children = [c for c in node if isinstance(c.tag, str)]
        if not children:
            return node.text or ""
        child = children[0]
        if child.tag == ns + "list":
            return [self._param_value(v) for v in child if isinstance(v.tag, str)]
        if child.tag == ns + "map":
            return {e.get("key"): self._param_value(e) for e in child if isinstance(e.tag, str)}
        if child.tag == ns + "script":
            _refuse(self, _("parameter '%(name)s': script parameters are not supported; use ${...}",
                            name=node.get("name")))
        return child.text or ""


class CrmScriptTaskParser(_MultiInstanceMixin, ScriptTaskParser):
    pass


class CrmTaskParser(_MultiInstanceMixin, CamundaTaskParser):
    pass


class CrmBpmnParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = dict(CamundaParser.OVERRIDE_PARSER_CLASSES)
    OVERRIDE_PARSER_CLASSES.update({
        full_tag("userTask"): (CrmUserTaskParser, CrmUserTask),
        full_tag("serviceTask"): (CrmServiceTaskParser, CrmServiceTask),
        full_tag("scriptTask"): (CrmScriptTaskParser, ScriptTask),
        full_tag("task"): (CrmTaskParser, CrmPassThroughTask),
        full_tag("manualTask"): (CrmTaskParser, CrmPassThroughTask),
        full_tag("parallelGateway"): (GatewayParser, CrmParallelGateway),
        full_tag("inclusiveGateway"): (ConditionalGatewayParser, CrmInclusiveGateway),
    })


def parse_specs(root, process_id: str | None = None, filename: str = "diagram.bpmn"):
    """Parse a safely loaded BPMN root into ``(process_id, spec, subprocess_specs)``.

    Without ``process_id`` the single executable process is used.  SpiffWorkflow's
    validation errors become a :class:`DiagramError` naming the element.
    """
    parser = CrmBpmnParser()
    try:
        parser.add_bpmn_xml(root, filename=filename)
        ids = parser.get_process_ids()
        if process_id is None:
            if not ids:
                raise DiagramError([problem(None, _("no executable process: set isExecutable=\"true\" on the process"))])
            if len(ids) > 1:
                raise DiagramError([problem(None, _("more than one executable process: %(ids)s", ids=", ".join(ids)))])
            process_id = ids[0]
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except CrmValidationError as exc:
        raise DiagramError([problem(exc.id or None, str(exc.args[0]))]) from None
    except ValidationException as exc:
        if isinstance(exc.__context__, RecursionError):
            message = _too_long_a_chain()
        else:  # SpiffWorkflow's own wording stays (English); the frame says what happened.
            message = _("the diagram could not be parsed: %(error)s", error=_message(exc))
        raise DiagramError([problem(getattr(exc, "id", None) or None, message)]) from None
    except RecursionError:
        raise DiagramError([problem(None, _too_long_a_chain())]) from None
    return process_id, spec, subprocess_specs


def _too_long_a_chain() -> str:
    # The parser follows a chain of steps by recursion: 2,000 in a row were refused with
    # Python's own "maximum recursion depth exceeded".
    return _("the chain of steps is too long to read: split it into subprocesses")


def _message(exc: ValidationException) -> str:
    # str() of a SpiffWorkflow exception appends ". " and its notes; take the message and notes.
    parts = [str(exc.args[0]) if exc.args else ""] + [str(n) for n in getattr(exc, "notes", [])]
    text = ". ".join(p.strip() for p in parts if p and p.strip())
    # SpiffWorkflow wraps unexpected errors as repr(...); keep the human part only.
    return text.split("\n")[0] if text else type(exc).__name__
