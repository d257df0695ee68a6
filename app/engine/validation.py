"""Deploy-time validation: every problem of a diagram, each with its BPMN element id.

Nothing is stored when :func:`validate_diagram` raises; it collects all problems it can find
(it does not stop at the first) and reports them as ``{element_id, message}``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .expressions import ISO_LITERAL, ExpressionError, compile_expression, compile_script
from .operations import check_operation_call
from .parser import parse_specs, variable_name
from .script_engine import embedded_expressions, is_whole_expression
from .xml import BPMN_NS, DiagramError, load_xml, problem

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
_PYTHON_LANGUAGES = {"", "python", "juel", "el", "text/python", "application/python"}

# What a message is about ("{what} is empty"): translated too, so a Chinese sentence has no
# English words in it.  Lazy: resolved in the locale of the request that validates.
CONDITION = _l("condition")
ASSIGNEE = _l("assignee")
CANDIDATE_GROUPS = _l("candidate groups")
CANDIDATE_USERS = _l("candidate users")
DUE_DATE = _l("due date")
TIMER = _l("timer")
TIMER_EXPRESSION = _l("timer expression")
LOOP_CARDINALITY = _l("loop cardinality")
COMPLETION_CONDITION = _l("completion condition")
_EVENT_KINDS = {
    "messageEventDefinition": _l("message events are not supported; use a timer, a user task or a service task"),
    "signalEventDefinition": _l("signal events are not supported; use a timer, a user task or a service task"),
    "conditionalEventDefinition": _l(
        "conditional events are not supported; use a timer, a user task or a service task"),
    # SpiffWorkflow knows neither: a link throw ended the process there, a compensation throw did nothing.
    "linkEventDefinition": _l("link events are not supported; draw the flow on to where it should go"),
    "compensateEventDefinition": _l("compensation is not supported; draw the steps that undo the work on a flow "
                                    "of their own (e.g. after a rejection)"),
}
_UNSUPPORTED_TASKS = {
    "sendTask": _l("send tasks are not supported; use a service task with an operation"),
    "receiveTask": _l("receive tasks are not supported; use a service task with an operation"),
    "businessRuleTask": _l("business rule tasks are not supported; use a service task with an operation"),
    # SpiffWorkflow never armed the gateway's timers: the instance waited with nothing to do.
    "eventBasedGateway": _l("event-based gateways are not supported; put boundary timers on the user task that "
                            "waits, or decide with an exclusive gateway"),
    "callActivity": _l("call activities are not supported; draw the called steps here, in an embedded subprocess"),
}


def _c(name):
    return f"{{{CAMUNDA_NS}}}{name}"


def _text(node) -> str:
    return (node.text or "").strip() if node is not None else ""


def _is_el(text: str) -> bool:
    return text.startswith(("${", "#{")) and text.endswith("}")


class _Collector:
    def __init__(self):
        self.problems: list[dict] = []

    def add(self, element_id, message):
        self.problems.append(problem(element_id, message))

    def expression(self, element_id, what, text):
        if not text:
            self.add(element_id, _("%(what)s is empty", what=str(what)))
            return
        try:
            compile_expression(text)
        except ExpressionError as exc:
            self.add(element_id, _("%(what)s %(text)s: %(error)s", what=str(what), text=repr(text), error=str(exc)))

    def value(self, element_id, what, text):
        """Literal text, ``${expr}``, or a template with embedded ``${expr}``."""
        if not isinstance(text, str):
            return
        stripped = text.strip()
        if is_whole_expression(stripped):
            self.expression(element_id, what, stripped)
        else:
            for expr in embedded_expressions(text):
                self.expression(element_id, what, "${" + expr + "}")


def validate_diagram(xml: bytes | str, process_id: str | None = None):
    """Load, check and parse a diagram; returns ``(process_id, spec, subprocess_specs)``.

    Raises :class:`DiagramError` with every problem found.
    """
    root = load_xml(xml)
    found = _Collector()
    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    if not executable:
        found.add(processes[0].get("id") if processes else None,
                  _("no executable process: set isExecutable=\"true\" on the process"))
    for proc in executable:
        _check_process(proc, found)
    if found.problems:
        raise DiagramError(found.problems)
    return parse_specs(root, process_id)


def _check_process(proc, found: _Collector):
    by_id = {el.get("id"): el for el in proc.iter() if isinstance(el.tag, str) and el.get("id")}
    flows = proc.findall(f".//{{{BPMN_NS}}}sequenceFlow")
    outgoing: dict[str, list] = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        if flow.get("sourceRef") not in by_id:
            found.add(flow.get("id"), _("the flow's source '%(id)s' does not exist", id=flow.get("sourceRef")))
        if flow.get("targetRef") not in by_id:
            found.add(flow.get("id"), _("the flow's target '%(id)s' does not exist", id=flow.get("targetRef")))
        cond = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        if cond is not None:
            language = (cond.get("language") or "").lower()
            if language not in _PYTHON_LANGUAGES:
                found.add(flow.get("id"), _("condition language '%(language)s' is not supported", language=language))
            else:
                found.expression(flow.get("id"), CONDITION, _text(cond))

    for reserved in ("Start", "End", "Root"):
        if reserved in by_id:
            found.add(reserved, _("the id '%(id)s' is reserved by the engine; rename the element", id=reserved))

    if not proc.findall(f".//{{{BPMN_NS}}}startEvent"):
        found.add(proc.get("id"), _("process has no start event"))
    _check_reachable(proc, flows, outgoing, found)

    for tag in ("exclusiveGateway", "inclusiveGateway"):
        for gw in proc.iter(f"{{{BPMN_NS}}}{tag}"):
            outs = outgoing.get(gw.get("id"), [])
            default = gw.get("default")
            if default and default not in [f.get("id") for f in outs]:
                found.add(gw.get("id"), _("default flow '%(id)s' is not an outgoing flow of this gateway", id=default))
            if len(outs) > 1:
                for flow in outs:
                    has_condition = flow.find(f"{{{BPMN_NS}}}conditionExpression") is not None
                    if not has_condition and flow.get("id") != default:
                        found.add(flow.get("id"), _(
                            "flow leaving a gateway needs a condition or must be the gateway's default"))

    for task in proc.iter(f"{{{BPMN_NS}}}userTask"):
        _check_user_task(task, found)
    for task in proc.iter(f"{{{BPMN_NS}}}serviceTask"):
        _check_service_task(task, found)
    for task in proc.iter(f"{{{BPMN_NS}}}scriptTask"):
        _check_script_task(task, found)
    for loop in proc.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
        _check_multi_instance(loop, found)
    for timer in proc.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        _check_timer(timer, found)
    for tag, message in _EVENT_KINDS.items():
        for definition in proc.iter(f"{{{BPMN_NS}}}{tag}"):
            event = definition.getparent()
            # Nothing in the product sends messages or signals to an instance: it would wait forever.
            found.add(event.get("id"), str(message))
    _check_ignored_camunda(proc, found)
    for tag, message in _UNSUPPORTED_TASKS.items():
        for task in proc.iter(f"{{{BPMN_NS}}}{tag}"):
            found.add(task.get("id"), str(message))
    for start in proc.findall(f"{{{BPMN_NS}}}startEvent"):  # the process's own, not an event subprocess's
        if start.find(f"{{{BPMN_NS}}}timerEventDefinition") is not None:
            # Nothing starts instances on a schedule; started otherwise, it waited and then ran twice.
            found.add(start.get("id"), _("a process cannot start on a timer: it starts from a record's event (a "
                                         "binding), a rule or by hand; for a schedule, use a rule on a date"))
    script_ids = {(task.get("id") or "").strip() for task in proc.iter(f"{{{BPMN_NS}}}scriptTask")}
    for boundary in proc.iter(f"{{{BPMN_NS}}}boundaryEvent"):
        on_error = boundary.find(f"{{{BPMN_NS}}}errorEventDefinition") is not None
        # As the parser reads the reference: attachedToRef=" Scr" passed the check and deployed.
        if on_error and (boundary.get("attachedToRef") or "").strip() in script_ids:
            found.add(boundary.get("id"), _("an error boundary on a script task never fires (a failing script stops "
                                            "the instance for an administrator to retry); set a variable in the "
                                            "script and decide on it with a gateway"))
    for tag in ("boundaryEvent", "intermediateCatchEvent"):
        for event in proc.iter(f"{{{BPMN_NS}}}{tag}"):
            if not any(isinstance(child.tag, str) and child.tag.endswith("EventDefinition") for child in event):
                # Dropped from the palette, before a type was chosen: the parser's own words were
                # "NotImplementedError('Unsupported Catch Event: …')".
                found.add(event.get("id"), _("the event waits for nothing yet: make it a timer (the wrench menu)"))


# Steps a flow must lead to (start and boundary events begin a path themselves).
_STEPS = ("task", "userTask", "serviceTask", "scriptTask", "manualTask", "businessRuleTask", "sendTask",
          "receiveTask", "callActivity", "subProcess", "exclusiveGateway", "inclusiveGateway", "parallelGateway",
          "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent", "endEvent")


def _check_reachable(proc, flows, outgoing: dict, found: _Collector) -> None:
    """A step no flow leads to never runs (the lint badge said so, the deploy did not); a start
    event that leads nowhere makes a process that ends as it starts and stays in the list."""
    targets = {flow.get("targetRef") for flow in flows}
    for tag in _STEPS:
        for step in proc.iter(f"{{{BPMN_NS}}}{tag}"):
            if step.get("id") in targets or step.get("isForCompensation") == "true" \
                    or step.get("triggeredByEvent") == "true" \
                    or step.find(f"{{{BPMN_NS}}}linkEventDefinition") is not None:  # refused as a link already
                continue
            found.add(step.get("id"), _("no flow leads to this step, so it never runs: connect it or remove it"))
    for start in proc.iter(f"{{{BPMN_NS}}}startEvent"):
        if not outgoing.get(start.get("id")):
            found.add(start.get("id"), _("the start event leads nowhere: draw a flow from it to the first step"))


def _check_ignored_camunda(proc, found: _Collector) -> None:
    """Camunda extensions this engine does not run: a diagram from Camunda Modeler deployed and
    its listeners' scripts, a user or script task's parameters and a script's result variable
    were skipped without a word, the process going on without what they set."""
    for tag in ("executionListener", "taskListener"):
        for listener in proc.iter(_c(tag)):
            owner = listener.getparent().getparent()
            found.add(owner.get("id"), _("Camunda listeners do not run here: draw their work as a script task or a "
                                         "service task on the flow"))
    for mapping in proc.iter(_c("inputOutput")):
        owner = mapping.getparent().getparent()
        if owner.tag != f"{{{BPMN_NS}}}serviceTask":
            found.add(owner.get("id"), _("input/output parameters are read only on service tasks: set the variables "
                                         "in a script task before this step"))
    for task in proc.iter(f"{{{BPMN_NS}}}scriptTask"):
        if task.get(_c("resultVariable")):
            found.add(task.get("id"), _("a script task's result variable is not set here: assign it in the script "
                                        "(%(name)s = …)", name=task.get(_c("resultVariable"))))


def _check_user_task(task, found: _Collector):
    tid = task.get("id")
    assignee = (task.get(_c("assignee")) or "").strip()
    groups = (task.get(_c("candidateGroups")) or "").strip()
    users = (task.get(_c("candidateUsers")) or "").strip()
    if not (assignee or groups or users):
        found.add(tid, _("user task has no assignee and no candidate users or groups"))
    found.value(tid, ASSIGNEE, assignee)
    for text, what in ((groups, CANDIDATE_GROUPS), (users, CANDIDATE_USERS)):
        if _is_el(text):
            found.expression(tid, what, text)
        else:
            for part in text.split(","):
                found.value(tid, what, part.strip())
    due = (task.get(_c("dueDate")) or "").strip()
    if due:
        if _is_el(due):
            found.expression(tid, DUE_DATE, due)
        else:
            _check_iso(tid, DUE_DATE, due, found)


def _check_service_task(task, found: _Collector):
    tid = task.get("id")
    operation = None
    if task.get(_c("type")) == "external":
        operation = (task.get(_c("topic")) or "").strip() or None
    if operation is None:
        for prop in task.findall(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}properties/{{{CAMUNDA_NS}}}property"):
            if prop.get("name") == "operation":
                operation = (prop.get("value") or "").strip() or None
    for attr in ("class", "delegateExpression", "expression"):
        if task.get(_c(attr)) and operation is None:
            found.add(tid, _("camunda:%(attr)s cannot run here: choose an operation under Operation in the "
                             "properties panel (in Camunda Modeler: Implementation 'External', the operation as "
                             "topic)", attr=attr))
            return
    params = task.findall(
        f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}inputOutput/{{{CAMUNDA_NS}}}inputParameter")
    written = {p.get("name"): "".join(p.itertext()) for p in params}  # what each parameter says
    for message in check_operation_call(operation, written):
        found.add(tid, message)
    for param in params:
        what = _("parameter '%(name)s'", name=param.get("name"))
        for node in param.iter():
            if node.tag == _c("script"):
                found.add(tid, _("parameter '%(name)s': script parameters are not supported; use ${...}",
                                 name=param.get("name")))
            elif isinstance(node.tag, str) and node.text and node.text.strip():
                found.value(tid, what, node.text)


def _check_script_task(task, found: _Collector):
    tid = task.get("id")
    language = (task.get("scriptFormat") or "python").lower()
    if language not in _PYTHON_LANGUAGES:
        found.add(tid, _("script format '%(format)s' is not supported (use python)", format=language))
        return
    script = task.find(f"{{{BPMN_NS}}}script")
    if script is None or not (script.text or "").strip():
        found.add(tid, _("script task has no script"))
        return
    try:
        compile_script(script.text)
    except ExpressionError as exc:
        found.add(tid, _("script: %(error)s", error=str(exc)))


def _check_multi_instance(loop, found: _Collector):
    task = loop.getparent()
    tid = task.get("id")
    collection = loop.get(_c("collection"))
    cardinality = loop.find(f"{{{BPMN_NS}}}loopCardinality")
    if collection is not None:
        if variable_name(collection) is None:
            found.add(tid, _("multi-instance collection must be a process variable name, not %(text)s",
                             text=repr(collection)))
    elif cardinality is None or not _text(cardinality):
        found.add(tid, _("multi-instance task needs a collection or a loop cardinality"))
    else:
        found.expression(tid, LOOP_CARDINALITY, _text(cardinality))
    condition = loop.find(f"{{{BPMN_NS}}}completionCondition")
    if condition is not None and _text(condition):
        found.expression(tid, COMPLETION_CONDITION, _text(condition))


MAX_TIMER_DAYS = 100 * 366
MIN_CYCLE = timedelta(minutes=1)


def _check_iso(element_id, what, text, found: _Collector):
    try:
        if text.upper().startswith("P"):
            span = TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(text),
                                                                 datetime.now(timezone.utc))
        elif text.upper().startswith("R"):
            _times, _first, span = TimerEventDefinition.parse_iso_recurring_interval(text)
            if span < MIN_CYCLE:  # R/PT1S sent a notice a second until someone stopped the process
                found.add(element_id, _("%(what)s %(text)s repeats more often than once a minute",
                                        what=str(what), text=repr(text)))
        else:
            TimerEventDefinition.get_datetime(text.replace("Z", "+00:00"))
            span = timedelta(0)
    except Exception:
        found.add(element_id, _("%(what)s %(text)s is not a valid ISO-8601 value (days are P1D, hours PT1H)",
                                what=str(what), text=repr(text)))
        return
    if abs(span) > timedelta(days=MAX_TIMER_DAYS):  # P99999Y passed, then every start was refused
        found.add(element_id, _("%(what)s %(text)s is more than 100 years away", what=str(what), text=repr(text)))


def _check_timer(timer, found: _Collector):
    event = timer.getparent()
    eid = event.get("id")
    parts = [(tag, timer.find(f"{{{BPMN_NS}}}{tag}")) for tag in ("timeDuration", "timeDate", "timeCycle")]
    parts = [(tag, node) for tag, node in parts if node is not None]
    if len(parts) != 1 or not _text(parts[0][1]):
        found.add(eid, _("timer needs exactly one of duration, date or cycle"))
        return
    tag, node = parts[0]
    text = _text(node)
    inner = text[2:-1].strip() if _is_el(text) else text
    if ISO_LITERAL.match(inner):
        _check_iso(eid, TIMER, inner, found)
    elif inner[:1].upper() == "P" and inner.replace(".", "").isalnum():
        found.add(eid, _("timer %(text)s is not a valid ISO-8601 duration (days are P1D, hours PT1H)",
                         text=repr(text)))
    else:
        found.expression(eid, TIMER_EXPRESSION, text)
