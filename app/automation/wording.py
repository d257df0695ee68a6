"""Conditions in words: the operator labels, what the no-code condition builder
(``static/automation/conditions.js``) says, and one condition as a sentence for lists
(``省份 包含 福建 且 注册资金 ≥ 10000000``)."""
from __future__ import annotations

import json

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.automation.conditions import NO_VALUE, canonical_op, is_group
from app.automation.fields import EntitySpec

OPERATOR_LABELS = {"eq": "=", "ne": "≠", "gt": ">", "ge": "≥", "lt": "<", "le": "≤", "contains": _l("contains"),
                   "not_contains": _l("does not contain"), "in": _l("is one of"), "is_empty": _l("is empty"),
                   "is_not_empty": _l("is not empty"), "changed": _l("changed"), "changed_to": _l("changed to"),
                   "changed_from": _l("changed from")}


EVENT_LABELS = {"created": _l("Created"), "updated": _l("Edited"), "deleted": _l("Deleted"),
                "stage_changed": _l("Stage changed"), "won": _l("Marked won"), "lost": _l("Marked lost"),
                "date_before": _l("Days before a date"), "date_after": _l("Days after a date"),
                "idle": _l("No change for some days")}
ACTION_LABELS = {"set_fields": _l("Set fields"), "create_record": _l("Create a related record"),
                 "assign_owner": _l("Assign the owner"), "share": _l("Share"), "notify": _l("Notify"),
                 "create_todo": _l("Create a to-do"), "webhook": _l("Call a webhook"),
                 "start_workflow": _l("Start a workflow")}


def plain(labels: dict) -> dict:
    """Lazy labels as text, for a page's JSON."""
    return {key: str(label) for key, label in labels.items()}


def builder_texts() -> dict:
    """The condition builder's words, for the page's ``condition-text`` JSON block."""
    return {"and": _("All of (AND)"), "or": _("Any of (OR)"), "addCondition": _("Add condition"),
            "addGroup": _("Add group"), "remove": _("Remove"), "field": _("Field"), "operator": _("Operator"),
            "join": _("How the conditions combine"),
            "value": _("Value"), "ops": plain(OPERATOR_LABELS),
            "conditionAt": _("Condition %(number)s", number="{number}")}


_PLACE_PARTS = {"field": _l("Field"), "op": _l("Operator"), "value": _l("Value")}


def condition_place(path: str) -> str:
    """Where an error's path (``condition.and.1.or.1.value``) is in the builder, as the author
    counts: "Condition 2.2 · Value" (the rule editor's script says it the same way)."""
    parts = path.split(".")[1:] if path.startswith("condition") else path.split(".")
    number = ".".join(str(int(p) + 1) for p in parts if p.isdigit())
    part = _PLACE_PARTS.get(parts[-1]) if parts else None
    place = _("Condition %(number)s", number=number) if number else _("Conditions")
    return f"{place} · {part}" if part else place


def _value_words(spec, value) -> str:
    """A condition's or a record's value as people read it: choices by their labels, none as —."""
    if value is None or value == []:
        return "—"
    labels = dict(spec.choice_labels) if spec else {}
    values = value if isinstance(value, list) else [value]
    return ", ".join(str(labels.get(str(v), v)) for v in values)


def evaluated_condition(leaf: dict, entity: EntitySpec | None) -> dict:
    """One evaluated condition of the run log (``field``, ``op``, ``value``, ``actual``,
    ``result``) in words, as the rule editor shows it."""
    spec = (entity.fields if entity else {}).get(str(leaf.get("field")))
    op = canonical_op(leaf.get("op")) or str(leaf.get("op"))
    # Where it stands in the rule (path "and.0.or.1": the second of an OR inside an AND): a
    # condition that failed inside a group that held reads as one, not as a contradiction.
    groups = [part for part in str(leaf.get("path") or "").split(".") if part in ("and", "or")]
    return {"field": str(spec.label) if spec else str(leaf.get("field")), "op": str(OPERATOR_LABELS.get(op, op)),
            "value": "" if op in NO_VALUE else _value_words(spec, leaf.get("value")),
            "actual": _value_words(spec, leaf.get("actual")), "result": leaf.get("result"),
            "depth": max(len(groups) - 1, 0), "joined": (_("and") if groups[-1] == "and" else _("or")) if groups else ""}


def describe_condition(condition, entity: EntitySpec | None) -> str:
    """``condition`` in words, fields and choices by their labels; nested groups in brackets."""
    fields = entity.fields if entity else {}

    def words(node, nested: bool) -> str:
        key = ("and" if "and" in node else "or") if is_group(node) else None
        if not isinstance(node, dict) or (key and not isinstance(node[key], list)):
            # Not a condition at all (a page re-shown with what was posted): as it came. Below,
            # str() for the same reason: a posted field or value may be a list.
            return json.dumps(node, ensure_ascii=False)
        if key:
            parts = [words(child, True) for child in node[key]]
            joiner = _("and") if key == "and" else _("or")  # the words the diagram's condition builder uses
            joined = f" {joiner} ".join(parts)
            return f"({joined})" if nested and len(parts) > 1 else joined
        spec = fields.get(str(node.get("field")))
        op = canonical_op(node.get("op")) or str(node.get("op"))
        said = [str(spec.label) if spec else str(node.get("field")), str(OPERATOR_LABELS.get(op, op))]
        if op not in NO_VALUE:
            said.append(_value_words(spec, node.get("value")))
        return " ".join(said)

    return words(condition, False) if condition else ""


def _person(username) -> str:
    from app.auth.lookup import user_named

    user = user_named(str(username)) if username else None
    return user.label if user is not None else str(username or "—")


def _when(value) -> str:
    from app.clock import datetimeformat

    try:
        return datetimeformat(value, "short") if value else "—"
    except ValueError:
        return str(value)


def plan_in_words(action_type: str, plan: dict | None, entity: EntitySpec | None,
                  entities: dict[str, EntitySpec] | None = None) -> list[str]:
    """What an action did or would do (its plan, as the dry run and the run log keep it), in
    lines people read: fields and choices by their labels, people by their names."""
    plan = plan or {}
    if plan.get("skipped") or plan.get("refused"):
        return [str(plan.get("refused") or plan.get("skipped"))]

    def spec_of(record_type: EntitySpec | None, name: str):
        return (record_type.fields if record_type else {}).get(name)

    def value_of(spec, value) -> str:
        return _person(value) if spec is not None and spec.type == "user" and value else _value_words(spec, value)

    def field_words(record_type: EntitySpec | None, name: str, value) -> str:
        from app.automation.catalog import linked_record_label

        spec = spec_of(record_type, name)
        linked = linked_record_label(name, value)  # "客户: 3" named the customer by its id
        return f"{spec.said if spec else name}: {f'{linked} (#{value})' if linked else value_of(spec, value)}"

    if action_type == "set_fields":
        changes = plan.get("changes") or {}
        if not changes:
            return [_("Nothing to change: the fields already have these values.")]
        lines = []
        for name, (old, new) in changes.items():
            spec = spec_of(entity, name)
            lines.append(f"{field_words(entity, name, old)} → {value_of(spec, new)}")
        return lines
    if action_type == "create_record":
        target = (entities or {}).get(plan.get("entity"))
        return [_("New %(entity)s", entity=str(target.label) if target else plan.get("entity"))] + [
            field_words(target, name, value) for name, value in (plan.get("values") or {}).items()]
    if action_type == "assign_owner":
        if plan.get("unchanged"):
            return [_("%(user)s owns it already.", user=_person(plan.get("user")))]
        return [_("Owner: %(old)s → %(new)s", old=_person(plan.get("from")), new=_person(plan.get("user")))]
    if action_type == "share":
        users = plan.get("users") or []
        return [_("Shared with: %(people)s", people=_(", ").join(_person(u) for u in users))] if users else [
            _("Everyone named can see it already.")]
    if action_type == "notify":
        lines = [_("To: %(people)s", people=_(", ").join(_person(u) for u in plan.get("recipients") or []) or "—"),
                 _("Text: %(text)s", text=plan.get("text") or "")]
        return lines + ([_("Also by e-mail.")] if plan.get("email") else [])
    if action_type == "create_todo":
        return [_("To-do for %(user)s: %(title)s", user=_person(plan.get("user")), title=plan.get("title") or ""),
                _("Starts: %(when)s · due: %(due)s", when=_when(plan.get("starts_at")), due=_when(plan.get("deadline")))]
    if action_type == "webhook":
        return [_("POST to %(url)s (%(signed)s)", url=plan.get("url"),
                  signed=_("signed") if plan.get("signed") else _("not signed"))]
    if action_type == "start_workflow":
        return [_("Start process %(key)s", key=plan.get("process_key"))] + [
            f"{name}: {_value_words(None, value)}" for name, value in (plan.get("data") or {}).items()]
    return []
