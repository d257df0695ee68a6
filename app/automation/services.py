"""Automation rules, the run log, to-dos and settings: what routes, pages and tests call."""
from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
import secrets
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, func, select, update

from app.api.errors import ApiError
from app.audit import audit, label_audit_details, label_audit_events
from app.automation import catalog as cat
from app.automation.conditions import is_group
from app.automation.execution import dry_run
from app.automation.fields import BadValue, coerce
from app.automation.models import Rule, RuleRun, Setting, Todo, WebhookDelivery
from app.automation.validation import validate_rule
from app.automation.wording import ACTION_LABELS, EVENT_LABELS, describe_condition
from app.auth.models import User
from app.db import MAX_ID, delete_in_batches, utcnow
from app.events import RecordEvent
from app.extensions import db

EDITABLE = ("name", "description", "entity", "event", "event_options", "condition", "actions", "enabled", "blocking",
            "once_per_record", "position")


# What a rule's reader sees for a webhook's signing secret, and what sent back means "keep it":
# the secret stays with the rule (and the worker that signs), never in a page or an API answer.
SECRET_KEPT = "•" * 16


def rule_dict(rule: Rule, reveal: bool = False) -> dict:
    """The rule as the API and the editor show it; ``reveal`` (internal use only) keeps the
    webhooks' signing secrets, which readers otherwise see as ``SECRET_KEPT``."""
    actions = rule.actions if reveal else [{**a, "secret": SECRET_KEPT} if isinstance(a, dict) and a.get("secret")
                                           else a for a in rule.actions or []]
    return {"id": rule.id, "name": rule.name, "description": rule.description, "entity": rule.entity,
            "event": rule.event, "event_options": rule.event_options or {}, "condition": rule.condition,
            "actions": actions, "enabled": rule.enabled, "blocking": rule.blocking,
            "once_per_record": rule.once_per_record, "position": rule.position,
            "created_by": rule.created_by.username if rule.created_by else None,
            "created_at": rule.created_at.isoformat(), "updated_at": rule.updated_at.isoformat(),
            "version": rule.version}


def _without_secrets(rule: dict) -> dict:
    """A rule for the audit log, which nobody can edit or purge: a webhook's signing secret
    shows as a short fingerprint, enough to see that it was rotated, never the secret."""
    def masked(action):
        if not isinstance(action, dict) or not action.get("secret"):
            return action
        digest = hashlib.sha256(str(action["secret"]).encode()).hexdigest()[:8]
        return {**action, "secret": f"sha256:{digest}…"}

    return {**rule, "actions": [masked(a) for a in rule.get("actions") or []]} if "actions" in rule else rule


def _kept_secrets(actions, stored: list) -> list:
    """``actions`` with each ``SECRET_KEPT`` replaced by the secret the rule has: the same
    webhook action (by its id), else the one with the same address, else the one at the same place."""
    if not isinstance(actions, list):
        return actions
    hooks = [a for a in stored if isinstance(a, dict) and a.get("type") == "webhook" and a.get("secret")]
    out = []
    for index, action in enumerate(actions):
        if isinstance(action, dict) and action.get("secret") == SECRET_KEPT:
            same = next((a for a in hooks if action.get("id") and a.get("id") == action.get("id")), None)
            same = same or next((a for a in hooks if a.get("url") == action.get("url")), None)
            if same is None and index < len(stored) and stored[index] in hooks:
                same = stored[index]
            # Nothing to keep (a new webhook): empty, so the check asks for a secret.
            action = {**action, "secret": same["secret"] if same else ""}
        out.append(action)
    return out


def _name_webhooks(actions) -> None:
    """Each webhook action keeps an id for good: its pending retries find it by that id after the
    rule's actions are reordered or another webhook is added (never another receiver's address
    or secret), and know when it was removed."""
    seen = set()
    for action in actions if isinstance(actions, list) else ():
        if isinstance(action, dict) and action.get("type") == "webhook":
            if not isinstance(action.get("id"), str) or not _WEBHOOK_ID.fullmatch(action["id"]) or action["id"] in seen:
                action["id"] = secrets.token_hex(6)
            seen.add(action["id"])


_WEBHOOK_ID = re.compile(r"[0-9a-f]{12}")


def checked_definition(data: dict, stored_actions: list | None = None) -> dict:
    """A rule definition validated (and put in canonical form) without saving it; a kept
    secret (``SECRET_KEPT``) is the stored rule's."""
    data = {k: data[k] for k in EDITABLE if k in data}
    if "actions" in data:
        data["actions"] = _kept_secrets(data["actions"], stored_actions or [])
    return _checked(data)


def _checked(data: dict) -> dict:
    data = copy.deepcopy(data)
    data.setdefault("description", "")
    data.setdefault("event_options", {})
    if data.get("condition") in ({}, []):
        data["condition"] = None
    problems = validate_rule(data, cat.catalog())
    if data.get("enabled", True):  # a disabled rule may keep them: it is being fixed, or waits for them
        problems += [{"field": f"actions.{index}", "message": _(
            "%(name)s is deactivated: this action would reach nobody. Choose someone else, or save the rule "
            "disabled.", name=name)} for index, name in _inactive_people(data.get("actions"))]
    if problems:
        fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
        raise ApiError(400, "invalid_rule", _("The rule is not valid: %(fields)s", fields=fields), problems)
    _name_webhooks(data.get("actions"))
    return data


def _people_named(action) -> set[str]:
    """The users an action names itself (not through a group or the record's owner)."""
    if not isinstance(action, dict):
        return set()
    names = set(action.get("users") or []) | {action.get("user"), action.get("assignee"), action.get("default")}
    names |= set((action.get("map") or {}).values()) if isinstance(action.get("map"), dict) else set()
    return {name for name in names if isinstance(name, str) and name and name != "owner"}


def _inactive_people(actions) -> list[tuple[int, str]]:
    named = {index: _people_named(action) for index, action in enumerate(actions or [])}
    wanted = set().union(*named.values()) if named else set()
    inactive = set(db.session.scalars(select(User.username).where(User.username.in_(wanted),
                                                                 User.active.is_(False)))) if wanted else set()
    return [(index, name) for index, names in named.items() for name in sorted(names & inactive)]


def rules_naming_person(username: str) -> list[Rule]:
    """The enabled rules whose actions name ``username`` (to notify, to give a record or a to-do)."""
    rules = db.session.scalars(select(Rule).where(Rule.enabled.is_(True)).order_by(Rule.id)).all()
    return [rule for rule in rules if any(username in _people_named(action) for action in rule.actions or [])]


def _prepare_round_robin(actions: list) -> None:
    """A cursor row per round-robin group exists before any save needs it, so concurrent
    saves serialise on its row lock (FOR UPDATE) instead of racing to insert it."""
    from app.automation.models import RoundRobinCursor

    for action in actions:
        if action.get("type") == "assign_owner" and action.get("strategy") == "round_robin":
            if db.session.get(RoundRobinCursor, action["group"]) is None:
                db.session.add(RoundRobinCursor(group_name=action["group"]))


label_audit_events({"automation.rule_created": _l("Automation rule created"),
                    "automation.rule_changed": _l("Automation rule changed"),
                    "automation.rule_deleted": _l("Automation rule deleted"),
                    "automation.webhook_allowlist": _l("Webhook allow-list changed")})


def _condition_words(condition, rule) -> str:
    """A rule's condition as its editor words it, fields named by the rule's record type."""
    return describe_condition(condition, cat.entity_specs().get(rule.get("entity")))


def _action_words(actions, _rule) -> str:
    kinds = [action.get("type") for action in actions if isinstance(action, dict)]
    return ", ".join(str(ACTION_LABELS.get(kind, kind)) for kind in kinds)


# A rule in the audit log reads as in its editor: record type, event, condition and actions in words.
label_audit_details(("automation.rule_created", "automation.rule_changed", "automation.rule_deleted"),
                    keys={"description": _l("Description"), "entity": _l("Record type"), "condition": _l("Conditions"),
                          "actions": _l("Actions"), "blocking": _l("Blocking: a failing action refuses the save"),
                          "once_per_record": _l("Only once per record: never act on the same record again")},
                    formats={"condition": _condition_words, "actions": _action_words,
                             "event": lambda event, _rule: str(EVENT_LABELS.get(event, event))})


def create_rule(data: dict, actor) -> Rule:
    clean = checked_definition(data)
    rule = Rule(**{k: clean[k] for k in EDITABLE if k in clean}, created_by_id=getattr(actor, "id", None))
    db.session.add(rule)
    _prepare_round_robin(rule.actions)
    db.session.flush()
    audit("automation.rule_created", actor=actor, target=f"rule:{rule.id}",
          rule=_without_secrets(rule_dict(rule, reveal=True)))
    db.session.commit()
    return rule


def update_rule(rule: Rule, data: dict, actor, version: int | None = None) -> Rule:
    if version is not None and version != rule.version:
        raise ApiError(409, "stale_version", _("The rule was changed by someone else; reload it and try again."))
    before = rule_dict(rule, reveal=True)
    merged = {k: before[k] for k in EDITABLE}
    merged.update({k: data[k] for k in EDITABLE if k in data})
    clean = checked_definition(merged, stored_actions=before["actions"])
    before = _without_secrets(before)
    for key in EDITABLE:
        setattr(rule, key, clean[key])
    _prepare_round_robin(rule.actions)
    db.session.flush()
    after = _without_secrets(rule_dict(rule, reveal=True))
    changed = {k: {"from": before[k], "to": after[k]} for k in EDITABLE if before[k] != after[k]}
    if changed:
        audit("automation.rule_changed", actor=actor, target=f"rule:{rule.id}", entity=rule.entity, changes=changed)
    db.session.commit()
    return rule


def delete_rule(rule: Rule, actor) -> None:
    audit("automation.rule_deleted", actor=actor, target=f"rule:{rule.id}",
          rule=_without_secrets(rule_dict(rule, reveal=True)))
    db.session.delete(rule)
    db.session.commit()


def _id(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


def get_rule(rule_id) -> Rule:
    rule = db.session.get(Rule, _id(rule_id)) if _id(rule_id) else None
    if rule is None:
        raise ApiError(404, "not_found", _("No such automation rule."))
    return rule


def rules_naming(entity: str, field: str, value) -> list[Rule]:
    """The enabled rules that compare ``entity``'s ``field`` with ``value`` in a condition, or
    set it to ``value`` (on their own record or one they create): what stops working when the
    value goes (a deleted pipeline stage)."""
    def named(candidate) -> bool:
        return candidate == value or (isinstance(candidate, list) and value in candidate)

    def in_condition(node) -> bool:
        if isinstance(node, dict) and is_group(node):
            return any(in_condition(child) for child in node.get("and") or node.get("or") or [])
        return isinstance(node, dict) and node.get("field") == field and named(node.get("value"))

    def sets_it(rule: Rule, action: dict) -> bool:
        target = action.get("entity") if action.get("type") == "create_record" else rule.entity
        items = action.get("values") if action.get("type") == "set_fields" else action.get("mapping")
        return target == entity and isinstance(items, list) and any(
            isinstance(item, dict) and item.get("field") == field and item.get("value") == value for item in items)

    rules = db.session.scalars(select(Rule).where(Rule.enabled.is_(True)).order_by(Rule.id)).all()
    return [rule for rule in rules
            if (rule.entity == entity and in_condition(rule.condition))
            or any(isinstance(action, dict) and sets_it(rule, action) for action in rule.actions or [])]


def mentions_field(field: str, *documents) -> bool:
    """Whether ``field`` (``custom.budget``) is named anywhere in the JSON ``documents``: a
    condition, an action's values or message (``{custom.budget}``), a time event's field."""
    named = re.compile(re.escape(field) + r"(?![A-Za-z0-9_])")
    return any(named.search(json.dumps(document, ensure_ascii=False)) for document in documents if document)


def rules_using_field(entity: str, field: str) -> list[Rule]:
    """The rules (enabled or not) that read or set ``entity``'s ``field``: on its records, or on
    records of it they create. Deleting or retyping the field would leave them comparing or
    setting nothing, or another field in their editor."""
    def touches(rule: Rule) -> bool:
        return rule.entity == entity or any(isinstance(a, dict) and a.get("type") == "create_record"
                                            and a.get("entity") == entity for a in rule.actions or [])

    rules = db.session.scalars(select(Rule).order_by(Rule.id)).all()
    return [rule for rule in rules if touches(rule)
            and mentions_field(field, rule.condition, rule.actions, rule.event_options)]


def rules_query(entity: str | None = None, event: str | None = None, q: str | None = None):
    stmt = select(Rule).order_by(Rule.entity, Rule.event, Rule.position, Rule.id)
    if entity:
        stmt = stmt.where(Rule.entity == entity)
    if event:
        stmt = stmt.where(Rule.event == event)
    if q:
        stmt = stmt.where(Rule.name.ilike(f"%{q}%"))
    return stmt


# --- dry run ------------------------------------------------------------------------------

def dry_run_rule(rule_data: dict, actor, record_id=None, sample: dict | None = None, changes: dict | None = None,
                 event: str | None = None) -> dict:
    """The rule against an existing record the actor may see, or against sample values."""
    catalog = cat.catalog()
    entity = catalog.entities[rule_data["entity"]]
    if record_id is not None:
        from app.crm import services as crm

        record = crm.get_record(entity.name, record_id, actor)
    else:
        record = _sample_record(sample or {}, entity)
    if changes is not None and not isinstance(changes, dict):
        raise ApiError(400, "invalid_input", _("changes is {field: [old, new]}."), [{"field": "changes",
                                                                                  "message": _("Expected an object.")}])
    pairs = {}
    for name, pair in (changes or {}).items():
        if entity.field(name) is None or not isinstance(pair, list) or len(pair) != 2:
            raise ApiError(400, "invalid_input", _("changes is {field: [old, new]}."),
                           [{"field": f"changes.{name}", "message": _("Expected [old, new] of a known field.")}])
        try:
            coerce(entity.field(name), pair[1])  # the record takes it on for the run
        except BadValue as error:
            raise ApiError(400, "invalid_input", _("The change to try is not valid."),
                           [{"field": f"changes.{name}", "message": str(error)}]) from None
        pairs[name] = pair
    try:
        return dry_run(rule_data, record, catalog, pairs, event)
    finally:
        # Nothing a dry run touches may persist, even by accident.
        db.session.rollback()


def _sample_record(sample, entity) -> dict:
    if not isinstance(sample, dict):
        raise ApiError(400, "invalid_input", _("record is an object of field values."),
                       [{"field": "record", "message": _("Expected an object.")}])
    # A record as the REST API returns it is taken as it is: its custom fields under "custom",
    # and what it echoes (id, version, times) or holds beyond what rules read left aside.
    crm = cat._crm()
    echoed = crm.ECHOED | {spec.key for spec in crm.FIELDS[entity.name]} if crm is not None else frozenset()
    values = {k: v for k, v in sample.items() if k != "custom" or not isinstance(v, dict)}
    values.update({f"custom.{k}": v for k, v in sample["custom"].items()} if isinstance(sample.get("custom"), dict)
                  else {})
    record, problems = {"id": None}, []
    for name, value in values.items():
        spec = entity.field(name)
        if spec is None and name in echoed:
            continue
        if spec is None:
            problems.append({"field": f"record.{name}", "message": _("Unknown field %(name)s of %(entity)s.",
                                                                      name=name, entity=entity.label)})
            continue
        try:
            record[name] = coerce(spec, value)
        except BadValue as error:
            problems.append({"field": f"record.{name}", "message": str(error)})
    if problems:
        raise ApiError(400, "invalid_input", _("Some sample values are not valid."), problems)
    return record


# --- the run log --------------------------------------------------------------------------

def run_dict(run: RuleRun) -> dict:
    return {"id": run.id, "at": run.at.isoformat(), "rule_id": run.rule_id, "rule_name": run.rule_name,
            "entity": run.entity, "record_id": run.record_id, "record_label": run.record_label, "event": run.event,
            "outcome": run.outcome, "conditions": run.conditions, "actions": run.actions, "chain": run.chain,
            "duration_ms": run.duration_ms, "error": run.error}


def runs_query(rule_id=None, entity=None, record_id=None, outcome=None, deleted_rule: str | None = None):
    """Runs, newest first; ``deleted_rule``: the runs of a deleted rule, by the name it had."""
    stmt = select(RuleRun).order_by(RuleRun.at.desc(), RuleRun.id.desc())
    if rule_id is not None:
        stmt = stmt.where(RuleRun.rule_id == rule_id)
    if deleted_rule:
        stmt = stmt.where(RuleRun.rule_id.is_(None), RuleRun.rule_name == deleted_rule)
    if entity:
        stmt = stmt.where(RuleRun.entity == entity)
    if record_id is not None:
        stmt = stmt.where(RuleRun.record_id == record_id)
    if outcome:
        stmt = stmt.where(RuleRun.outcome == outcome)
    return stmt


def failed_run_count(since: datetime) -> int:
    """Runs that failed from ``since`` on (index on outcome and time)."""
    return db.session.scalar(select(func.count()).select_from(RuleRun)
                             .where(RuleRun.outcome == "failed", RuleRun.at >= since))


def deleted_rule_names() -> list[str]:
    """Names of deleted rules that left runs (their runs keep the name, the rule id is gone)."""
    return list(db.session.scalars(select(RuleRun.rule_name).where(RuleRun.rule_id.is_(None))
                                   .distinct().order_by(RuleRun.rule_name)))


def runs_for_record(entity: str, record_id: int, limit: int = 50) -> list[RuleRun]:
    return list(db.session.scalars(runs_query(entity=entity, record_id=record_id).limit(limit)))


def run_with_deliveries(run_id: int) -> dict:
    run = db.session.get(RuleRun, run_id) if 0 < run_id <= MAX_ID else None
    if run is None:
        raise ApiError(404, "not_found", _("No such automation run."))
    return {**run_dict(run), "deliveries": [
        {"at": d.at.isoformat(), "attempt": d.attempt, "url": d.url, "status_code": d.status_code, "ok": d.ok,
         "response": d.response, "error": d.error, "duration_ms": d.duration_ms} for d in deliveries_for_run(run.id)]}


def webhook_jobs_of(run) -> dict[int, object]:
    """``{action index: its delivery job}`` of a run's webhook actions: "done" there means queued,
    and the page said so while the receiver kept answering 500 and the job retried."""
    from app.jobs.models import Job

    ids = {entry["index"]: (entry.get("result") or {}).get("job_id") for entry in run.actions or []
           if entry.get("type") == "webhook"}
    jobs = {job.id: job for job in db.session.scalars(select(Job).where(Job.id.in_([i for i in ids.values() if i])))}
    return {index: jobs[job_id] for index, job_id in ids.items() if job_id in jobs}


def deliveries_for_run(run_id: int) -> list[WebhookDelivery]:
    return list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.run_id == run_id)
                                   .order_by(WebhookDelivery.id)))


# --- to-dos -------------------------------------------------------------------------------

def _open_todo_conditions(user) -> tuple:
    return Todo.user_id == user.id, Todo.done.is_(False), Todo.starts_at <= utcnow()


def open_todos_query(user):
    """The user's open to-dos whose delayed start has come, soonest deadline first."""
    return (select(Todo).where(*_open_todo_conditions(user))
            .order_by(Todo.deadline.is_(None), Todo.deadline, Todo.id))


def scheduled_todos_query(user):
    """The user's open to-dos whose delayed start is still to come, the soonest first: seen
    ahead, so a wrong one can be noticed (and done away with) before it starts."""
    return (select(Todo).where(Todo.user_id == user.id, Todo.done.is_(False), Todo.starts_at > utcnow())
            .order_by(Todo.starts_at, Todo.id))


def done_todos_query(user):
    """The user's completed to-dos, the latest first."""
    return select(Todo).where(Todo.user_id == user.id, Todo.done.is_(True)).order_by(Todo.done_at.desc(), Todo.id.desc())


def open_todos_for(user) -> list[Todo]:
    return list(db.session.scalars(open_todos_query(user)))


def open_todo_counts(user, *deadlines: datetime) -> tuple[int, ...]:
    """How many to-dos ``open_todos_query`` lists, then how many of them are due before each of
    ``deadlines``: one aggregate."""
    counts = [func.count()] + [func.count(case((Todo.deadline < deadline, 1))) for deadline in deadlines]
    return tuple(db.session.execute(select(*counts).where(*_open_todo_conditions(user))).one())


def _user_id(name: str):
    return select(User.id).where(User.username == bindparam(name)).scalar_subquery()


_FOLLOW_OWNER = (update(Todo)  # ORM-enabled: to-dos already loaded in the session are told
                 .where(Todo.entity == bindparam("of_entity"), Todo.record_id == bindparam("of_record"),
                        Todo.done.is_(False), Todo.user_id == _user_id("previous"))
                 .values(user_id=_user_id("owner"), version=Todo.version + 1))


def todos_follow_owner(event: RecordEvent) -> None:
    """The ``app.events`` subscriber: the open to-dos about a record that its previous owner
    holds go with it to the new owner (a rule's "call them tomorrow" made for the owner before
    a later rule's round robin gave the customer away, a leaver's records handed over). To-dos
    someone else holds on the record stay theirs."""
    previous, owner = (event.changes or {}).get("owner", (None, None))
    if event.event != "updated" or not previous or not owner:
        return
    db.session.execute(_FOLLOW_OWNER, {"of_entity": event.entity, "of_record": event.record.id,
                                       "previous": previous, "owner": owner})


def complete_todo(todo_id, user, commit: bool = True) -> Todo:
    todo = db.session.get(Todo, _id(todo_id)) if _id(todo_id) else None
    if todo is None or todo.user_id != user.id:
        raise ApiError(404, "not_found", _("No such to-do."))
    if todo.done:
        raise ApiError(409, "conflict", _("This to-do is already done."))
    todo.done, todo.done_at = True, utcnow()
    if commit:
        db.session.commit()
    return todo


def todo_dict(todo: Todo) -> dict:
    return {"id": todo.id, "title": todo.title, "description": todo.description, "user": todo.user.username,
            "starts_at": todo.starts_at.isoformat(), "deadline": todo.deadline.isoformat() if todo.deadline else None,
            "done": todo.done, "done_at": todo.done_at.isoformat() if todo.done_at else None,
            "entity": todo.entity, "record_id": todo.record_id}


# --- settings -----------------------------------------------------------------------------

_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


def _allowlist_problem(entry: str) -> str | None:
    """Why ``entry`` would never match a webhook's host (None: it is a host name or address)."""
    try:
        ipaddress.ip_address(entry.strip("[]"))
        return None
    except ValueError:
        pass
    if "://" in entry or "/" in entry:
        return _("“%(entry)s”: name the host only (e.g. %(host)s), without scheme, path or range.", entry=entry,
                 host=(entry.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "erp.example.com"))
    if ":" in entry:
        return _("“%(entry)s”: leave the port out; the host is allowed on every port.", entry=entry)
    if not _HOST_NAME.match(entry):
        return _("“%(entry)s” is not a host name or an IP address.", entry=entry)
    return None


def set_webhook_allowlist(hosts: list[str], actor) -> list[str]:
    """Hosts (names or addresses) webhooks may reach though private. An entry that could never
    match (a URL, a port, a range) is refused: saved, it let the administrator believe the
    host was allowed while every webhook to it was still refused."""
    clean = sorted({h.strip().lower() for h in hosts if isinstance(h, str) and h.strip()})
    problems = [problem for problem in map(_allowlist_problem, clean) if problem]
    if problems:
        raise ApiError(400, "invalid_input", " ".join(problems), [{"field": "hosts", "message": p} for p in problems])
    row = db.session.get(Setting, "webhook_allowlist")
    before = list(row.value or []) if row else []
    if row is None:
        row = Setting(key="webhook_allowlist")
        db.session.add(row)
    row.value = clean
    if before != clean:
        audit("automation.webhook_allowlist", actor=actor, target="webhook_allowlist", before=before, after=clean)
    db.session.commit()
    return clean


def page_of_runs(stmt, page: int, per_page: int = 50) -> dict:
    from app.api.frame import page_of

    return page_of(stmt, page, per_page, lambda run: run)


def prune_run_log(before, batch: int = 5000) -> int:
    """Delete rule runs and webhook delivery attempts logged before ``before``; returns how
    many went."""
    return sum(delete_in_batches(model, model.at < before, batch=batch) for model in (WebhookDelivery, RuleRun))
