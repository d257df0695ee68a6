"""The inbox, task actions, out-of-office, tracking and the operator console.

Built on the engine's models and services (``app.engine``); nothing here touches
SpiffWorkflow. Engine errors become API errors (404/403/409/400) in :func:`engine_call`.

Who may do what with a task:
- see it: the holder (assignee or claimant), a candidate while it is unclaimed, the delegator
  of an active delegation, whoever started the instance, a manager of one of its groups, an
  admin. Anyone else gets a 404.
- act on it (complete, draft, delegate): the holder or an admin (the engine's rule: a
  delegate is made the assignee).
- reassign it: an admin, or the manager of one of its candidate groups or of a group of the
  current holder.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import g, has_request_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, false, func, or_, select, union_all
from sqlalchemy.orm import aliased, contains_eager

from app.api.errors import ApiError
from app.audit import audit, label_audit_events, label_audit_values
from app.auth.lookup import user_named, users_named
from app.auth.models import Group, User, group_members
from app.clock import company_today, company_zone, day_start
from app.db import MAX_ID, utcnow
from app.engine import services as engine
from app.engine.models import OPEN_STATUSES, TASK_CANCELLED, TASK_OPEN, HumanTask, ProcessDefinition, ProcessHistory, ProcessInstance
from app.extensions import db
from app.inbox.models import (OutOfOffice, TaskDelegation, TaskDraft, TaskOffer, group_principal,
                              user_principal)

# History events that mean a person other than the starter has acted on an instance. Not
# "reassigned": an operator or a hand-over routing a task to someone else has not worked on it.
ACTED_EVENTS = frozenset({"claimed", "completed_task", "delegated", "delegation_returned", "commented",
                          "attachment_added"})
OPERATOR_STATUSES = ("running", "suspended", "error", "completed", "terminated")
# A submitter's view of theirs: "withdrawn" (terminated by themselves) apart from "terminated".
SUBMISSION_STATUSES = ("running", "completed", "withdrawn", "terminated", "suspended", "error")
MAX_COMMENT = 4000


# ------------------------------------------------------------------ helpers

def engine_call(func, *args, **kwargs):
    """Call an engine service, turning its errors into API errors."""
    try:
        return func(*args, **kwargs)
    except engine.EngineServiceError as exc:
        raise _api_error(exc) from None


def _api_error(exc: engine.EngineServiceError) -> ApiError:
    if isinstance(exc, engine.InvalidData):
        details = [{"field": f, "message": _("Not a field of this form.")} for f in exc.fields]
        return ApiError(400, "invalid_data", str(exc), details)
    return ApiError(exc.status, exc.code, str(exc))


def _row(model, row_id):
    if not isinstance(row_id, int) or not 0 < row_id <= MAX_ID:
        return None
    return db.session.get(model, row_id)


def _user(username: str | None) -> User | None:
    if not username or "\x00" in username:
        return None
    return db.session.scalar(select(User).where(User.username == username))


def _active_user(username: str | None, field: str) -> User:
    user = _user(username)
    if user is None or not user.active:
        raise ApiError(400, "invalid_input", _("No active user named %(name)s.", name=username or ""),
                       [{"field": field, "message": _("Unknown or inactive user.")}])
    return user


def _hand_over_target(task: HumanTask, target: User) -> tuple[str, str | None]:
    """Whom a task delegated or reassigned to ``target`` goes to: ``(username, away)``, the
    substitute of an absent user (``away`` is the absent one). Never an interested party."""
    routed, away = substitute_for(target.username)
    parties = not_for(task, acting_for=target.username if away else None)
    if away and routed in parties and target.username not in parties:
        return target.username, None  # away, their substitute a party: it waits for them, as a new task does
    why = parties.get(routed)
    if why:
        raise ApiError(400, "invalid_input", str(why), [{"field": "to", "message": _("Choose another person.")}])
    return routed, away


def interested_parties(instance: ProcessInstance) -> dict:
    """Who must not be handed the instance's tasks, each with why: the person who started it and
    the owner of the record it decides (a report settles that owner's claim, an approval is of
    their own contract). Delegation, reassignment and out-of-office substitutes skip them; a
    step the diagram gives them itself is theirs."""
    parties = {}
    record = record_of(instance)
    owner = getattr(record, "owner", None)
    if owner is not None:
        parties[owner.username] = _l("%(name)s owns the record this process decides and cannot receive its tasks.",
                                     name=owner.label)
    starter = instance.started_by_id and db.session.get(User, instance.started_by_id)
    if starter:
        parties[starter.username] = _l("%(name)s started this process and cannot receive its tasks.",
                                       name=starter.label)
    return parties  # the reasons lazy: most callers only need the names


def not_for(task: HumanTask, acting_for: str | None = None) -> dict:
    """Who must not be handed ``task``, each with why: the instance's interested parties, and
    whoever decided another step of it (four eyes: the sales managers' head approved a
    contract's first level and then, as an away administrator's substitute, its second). The
    same step again (a review sent back) stays with who did it before, and so may a step for
    ``acting_for`` that a substitute decided an earlier step for (both steps meant for one person)."""
    # A task being made (the hooks route it before its first flush) has no instance loaded yet.
    parties = dict(interested_parties(task.instance or db.session.get(ProcessInstance, task.instance_id)))
    rows = list(db.session.scalars(select(ProcessHistory).where(
        ProcessHistory.instance_id == task.instance_id, ProcessHistory.task != task.name,
        ProcessHistory.event.in_(("completed_task", "out_of_office")))))
    # A step completed in this very transaction (the one that created ``task``) is not flushed yet.
    rows += [row for row in db.session.new if isinstance(row, ProcessHistory) and row.instance_id == task.instance_id
             and row.event in ("completed_task", "out_of_office") and row.task != task.name]
    covered = {(row.task, (row.data or {}).get("to")): set((row.data or {}).get("away") or ())
               for row in rows if row.event == "out_of_office"}
    for row in rows:
        if row.event != "completed_task" or not row.actor or row.actor in parties:
            continue
        if acting_for is not None and acting_for in covered.get((row.task, row.actor), ()):
            continue
        person = _user(row.actor)
        parties[row.actor] = _l("%(name)s decided “%(step)s” of this process: this step needs someone else.",
                                name=person.label if person else row.actor, step=row.task)
    return parties


def _clean_comment(comment, required: bool = False, field: str = "comment") -> str | None:
    text = (comment or "").strip() if isinstance(comment, str) else ""
    if required and not text:
        raise ApiError(400, "invalid_input", _("A comment is required."),
                       [{"field": field, "message": _("This field is required.")}])
    if len(text) > MAX_COMMENT:
        raise ApiError(400, "invalid_input", _("The comment is too long."),
                       [{"field": field, "message": _("At most %(n)d characters.", n=MAX_COMMENT)}])
    return text or None


def add_history(instance: ProcessInstance, event: str, actor, task: str | None = None,
                comment: str | None = None, data: dict | None = None) -> ProcessHistory:
    row = ProcessHistory(instance_id=instance.id, actor=getattr(actor, "username", actor), event=event,
                         task=task, comment=comment, data=data)
    db.session.add(row)
    return row


def _commit():
    engine_call(engine._finish, True)


# ------------------------------------------------------------------ permissions

def managed_group_names(user: User) -> set[str]:
    return set(db.session.scalars(select(Group.name).where(Group.manager_id == user.id)))


def holder(task: HumanTask) -> str | None:
    return task.assignee or task.claimed_by


# Built once (as the statements below): building a statement and its cache key cost more
# than running it.
_ACTIVE_DELEGATION = (select(TaskDelegation).where(TaskDelegation.task_id == bindparam("task_id"),
                                                   TaskDelegation.active.is_(True))
                      .order_by(TaskDelegation.id.desc()).limit(1))


def active_delegation(task: HumanTask) -> TaskDelegation | None:
    return db.session.scalar(_ACTIVE_DELEGATION, {"task_id": task.id})


def delegates_answer(task: HumanTask, user: User) -> TaskDelegation | None:
    """The delegation whose answer came back to ``user`` and fills their form: it read as their
    own, one click from being sent as their decision."""
    if task.status != TASK_OPEN or holder(task) != user.username:
        return None
    returned = db.session.scalar(select(TaskDelegation).where(
        TaskDelegation.task_id == task.id, TaskDelegation.delegator == user.username,
        TaskDelegation.return_to_delegator.is_(True), TaskDelegation.active.is_(False))
        .order_by(TaskDelegation.id.desc()).limit(1))
    draft = db.session.scalar(select(TaskDraft.saved_at).where(TaskDraft.task_id == task.id,
                                                               TaskDraft.username == user.username))
    answered = returned is not None and draft is not None and returned.resolved_at is not None \
        and draft >= returned.resolved_at - timedelta(seconds=5)  # saved as it came back, not theirs since
    return returned if answered else None


def _open_delegations(task: HumanTask) -> list[TaskDelegation]:
    """The task's delegations still open, newest first: one passed on again stays open beneath
    the newer one while it waits to come back to its delegator."""
    return list(db.session.scalars(select(TaskDelegation).where(
        TaskDelegation.task_id == task.id, TaskDelegation.active.is_(True)).order_by(TaskDelegation.id.desc())))


def _resolve(delegations) -> None:
    for delegation in delegations:
        delegation.active, delegation.resolved_at = False, utcnow()


def can_reassign(task: HumanTask, user: User) -> bool:
    if user.is_admin:
        return True
    managed = managed_group_names(user)
    if not managed:
        return False
    if managed & set(task.candidate_groups or []):
        return True
    current = _user(holder(task))
    return bool(current and managed & current.group_names)


def can_act(task: HumanTask, user: User) -> bool:
    """May ``user`` work on the task now (a suspended or failed process holds its tasks)?"""
    return task.status == TASK_OPEN and task.instance.status == "running" and engine.can_complete(task, user)


def can_claim(task: HumanTask) -> bool:
    return task.status == TASK_OPEN and task.instance.status == "running" and not (task.assignee or task.claimed_by)


def can_view_task(task: HumanTask, user: User) -> bool:
    if engine.can_see(task, user) or engine.offered_to(task, user):  # a colleague may have taken it
        return True
    if task.instance.started_by_id == user.id:
        return True
    if db.session.scalar(select(TaskDelegation.id).where(
            TaskDelegation.task_id == task.id,
            or_(TaskDelegation.delegator == user.username, TaskDelegation.delegate == user.username)).limit(1)):
        return True
    if task.completed_by == user.username:
        return True
    return can_reassign(task, user)


def can_view_instance(instance: ProcessInstance, user: User) -> bool:
    """Admins, who started it, who holds or held one of its tasks, and who may see its record
    (a customer's owner follows the report about it, whoever filed it)."""
    if user.is_admin or instance.started_by_id == user.id:
        return True
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))
    if any(can_view_task(t, user) for t in tasks):
        return True
    from app.crm.services import can_see

    record = record_of(instance)
    return record is not None and can_see(record, user)


def get_task_for(task_id: int, user: User) -> HumanTask:
    task = _row(HumanTask, task_id)
    if task is None or not can_view_task(task, user):
        raise ApiError(404, "not_found", _("No such task."))
    return task


def get_instance_for(instance_id: int, user: User) -> ProcessInstance:
    instance = _row(ProcessInstance, instance_id)
    if instance is None or not can_view_instance(instance, user):
        raise ApiError(404, "not_found", _("No such process instance."))
    return instance


def _require_act(task: HumanTask, user: User) -> None:
    if task.status == TASK_CANCELLED and task.instance.status in OPEN_STATUSES:
        # An approver with the form open when the escalation came got "no longer open" alone.
        raise ApiError(409, "task_closed", _("This task was taken back by the process (for example, escalated after "
                                             "its deadline): its page shows where the request went."))
    if task.status != TASK_OPEN:
        raise ApiError(409, "task_closed", _("This task is no longer open."))
    if not engine.can_complete(task, user):
        if can_claim(task) and engine.can_see(task, user):
            # Offered to the user's group or to several people: one of them takes it first.
            raise ApiError(403, "claim_required", _("Claim this task first: it is offered to several people "
                                                    "and one of them takes it before acting."))
        if holder(task) and holder(task) != user.username and engine.offered_to(task, user):
            # A colleague claimed it, a manager reassigned it, while this one had it open.
            raise _api_error(engine.taken_by(task))
        raise ApiError(403, "forbidden", _("Only the holder of this task can do that."))


# ------------------------------------------------------------------ out of office

def _away_at(at: datetime):
    """The out-of-office periods running at ``at`` (a WHERE clause)."""
    return and_(OutOfOffice.starts_at <= at, OutOfOffice.ends_at > at)


def away_period(user_id: int, at: datetime | None = None) -> OutOfOffice | None:
    at = at or utcnow()
    return db.session.scalar(select(OutOfOffice).where(OutOfOffice.user_id == user_id, _away_at(at))
                             .order_by(OutOfOffice.starts_at.desc()).limit(1))


def members_all_away(group_names: list[str], at: datetime | None = None) -> list[str]:
    """The active members of the groups, when every one of them is away (a division with one
    head on holiday), else []: one query, as it runs for every new task offered to a group."""
    at = at or utcnow()
    away = select(OutOfOffice.user_id).where(_away_at(at))
    rows = db.session.execute(
        select(User.username, User.id.in_(away)).join(group_members, group_members.c.user_id == User.id)
        .join(Group, Group.id == group_members.c.group_id)
        .where(Group.name.in_(group_names), User.active.is_(True)).distinct()).all()
    return sorted(name for name, _ in rows) if rows and all(is_away for _, is_away in rows) else []


def substitutes_of_the_away(names, at: datetime | None = None) -> set[str]:
    """Who covers for those of ``names`` away now (one query when nobody is)."""
    at = at or utcnow()
    away = db.session.scalars(select(User.username).join(OutOfOffice, OutOfOffice.user_id == User.id).where(
        User.username.in_(sorted(set(names))), _away_at(at))).all()
    return {routed for routed, chain in (substitute_for(name, at) for name in sorted(set(away))) if chain}


def substitute_for(username: str, at: datetime | None = None) -> tuple[str, list[str]]:
    """Who gets a task meant for ``username`` now: ``(username, chain of the away people)``.

    Follows substitutes who are away themselves; stops at a loop or an inactive substitute
    (the task then stays with the last person present in the chain, or the original user).
    """
    chain: list[str] = []
    current = _user(username)
    while current is not None:
        period = away_period(current.id, at)
        if period is None or not period.substitute.active or period.substitute.username in chain + [username]:
            break
        chain.append(current.username)
        current = period.substitute
    return (current.username if current is not None else username), chain


label_audit_events({"inbox.out_of_office_set": _l("Out-of-office substitute set"),
                    "inbox.out_of_office_deleted": _l("Out-of-office period removed")})


def may_substitute(substitute: User, user: User) -> bool:
    """A substitute does the away person's work: they share a role (or are an administrator; an
    administrator's approvals, 总经理审批, go to an approver). A Fujian head's salesperson
    substitute decided other salespeople's reports (撞单)."""
    work = user.role_names | ({"approver"} if user.is_admin else set())
    return substitute.is_admin or bool(substitute.role_names & work)


def set_out_of_office(user: User, substitute_name: str, starts_on, ends_on, note: str = "",
                      actor: User | None = None) -> OutOfOffice:
    """Away from the start of ``starts_on`` to the end of ``ends_on`` (company time zone); set by
    ``user`` or, for someone off sick who cannot, by an administrator (``actor``)."""
    errors = []
    substitute = _user(substitute_name) if (substitute_name or "").strip() else None
    if not (substitute_name or "").strip():
        errors.append({"field": "substitute", "message": _("This field is required.")})
    elif substitute is None or not substitute.active:
        errors.append({"field": "substitute", "message": _("Unknown or inactive user.")})
    elif substitute.id == user.id:
        errors.append({"field": "substitute", "message": _("Choose someone else as your substitute.")})
    elif not may_substitute(substitute, user):
        errors.append({"field": "substitute", "message": _(
            "%(name)s does not do your work (no role of yours): choose a colleague who does.", name=substitute.label)})
    if len(note or "") > 200:  # it was cut to 200 with a "Saved"
        errors.append({"field": "note", "message": _("At most %(n)d characters.", n=200)})
    if starts_on is None:
        errors.append({"field": "starts_on", "message": _("This field is required.")})
    if ends_on is None:
        errors.append({"field": "ends_on", "message": _("This field is required.")})
    for field, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if day is not None and not date(2000, 1, 1) <= day <= date(2999, 12, 31):
            errors.append({"field": field, "message": _("Choose a date between 2000 and 2999.")})
    if starts_on and ends_on and ends_on < starts_on:
        errors.append({"field": "ends_on", "message": _("The end must not be before the start.")})
    elif ends_on and ends_on < company_today():  # it would route nothing, and not even be listed
        errors.append({"field": "ends_on", "message": _("This period is over already: choose days from today on.")})
    elif not errors and _covers_for_each_other(user, substitute, day_start(starts_on),
                                               day_start(ends_on + timedelta(days=1))):
        errors.append({"field": "substitute", "message": _(
            "%(name)s is away then too, with you as their substitute: tasks would go back and forth. "
            "Choose someone who is present.", name=substitute.label)})
    elif not errors and (overlap := _overlapping_period(user, day_start(starts_on),
                                                        day_start(ends_on + timedelta(days=1)))):
        # Two substitutes for one day: nothing would say which of them gets the tasks.
        errors.append({"field": "starts_on", "message": _(
            "You are away from %(start)s to %(end)s already, with %(name)s as substitute. Change or delete that "
            "period instead.", start=overlap.starts_at.astimezone(company_zone()).date().isoformat(),
            end=(overlap.ends_at.astimezone(company_zone()) - timedelta(days=1)).date().isoformat(),
            name=overlap.substitute.label)})
    if errors:
        raise ApiError(400, "invalid_input", _("The out-of-office period cannot be saved."), errors)
    row = OutOfOffice(user_id=user.id, substitute_id=substitute.id, starts_at=day_start(starts_on),
                      ends_at=day_start(ends_on + timedelta(days=1)), note=note or "")
    db.session.add(row)
    audit("inbox.out_of_office_set", actor=actor or user, target=f"user:{user.username}", substitute=substitute.username,
          starts_on=starts_on.isoformat(), ends_on=ends_on.isoformat())
    db.session.flush()
    offer_waiting_tasks_to_substitutes()  # away from today: what waits for them goes now
    db.session.commit()
    return row


def offer_waiting_tasks_to_substitutes(at: datetime | None = None) -> int:
    """Route the open tasks nobody has claimed that wait for someone away now, as a new task is
    routed (inbox.hooks): 25 reports already waiting in a group whose one member went on holiday
    stayed there. Runs when a period is saved, when its first day comes (the worker) and when a
    task is given back. Idempotent; returns how many tasks changed."""
    from app.inbox.hooks import route_out_of_office

    at = at or utcnow()
    away = list(db.session.scalars(select(User.username).join(OutOfOffice, OutOfOffice.user_id == User.id)
                                   .where(_away_at(at), User.active.is_(True))))
    if not away:
        return 0
    groups = db.session.scalars(select(Group.name).join(group_members, group_members.c.group_id == Group.id)
                                .join(User, User.id == group_members.c.user_id).where(User.username.in_(away)))
    principals = [user_principal(name) for name in away] + [group_principal(name) for name in set(groups)]
    waiting = db.session.scalars(select(HumanTask).where(
        HumanTask.status == TASK_OPEN, HumanTask.claimed_by.is_(None),
        or_(HumanTask.assignee.in_(away), HumanTask.id.in_(select(TaskOffer.task_id).where(
            TaskOffer.principal.in_(principals))))).order_by(HumanTask.id))
    changed = 0
    for task in waiting:
        before = (task.assignee, list(task.candidate_users or []))
        route_out_of_office(db.session, task)
        changed += (task.assignee, list(task.candidate_users or [])) != before
        if task.assignee != before[0]:  # a task given by name moves without an offer's notice: said here
            away_person = _user(before[0])
            _notify([task.assignee], _l("%(user)s is away: their task is now yours: %(task)s",
                                        user=away_person.label if away_person else before[0],
                                        task=about(task)), task, replaces_earlier=True)
    return changed


def _overlapping_period(user: User, starts_at: datetime, ends_at: datetime) -> OutOfOffice | None:
    return db.session.scalar(select(OutOfOffice).where(
        OutOfOffice.user_id == user.id, OutOfOffice.starts_at < ends_at, OutOfOffice.ends_at > starts_at)
        .order_by(OutOfOffice.starts_at).limit(1))


def _covers_for_each_other(user: User, substitute: User, starts_at: datetime, ends_at: datetime) -> bool:
    return db.session.scalar(select(OutOfOffice.id).where(
        OutOfOffice.user_id == substitute.id, OutOfOffice.substitute_id == user.id,
        OutOfOffice.starts_at < ends_at, OutOfOffice.ends_at > starts_at).limit(1)) is not None


def out_of_office_periods(user: User) -> list[OutOfOffice]:
    return list(db.session.scalars(select(OutOfOffice).where(OutOfOffice.user_id == user.id,
                                                             OutOfOffice.ends_at > utcnow())
                                   .order_by(OutOfOffice.starts_at)))


def delete_out_of_office(user: User, period_id: int, actor: User | None = None) -> None:
    row = _row(OutOfOffice, period_id)
    if row is None or row.user_id != user.id:
        raise ApiError(404, "not_found", _("No such out-of-office period."))
    substitute = row.substitute.username
    db.session.delete(row)
    audit("inbox.out_of_office_deleted", actor=actor or user, target=f"user:{user.username}", period=period_id)
    db.session.flush()
    _take_back_from_substitute(user, substitute)
    db.session.commit()


def _take_back_from_substitute(user: User, substitute: str) -> None:
    """A period removed (a wrong substitute chosen, a holiday cut short): the group tasks its
    substitute was offered for it are the group's again, and the tasks given to ``user`` by
    name that moved to the substitute are ``user``'s again; each routed anew (to another
    period's substitute, if still away). The substitute kept them, and their records."""
    from app.inbox.hooks import route_out_of_office

    groups = set(user.group_names)
    offered = db.session.scalars(select(HumanTask).where(
        HumanTask.status == TASK_OPEN, HumanTask.claimed_by.is_(None), HumanTask.assignee.is_(None),
        HumanTask.id.in_(select(TaskOffer.task_id).where(TaskOffer.principal == user_principal(substitute)))))
    for task in offered:
        if substitute in (task.candidate_users or []) and groups & set(task.candidate_groups or []):
            task.candidate_users = [name for name in task.candidate_users if name != substitute]
            route_out_of_office(db.session, task)
    for task in list(db.session.scalars(select(HumanTask).where(
            HumanTask.status == TASK_OPEN, HumanTask.claimed_by.is_(None), HumanTask.assignee == substitute))):
        meant_for = _moved_for_absence(task, user.username)
        if meant_for is None:
            continue
        task.assignee = meant_for
        add_history(task.instance, "out_of_office_ended", None, task=task.name,
                    data={"from": substitute, "to": meant_for})
        route_out_of_office(db.session, task)
        _notify([substitute], _l("%(user)s is no longer away: their task went back: %(task)s",
                                 user=user.label, task=about(task)), task, replaces_earlier=True)


# The history events that give a task to someone by name (and which route around absences).
_HANDED_OVER = ("out_of_office", "reassigned", "delegated", "delegation_returned", "out_of_office_ended")


def _last_hand_over(task: HumanTask) -> ProcessHistory | None:
    return db.session.scalar(select(ProcessHistory).where(
        ProcessHistory.instance_id == task.instance_id, ProcessHistory.task == task.name,
        ProcessHistory.event.in_(_HANDED_OVER)).order_by(ProcessHistory.id.desc()).limit(1))


def _moved_for_absence(task: HumanTask, username: str) -> str | None:
    """Whom ``task`` was given to by name, if its last hand-over moved it to its holder because
    ``username`` was away (a chain of absences: the first away person); else None."""
    last = _last_hand_over(task)
    data = (last.data or {}) if last is not None else {}
    away = data.get("away") if last is not None and last.event == "out_of_office" else data.get("out_of_office")
    if not away or username not in away or data.get("to") != task.assignee:
        return None
    return away[0]


# ------------------------------------------------------------------ inbox list

def principals(user: User) -> list[str]:
    return [user_principal(user.username)] + [group_principal(g) for g in sorted(user.group_names)]


def _mine_selects(user: User) -> list:
    """The user's open tasks: two index searches, (status, assignee) and (status, claimed_by)."""
    return [select(HumanTask.id).where(HumanTask.status == TASK_OPEN, HumanTask.assignee == user.username),
            select(HumanTask.id).where(HumanTask.status == TASK_OPEN, HumanTask.claimed_by == user.username)]


def _offered_ids(user: User):
    """Ids of tasks offered to the user or their groups: one index search on the offers
    (which hold open tasks only: hooks drop them when a task closes)."""
    return select(TaskOffer.task_id).where(TaskOffer.principal.in_(principals(user)))


def _unclaimed():
    return and_(HumanTask.assignee.is_(None), HumanTask.claimed_by.is_(None))


def scope_clause(user: User, scope: str = "all"):
    """``human_tasks.id IN (index searches)`` plus the checks each row needs, so planners
    start from the user's few ids instead of walking every open task (an OR over the three
    access paths let SQLite choose a walk over all instances)."""
    if scope == "mine":
        return HumanTask.id.in_(union_all(*_mine_selects(user)))
    if scope == "offered":
        return and_(HumanTask.id.in_(_offered_ids(user)), HumanTask.status == TASK_OPEN, _unclaimed())
    # Flat union: SQLite refuses nested compound selects.
    return and_(HumanTask.id.in_(union_all(*_mine_selects(user), _offered_ids(user))), HumanTask.status == TASK_OPEN,
                or_(HumanTask.assignee == user.username, HumanTask.claimed_by == user.username, _unclaimed()))


def record_label_expression():
    """The record's label (customer name, opportunity/contract title, activity text) as a
    correlated subquery: joins would push the inbox query past PostgreSQL's join-reordering
    limit (8) and lose the index plan."""
    from app.crm.models import Activity, Contract, Customer, Opportunity

    def label(model, column):
        return (select(column).where(model.id == ProcessInstance.record_id).correlate(ProcessInstance)
                .scalar_subquery())

    return case(
        (ProcessInstance.record_type == "customer", label(Customer, Customer.name)),
        (ProcessInstance.record_type == "opportunity", label(Opportunity, Opportunity.title)),
        (ProcessInstance.record_type == "contract", label(Contract, Contract.title)),
        (ProcessInstance.record_type == "activity", label(Activity, func.substr(Activity.content, 1, 60))),
        else_=None)


SORTS = {"due": "due", "-due": "due", "created": "created", "-created": "created", "process": "process",
         "record": "record"}


def _due_limits() -> dict[str, datetime]:
    """What each due-date filter means: due before this instant. "today" is the company's day
    and takes in the overdue tasks (the end of today, not its start)."""
    now = utcnow()
    return {"overdue": now, "today": day_start((now.astimezone(company_zone()) + timedelta(days=1)).date()),
            "week": now + timedelta(days=7)}


def _due_conditions(column, due: str | None) -> list:
    """The due-date filter ("overdue", "today", "week", "none") on a due-date column."""
    if due == "none":
        return [column.is_(None)]
    limit = _due_limits().get(due)
    return [column < limit] if limit else []


def _task_filters(user: User, scope: str, due: str | None, created_from: datetime | None,
                  created_to: datetime | None) -> list:
    """Conditions on ``human_tasks`` alone (the section and the due/created filters)."""
    where = [scope_clause(user, scope), *_due_conditions(HumanTask.due_at, due)]
    if created_from:
        where.append(HumanTask.created_at >= created_from)
    if created_to:
        where.append(HumanTask.created_at < created_to)
    return where


def _order(sort: str, record_label) -> tuple:
    no_due = case((HumanTask.due_at.is_(None), 1), else_=0)  # NULL due dates last on every backend
    return {
        "due": (no_due, HumanTask.due_at, HumanTask.id),
        "-due": (no_due, HumanTask.due_at.desc(), HumanTask.id.desc()),
        "created": (HumanTask.created_at, HumanTask.id),
        "-created": (HumanTask.created_at.desc(), HumanTask.id.desc()),
        "process": (ProcessDefinition.name, HumanTask.id),
        "record": (record_label, HumanTask.id),
    }.get(sort, (no_due, HumanTask.due_at, HumanTask.id))


def _section(stmt, user: User, scope: str, process, record, due, created_from, created_to, sort, record_label):
    """``stmt`` (which has the instance and definition joined if a process or record filter
    or sort needs them) narrowed to the section and its filters, in the section's order."""
    stmt = stmt.where(*_task_filters(user, scope, due, created_from, created_to))
    if process:
        stmt = stmt.where(ProcessInstance.process_key == process)
    if record:
        stmt = stmt.where(record_search(record, record_label))
    return stmt.order_by(*_order(sort, record_label))


def record_search(text: str, record_label):
    """The instances whose record ``text`` names: ``contract:13`` (as an integration knows it),
    ``#13`` (as the lists show it), or part of its label or of its customer's name (a contract's
    approval was not found by its customer, as the record lists find it)."""
    from app.crm.models import Contract, Customer, Opportunity

    text = text.strip()
    named = _RECORD_REF.match(text)
    if named:
        return and_(ProcessInstance.record_type == named.group(1).lower(),  # CUSTOMER:7 found nothing
                    ProcessInstance.record_id == int(named.group(2)))
    if re.fullmatch(r"#\d{1,18}", text):
        return ProcessInstance.record_id == int(text[1:])

    def customer_of(model):
        return (select(Customer.name).join(model, model.customer_id == Customer.id)
                .where(model.id == ProcessInstance.record_id).correlate(ProcessInstance).scalar_subquery())

    customer = case((ProcessInstance.record_type == "contract", customer_of(Contract)),
                    (ProcessInstance.record_type == "opportunity", customer_of(Opportunity)), else_=None)
    return or_(record_label.contains(text, autoescape=True), customer.contains(text, autoescape=True))


_RECORD_REF = re.compile(r"^(customer|activity|opportunity|contract):(\d{1,18})$", re.IGNORECASE)


def _rows_select(record_label):
    """The inbox row: the task, its instance and definition, who started it, the record's label."""
    starter = aliased(User)
    return (select(HumanTask, ProcessInstance, starter.username.label("starter"),
                   starter.display_name.label("starter_name"), record_label.label("record_label"),
                   ProcessDefinition.name.label("process_name"))
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .outerjoin(starter, starter.id == ProcessInstance.started_by_id)
            .options(contains_eager(HumanTask.instance).contains_eager(ProcessInstance.definition),
                     contains_eager(ProcessInstance.definition)))


def task_list_query(user: User, scope: str = "mine", process: str | None = None, record: str | None = None,
                    due: str | None = None, created_from: datetime | None = None,
                    created_to: datetime | None = None, sort: str = "due"):
    """``select(HumanTask, ProcessInstance, starter, record label)`` for one inbox section.

    ``scope``: "mine" (assigned to or claimed by the user), "offered" (unclaimed, offered to
    the user or one of their groups) or "all" (both). Index-backed: ``(status, assignee)``,
    ``(status, claimed_by)`` and ``inbox_task_offers(principal, held, due_at, task_id)``.
    """
    record_label = record_label_expression()
    return _section(_rows_select(record_label), user, scope, process, record, due, created_from, created_to, sort,
                    record_label)


def task_page_ids_query(user: User, scope: str = "mine", process: str | None = None, record: str | None = None,
                        due: str | None = None, created_from: datetime | None = None,
                        created_to: datetime | None = None, sort: str = "due"):
    """The ids of the section in order, joined to instances and definitions only when a
    filter or the sort needs them. Paging over ids first keeps the sort narrow: sorting whole
    rows (the instance's saved state, the record label) cost ~2.5 ms per 1,000 visible tasks."""
    record_label = record_label_expression()
    stmt = select(HumanTask.id)
    if process or record or sort in ("process", "record"):
        stmt = (stmt.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id))
    return _section(stmt, user, scope, process, record, due, created_from, created_to, sort, record_label)


def task_count_query(user: User, scope: str = "mine", process: str | None = None, record: str | None = None,
                     due: str | None = None, created_from: datetime | None = None,
                     created_to: datetime | None = None, **_sort):
    """``select(count)`` of the section, over ``human_tasks`` alone unless a process or record
    filter needs the instances (every task has its instance and definition, so joins could
    not change the number, only cost lookups per task)."""
    ids = task_page_ids_query(user, scope, process, record, due, created_from, created_to)
    return select(func.count()).select_from(ids.order_by(None).subquery())


def task_count(user: User, scope: str = "mine", **filters) -> int:
    if _queue_serves(filters):
        return _queue_count(user, scope, filters.get("due"))
    return db.session.scalar(task_count_query(user, scope, **filters))


def task_page(user: User, page: int = 1, per_page: int = 25, sort: str = "due", **filters) -> dict:
    if sort in ("due", "-due") and page * per_page <= QUEUE_DEPTH and _queue_serves(filters):
        ids = _queue_page_ids(user, filters.get("scope", "mine"), filters.get("due"), sort == "-due",
                              (page - 1) * per_page, per_page)
    else:
        ids = list(db.session.scalars(task_page_ids_query(user, sort=sort, **filters)
                                      .limit(per_page).offset((page - 1) * per_page)))
    rows = []
    if ids:
        record_label = record_label_expression()
        rows = db.session.execute(_rows_select(record_label).where(HumanTask.id.in_(ids))
                                  .order_by(*_order(sort, record_label))).all()
    return {"items": [task_row(r) for r in rows], "total": task_count(user, **filters), "page": page,
            "per_page": per_page}


# Queues. Without process, record or creation-date filters, a section is the union of a few
# queues, each one index in due-date order: tasks assigned to the user, claimed by the user,
# and the unheld offers to the user and to each of their groups (``TaskOffer`` repeats the
# task's holder flag and due date). A page in due order takes the first page-end entries of
# each queue and merges them, so its cost depends on the page, not on how many tasks the user
# can see; a count reads the queues' indexes only. Deeper pages than QUEUE_DEPTH and the other
# sorts and filters use the general query above, whose cost grows with the visible tasks.
QUEUE_DEPTH = 1_000


def _queue_serves(filters: dict) -> bool:
    return not any(filters.get(name) for name in ("process", "record", "created_from", "created_to"))


def _queues(user: User, scope: str) -> list[tuple]:
    """(id column, due column, conditions) of each queue in the section."""
    queues = []
    if scope in ("mine", "all"):
        queues += [(HumanTask.id, HumanTask.due_at, [HumanTask.status == TASK_OPEN, HumanTask.assignee == user.username]),
                   (HumanTask.id, HumanTask.due_at, [HumanTask.status == TASK_OPEN,
                                                     HumanTask.claimed_by == user.username])]
    if scope in ("offered", "all"):
        queues += [(TaskOffer.task_id, TaskOffer.due_at, [TaskOffer.principal == p, TaskOffer.held == false()])
                   for p in principals(user)]
    return queues


def queue_heads(user: User, scope: str, due: str | None, descending: bool, depth: int) -> list:
    """For each queue of the section, its first ``depth`` (id, due_at) in due order: dated
    tasks and undated ones are two walks of the same index (NULLs sort differently per backend)."""
    heads = []
    for id_column, due_column, where in _queues(user, scope):
        where = where + _due_conditions(due_column, due)
        # Undated heads are ordered by due date too (all NULL): PostgreSQL only walks the index
        # without a sort when the ORDER BY names its columns in order.
        order = (due_column.desc(), id_column.desc()) if descending else (due_column, id_column)
        head = select(id_column.label("id"), due_column.label("due_at")).where(*where)
        if due != "none":
            heads.append(head.where(due_column.is_not(None)).order_by(*order).limit(depth))
        if due in (None, "none"):
            heads.append(head.where(due_column.is_(None)).order_by(*order).limit(depth))
    return heads


def _queue_page_ids(user: User, scope: str, due: str | None, descending: bool, offset: int, limit: int) -> list[int]:
    """One page of the section in due order (undated tasks last), merged from the heads of its queues."""
    heads = queue_heads(user, scope, due, descending, offset + limit)
    # Each head is a subquery: SQLite takes no ORDER BY/LIMIT on a compound's members.
    rows = db.session.execute(union_all(*[select(head.subquery()) for head in heads])).all()
    due_of = {row.id: row.due_at for row in rows}  # a task both assigned to and claimed by the user comes twice
    dated = sorted(((d, i) for i, d in due_of.items() if d is not None), reverse=descending)
    undated = sorted((i for i, d in due_of.items() if d is None), reverse=descending)
    return ([i for _, i in dated] + undated)[offset:offset + limit]


def _queue_count(user: User, scope: str, due: str | None) -> int:
    total = 0
    if scope in ("mine", "all"):
        open_and_due = [HumanTask.status == TASK_OPEN, *_due_conditions(HumanTask.due_at, due)]
        assigned = select(func.count()).where(*open_and_due, HumanTask.assignee == user.username)
        claimed = select(func.count()).where(*open_and_due, HumanTask.claimed_by == user.username,
                                             or_(HumanTask.assignee.is_(None), HumanTask.assignee != user.username))
        total += db.session.scalar(assigned) + db.session.scalar(claimed)
    if scope in ("offered", "all"):
        total += _offered_count(user, due)
    return total


def _offered_count(user: User, due: str | None) -> int:
    """Distinct unheld tasks offered to the user or their groups. A task offered to two of them
    has two offers: the largest queue counts whole, each other one only its tasks no queue
    before it holds (a probe of the offers' primary key), so the cost is the smaller queues'."""
    unheld = [TaskOffer.held == false(), *_due_conditions(TaskOffer.due_at, due)]
    sizes = dict(db.session.execute(select(TaskOffer.principal, func.count())
                                    .where(TaskOffer.principal.in_(principals(user)), *unheld)
                                    .group_by(TaskOffer.principal)).all())
    queues = sorted(sizes, key=lambda p: (-sizes[p], p))
    total = sizes[queues[0]] if queues else 0
    earlier = aliased(TaskOffer)
    for n, principal in enumerate(queues[1:], 1):
        total += db.session.scalar(select(func.count()).select_from(TaskOffer).where(
            TaskOffer.principal == principal, *unheld,
            ~select(earlier.task_id).where(earlier.task_id == TaskOffer.task_id,
                                           earlier.principal.in_(queues[:n])).exists()))
    return total


def task_row(row) -> dict:
    task, instance = row[0], row[1]
    now = utcnow()
    return {"task": task, "instance": instance, "starter": row.starter, "starter_name": row.starter_name,
            "record_label": row.record_label, "process_name": row.process_name or instance.process_key,
            "overdue": bool(task.due_at and task.due_at < now)}


def open_task_count(user: User) -> int:
    return task_count(user, "mine") + task_count(user, "offered") + len(open_todos(user))


@dataclass(frozen=True)
class Workload:
    """A user's open tasks and to-dos, as the inbox's badge and due filters count them."""
    open: int
    overdue: int
    due_today: int  # the inbox's "Due today": before the end of the company's day, overdue included


def workload(user: User) -> Workload:
    """Two aggregates: the tasks of both inbox sections, and the to-dos."""
    from app.automation import services as automation

    limits = _due_limits()
    tasks = db.session.execute(select(func.count(), *(func.count(case((HumanTask.due_at < limits[due], 1)))
                                                      for due in ("overdue", "today")))
                               .where(scope_clause(user, "all"))).one()
    todos = automation.open_todo_counts(user, limits["overdue"], limits["today"])
    return Workload(*(task + todo for task, todo in zip(tasks, todos)))


def open_todos(user: User) -> list:
    from app.automation import services as automation

    return list(automation.open_todos_for(user))


SCHEDULED_SHOWN = 50


def scheduled_todos(user: User) -> list:
    """The soonest to-dos a rule scheduled for later (a delayed start), shown apart from today's."""
    from app.automation import services as automation

    return list(db.session.scalars(automation.scheduled_todos_query(user).limit(SCHEDULED_SHOWN)))


def process_choices() -> list[tuple[str, str]]:
    return [(d.key, d.name or d.key) for d in engine.list_definitions(current_only=True)]


def current_versions() -> dict[str, int]:
    """Each process's current version: the console marks instances running on another one."""
    return {d.key: d.version for d in engine.list_definitions(current_only=True)}


# ------------------------------------------------------------------ task actions

def own_decision(task: HumanTask, user: User) -> str | None:
    """Why ``user`` may not take ``task`` from its group, or None: it decides their own request
    or record (a sales manager approving their own contract, a report of their own customer).
    An administrator may; a step the diagram gives them by name is theirs (see interested_parties).
    A substitute offered a group's task while its members are away is not named by the diagram:
    checked too (the customer handed to them meanwhile, they approved its report)."""
    named = user.username in (task.candidate_users or []) and not task.candidate_groups
    if user.is_admin or task.assignee == user.username or named:
        return None
    if user.username in interested_parties(task.instance):
        return _("This decides your own request or record: another member of the group decides it, or an "
                 "administrator.")
    why = not_for(task).get(user.username)
    return str(why) if why else None


def claim(task_id: int, user: User) -> HumanTask:
    task = get_task_for(task_id, user)
    refused = own_decision(task, user) if can_claim(task) else None
    if refused:
        raise ApiError(403, "own_decision", refused)
    return engine_call(engine.claim, task.id, user)


def unclaim(task_id: int, user: User) -> HumanTask:
    task = get_task_for(task_id, user)
    task = engine_call(engine.unclaim, task.id, user, commit=False)
    _offer_again(task, _l("%(user)s gave back the task %(task)s: it waits for someone to claim it.",
                          user=user.label, task=about(task)), user)
    _commit()
    return task


def about(task: HumanTask):
    """A task as notices name it: its step and its record (several contracts share one step)."""
    record = record_of(task.instance)
    return _l("%(task)s (%(record)s)", task=task.name, record=record.label) if record is not None else task.name


def _handed_over(message, user: User, task: HumanTask, comment: str | None):
    """A delegation's or reassignment's notice, with the note the hander wrote ("请今天内处理")."""
    if not comment:
        return message
    return _l("%(handed_over)s. %(user)s: “%(comment)s”", handed_over=message, user=user.label, comment=comment)


def offered_people(task: HumanTask) -> set[str]:
    """Who may take a task nobody holds: the members of its groups but those it decides about
    (see own_decision), and the people it names."""
    members = group_member_names(task.candidate_groups)
    if members:
        members -= set(not_for(task))
    return members | set(task.candidate_users or [])


def _offer_again(task: HumanTask, message, left_by: User) -> None:
    """Back in its group: its members hear of it again (their notice of it counted as read once
    a colleague took it); their substitutes are offered it if they are all away (released by
    someone going on holiday, it went back to the group alone)."""
    from app.inbox.hooks import route_out_of_office

    route_out_of_office(db.session, task)
    _notify(offered_people(task) - {left_by.username}, message, task, replaces_earlier=True)


def release_tasks_of_leaver(user: User, actor: User | None = None) -> None:
    """A deactivated user's tasks taken from a group (or a list of people) go back to it, where
    its other members see them again; tasks assigned to them by name wait for the hand-over."""
    taken = select(HumanTask.id).where(HumanTask.status == TASK_OPEN, HumanTask.claimed_by == user.username,
                                       or_(HumanTask.assignee.is_(None), HumanTask.assignee != user.username))
    for task_id in db.session.scalars(taken.order_by(HumanTask.id)).all():
        task = engine_call(engine.unclaim, task_id, actor or user, commit=False)
        _offer_again(task, _l("%(user)s was deactivated: the task %(task)s waits for someone to claim it.",
                              user=user.label, task=about(task)), user)
    # Delegated to them: back to whoever delegated it (still active), who can complete it or ask
    # someone else; nobody could ask the leaver for an answer any more.
    delegated = (select(TaskDelegation, HumanTask).join(HumanTask, HumanTask.id == TaskDelegation.task_id)
                 .where(TaskDelegation.active.is_(True), TaskDelegation.delegate == user.username,
                        HumanTask.status == TASK_OPEN, HumanTask.assignee == user.username).order_by(HumanTask.id))
    for delegation, task in db.session.execute(delegated).all():
        delegator = user_named(delegation.delegator)
        if delegator is None or not delegator.active:
            continue  # waits for the hand-over, as tasks assigned to the leaver by name do
        _resolve([delegation])
        task.assignee, task.claimed_by, task.claimed_at = delegator.username, None, utcnow()
        add_history(task.instance, "delegation_returned", actor or user, task=task.name,
                    data={"from": user.username, "to": delegator.username})
        _notify([delegator.username], _l("%(user)s was deactivated: the task you delegated to them is back with "
                                         "you: %(task)s", user=user.label, task=about(task)), task)


def release_tasks_of_groups_left(user: User, groups: frozenset[str], actor: User | None = None) -> None:
    """Someone moved out of a group gives back the tasks they took from it (a Fujian head moved
    to sales kept, and approved, a Fujian report), as a leaver does; a task another of their
    groups, or their name, is offered to stays theirs."""
    remaining = {g.name for g in user.groups}
    taken = select(HumanTask).where(HumanTask.status == TASK_OPEN, HumanTask.claimed_by == user.username,
                                    or_(HumanTask.assignee.is_(None), HumanTask.assignee != user.username))
    for task in db.session.scalars(taken.order_by(HumanTask.id)).all():
        offered_to = set(task.candidate_groups or [])
        if not offered_to & groups or offered_to & remaining or user.username in (task.candidate_users or []):
            continue
        task = engine_call(engine.unclaim, task.id, actor or user, commit=False)
        _offer_again(task, _l("%(user)s is no longer in the group: the task %(task)s waits for someone to claim it.",
                              user=user.label, task=about(task)), user)
        # They hear it too: the task left their inbox without a word.
        _notify([user.username], _l("You are no longer in its group: the task %(task)s went back to it.",
                                    task=about(task)), link=task_link(task))


@dataclass(frozen=True)
class TaskForm:
    """What the inbox uses of a task's form.  Plain data, not the ORM row: the per-request
    cache must not hand out an object whose session was closed or whose attributes a commit
    expired (a reload query, or DetachedInstanceError)."""
    key: str
    version: int
    schema: dict


def form_of(task: HumanTask) -> TaskForm | None:
    """The task's form in the version in force when the task started (a form saved since
    applies to tasks started after it; tasks from before form versions were recorded: the
    current one), looked up once per request (a page of 50 tasks shares a few forms)."""
    return _form_version(task.form_key, task.form_version)


def record_changes(task: HumanTask, user: User) -> list[dict]:
    """The embedded fields the record changed since the request was made, each
    ``{field, label, then, now}``: a discount raised from 15 to 50 mid-approval was approved as
    15 by whoever missed the small "current value" under one field. For those who decide the
    task or may see the record: a salesperson whose customer was handed on read its new phone
    through the report they had started."""
    from app.crm.services import can_see
    from app.forms import services as forms
    from app.forms.embedded import iter_components
    from app.forms.languages import in_reader_language

    form = form_of(task)
    record = record_of(task.instance)
    if form is None or record is None:
        return []
    if not (can_act(task, user) or engine.offered_to(task, user) or can_see(record, user)):
        return []
    labels = {c.get("key"): c.get("label") or c.get("key")
              for c in iter_components(in_reader_language(form.schema).get("components"))}
    return [{"field": key, "label": labels.get(key, key), "then": then, "now": now}
            for key, (then, now) in forms.embedded_diff(form.schema, task.instance.data or {}, record,
                                                        task.instance.record_type).items()]


def _form_version(form_key: str | None, version: int | None) -> TaskForm | None:
    from app.forms import services as forms

    def lookup():
        form = forms.form_for_task(form_key, version)
        return None if form is None else TaskForm(form.key, form.version, form.schema)

    if not has_request_context():
        return lookup()
    cache = g.setdefault("inbox_forms", {})
    if (form_key, version) not in cache:
        cache[form_key, version] = lookup()
    return cache[form_key, version]


def validate_form_data(task: HumanTask, data) -> dict:
    """The submission checked against the task's form (per-field 400); embedded and
    read-only fields are dropped by the forms service."""
    from app.forms import services as forms

    form = form_of(task)
    if form is None:
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_input", _("The submitted data must be an object."))
        return dict(data)
    clean, errors = forms.validate_submission(form.schema, data, initial=task_form_values(task))
    if isinstance(data, dict):
        # A key that is no field of the form is a typo ("comments"): dropped, the comment it
        # carried would be lost without a word. Read-only and embedded fields the form shows may
        # come back (the form sends what it shows); they are dropped.
        known = {field["key"] for field in forms.input_fields(form.schema)}
        errors.update({key: _("This form has no such field.") for key in data if key not in known})
    if errors:
        raise ApiError(400, "invalid_data", _("Please correct the marked fields."), forms.errors_as_details(errors))
    return clean


def task_form_values(task: HumanTask, user: User | None = None) -> dict:
    """What the form shows: the process data (embedded and read-only values, and the
    editable ones a binding's mapping or a script set), never an earlier task's answer
    (trap 5), the task's own answers once it is closed, and the user's draft over them.
    Embedded fields the start data did not capture (a process started without this form)
    show the record as it is now.

    Nothing here loads the workflow state: the inbox lists stay cheap however many tasks
    they show.
    """
    from app.forms import services as forms

    form = form_of(task)
    own = set(forms.editable_keys(form.schema)) if form is not None else set(
        engine.form_fields(task.form_key, task.form_version))
    data = task.instance.data or {}
    values = {k: v for k, v in data.items() if k not in own}
    uncaptured = [k for k in forms.embedded_fields(form.schema) if k not in data] if form is not None else []
    record = record_of(task.instance) if uncaptured else None
    if record is not None:
        now = forms.fill_embedded(form.schema, record, task.instance.record_type)
        values.update({k: now[k] for k in uncaptured})
    if task.status != TASK_OPEN:
        values.update(_submitted(task))
    elif own.intersection(data):
        answered = _answered_before(task.instance_id)
        values.update({k: data[k] for k in own.intersection(data)
                       if k not in answered or answered[k] != data[k]})
    if user is not None:
        draft = db.session.scalar(select(TaskDraft).where(TaskDraft.task_id == task.id,
                                                          TaskDraft.username == user.username))
        if draft is not None:
            values.update(draft.data)
    return values


_COMPLETED_ANSWERS = (select(ProcessHistory.data, ProcessHistory.comment)
                      .where(ProcessHistory.instance_id == bindparam("instance_id"),
                             ProcessHistory.event == "completed_task")
                      .order_by(ProcessHistory.id))


def _answered_before(instance_id: int) -> dict:
    """The latest answer to each field that a completed task of the instance gave."""
    answered = {}
    for data, comment in db.session.execute(_COMPLETED_ANSWERS, {"instance_id": instance_id}):
        answered.update(_answers(data, comment))
    return answered


def _answers(data: dict | None, comment: str | None) -> dict:
    """A completion's answers from its history row (the comment has a column of its own)."""
    out = dict(data or {})
    if comment is not None:
        out["comment"] = comment
    return out


def completed_by(task_id: int | None, user: User) -> HumanTask | None:
    """The task ``user`` completed, if ``task_id`` names one (None otherwise)."""
    task = _row(HumanTask, task_id)
    return task if task is not None and task.status != TASK_OPEN and task.completed_by == user.username else None


def answer_sent_back(task_id: int | None, user: User) -> tuple[HumanTask, str] | None:
    """The task ``user`` answered as a delegate, handed back to its delegator (still open, so
    not :func:`completed_by`'s), and to whom: the inbox says so after the answer."""
    task = _row(HumanTask, task_id)
    if task is None or task.status != TASK_OPEN:
        return None
    last = _last_hand_over(task)
    if last is None or last.event != "delegation_returned" or last.actor != user.username:
        return None
    return task, (last.data or {}).get("to")


def _submitted(task: HumanTask) -> dict:
    """The answers a closed task was completed with (from its history row)."""
    row = db.session.scalar(select(ProcessHistory).where(
        ProcessHistory.instance_id == task.instance_id, ProcessHistory.event == "completed_task",
        ProcessHistory.task == task.name, ProcessHistory.actor == task.completed_by)
        .order_by(ProcessHistory.id.desc()).limit(1))
    return {} if row is None else _answers(row.data, row.comment)


_DELETE_DRAFTS = TaskDraft.__table__.delete().where(TaskDraft.task_id == bindparam("task_id"))


MOVED_ON_ATTEMPTS = 3


def complete(task_id: int, user: User, data) -> HumanTask:
    """Complete (or, for a delegate who must hand back, return) the task with ``data``.

    Two approvers of a parallel review answering at the same moment act on different tasks:
    the one whose step met the other's commit was rolled back whole and is done again on the
    state the other left, as if it had come a moment later. The same task answered twice still
    gets one success and one 409 (the task is no longer open when tried again)."""
    for attempt in range(1, MOVED_ON_ATTEMPTS + 1):
        try:
            return _complete(task_id, user, data)
        except engine.MovedOn as exc:
            if attempt == MOVED_ON_ATTEMPTS:
                raise _api_error(exc) from None
        except engine.EngineServiceError as exc:
            raise _api_error(exc) from None


def _complete(task_id: int, user: User, data) -> HumanTask:
    task = get_task_for(task_id, user)
    _require_act(task, user)
    clean = validate_form_data(task, data if data is not None else {})
    delegations = _open_delegations(task)
    # The answer goes back to the latest delegator who asked for it (through those who passed
    # the task on since), and the task is completed only by someone nobody waits on.
    returning = next((d for d in delegations if d.return_to_delegator), None)
    if returning is not None:
        _resolve(delegations[:delegations.index(returning)])
        return _return_to_delegator(task, returning, user, clean)
    task = engine.complete(task.id, user, clean, commit=False)
    _resolve(delegations)
    db.session.execute(_DELETE_DRAFTS, {"task_id": task.id})
    engine._finish(True)
    return task


def _return_to_delegator(task: HumanTask, delegation: TaskDelegation, user: User, clean: dict) -> HumanTask:
    _resolve([delegation])
    task.assignee, task.claimed_by, task.claimed_at = delegation.delegator, None, utcnow()
    _save_draft_row(task, delegation.delegator, clean)
    add_history(task.instance, "delegation_returned", user, task=task.name, comment=clean.get("comment"),
                data={"from": user.username, "to": delegation.delegator})
    _notify([delegation.delegator], _l("%(user)s answered the task you delegated: %(task)s",
                                      user=user.label, task=about(task)), task)
    _commit()
    return task


def _save_draft_row(task: HumanTask, username: str, data: dict) -> TaskDraft:
    draft = db.session.scalar(select(TaskDraft).where(TaskDraft.task_id == task.id, TaskDraft.username == username))
    if draft is None:
        draft = TaskDraft(task_id=task.id, username=username, data=data)
        db.session.add(draft)
    else:
        draft.data = data
        draft.saved_at = utcnow()
    return draft


def save_draft(task_id: int, user: User, data) -> TaskDraft:
    from app.forms import services as forms

    task = get_task_for(task_id, user)
    _require_act(task, user)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_input", _("The submitted data must be an object."))
    form = form_of(task)
    keep = set(forms.editable_keys(form.schema)) if form is not None else set(
        engine.form_fields(task.form_key, task.form_version))
    draft = _save_draft_row(task, user.username, {k: v for k, v in data.items() if k in keep})
    db.session.commit()
    return draft


def add_comment(task_id: int, user: User, comment) -> ProcessHistory:
    task = get_task_for(task_id, user)
    text = _clean_comment(comment, required=True)
    row = add_history(task.instance, "commented", user, task=task.name, comment=text)
    # Whoever holds the task (nobody yet: everyone it is offered to, a reminder reaches them all),
    # and those waiting on it: who started it and whose record it decides.
    others = {holder(task)} - {None}
    if not others and task.status == TASK_OPEN:
        others = set(task.candidate_users or []) | group_member_names(task.candidate_groups)
    others |= set(interested_parties(task.instance))
    others -= {None, user.username}
    # Not a call to act: it stays unread after the task is done. Which record: with fifteen contract
    # tasks, "on 销售经理审批" did not say which.
    _notify(others, _l("%(user)s commented on %(task)s: %(comment)s", user=user.label, task=about(task),
                      comment=text[:200]), link=task_link(task))
    db.session.commit()
    return row


label_audit_events({"inbox.task_delegated": _l("Task delegated")})
# The shipped approval forms' decisions, as the history names them (the log showed "approve").
label_audit_values("decision", {"approve": _l("approved"), "reject": _l("rejected")})


def delegate(task_id: int, user: User, to: str, comment=None, return_to_delegator: bool = False) -> HumanTask:
    task = get_task_for(task_id, user)
    _require_act(task, user)
    target = _active_user(to, "to")
    if target.username == holder(task):
        raise ApiError(400, "invalid_input", _("The task is already with %(name)s.", name=target.label),
                       [{"field": "to", "message": _("Choose another person.")}])
    routed, away = _hand_over_target(task, target)
    delegator = holder(task) or user.username
    if routed == delegator:  # away, with the delegator as their substitute: it would come straight back
        raise ApiError(400, "invalid_input", _("%(name)s is out of office and you are their substitute: the task "
                                               "would come back to you. Choose someone else.", name=target.label),
                       [{"field": "to", "message": _("Choose another person.")}])
    text = _clean_comment(comment)
    # One waiting to come back stays open beneath this one; one that does not is done with.
    _resolve(d for d in _open_delegations(task) if not d.return_to_delegator)
    db.session.add(TaskDelegation(task_id=task.id, delegator=delegator, delegate=routed,
                                  return_to_delegator=bool(return_to_delegator)))
    task.assignee, task.claimed_by, task.claimed_at = routed, None, utcnow()
    add_history(task.instance, "delegated", user, task=task.name, comment=text,
                data={"from": delegator, "to": routed, "return": bool(return_to_delegator),
                      **({"out_of_office": away} if away else {})})
    audit("inbox.task_delegated", actor=user, target=f"task:{task.id}", instance=task.instance_id,
          old=delegator, new=routed, comment=text or "")
    _notify([routed], _handed_over(_l("%(user)s delegated a task to you: %(task)s", user=user.label, task=about(task)),
                                   user, task, text), task, replaces_earlier=True)
    _commit()
    return task


label_audit_events({"inbox.task_reassigned": _l("Task reassigned")})


def reassign(task_id: int, user: User, to: str, comment=None, commit: bool = True) -> HumanTask:
    task = _row(HumanTask, task_id)
    if task is None or not can_view_task(task, user):
        raise ApiError(404, "not_found", _("No such task."))
    if not can_reassign(task, user):
        raise ApiError(403, "forbidden", _("Only managers and administrators can reassign tasks."))
    if task.status != TASK_OPEN:
        raise ApiError(409, "task_closed", _("This task is no longer open."))
    routed, away = _hand_over_target(task, _active_user(to, "to"))
    text = _clean_comment(comment)
    before = holder(task)
    _resolve(_open_delegations(task))  # a manager's decision: nobody's answer is awaited any more
    task.assignee, task.claimed_by, task.claimed_at = routed, None, utcnow()
    add_history(task.instance, "reassigned", user, task=task.name, comment=text,
                data={"from": before, "to": routed, **({"out_of_office": away} if away else {})})
    audit("inbox.task_reassigned", actor=user, target=f"task:{task.id}", instance=task.instance_id,
          old=before, new=routed, comment=text or "")
    _notify([routed], _handed_over(_l("%(user)s assigned a task to you: %(task)s", user=user.label, task=about(task)),
                                   user, task, text), task, replaces_earlier=True)
    if commit:
        _commit()
    return task


# ------------------------------------------------------------------ notifications

def task_link(task: HumanTask) -> str:
    return f"/tasks/{task.id}"


def _notify(usernames, message, task: HumanTask | None = None, link: str | None = None,
            replaces_earlier: bool = False) -> None:
    """Notify the active users named; ``message`` is a lazy_gettext string, rendered in each
    recipient's language. ``task``: the task the notice asks them to act on; it links there and
    counts as read once the task is done or someone else took it. ``replaces_earlier``: their
    unread notices of the task count as read (one unread notice per thing to do)."""
    from app.notifications.services import notify

    names = sorted({n for n in usernames if n})
    if not names:
        return
    link = link or (task_link(task) if task is not None else None)
    found = users_named(names)  # often already looked up in this transaction
    notify([found[name] for name in names if name in found], message, link=link,
           task_id=task.id if task is not None else None, replaces_earlier=replaces_earlier)


_GROUP_MEMBER_NAMES = (select(User.username).join(group_members, group_members.c.user_id == User.id)
                       .join(Group, Group.id == group_members.c.group_id)
                       .where(Group.name.in_(bindparam("groups", expanding=True)), User.active.is_(True)))


def group_member_names(groups) -> set[str]:
    if not groups:
        return set()
    return set(db.session.scalars(_GROUP_MEMBER_NAMES, {"groups": list(groups)}))


# ------------------------------------------------------------------ tracking

def has_been_acted_on(instance: ProcessInstance) -> bool:
    starter = db.session.get(User, instance.started_by_id) if instance.started_by_id else None
    starter_name = starter.username if starter else None
    acted = db.session.scalar(select(func.count()).select_from(ProcessHistory).where(
        ProcessHistory.instance_id == instance.id, ProcessHistory.event.in_(ACTED_EVENTS),
        ProcessHistory.actor.is_not(None), ProcessHistory.actor != (starter_name or "")))
    return bool(acted)


def _record_given_away(instance: ProcessInstance, user: User) -> bool:
    """Whether the submitter may no longer change the record the process is about (handed to
    another salesperson since): its fate is the new owner's now, not theirs to withdraw."""
    if not instance.record_type or not instance.record_id:
        return False
    from app.crm import services as crm

    record = crm.record_by_id(instance.record_type, instance.record_id)
    return record is not None and not crm.can_manage(record, user)


def can_withdraw(instance: ProcessInstance, user: User) -> bool:
    return (instance.started_by_id == user.id and instance.status in OPEN_STATUSES
            and not has_been_acted_on(instance) and not _record_given_away(instance, user))


def withdraw(instance_id: int, user: User, comment=None) -> ProcessInstance:
    instance = get_instance_for(instance_id, user)
    if instance.started_by_id != user.id:
        raise ApiError(403, "forbidden", _("Only the person who started it can withdraw it."))
    if _record_given_away(instance, user):
        raise ApiError(403, "record_given_away", _(
            "The record this process is about has been handed to someone else: it is no longer yours to withdraw."))
    if instance.status not in OPEN_STATUSES:
        raise ApiError(409, "conflict", _("This process has already ended."))
    if has_been_acted_on(instance):
        raise ApiError(409, "already_handled", _("Someone has already worked on it; it can no longer be withdrawn."))
    text = _clean_comment(comment)
    # The record first, then the process: the order an approval's step takes them in. The other
    # way round, a withdrawal racing the approval deadlocked on PostgreSQL.
    _reset_review_status(instance, user, _("Withdrawn"))
    engine_call(engine.terminate, instance.id, user, text, commit=False)
    add_history(instance, "withdrawn", user, comment=text)
    _commit()
    return instance


def _reset_review_status(instance: ProcessInstance, user: User, comment: str) -> None:
    """A withdrawn or terminated customer report (or contract approval) leaves its record
    unreported, not "pending" forever, so it can be submitted again."""
    from app.crm import services as crm

    if instance.record_type not in crm.REVIEW_FIELDS or not instance.record_id:
        return
    record = crm.record_by_id(instance.record_type, instance.record_id)
    if record is not None and crm.review_status(record) == "pending":
        crm.set_review_status(record.entity, record.id, "none", comment=comment, actor=user, commit=False)


def submissions_query(user: User, status: str | None = None, process: str | None = None):
    record_label = record_label_expression()
    stmt = (select(ProcessInstance, record_label.label("record_label"), ProcessDefinition.name.label("process_name"))
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessInstance.started_by_id == user.id))
    withdrawn = (select(ProcessHistory.id).where(ProcessHistory.instance_id == ProcessInstance.id,
                                                 ProcessHistory.event == "withdrawn").exists())
    if status == "withdrawn":
        stmt = stmt.where(ProcessInstance.status == "terminated", withdrawn)
    elif status == "terminated":  # by an operator: what the submitter did not do themselves
        stmt = stmt.where(ProcessInstance.status == "terminated", ~withdrawn)
    elif status:
        stmt = stmt.where(ProcessInstance.status == status)
    if process:
        stmt = stmt.where(ProcessInstance.process_key == process)
    return stmt.order_by(ProcessInstance.id.desc())


def open_tasks_of(instance_ids) -> dict[int, list[HumanTask]]:
    out: dict[int, list[HumanTask]] = {}
    if not instance_ids:
        return out
    for task in db.session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(list(instance_ids)),
                                                           HumanTask.status == TASK_OPEN).order_by(HumanTask.id)):
        out.setdefault(task.instance_id, []).append(task)
    return out


def holder_label(task: HumanTask) -> str:
    """Who holds a task now: a person, or the groups it waits in."""
    name = holder(task)
    if name:
        user = _user(name)
        return user.label if user else name
    groups = db.session.scalars(select(Group).where(Group.name.in_(task.candidate_groups or [])))
    named = users_named(task.candidate_users or [])  # by their names, not usernames (fj_head)
    labels = [g.label for g in groups] + [named[n].label if n in named else n for n in task.candidate_users or []]
    return _("waiting in %(groups)s", groups=", ".join(labels)) if labels else _("nobody")


def earlier_rounds(instance: ProcessInstance, limit: int = 5) -> list[dict]:
    """The same process's earlier instances for the same record, newest first, each with how it
    came out and the last comment an approver gave: a contract submitted again after a
    rejection reached its approver without the reason it was rejected before."""
    if not instance.record_type or not instance.record_id:
        return []
    earlier = list(db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.record_type == instance.record_type, ProcessInstance.record_id == instance.record_id,
        ProcessInstance.process_key == instance.process_key, ProcessInstance.id < instance.id,
        ProcessInstance.status.not_in(OPEN_STATUSES)).order_by(ProcessInstance.id.desc()).limit(limit)))
    standing = engine.how_they_stand(i.id for i in earlier)
    return [{"instance": i, **standing.get(i.id, {})} for i in earlier]


def record_of(instance: ProcessInstance):
    if not instance.record_type or not instance.record_id:
        return None
    from app.crm.services import record_by_id

    return record_by_id(instance.record_type, instance.record_id)


def data_as_read(instance: ProcessInstance, submitted: dict | None = None) -> list[dict]:
    """The instance's data (or ``submitted``: what a step's form submitted) as people read it: each
    key by the label its steps' forms give it (审批结果, not decision), an option by its label
    (驳回, not reject); keys no form names (a designer's own variables) stay as they are.
    ``[{key, label, text}]``."""
    from app.forms.embedded import iter_components
    from app.forms.languages import in_reader_language

    labels: dict[str, str] = {}
    options: dict[str, dict[str, str]] = {}
    embedded: dict[str, str] = {}  # key → the record field a form fills it from ("opportunity.stage")
    used = select(HumanTask.form_key, HumanTask.form_version).where(HumanTask.instance_id == instance.id).distinct()
    for form_key, version in db.session.execute(used):
        form = _form_version(form_key, version)
        for component in iter_components((in_reader_language(form.schema) or {}).get("components")) if form else ():
            key = component.get("key")
            if not isinstance(key, str) or key in labels:
                continue
            labels[key] = str(component.get("label") or key)
            crm_field = (component.get("properties") or {}).get("crm_field")
            if isinstance(crm_field, str) and "." in crm_field:
                embedded[key] = crm_field
            values = component.get("values")
            if isinstance(values, list):
                options[key] = {str(v.get("value")): str(v.get("label")) for v in values
                                if isinstance(v, dict) and v.get("label")}
    from app.forms.bindings import START_VARIABLE_LABELS

    standard = {key: str(label) for key, label in START_VARIABLE_LABELS.items()}
    if instance.record_type:
        from app.crm.services import ENTITY_LABELS, field_label
        from app.forms.models import BindingRun, FormBinding

        entity = str(ENTITY_LABELS.get(instance.record_type, instance.record_type))
        standard[f"{instance.record_type}_id"] = _("%(entity)s id", entity=entity)
        options.setdefault("record_type", {instance.record_type: entity})
        # A variable its binding filled from the record reads as that field (lead_source: 来源).
        mapping = db.session.scalar(select(FormBinding.mapping).join(BindingRun, BindingRun.binding_id == FormBinding.id)
                                    .where(BindingRun.instance_id == instance.id).limit(1))
        for item in mapping or ():
            if isinstance(item, dict) and isinstance(item.get("to"), str) and isinstance(item.get("field"), str):
                standard.setdefault(item["to"], field_label(instance.record_type, item["field"]))
    shown = (instance.data if submitted is None else submitted) or {}
    # People by name, as everywhere else on the page (发起人 销售一, not sales1).
    people = {key: shown[key] for key in ("reporter", "owner") if key not in options and isinstance(shown.get(key), str)}
    found = users_named(people.values())
    for key, username in people.items():
        if username in found:
            options.setdefault(key, {})[username] = found[username].label
    return [{"key": key, "label": labels.get(key) or standard.get(key, key),
             "text": "—" if value is None else options.get(key, {}).get(str(value)) or _as_the_record_reads(
                 embedded.get(key), value)}
            for key, value in shown.items()]


def _as_the_record_reads(crm_field: str | None, value):
    """An embedded field's value as the record's page shows it (初步接触, not initial_contact);
    another yes/no as 是/否 and a list or a table as JSON, not Python's True and [{'reviewer': …}]."""
    if crm_field is None:
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False, default=str)
        return value
    from app.crm.services import display_value

    entity, _dot, field = crm_field.partition(".")
    try:
        return display_value(entity, field, value) or value
    except (KeyError, ValueError, TypeError):  # a field since removed: as stored
        return value


def duplicates_for(instance: ProcessInstance) -> list[dict]:
    record = record_of(instance)
    if record is None or instance.record_type != "customer":
        return []
    from app.crm import services as crm

    found = crm.find_possible_duplicates(record)
    for item in found:
        # The case that decides most reports: the same company, already approved.
        item["strong"] = "same_credit_code" in item["reasons"] and item["report_status"] == "approved"
    return found


# ------------------------------------------------------------------ operator console

def _operator(user: User) -> None:
    if not user.is_admin:
        raise ApiError(403, "forbidden", _("Only administrators can do this."))


def _get_instance(instance_id: int) -> ProcessInstance:
    instance = _row(ProcessInstance, instance_id)
    if instance is None:
        raise ApiError(404, "not_found", _("No such process instance."))
    return instance


def suspend(instance_id: int, user: User, comment=None) -> ProcessInstance:
    _operator(user)
    instance = _get_instance(instance_id)
    text = _clean_comment(comment)
    engine_call(engine.suspend, instance.id, user, text, commit=False)
    audit("process.suspended", actor=user, target=f"process_instance:{instance.id}", comment=text or "")
    _commit()
    return instance


def resume(instance_id: int, user: User, comment=None) -> ProcessInstance:
    _operator(user)
    instance = _get_instance(instance_id)
    text = _clean_comment(comment)
    engine_call(engine.resume, instance.id, user, commit=False)
    if text:
        add_history(instance, "commented", user, comment=text)
    audit("process.resumed", actor=user, target=f"process_instance:{instance.id}", comment=text or "")
    _commit()
    return instance


def terminate(instance_id: int, user: User, reason) -> ProcessInstance:
    _operator(user)
    instance = _get_instance(instance_id)
    text = _clean_comment(reason, required=True, field="reason")
    engine_call(engine.terminate, instance.id, user, text, commit=False)
    _reset_review_status(instance, user, _("Terminated: %(reason)s", reason=text))
    audit("process.terminated", actor=user, target=f"process_instance:{instance.id}", reason=text)
    _commit()
    return instance


def retry(instance_id: int, user: User, data: dict | None = None) -> ProcessInstance:
    _operator(user)
    instance = _get_instance(instance_id)
    if data is not None and not isinstance(data, dict):
        raise ApiError(400, "invalid_input", _("The data must be an object."), [{"field": "data", "message": _("Must be an object.")}])
    engine_call(engine.retry, instance.id, user, data or None, commit=False)
    audit("process.retried", actor=user, target=f"process_instance:{instance.id}",
          fields=sorted((data or {}).keys()))
    _commit()
    return instance


def migration_target(instance: ProcessInstance) -> ProcessDefinition | None:
    """The current version the console offers to move the instance to (None: nothing to offer)."""
    return engine.can_migrate(instance)


def migrate(instance_id: int, user: User, version: int | None = None) -> ProcessInstance:
    """Move the instance to the current version of its process (the engine writes the
    history and audit rows); a refusal is a 409 whose message names the steps in the way."""
    _operator(user)
    instance = _get_instance(instance_id)
    engine_call(engine.migrate_instance, instance.id, user, commit=False, expected_version=version)
    _commit()
    return instance


def unattended_tasks():
    """Open tasks nobody can take, as a condition on ``HumanTask``: held by someone deactivated
    (or unknown), or held by nobody and offered to no active person (a group without active
    members, leavers named). They wait for an administrator's reassignment (or an escalation):
    a company without medical-reviewers had its medical customers' reports wait unseen."""
    active = select(User.username).where(User.active.is_(True))
    held_by = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    unheld = and_(HumanTask.claimed_by.is_(None), HumanTask.assignee.is_(None))
    staffed = set(db.session.scalars(select(Group.name).join(group_members, group_members.c.group_id == Group.id)
                                     .join(User, User.id == group_members.c.user_id).where(User.active.is_(True))))
    offers = db.session.execute(select(HumanTask.candidate_groups, HumanTask.candidate_users)
                                .where(HumanTask.status == TASK_OPEN, unheld).distinct()).all()
    named = {name for _groups, users in offers for name in users or ()}
    active_named = {name for name, user in users_named(named).items() if user.active}
    to_nobody = [and_(unheld, HumanTask.candidate_groups == groups, HumanTask.candidate_users == users)
                 for groups, users in offers if not set(groups or ()) & staffed and not set(users or ()) & active_named]
    return and_(HumanTask.status == TASK_OPEN, or_(held_by.not_in(active), *to_nobody))


def unattended_task_count() -> int:
    return db.session.scalar(select(func.count()).select_from(HumanTask).where(unattended_tasks()))


def instance_list_query(process: str | None = None, version: int | None = None, status: str | None = None,
                        started_by: str | None = None, record: str | None = None,
                        started_from: datetime | None = None, started_to: datetime | None = None,
                        unattended: bool = False):
    starter = aliased(User)
    record_label = record_label_expression()
    stmt = (select(ProcessInstance, starter.username.label("starter"), starter.display_name.label("starter_name"),
                   record_label.label("record_label"),
                   ProcessDefinition.version.label("process_version"), ProcessDefinition.name.label("process_name"))
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .outerjoin(starter, starter.id == ProcessInstance.started_by_id))
    if process:
        stmt = stmt.where(ProcessInstance.process_key == process)
    if version:
        stmt = stmt.where(ProcessDefinition.version == version)
    if status:
        stmt = stmt.where(ProcessInstance.status == status)
    if started_by:
        stmt = stmt.where(starter.username == started_by)
    if record:
        stmt = stmt.where(record_search(record, record_label))
    if started_from:
        stmt = stmt.where(ProcessInstance.created_at >= started_from)
    if started_to:
        stmt = stmt.where(ProcessInstance.created_at < started_to)
    if unattended:
        stmt = stmt.where(ProcessInstance.id.in_(select(HumanTask.instance_id).where(unattended_tasks())))
    return stmt.order_by(ProcessInstance.id.desc())


def instances_in_error() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "error"))


def status_counts(stmt) -> dict[str, int]:
    sub = stmt.order_by(None).subquery()
    rows = db.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all()
    counts = {s: 0 for s in OPERATOR_STATUSES}
    counts.update({status: n for status, n in rows})
    return counts


def timeline(instance: ProcessInstance) -> list[ProcessHistory]:
    """The instance's history as people read it: a withdrawal is the submitter ending it, so the
    engine's "terminated" written with it is not said a second time (已终止 beside 已撤回)."""
    events = engine_call(engine.history, instance.id)
    withdrawals = [w for w in events if w.event == "withdrawn"]
    return [e for e in events if not (e.event == "terminated" and any(
        w.actor == e.actor and timedelta(0) <= w.at - e.at < timedelta(minutes=1) for w in withdrawals))]


def diagram_markers(instance: ProcessInstance) -> dict:
    """Element ids to mark on the diagram: completed, active, and the flows taken."""
    from app.engine.trace import element_trace

    return element_trace(instance)
