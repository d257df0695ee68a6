"""Where the deployed processes read a form's fields: a field a designer removes or renames in
a form is a variable that a gateway, a parameter or a script of a process may still test, and
the process would stop with an error at that step once the new form is in use. Also where they
set a record's custom field, which an admin may be about to delete."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import undefer

from app.extensions import db

from .models import ProcessDefinition
from .validation import CAMUNDA_NS
from .xml import BPMN_NS, load_xml

# Elements whose text is an expression or a script, and attributes holding expressions.
_EXPRESSION_TAGS = {f"{{{BPMN_NS}}}{tag}" for tag in (
    "conditionExpression", "script", "timeDuration", "timeDate", "timeCycle", "loopCardinality",
    "completionCondition")} | {f"{{{CAMUNDA_NS}}}inputParameter"}
_EXPRESSION_ATTRIBUTES = {f"{{{CAMUNDA_NS}}}{name}" for name in (
    "assignee", "candidateUsers", "candidateGroups", "dueDate", "collection")}
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _named(element) -> tuple[str, str]:
    """The nearest element with an id: (its id, its name or id) as the designer sees it."""
    while element is not None and element.get("id") is None:
        element = element.getparent()
    if element is None:
        return "", ""
    return element.get("id"), element.get("name") or element.get("id")


def _expressions(root):
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # a comment
        if element.tag in _EXPRESSION_TAGS and element.text:
            yield element, element.text
        for attribute in _EXPRESSION_ATTRIBUTES.intersection(element.attrib):
            yield element, element.get(attribute)


def _current_definitions():
    return db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.is_current.is_(True))
                              .options(undefer(ProcessDefinition.xml)).order_by(ProcessDefinition.key))


def uses_of_custom_field(key: str) -> list[dict]:
    """``[{process_key, process, element_id, element, field}]``: each service task of a current
    process that sets the custom field ``key`` of its record (``crm.update_record`` with field
    ``custom.<key>`` or ``<key>``). Any record type's: a diagram does not say which it runs for."""
    uses = []
    for definition in _current_definitions():
        if "crm.update_record" not in definition.xml:
            continue  # cheap test before parsing
        for task in load_xml(definition.xml).iter(f"{{{BPMN_NS}}}serviceTask"):
            if task.get(f"{{{CAMUNDA_NS}}}topic") != "crm.update_record":
                continue
            for parameter in task.iter(f"{{{CAMUNDA_NS}}}inputParameter"):
                if parameter.get("name") == "field" and (parameter.text or "").strip() in (f"custom.{key}", key):
                    uses.append({"process_key": definition.key, "process": definition.name or definition.key,
                                 "element_id": task.get("id"), "element": task.get("name") or task.get("id"),
                                 "field": f"custom.{key}"})
    return uses


def uses_of_form_fields(form_key: str, names: set[str]) -> list[dict]:
    """``[{process_key, process, element_id, element, field}]``: each place where a current
    process with a task on form ``form_key`` reads one of ``names`` in an expression (string
    literals aside)."""
    if not names:
        return []
    uses = []
    for definition in _current_definitions():
        if f'formKey="{form_key}"' not in definition.xml:
            continue  # cheap test before parsing
        root = load_xml(definition.xml)
        if not any(task.get(f"{{{CAMUNDA_NS}}}formKey") == form_key for task in root.iter(f"{{{BPMN_NS}}}userTask")):
            continue
        for element, text in _expressions(root):
            code = _STRING.sub("", text)
            for name in sorted(names):
                if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", code):
                    element_id, element_name = _named(element)
                    uses.append({"process_key": definition.key, "process": definition.name or definition.key,
                                 "element_id": element_id, "element": element_name, "field": name})
    return uses
