"""What each action does, in two steps: ``plan`` works out exactly what would happen (the
dry run shows this), ``apply`` does it. A real run always applies the plan it made, so the
dry run and the real run cannot drift apart.

Plans read the record through ``ctx.get``, which sees earlier actions' field changes: in a
dry run those live only in ``ctx.overlay``, in a real run on the record itself.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.automation import catalog as cat
from app.automation.fields import DATE, DATETIME, USER, EntitySpec, FieldSpec, coerce
from app.automation.validation import Catalog
from app.clock import company_zone
from app.db import jsonable, utcnow
from app.events import caused_by
from app.extensions import db


class ActionFailed(Exception):
    """An action could not be done; the message is shown in the run log."""


@dataclass
class Context:
    rule: Any
    entity: EntitySpec
    record: Any  # a model instance, or a dict of sample values in a dry run
    event: str
    changes: dict
    actor: Any
    chain: tuple  # the cascade including this rule, for events our changes emit
    catalog: Catalog
    today: date
    run_id: int | None = None
    overlay: dict = field(default_factory=dict)
    current_action: dict = field(default_factory=dict)
    action_index: int = 0

    def get(self, name: str):
        if name in self.overlay:
            return self.overlay[name]
        if name == "id":
            return self.record.get("id") if isinstance(self.record, dict) else getattr(self.record, "id", None)
        return cat.read(self.record, name)

    @property
    def record_id(self):
        return self.get("id")


# --- values and templates ---------------------------------------------------------------

def resolve_value(spec_value: dict, target: FieldSpec, ctx: Context, source: EntitySpec | None = None):
    """The value a ``{"mode": ...}`` spec gives for ``target`` on this record."""
    mode = spec_value.get("mode", "value")
    days = int(spec_value.get("days") or 0)
    if mode == "value":
        return coerce(target, spec_value.get("value"), ctx.today)
    if mode == "today":
        day = ctx.today + timedelta(days=days)
        return datetime.combine(day, time(9, 0), tzinfo=company_zone()) if target.type == DATETIME else day
    if mode == "copy":
        origin = (source or ctx.entity).fields[spec_value["from"]]
        value = ctx.get(origin.name)
        if value is not None and days:
            value = value + timedelta(days=days)
        if target.type == "text" and value is not None and not isinstance(value, str):
            value = str(jsonable(value))
        if target.type == DATE and isinstance(value, datetime):
            value = value.date()
        return coerce(target, value, ctx.today)
    if mode == "template":
        return render(spec_value.get("template", ""), ctx)
    raise ActionFailed(f"unknown value mode {mode}")


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _display(value) -> str:
    if value is None:
        return ""
    value = jsonable(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render(template: str, ctx: Context) -> str:
    """``{field}`` → the record's value. Only plain field names: no attribute or index access,
    no format specs, so a template cannot reach into Python objects."""

    def substitute(match):
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name == "link":
            return record_link(ctx.entity.name, ctx.record_id) or ""
        spec = ctx.entity.field(name)
        if name != "id" and spec is None:
            return token
        value = ctx.get(name)
        # People and coded choices as people read them: 销售二, 商务谈判 (not sales2, negotiation).
        if spec is not None and spec.type == USER and value:
            person = _user(str(value))
            return person.label if person is not None else str(value)
        if spec is not None and spec.choice_labels and value is not None:
            return str(dict(spec.choice_labels).get(value, value))
        return _display(value)

    return _PLACEHOLDER.sub(substitute, template or "")


def record_link(entity: str, record_id) -> str | None:
    crm = cat._crm()
    return crm.record_path(entity, record_id) if crm is not None else None


def _put(data: dict, name: str, value) -> None:
    """A field's value where the REST API has it: custom fields under "custom"."""
    if name.startswith("custom."):
        data.setdefault("custom", {})[name[7:]] = value
    else:
        data[name] = value


def record_json(entity: EntitySpec, ctx: Context) -> dict:
    """The record as a webhook sends it: what the REST API answers for it (version and
    sharing included, so a receiver can write back with If-Match), with what this rule's earlier
    actions planned. A dry run's sample values have the same field names."""
    data = cat.api_record(entity.name, ctx.record)
    names = ctx.overlay if data is not None else entity.fields
    data = data if data is not None else {"id": ctx.record_id}
    for name in names:
        _put(data, name, jsonable(ctx.get(name)))
    return data


def _user(username: str):
    from app.auth.models import User

    return db.session.scalar(select(User).where(User.username == username))


def _group(name: str):
    from app.auth.models import Group

    return db.session.scalar(select(Group).where(Group.name == name))


# --- set fields -------------------------------------------------------------------------

def plan_set_fields(action, ctx: Context) -> dict:
    changes = {}
    for item in action["values"]:
        spec = ctx.entity.fields[item["field"]]
        old, new = ctx.get(spec.name), resolve_value(item, spec, ctx)
        if coerce(spec, old, ctx.today) != new:
            changes[spec.name] = [old, new]
    plan = {"changes": changes}
    if ctx.entity.name == "opportunity" and "stage" in changes:
        # What the move will be refused for (a dry run's "would fail"; a real run's edit says the same).
        refusal = cat.stage_refusal(changes["stage"][1], lambda key: _field_after(key, changes, ctx))
        if refusal:
            plan["refused"] = refusal
    return plan


def _field_after(key: str, changes: dict, ctx: Context):
    """A field of the record once this action's changes are made (``custom.budget`` too)."""
    return changes[key][1] if key in changes else ctx.get(key)


def apply_set_fields(plan, ctx: Context) -> dict:
    if not plan["changes"]:
        return {}
    from app.crm import services as crm

    # Through the CRM like any edit: validated, and "updated" is emitted one cascade level deeper.
    crm.update(ctx.record, _api_data(ctx.entity, {n: new for n, (_old, new) in plan["changes"].items()}), None,
               commit=False, chain=ctx.chain, reason=_reason(ctx))
    return {}


def _api_data(entity: EntitySpec, values: dict) -> dict:
    data: dict = {}
    for name, value in values.items():
        _put(data, name, cat.api_value(entity.fields[name], value))
    return data


def _reason(ctx: Context) -> str:
    # A code the record page words in its reader's language (crm.history.cause_text).
    return f"rule:{ctx.rule.name}"


# --- create a related record --------------------------------------------------------------

def plan_create_record(action, ctx: Context) -> dict:
    target = ctx.catalog.entities[action["entity"]]
    values = {}
    for item in action.get("mapping", []):
        spec = target.fields[item["field"]]
        values[spec.name] = resolve_value(item, spec, ctx, source=ctx.entity)
    links = ctx.catalog.auto_links(ctx.entity.name, target.name)
    if f"{ctx.entity.name}_id" in links:
        values.setdefault(f"{ctx.entity.name}_id", ctx.record_id)
    if "customer_id" in links:
        values.setdefault("customer_id", ctx.record_id if ctx.entity.name == "customer" else ctx.get("customer_id"))
    values.setdefault("owner", ctx.get("owner"))
    return {"entity": target.name, "values": values}


def apply_create_record(plan, ctx: Context) -> dict:
    from app.crm import services as crm

    target = ctx.catalog.entities[plan["entity"]]
    values = dict(plan["values"])
    owner = values.pop("owner", None)
    if not owner:
        raise ActionFailed(_("The new record needs an owner."))
    data = _api_data(target, values)
    data["owner"] = owner
    # As the system (actor None): the rule acts for the company, not for whoever saved.
    record = crm.create(target.name, data, None, commit=False, chain=ctx.chain, on_behalf_of=ctx.actor)
    return {"id": record.id, "label": record.label}


# --- owner assignment ---------------------------------------------------------------------

def _active_members(group_name: str) -> list:
    group = _group(group_name)
    if group is None:
        return []
    return sorted((u for u in group.members if u.active), key=lambda u: u.username)


def _round_robin(group_name: str, lock: bool):
    from app.automation.models import RoundRobinCursor

    members = _active_members(group_name)
    if not members:
        return None, None
    stmt = select(RoundRobinCursor).where(RoundRobinCursor.group_name == group_name)
    if lock and db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # two saves at once must not pick the same member
    cursor = db.session.scalar(stmt)
    last = cursor.last_user_id if cursor else None
    if last is None:
        return members[0], cursor
    # The next member after the last one by username, so people joining or leaving keep the order fair.
    from app.auth.models import User

    last_user = db.session.get(User, last)
    following = [u for u in members if last_user is None or u.username > last_user.username]
    chosen = following[0] if following else members[0]
    return chosen, cursor


def _fewest_open(group_name: str):
    members = _active_members(group_name)
    model = cat.model_for("customer")
    if not members or model is None:
        return members[0] if members else None
    counts = dict(db.session.execute(
        select(model.owner_id, func.count()).where(model.owner_id.in_([u.id for u in members])).group_by(model.owner_id)
    ).all())
    opportunity = cat.model_for("opportunity")
    if opportunity is not None:
        for owner_id, count in db.session.execute(
            select(opportunity.owner_id, func.count()).where(opportunity.owner_id.in_([u.id for u in members]),
                                                             opportunity.status == "open").group_by(opportunity.owner_id)
        ):
            counts[owner_id] = counts.get(owner_id, 0) + count
    # Open records the member owns: customers plus open opportunities; ties go by username.
    return min(members, key=lambda u: (counts.get(u.id, 0), u.username))


def plan_assign_owner(action, ctx: Context) -> dict:
    strategy = action["strategy"]
    user = None
    if strategy == "user":
        user = _user(action["user"])
        if user is not None and not user.active:
            return {"skipped": _("%(name)s is inactive; nobody was assigned.", name=user.username)}
    elif strategy == "round_robin":
        user, _cursor = _round_robin(action["group"], lock=False)
    elif strategy == "fewest_open":
        user = _fewest_open(action["group"])
    else:
        value = ctx.get(action["field"])
        username = action["map"].get(str(jsonable(value)) if value is not None else "", action.get("default"))
        user = _user(username) if username else None
        if user is not None and not user.active:
            username = action.get("default")
            user = _user(username) if username else None
            user = user if user is not None and user.active else None
    if user is None:
        return {"skipped": _("No active user to assign.")}
    reason = _reason(ctx)
    if ctx.get("owner") == user.username:
        return {"user": user.username, "unchanged": True, "reason": reason}
    return {"user": user.username, "from": ctx.get("owner"), "reason": reason}


def apply_assign_owner(plan, ctx: Context) -> dict:
    if plan.get("skipped"):
        return {}
    from app.crm import services as crm

    user = _user(plan["user"])
    action = ctx.current_action
    if action["strategy"] == "round_robin":
        from app.automation.models import RoundRobinCursor

        chosen, cursor = _round_robin(action["group"], lock=True)
        if chosen is not None and chosen.username != plan["user"]:
            user = chosen  # another save took the planned member meanwhile
        if cursor is None:
            cursor = RoundRobinCursor(group_name=action["group"])
            db.session.add(cursor)
        # A turn is taken even when it falls to the current owner: the next record goes on.
        cursor.last_user_id = user.id
    if user.username == ctx.get("owner"):
        return {}
    crm.assign_owner(ctx.record, user, None, plan["reason"], commit=False, chain=ctx.chain)
    return {"user": user.username}


# --- sharing ------------------------------------------------------------------------------

def _people(action, ctx: Context, include_owner: bool = False) -> list:
    from app.auth.lookup import users_named

    users = {}
    names = list(action.get("users", []))
    if include_owner and action.get("to_owner") and ctx.get("owner"):
        names.append(ctx.get("owner"))
    if names:
        for user in users_named(names).values():
            users[user.id] = user
    for name in action.get("groups", []):
        group = _group(name)
        for user in (group.members if group else []):
            users[user.id] = user
    return sorted((u for u in users.values() if u.active), key=lambda u: u.username)


def plan_share(action, ctx: Context) -> dict:
    already = set(getattr(ctx.record, "shared_usernames", None) or [])
    owner = ctx.get("owner")
    return {"users": [u.username for u in _people(action, ctx) if u.username not in already and u.username != owner]}


def apply_share(plan, ctx: Context) -> dict:
    if not plan["users"]:
        return {}
    from app.crm import services as crm

    crm.share(ctx.record, plan["users"], None, commit=False, chain=ctx.chain)
    return {}


# --- notifications ------------------------------------------------------------------------

def _record_still_there(ctx: Context) -> int | None:
    """The record's id to link to, unless the event deleted it (its page would be a 404)."""
    return None if ctx.event == "deleted" else ctx.record_id


def plan_notify(action, ctx: Context) -> dict:
    recipients = [u.username for u in _people(action, ctx, include_owner=True)]
    email = bool(current_app.config.get("SMTP_HOST"))
    plan = {"recipients": recipients, "text": render(action["template"], ctx),
            "link": record_link(ctx.entity.name, _record_still_there(ctx)), "email": email}
    if not recipients:
        plan["skipped"] = _("Nobody to notify: the people named are deactivated, the groups have no active member.")
    return plan


def apply_notify(plan, ctx: Context) -> dict:
    if plan.get("skipped"):
        return {}
    from app.notifications.services import notify

    rows = notify(plan["recipients"], plan["text"], link=plan["link"], kind="automation")
    return {"notified": len(rows)}


# --- to-dos -------------------------------------------------------------------------------

_STAMP = FieldSpec("deadline", DATE)


# A to-do starts at the working day's beginning and is due by its end: due "today" is not
# overdue the moment a rule creates it at noon.
_STARTS_AT, _DUE_BY = time(9, 0), time(23, 59)


def _when(spec_value, ctx: Context, default=None, at: time = _STARTS_AT):
    if not spec_value:
        return default
    day = resolve_value(spec_value, _STAMP, ctx)
    return datetime.combine(day, at, tzinfo=company_zone()) if day else default


def plan_create_todo(action, ctx: Context) -> dict:
    assignee = action.get("assignee", "owner")
    username = ctx.get("owner") if assignee == "owner" else assignee
    user = _user(username) if username else None
    if user is None or not user.active:
        return {"skipped": _("No active user for the to-do (%(name)s).", name=username or "-")}
    starts = _when(action.get("start"), ctx, default=utcnow())
    deadline = _when(action.get("deadline"), ctx, at=_DUE_BY)
    return {"user": user.username, "title": render(action["title"], ctx)[:300],
            "description": render(action.get("description") or "", ctx),
            "starts_at": max(starts, utcnow()) if action.get("start") else starts, "deadline": deadline}


def apply_create_todo(plan, ctx: Context) -> dict:
    if plan.get("skipped"):
        return {}
    from app.automation.models import Todo

    todo = Todo(user_id=_user(plan["user"]).id, title=plan["title"], description=plan["description"],
                starts_at=plan["starts_at"], deadline=plan["deadline"], entity=ctx.entity.name,
                record_id=_record_still_there(ctx), rule_id=getattr(ctx.rule, "id", None))
    db.session.add(todo)
    db.session.flush()
    return {"todo_id": todo.id}


# --- webhooks -----------------------------------------------------------------------------

def plan_webhook(action, ctx: Context) -> dict:
    from urllib.parse import urlsplit

    host = urlsplit(action["url"]).hostname or ""
    # Who acted (None: the system, a timer): a receiver that writes back through the API with its
    # own account can tell its own echo from a person's change and not loop.
    body = {"rule": {"id": getattr(ctx.rule, "id", None), "name": ctx.rule.name}, "entity": ctx.entity.name,
            "event": ctx.event, "actor": getattr(ctx.actor, "username", None), "record": record_json(ctx.entity, ctx),
            "changes": {k: [jsonable(v) for v in pair] for k, pair in ctx.changes.items()}}
    customer = getattr(ctx.record, "customer", None)
    if customer is not None:  # an activity's or a deal's customer by name: no call back to the API for it
        body["customer"] = {"id": customer.id, "name": customer.name}
    plan = {"url": action["url"], "body": body, "timeout": action.get("timeout", 10),
            "max_attempts": action.get("max_attempts", 5), "signed": bool(action.get("secret"))}
    if not ctx.catalog.host_allowed(host):
        plan["refused"] = _("%(host)s is a loopback or private address; an administrator must allow-list it first.",
                            host=host)
    return plan


def apply_webhook(plan, ctx: Context) -> dict:
    if plan.get("refused"):
        raise ActionFailed(plan["refused"])
    from app.jobs import enqueue

    # The run's id alone came round again after a database restore: receivers deduplicating on
    # it dropped new events. A random part keeps it unique; it stays the same on every retry.
    key = f"automation-webhook:{ctx.run_id}:{ctx.action_index}:{secrets.token_hex(6)}"
    # The signing secret stays in the rule; the job names the rule and action to find it.
    payload = {"url": plan["url"], "body": {**plan["body"], "delivery": key}, "timeout": plan["timeout"],
               "run_id": ctx.run_id, "rule_id": getattr(ctx.rule, "id", None), "action_index": ctx.action_index,
               "action_id": (ctx.current_action or {}).get("id")}
    job = enqueue("automation.webhook", payload, key=key, max_attempts=plan["max_attempts"])
    return {"delivery": key, "job_id": job.id if job.id else None}


# --- workflows ----------------------------------------------------------------------------

def plan_start_workflow(action, ctx: Context) -> dict:
    known = cat.process_known(action["process_key"])
    # The record's fields by their keys, as an embedded process starts with them (started with
    # only a mapping left empty, the customer report stopped at once: "name 'province' is not
    # defined"); the mapping adds or renames. Custom fields are mapped: custom.x names no variable.
    from app.forms.bindings import standard_values

    owner = getattr(ctx.get("owner"), "username", ctx.get("owner"))
    # A rule set off by another rule acts for nobody: the record's owner submits, as an embedded
    # process's, so they follow it in their submissions and hear the outcome (${reporter}).
    submitter = ctx.actor or (_user(owner) if owner else None)
    data = standard_values(ctx.entity.name, ctx.record_id, submitter, owner)
    data.update({name: jsonable(ctx.get(name)) for name in ctx.entity.fields
                 if "." not in name and name not in data})
    data.update({form_field: jsonable(ctx.get(record_field))
                 for form_field, record_field in action.get("mapping", {}).items()})
    plan = {"process_key": action["process_key"], "data": data,
            "submitter": getattr(submitter, "username", None)}
    if known is None:
        plan["refused"] = _("No workflow engine is installed, so process %(key)s cannot be started.",
                            key=action["process_key"])
    elif not known:
        plan["refused"] = _("Unknown process %(key)s: deploy it first.", key=action["process_key"])
    elif ctx.record_id is not None:
        from app.engine import services as engine

        # A second approval of the same record beside the first: two 福建区域负责人审批 for one customer.
        running = [i for i, key in engine.open_instances_for(ctx.entity.name, ctx.record_id)
                   if key == action["process_key"]]
        if running:
            plan["skipped"] = _("Process #%(id)s is already running for this record.", id=running[0])
    return plan


def apply_start_workflow(plan, ctx: Context) -> dict:
    if plan.get("refused"):
        raise ActionFailed(plan["refused"])
    if plan.get("skipped"):
        return {}
    from app.engine import services as engine

    # Stuck at once (data the mapping does not pass): a failed action, undone with the rule's
    # others and told to its author, not a "done" beside an instance in error.
    submitter = ctx.actor or (_user(plan["submitter"]) if plan.get("submitter") else None)
    instance = engine.start_instance(plan["process_key"], plan["data"], actor=submitter,
                                     record={"type": ctx.entity.name, "id": ctx.record_id}, commit=False,
                                     fail_on_error=True)
    crm = cat._crm()
    operation = crm.REVIEW_OPERATIONS.get(ctx.entity.name) if crm is not None else None
    if instance.status == "running" and operation and engine.calls_operation(instance, operation):
        # The record's report (approval) is under way, as when its binding starts it: 报备中, not 未报备.
        with caused_by(f"process:{instance.id}"):
            crm.set_review_status(ctx.entity.name, ctx.record_id, "pending", actor=ctx.actor, commit=False,
                                  chain=ctx.chain)
    return {"instance_id": instance.id, "status": instance.status}


PLANS = {"set_fields": plan_set_fields, "create_record": plan_create_record, "assign_owner": plan_assign_owner,
         "share": plan_share, "notify": plan_notify, "create_todo": plan_create_todo, "webhook": plan_webhook,
         "start_workflow": plan_start_workflow}
APPLIES = {"set_fields": apply_set_fields, "create_record": apply_create_record, "assign_owner": apply_assign_owner,
           "share": apply_share, "notify": apply_notify, "create_todo": apply_create_todo, "webhook": apply_webhook,
           "start_workflow": apply_start_workflow}


def simulate(action, plan, ctx: Context) -> None:
    """In a dry run, let later actions see this one's field changes."""
    if action["type"] == "set_fields":
        ctx.overlay.update({name: new for name, (_old, new) in plan["changes"].items()})
    elif action["type"] == "assign_owner" and plan.get("user"):
        ctx.overlay["owner"] = plan["user"]


__all__ = ["APPLIES", "PLANS", "ActionFailed", "Context", "render", "resolve_value", "simulate"]
