"""Handing a leaver's work over (DOMAIN.md: "assignment to a user who has left").

A deactivated user keeps what they held: records they own, tasks assigned to them or taken
by them, groups they manage (where escalations go). Nobody sees those things move on until an
administrator hands them to someone else; this does it in one transaction, each change logged
where it would be logged by hand (assignment log, task history, audit).
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from app.api.errors import ApiError
from app.audit import audit, label_audit_events
from app.auth.models import Group, User
from app.db import utcnow
from app.extensions import db
from app.notifications.services import notify

HAND_OVER_REASON = "hand-over"  # the assignment log's reason (labelled on the record page)


def _held_tasks(user: User):
    """The ids of the open tasks assigned to ``user`` or taken by them."""
    from app.engine.models import TASK_OPEN, HumanTask

    return select(HumanTask.id).where(HumanTask.status == TASK_OPEN, or_(HumanTask.assignee == user.username,
                                                                         HumanTask.claimed_by == user.username))


def _open_todos(user: User):
    from app.automation.models import Todo

    return select(Todo).where(Todo.user_id == user.id, Todo.done.is_(False))


def _held_records(user: User, model):
    """``model``'s rows ``user`` owns and hands over: not the deals they won or lost, which stay
    theirs as history (moved, the sales report credited the successor with the leaver's wins)."""
    from app.crm.models import Opportunity
    from app.crm.services import CLOSED

    held = select(model).where(model.owner_id == user.id)
    return held.where(Opportunity.status.not_in(CLOSED)) if model is Opportunity else held


def _substituting(user: User):
    """The out-of-office periods, not over yet, that name ``user`` as the substitute."""
    from app.inbox.models import OutOfOffice

    return select(OutOfOffice).where(OutOfOffice.substitute_id == user.id, OutOfOffice.ends_at > utcnow())


def holdings(user: User) -> dict:
    """What ``user`` still holds: ``{"records": {entity: n}, "tasks": n, "todos": n, "groups": [names],
    "substituting": [usernames of those away they cover for]}``."""
    from app.crm.models import MODELS

    records = {entity: db.session.scalar(select(func.count()).select_from(_held_records(user, model).subquery()))
               for entity, model in MODELS.items()}
    tasks = db.session.scalar(select(func.count()).select_from(_held_tasks(user).subquery()))
    todos = db.session.scalar(select(func.count()).select_from(_open_todos(user).subquery()))
    groups = list(db.session.scalars(select(Group.name).where(Group.manager_id == user.id).order_by(Group.name)))
    substituting = sorted({period.user.username for period in db.session.scalars(_substituting(user))})
    return {"records": {k: v for k, v in records.items() if v}, "tasks": tasks, "todos": todos, "groups": groups,
            "substituting": substituting}


label_audit_events({"user.handed_over": _l("Work handed over to a successor")})


def hand_over(user: User, successor_name: str, actor: User) -> dict:
    """Give everything ``user`` holds to ``successor_name`` (an active user); returns what moved,
    as :func:`holdings` counts it."""
    from app.crm import services as crm
    from app.crm.models import MODELS
    from app.engine.models import HumanTask
    from app.inbox import services as inbox

    successor = db.session.scalar(select(User).where(User.username == (successor_name or "")))
    if successor is None or not successor.active:
        raise ApiError(400, "invalid_input", _("Choose an active user to hand the work to."),
                       [{"field": "to", "message": _("Unknown or inactive user.")}])
    if successor.id == user.id:
        raise ApiError(400, "invalid_input", _("Choose someone else to hand the work to."),
                       [{"field": "to", "message": _("Choose someone else to hand the work to.")}])
    moved = holdings(user)
    for model in MODELS.values():
        for record in db.session.scalars(_held_records(user, model).order_by(model.id)):
            crm.assign_owner(record, successor, actor, HAND_OVER_REASON, commit=False, tell=False)
    for task_id in db.session.scalars(_held_tasks(user).order_by(HumanTask.id)).all():
        try:
            inbox.reassign(task_id, actor, successor.username, _("Handed over from %(name)s", name=user.label),
                           commit=False)
        except ApiError:  # not for the successor (they decided its earlier step): it waits for another
            moved["tasks"] -= 1
            moved.setdefault("tasks_kept", []).append(task_id)
    for todo in db.session.scalars(_open_todos(user)):  # those about their records went with them already
        todo.user = successor
    for group in db.session.scalars(select(Group).where(Group.manager_id == user.id)):
        group.manager = successor
    # Someone away with the leaver as substitute: their tasks stayed with nobody to act on them.
    for period in db.session.scalars(_substituting(user)).all():
        if period.user_id != successor.id and inbox.may_substitute(successor, period.user):
            period.substitute = successor
            notify(period.user, _l("%(name)s, your out-of-office substitute, has left: %(successor)s covers for you "
                                   "now.", name=user.label, successor=successor.label), kind="assignment")
            notify(successor, _l("You now cover for %(away)s while they are away (%(name)s, who did, has left).",
                                 away=period.user.label, name=user.label), kind="assignment")
        else:
            notify(period.user, _l("%(name)s, your out-of-office substitute, has left: choose another on your "
                                   "out-of-office page.", name=user.label), kind="assignment")
    if moved["records"]:  # one notice for them all, not one per record
        notify(successor, _l("%(name)s's records were handed over to you: %(count)d.", name=user.label,
                             count=sum(moved["records"].values())), kind="assignment")
    audit("user.handed_over", actor=actor, target=user.username, to=successor.username, **moved)
    db.session.commit()
    return moved
