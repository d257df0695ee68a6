"""Drafts of process diagrams: create (blank, template, import, duplicate), save with
optimistic locking, check with the engine's validation, deploy through the engine.

Routes and tests call these; they raise :class:`app.api.errors.ApiError` for the caller's
mistakes so pages and the API answer the same way.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask_babel import gettext as _
from lxml import etree
from sqlalchemy import select

from app.api.errors import ApiError
from app.db import utcnow
from app.designer.models import ProcessDraft
from app.engine.xml import BPMN_NS, DiagramError, load_xml, problem
from app.extensions import db

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "bpmn"
KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,79}$")
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"

BLANK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{key}">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="152" y="102" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


# --- templates and XML helpers -----------------------------------------------------------

def templates() -> list[str]:
    """Names of the diagrams shipped in bpmn/ that a new process may start from."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.bpmn"))


def template_titles() -> list[dict]:
    """``[{"name", "title"}]`` of the shipped templates, each titled by its process's name
    (客户报备) as the designer sees it in the list, not its file's name."""
    return [{"name": name, "title": diagram_info(template_xml(name))[1] or name} for name in templates()]


def template_xml(name: str) -> str:
    if name not in templates():
        raise ApiError(400, "invalid_input", _("Unknown template."), [{"field": "template", "message": name}])
    return (TEMPLATE_DIR / f"{name}.bpmn").read_text(encoding="utf-8")


def _load(xml: str):
    try:
        return load_xml(xml)
    except DiagramError as exc:
        raise ApiError(400, "invalid_diagram", _("The diagram cannot be read."), exc.problems) from None


def _executable_process(root):
    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    return (executable or processes or [None])[0]


def diagram_info(xml: str) -> tuple[str | None, str | None]:
    """(process id, process name) of the diagram's executable process."""
    proc = _executable_process(_load(xml))
    if proc is None:
        return None, None
    return proc.get("id"), proc.get("name")


def rekey(xml: str, key: str, name: str | None = None) -> str:
    """The diagram with its executable process renamed to ``key`` (DI references follow)."""
    root = _load(xml)
    proc = _executable_process(root)
    if proc is None:
        raise ApiError(400, "invalid_diagram", _("The diagram has no process."),
                       [problem(None, _("the diagram has no bpmn:process element"))])
    old = proc.get("id")
    proc.set("id", key)
    proc.set("isExecutable", "true")
    if name:
        try:
            proc.set("name", name)
        except ValueError:  # control characters (e.g. U+000E) have no place in XML
            raise ApiError(400, "invalid_input", _("Invalid input: %(fields)s", fields="name"),
                           [{"field": "name", "message": _("Invalid input: %(fields)s", fields="name")}]) from None
    for plane in root.iter(f"{{{BPMNDI_NS}}}BPMNPlane"):
        if plane.get("bpmnElement") == old:
            plane.set("bpmnElement", key)
    for participant in root.iter(f"{{{BPMN_NS}}}participant"):
        if participant.get("processRef") == old:
            participant.set("processRef", key)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        raise ApiError(400, "invalid_input", _("Invalid process key."), [{
            "field": "key",
            "message": _("Use letters, digits, _ or -, starting with a letter (at most 80)."),
        }])
    return key


# --- drafts -------------------------------------------------------------------------------

def get_draft(key: str) -> ProcessDraft | None:
    return db.session.scalar(select(ProcessDraft).where(ProcessDraft.process_key == key))


def drafts() -> list[ProcessDraft]:
    return list(db.session.scalars(select(ProcessDraft).order_by(ProcessDraft.process_key)))


def create_draft(*, actor, key: str | None = None, name: str | None = None, xml: str | None = None,
                 template: str | None = None, copy_of: str | None = None,
                 as_next_version: bool = False) -> ProcessDraft:
    """A new process: blank, from a template, from an imported file or a copy of another.
    ``as_next_version``: an imported file of a process that exists becomes its draft."""
    from app.designer import engine_link

    sources = [s for s in (xml, template, copy_of) if s]
    if len(sources) > 1:
        raise ApiError(400, "invalid_input", _("Give at most one of xml, template and copy_of."))
    if template:
        xml = template_xml(template)
        _bring_template_forms(xml, actor)
    elif copy_of:
        xml = current_xml(copy_of)
        # Two processes of one name could not be told apart in lists and pickers.
        name = name or _("%(name)s (copy)", name=diagram_info(xml)[1] or copy_of)
    if xml and not key:
        key = diagram_info(xml)[0]
    key = check_key(key or "")
    if get_draft(key) is not None or engine_link.current_version(key) is not None:
        if as_next_version and xml and not (template or copy_of):
            return _import_as_next_version(key, xml, actor)
        raise ApiError(409, "key_taken", _("A process with this key already exists."),
                       [{"field": "key", "message": key}])
    xml = rekey(xml or BLANK.format(key=key), key, name)
    name = name or diagram_info(xml)[1] or key
    draft = ProcessDraft(process_key=key, name=name[:200], xml=xml, updated_by=actor, has_changes=True)
    db.session.add(draft)
    db.session.commit()
    return draft


def _import_as_next_version(key: str, xml: str, actor) -> ProcessDraft:
    """The file replaces the process's draft, to be checked and deployed as its next version;
    refused while the draft holds changes nobody deployed (someone's work would be lost)."""
    draft = open_draft(key, actor)
    if draft.has_changes:
        raise ApiError(409, "draft_has_changes", _(
            "Process %(key)s has a draft with changes that were not deployed: open it and deploy or discard them "
            "before importing a file over it.", key=key), [{"field": "key", "message": key}])
    return save_draft(draft, actor=actor, xml=xml, version=draft.version)


def _form_key(task) -> str:
    """The form a user task names (``camunda:formKey``), "" when none."""
    from app.engine.validation import CAMUNDA_NS

    return (task.get(f"{{{CAMUNDA_NS}}}formKey") or "").strip()


def _bring_template_forms(xml: str, actor) -> None:
    """A shipped template's forms come with it: on an install where ``flask demo`` never ran,
    its approvals would otherwise name forms that do not exist, and it could not be deployed."""
    try:
        from app.forms.services import load_missing_shipped_forms
    except ImportError:  # no forms module: the check says which forms are missing
        return
    keys = [_form_key(task) for task in load_xml(xml).iter(f"{{{BPMN_NS}}}userTask")]
    load_missing_shipped_forms((k for k in keys if k), actor=actor)  # audited as any form saved


def current_xml(key: str) -> str:
    """The draft's XML, else the deployed current version's; 404 when neither exists."""
    from app.designer import engine_link

    draft = get_draft(key)
    if draft is not None:
        return draft.xml
    deployed = engine_link.current_version(key)
    if deployed is None:
        raise ApiError(404, "not_found", _("No such process."))
    return engine_link.version_xml(key, deployed)


def open_draft(key: str, actor) -> ProcessDraft:
    """The process's draft, made from the current deployed version when there is none."""
    from app.designer import engine_link

    draft = get_draft(key)
    if draft is not None:
        return draft
    deployed = engine_link.current_version(key)
    if deployed is None:
        raise ApiError(404, "not_found", _("No such process."))
    xml = engine_link.version_xml(key, deployed)
    draft = ProcessDraft(process_key=key, name=(diagram_info(xml)[1] or key)[:200], xml=xml,
                         base_version=deployed, has_changes=False, updated_by=actor)
    db.session.add(draft)
    db.session.commit()
    return draft


def save_draft(draft: ProcessDraft, *, actor, xml: str, version: int, autosave: bool = False) -> ProcessDraft:
    """Store new XML; ``version`` must be the one the editor loaded (else 409)."""
    if version != draft.version:
        raise ApiError(409, "stale_version", _("Someone else saved this draft in the meantime; reload it."),
                       [{"field": "version", "message": f"current version is {draft.version}"}])
    key, name = diagram_info(xml)
    if key != draft.process_key:
        raise ApiError(400, "invalid_input", _("The process id must stay the process key."),
                       [{"field": "xml", "message": f"process id {key!r} is not {draft.process_key!r}"}])
    if xml != draft.xml:
        draft.xml = xml
        draft.has_changes = True
    if name:
        draft.name = name[:200]
    draft.updated_by = actor
    if autosave:
        draft.autosaved_at = utcnow()
    db.session.commit()  # StaleDataError (a concurrent save in between) → 409 by the error handler
    return draft


def discard_draft(draft: ProcessDraft) -> None:
    db.session.delete(draft)
    db.session.commit()


def check_xml(xml: str, key: str | None = None) -> list[dict]:
    """Every problem the engine finds in ``xml`` (empty: deployable)."""
    from app.engine.validation import validate_diagram

    try:
        process_id, _spec, _subs = validate_diagram(xml)  # as the deploy reads it: one executable process
    except DiagramError as exc:
        return exc.problems
    except Exception as exc:  # the parser's own errors (e.g. unsupported constructs)
        return [problem(getattr(exc, "id", None), _("the diagram could not be parsed: %(error)s", error=str(exc)))]
    if key and process_id != key:
        return [problem(process_id, _("the executable process must have id '%(key)s'", key=key))]
    return _unknown_forms(xml) + _unknown_people(xml)


def check_hints(xml: str, key: str | None) -> list[dict]:
    """What the check says without refusing the deploy (see each kind below), the diagram read once."""
    root = load_xml(xml)
    return _gateway_hints(root) + _people_set_by_scripts(root) + _variable_hints(root, key) + _choice_hints(root)


def _step_forms(root):
    """``(user task, its form definition)`` of each step with a form that exists."""
    from app.forms.services import get_form

    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        form = get_form(_form_key(task))
        if form is not None:
            yield task, form


def _choice_hints(root) -> list[dict]:
    """A condition comparing a form's choice with a text it never stores: the approver picks
    "同意报备", the form stores "approve", and ``decision == '同意报备'`` sent every approval
    down the default way."""
    from app.engine.expressions import ExpressionError, compile_expression, texts_compared
    from app.forms.embedded import iter_components

    choices: dict[str, dict[str, str]] = {}  # field key -> {stored value: label}
    for _task, form in _step_forms(root):
        for component in iter_components((form.schema or {}).get("components")):
            values = component.get("values")
            if isinstance(component.get("key"), str) and isinstance(values, list) and values:
                choices.setdefault(component["key"], {}).update(
                    {str(v.get("value")): str(v.get("label", v.get("value"))) for v in values if isinstance(v, dict)})
    hints = []
    for element_id, text, _said in _conditions_and_timers(root):
        try:
            compared = texts_compared(compile_expression(text))
        except ExpressionError:
            continue  # the check proper reports it
        for name, value in compared:
            stored = choices.get(name)
            if stored and value not in stored:
                hints.append(problem(element_id, _(
                    "%(name)s is never “%(value)s”: the form stores %(stored)s", name=name, value=value,
                    stored=", ".join(f"{key} ({label})" if label != key else key for key, label in stored.items()))))
    return hints


def _people_set_by_scripts(root) -> list[dict]:
    """A task offered to ``${approver_group}`` that a script before it sets to a group (or user)
    that does not exist: the shipped report routes medical customers to medical-reviewers, which
    a new company may not have, and the check said nothing. A hint: the script may set it
    otherwise. Only the scripts on the ways into the task count, each way up to the nearest one
    setting the variable: the Fujian step is not blamed for the medical route's group."""
    from app.auth.lookup import users_named
    from app.auth.services import get_group
    from app.engine.validation import CAMUNDA_NS

    set_by = _literals_set_by_scripts(root)
    going_to: dict[str, list[str]] = {}
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        going_to.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    for event in root.iter(f"{{{BPMN_NS}}}boundaryEvent"):  # reached through the step it sits on
        going_to.setdefault(event.get("attachedToRef"), []).append(event.get("id"))

    # From each script forward, up to the next one setting the same variable: what it sets
    # reaches the steps on the way (walking back from every step cost minutes on 10,000 steps).
    reaching: dict[tuple[str, str], set[str]] = {}
    for script_id, assigned in set_by.items():
        for variable, names in assigned.items():
            seen, todo = {script_id}, list(going_to.get(script_id, ()))
            while todo:
                element_id = todo.pop()
                if element_id in seen:
                    continue
                seen.add(element_id)
                reaching.setdefault((element_id, variable), set()).update(names)
                if variable not in set_by.get(element_id, {}):
                    todo.extend(going_to.get(element_id, ()))

    def values_reaching(element_id: str, variable: str) -> set[str]:
        return reaching.get((element_id, variable), set())

    looked_up: dict[tuple[str, str], bool] = {}  # each name once, however many steps it reaches

    def group_missing(name: str) -> bool:
        if ("group", name) not in looked_up:
            looked_up["group", name] = get_group(name) is None
        return looked_up["group", name]

    def user_missing(name: str) -> bool:
        if ("user", name) not in looked_up:
            looked_up["user", name] = name not in users_named([name])
        return looked_up["user", name]

    hints = []
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        for attribute, missing in (("candidateGroups", group_missing), ("candidateUsers", user_missing),
                                   ("assignee", user_missing)):
            written = (task.get(f"{{{CAMUNDA_NS}}}{attribute}") or "").strip()
            variable = written[2:-1].strip() if written.startswith("${") and written.endswith("}") else None
            for name in sorted(values_reaching(task.get("id"), variable)) if variable else ():
                if missing(name):
                    hints.append(problem(task.get("id"), _(
                        "a script sets %(variable)s to “%(name)s”, which does not exist: the task would wait in "
                        "nobody's inbox", variable=variable, name=name)))
    return hints


def _literals_set_by_scripts(root) -> dict[str, dict[str, set[str]]]:
    """Per script task, the variables its script sets to a text: ``{element id: {name: {text}}}``."""
    import ast

    found: dict[str, dict[str, set[str]]] = {}
    for element in root.iter(f"{{{BPMN_NS}}}scriptTask"):
        script = element.find(f"{{{BPMN_NS}}}script")
        try:
            tree = ast.parse(script.text or "" if script is not None else "")
        except SyntaxError:
            continue  # the check proper reports it
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(element.get("id"), {}).setdefault(target.id, set()).add(node.value.value)
    return found


def _gateway_hints(root) -> list[dict]:
    """A choice gateway whose every way out has a condition and none is the default: a case the
    conditions leave out (discount 10 between "> 15" and "< 5") stops the instance there."""
    outgoing: dict[str, list] = {}
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
    hints = []
    for tag in ("exclusiveGateway", "inclusiveGateway"):
        for gateway in root.iter(f"{{{BPMN_NS}}}{tag}"):
            ways = outgoing.get(gateway.get("id"), [])
            conditional = [f for f in ways if (f.findtext(f"{{{BPMN_NS}}}conditionExpression") or "").strip()]
            if len(ways) > 1 and len(conditional) == len(ways) and not gateway.get("default"):
                hints.append(problem(gateway.get("id"), _(
                    "every way out has a condition and none is the default: a case no condition covers stops the "
                    "process here with an error. Make one way the default (in its properties).")))
    return hints


def _variable_hints(root, key: str | None) -> list[dict]:
    """Conditions reading a variable nothing gives the process: not a field of its steps' forms,
    not set by a step, not in what its bindings start it with. Likely a typo (amout for amount)
    that would stop the process at that gateway; a hint, not a refusal, as an API call may start
    it with more. Only for processes a binding starts (their start data is known)."""
    from app.engine.expressions import ExpressionError, compile_expression, compile_script, variables_of
    from app.engine.validation import CAMUNDA_NS
    from app.forms.bindings import variables_started_with
    from app.forms.embedded import iter_components

    known = variables_started_with(key) if key else None
    if known is None:
        return []
    for _task, form in _step_forms(root):  # not a step without a form (the check was a 500)
        known.update(c["key"] for c in iter_components((form.schema or {}).get("components"))
                     if isinstance(c.get("key"), str))
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        known.update(f.get("id") for f in task.iter(f"{{{CAMUNDA_NS}}}formField") if f.get("id"))
    for element in root.iter():
        if isinstance(element.tag, str):
            known.update(v for v in (element.get(f"{{{CAMUNDA_NS}}}resultVariable"),
                                     element.get(f"{{{CAMUNDA_NS}}}elementVariable")) if v)
    for script in root.iter(f"{{{BPMN_NS}}}script"):
        try:
            known |= variables_of(compile_script(script.text or ""))[1]
        except ExpressionError:
            pass  # the check proper reports it
    hints = []
    for element_id, text, said in _conditions_and_timers(root):
        try:
            program = compile_expression(text)
        except ExpressionError:
            continue  # the check proper reports it
        if program.literal is not None:
            continue  # PT1H: no variable
        for name in sorted(variables_of(program)[0] - known):
            hints.append(problem(element_id, said(name)))
    return hints


def _conditions_and_timers(root):
    """``(element id, expression, its hint for a name nothing gives)`` of each flow's condition
    and each timer: a timer written 三天 read a variable of that name and stopped every instance."""
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        condition = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        if condition is not None and (condition.text or "").strip():
            yield flow.get("id"), condition.text.strip(), lambda name: _(
                "the condition reads %(name)s, which no form field, step or binding gives this process: a typo? "
                "(it would stop here with an error)", name=name)
    for timer in root.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        for part in timer:
            if isinstance(part.tag, str) and (part.text or "").strip():
                yield timer.getparent().get("id"), part.text.strip(), lambda name: _(
                    "the timer reads %(name)s, which no form field, step or binding gives this process: write a "
                    "duration as P3D (days) or PT4H (hours), or a variable's name", name=name)


def _names(value: str | None) -> list[str]:
    """The fixed names of an assignee/candidates attribute (``${...}`` is only known at run time)."""
    value = (value or "").strip()
    if not value or "${" in value or "#{" in value:
        return []
    return [n.strip() for n in value.split(",") if n.strip()]


def _unknown_people(xml: str) -> list[dict]:
    """User tasks for a user or group that does not exist (or a user who has left): such a task
    would start and wait in nobody's inbox."""
    from app.auth.lookup import users_named
    from app.auth.services import get_group
    from app.engine.validation import CAMUNDA_NS

    root = load_xml(xml)
    out = []
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        users = _names(task.get(f"{{{CAMUNDA_NS}}}assignee")) + _names(task.get(f"{{{CAMUNDA_NS}}}candidateUsers"))
        found = users_named(set(users)) if users else {}
        for name in dict.fromkeys(users):
            if name not in found:
                out.append(problem(task.get("id"), _("user '%(name)s' does not exist", name=name)))
            elif not found[name].active:
                out.append(problem(task.get("id"), _("user '%(name)s' is deactivated: choose someone else",
                                                     name=name)))
        for name in dict.fromkeys(_names(task.get(f"{{{CAMUNDA_NS}}}candidateGroups"))):
            if get_group(name) is None:
                out.append(problem(task.get("id"), _("group '%(name)s' does not exist", name=name)))
    return out


def _unknown_forms(xml: str) -> list[dict]:
    """User tasks naming a form that does not exist: their approvers would get no form, and
    what the process reads from it (a decision) would be missing. A ``${...}`` key is only
    known at run time; a task with its own ``camunda:formData`` fields needs no form."""
    from app.engine.validation import CAMUNDA_NS

    try:
        from app.forms.services import get_form
    except ImportError:  # no forms module: the engine's own form fields only
        return []
    root = load_xml(xml)
    out = []
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        key = _form_key(task)
        if not key or key.startswith(("${", "#{")) or task.find(f".//{{{CAMUNDA_NS}}}formData") is not None:
            continue
        if get_form(key) is None:
            out.append(problem(task.get("id"), _("form '%(key)s' does not exist: create it in the form designer "
                                                 "or choose another", key=key)))
    return out


def deploy_draft(draft: ProcessDraft, *, actor, version: int | None = None) -> int:
    """Deploy the draft as the process's next version; refused (400) while problems remain."""
    from app.designer import engine_link

    if version is not None and version != draft.version:
        raise ApiError(409, "stale_version", _("The draft changed since you loaded it; reload it."))
    problems = check_xml(draft.xml, draft.process_key)
    if problems:
        raise ApiError(400, "invalid_diagram", _("The diagram has problems; fix them before deploying."), problems)
    same = engine_link.deployed_as(draft.process_key, draft.xml)
    if same is not None:  # Deploy clicked twice, or again without a change: a second identical version
        raise ApiError(409, "already_deployed", _("This diagram is deployed already, as version %(version)d; "
                                                  "change something to deploy a new version.", version=same))
    deployed = engine_link.deploy(draft.xml, actor)
    draft.base_version = deployed
    draft.has_changes = False
    draft.updated_by = actor
    db.session.commit()
    return deployed


def process_rows() -> list[dict]:
    """The process list: every deployed process and every draft, merged by key."""
    from app.designer import engine_link

    rows: dict[str, dict] = {}
    for d in engine_link.definitions():
        rows[d["key"]] = {"key": d["key"], "name": d["name"], "current_version": d["version"],
                          "running_instances": engine_link.running_count(d["key"]), "draft": None}
    for draft in drafts():
        row = rows.setdefault(draft.process_key, {
            "key": draft.process_key, "name": draft.name, "current_version": None,
            "running_instances": 0, "draft": None})
        row["draft"] = draft_summary(draft)
        row["name"] = draft.name  # the name being edited, as the designer sees it
    return sorted(rows.values(), key=lambda r: r["key"])


def draft_summary(draft: ProcessDraft) -> dict:
    return {"version": draft.version, "has_changes": draft.has_changes, "base_version": draft.base_version,
            "updated_at": draft.updated_at.isoformat(), "updated_by": draft.updated_by_username,
            "autosaved_at": draft.autosaved_at.isoformat() if draft.autosaved_at else None}
