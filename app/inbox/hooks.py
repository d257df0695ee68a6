"""What happens around the engine's task rows, without changing the engine.

Session events see every new ``HumanTask`` the engine writes, in the engine's transaction:
- before the insert, out-of-office routing: an assignee (or candidate user) who is away is
  replaced by their substitute, and the history says so;
- right after the insert, the task's offers (candidate groups and users) are written for the
  inbox's index, written again when an open task's candidates change (its process moved to a
  new version), brought in step when its holder or due date changes (claim, delegation,
  reassignment), and dropped when the task closes;
- before the commit, the people concerned are notified (new task, or one newly offered to them
  after its process moved to a new version; a task taken back by the
  process, i.e. escalated), a due-date reminder is scheduled, and the starter of an instance that just ended is told the result, unless the
  process itself already notified them in this transaction (e.g. the rejection message of
  the customer report).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.db import UTCDateTime
from app.engine.models import TASK_CANCELLED, TASK_OPEN, HumanTask, ProcessHistory, ProcessInstance
from app.jobs import cancel, enqueue, job_handler, periodic
from app.notifications.services import notified_user_ids, settle_task_notices

from .models import TaskOffer, group_principal, user_principal

DUE_JOB = "inbox.task_due"
_NEW, _ENDED = "inbox_new_tasks", "inbox_ended_instances"
_CLOSED = "inbox_closed_task_ids"
_REOFFER = "inbox_reoffered_tasks"
_RESTEP = "inbox_offers_out_of_step"
_NEWLY_OFFERED = "inbox_newly_offered"
_TAKEN_BACK = "inbox_cancelled_tasks"


def route_out_of_office(session: Session, task: HumanTask) -> None:
    """A new task (or one waiting, once its people are away) goes to the substitutes of the away."""
    from . import services

    if task.instance_id is None:
        return
    instance = session.get(ProcessInstance, task.instance_id)

    routed_already: dict[str, str] = {}  # one history line per person (an assignee also a candidate had two)

    def routed_from(name: str) -> str:
        if name not in routed_already:
            routed_already[name] = route(name)
        return routed_already[name]

    def route(name: str) -> str:
        routed, away = services.substitute_for(name)
        if not away:
            return name
        if routed in services.not_for(task, acting_for=name):
            # The substitute started the process, owns its record or decided another of its
            # steps: not theirs to decide.
            services.add_history(instance, "out_of_office_kept", None, task=task.name,
                                 data={"from": name, "to": name, "substitute": routed, "away": away})
            return name
        services.add_history(instance, "out_of_office", None, task=task.name,
                             data={"from": name, "to": routed, "away": away})
        return routed

    if task.assignee:
        task.assignee = routed_from(task.assignee)
    if task.candidate_users:
        task.candidate_users = list(dict.fromkeys(routed_from(name) for name in task.candidate_users))
    elif task.candidate_groups:
        # Everyone the task is offered to is away: their substitutes are offered it too, or it
        # waits in a group nobody reads (17 Fujian reports while the one head was on holiday).
        away = services.members_all_away(task.candidate_groups)
        substitutes = [routed for routed in dict.fromkeys(routed_from(name) for name in away) if routed not in away]
        if substitutes:
            task.candidate_users = substitutes


def _before_flush(session: Session, flush_context, instances) -> None:
    new_tasks = [obj for obj in session.new if isinstance(obj, HumanTask)]
    with session.no_autoflush:
        for task in new_tasks:
            route_out_of_office(session, task)
        session.info.setdefault(_NEW, []).extend(new_tasks)
        for obj in session.dirty:
            if isinstance(obj, HumanTask) and obj.status == TASK_OPEN and obj.id is not None:
                if _changed(obj, "candidate_groups", "candidate_users"):
                    session.info.setdefault(_REOFFER, {})[obj.id] = obj
                    session.info.setdefault(_NEWLY_OFFERED, []).append((obj, _previous_candidates(obj)))
                elif _changed(obj, "assignee", "claimed_by", "due_at"):
                    session.info.setdefault(_RESTEP, {})[obj.id] = obj
            if isinstance(obj, HumanTask) and obj.status != TASK_OPEN and obj.id is not None:
                session.info.setdefault(_CLOSED, {})[obj.id] = obj.due_at is not None
                if _status_history(obj) == [TASK_CANCELLED]:
                    session.info.setdefault(_TAKEN_BACK, []).append(obj)
            if isinstance(obj, ProcessInstance):
                history = _status_history(obj)
                if history and history[-1] in ("completed", "terminated"):
                    session.info.setdefault(_ENDED, []).append((obj, history[-1]))


def _changed(task: HumanTask, *names: str) -> bool:
    from sqlalchemy import inspect

    attrs = inspect(task).attrs
    return any(attrs[name].history.has_changes() for name in names)


def _previous_candidates(task: HumanTask) -> tuple[list, list]:
    """(groups, users) the task was offered to before this change."""
    from sqlalchemy import inspect

    attrs = inspect(task).attrs

    def before(attr):
        old = attr.history.deleted or attr.history.unchanged
        return list(old[0] or []) if old else []
    return before(attrs.candidate_groups), before(attrs.candidate_users)


def _held(task: HumanTask) -> bool:
    return bool(task.assignee or task.claimed_by)


def _offers(task: HumanTask) -> list[dict]:
    principals = ([group_principal(g) for g in dict.fromkeys(task.candidate_groups or [])]
                  + [user_principal(u) for u in dict.fromkeys(task.candidate_users or [])])
    return [{"task_id": task.id, "principal": p, "held": _held(task), "due_at": task.due_at} for p in principals]


_OFFERS = TaskOffer.__table__
# Built once, as _STEP_OFFERS: building a statement and its cache key cost more than running it.
_INSERT_OFFERS = insert(_OFFERS)
_DELETE_OFFERS = delete(_OFFERS).where(_OFFERS.c.task_id.in_(bindparam("task_ids", expanding=True)))
_STEP_OFFERS = (update(_OFFERS).where(_OFFERS.c.task_id == bindparam("id"))
                .values(held=bindparam("is_held"), due_at=bindparam("due", type_=UTCDateTime())))


def _status_history(instance: ProcessInstance):
    from sqlalchemy import inspect

    added = inspect(instance).attrs.status.history.added
    return list(added) if added else None


def _after_flush(session: Session, flush_context) -> None:
    rows = []
    reoffered = session.info.pop(_REOFFER, {})
    if reoffered:
        session.connection().execute(_DELETE_OFFERS, {"task_ids": sorted(reoffered)})
        for task in reoffered.values():
            rows += _offers(task)
    out_of_step = {task_id: task for task_id, task in session.info.pop(_RESTEP, {}).items() if task_id not in reoffered}
    if out_of_step:
        session.connection().execute(_STEP_OFFERS, [{"id": task_id, "is_held": _held(task), "due": task.due_at}
                                                    for task_id, task in out_of_step.items()])
    for obj in session.new:
        if isinstance(obj, HumanTask):
            rows += _offers(obj)
    if rows:
        session.connection().execute(_INSERT_OFFERS, rows)
    closed = session.info.pop(_CLOSED, None)
    held = {task_id: task.assignee or task.claimed_by for task_id, task in out_of_step.items() if _held(task)}
    if closed or held:
        settle_task_notices(session.connection(), closed=list(closed or ()), held=held)
    if closed:
        # Offers are only for open tasks: the "offered to my groups" lookup stays small.
        session.connection().execute(_DELETE_OFFERS, {"task_ids": sorted(closed)})
        # Nobody needs reminding of a task that is done: its reminder would sit in the job
        # backlog until it fired and found nothing to do.
        reminders = [_due_job_key(task_id) for task_id, has_due in closed.items() if has_due]
        if reminders:
            cancel(reminders, connection=session.connection())


_LAST_EVENT = (select(ProcessHistory.event, ProcessHistory.comment, ProcessHistory.task).where(ProcessHistory.instance_id == bindparam("instance_id"))
               .order_by(ProcessHistory.at.desc(), ProcessHistory.id.desc()).limit(1))


def _before_commit(session: Session) -> None:
    from . import services

    # before_commit runs before the commit's own flush: flush now so before_flush has seen
    # every new task and ended instance of this transaction.
    session.flush()
    new_tasks = session.info.pop(_NEW, [])
    ended = session.info.pop(_ENDED, [])
    taken_back = session.info.pop(_TAKEN_BACK, [])
    newly_offered = session.info.pop(_NEWLY_OFFERED, [])
    if not new_tasks and not ended and not taken_back and not newly_offered:
        return
    for task, (groups, users) in newly_offered:
        # Offered to more people (its process moved to a version with other candidates): the
        # new candidates hear of it as of a new task; those who already had it do not again.
        if task.status != TASK_OPEN or services.holder(task):
            continue
        before = services.group_member_names(groups) | set(users)
        services._notify(_people(services, task) - before, _new_task_text(services, task), task)
    for task in taken_back:
        # Cancelled while the process runs on: an interrupting event (escalation) took it.
        if task.instance.status != "running":
            continue
        services._notify(_people(services, task), _l("The task %(task)s was taken back by the process "
                                                     "(e.g. escalated after its deadline).", task=services.about(task)),
                         link=f"/process-instances/{task.instance_id}")
    for task in new_tasks:
        if task.id is None or task.status != TASK_OPEN:
            continue
        services._notify(_people(services, task), _new_task_text(services, task), task)
        if task.due_at is not None:
            enqueue(DUE_JOB, {"task_id": task.id}, due_at=task.due_at, key=_due_job_key(task.id))
    notified = notified_user_ids(session)
    for instance, status in ended:
        # The starter, and the record's owner when someone else (handed the record meanwhile):
        # unless the process told them itself in this transaction.
        record = services.record_of(instance)
        owner_id = getattr(record, "owner_id", None)
        starter = instance.started_by_id if instance.started_by_id not in notified else None
        owner = owner_id if owner_id not in (None, instance.started_by_id) and owner_id not in notified else None
        if not starter and not owner:
            continue
        last, reason, reached = session.execute(_LAST_EVENT, {"instance_id": instance.id}).first() or (None,) * 3
        if last == "withdrawn":
            continue  # the starter did it themselves
        name = instance.definition.name or instance.process_key
        label = f"{name} #{instance.id}" + (f" ({record.label})" if getattr(record, "label", None) else "")
        link = f"/process-instances/{instance.id}"
        if starter:
            services._notify([session.get(User, starter).username], _end_text(label, status, reason, reached), link=link)
        if owner:
            services._notify([session.get(User, owner).username], _end_text(label, status, reason, reached, True),
                             link=link)


# How a process ended, for its starter ("your process") or its record's owner (someone else).
# Lazy, with their values: each recipient reads them in their own language.
_END_TEXTS = {
    (False, "terminated"): lambda **v: _l("Your process %(process)s was terminated: %(reason)s", **v),
    (False, "outcome"): lambda **v: _l("Your process %(process)s has completed: %(outcome)s.", **v),
    (False, "completed"): lambda **v: _l("Your process %(process)s has completed.", **v),
    (True, "terminated"): lambda **v: _l("The process %(process)s about your record was terminated: %(reason)s", **v),
    (True, "outcome"): lambda **v: _l("The process %(process)s about your record has completed: %(outcome)s.", **v),
    (True, "completed"): lambda **v: _l("The process %(process)s about your record has completed.", **v),
}


def _end_text(label: str, status: str, reason, reached, about_their_record: bool = False):
    # The end it reached says how it came out (报备通过 / 报备驳回).
    how = "terminated" if status != "completed" else "outcome" if reached else "completed"
    return _END_TEXTS[about_their_record, how](process=label, reason=reason or "—", outcome=reached)


def _due_job_key(task_id: int) -> str:
    return f"{DUE_JOB}:{task_id}"


def _record_label(services, instance) -> str | None:
    """The record a notice is about (a task name or a process name alone does not say which customer)."""
    record = services.record_of(instance)
    return getattr(record, "label", None) if record is not None else None


def _new_task_text(services, task: HumanTask):
    record = _record_label(services, task.instance)
    if record:
        return _l("New task: %(task)s (%(record)s)", task=task.name, record=record)
    return _l("New task: %(task)s", task=task.name)


def _people(services, task: HumanTask) -> set[str]:
    """Whoever holds the task, or everyone it is offered to, but for whoever it decides about:
    a group member who started the request or owns its record cannot take it, and was told of
    it as a task to do."""
    if services.holder(task):
        return {services.holder(task)}
    return services.offered_people(task)


def _clear(session: Session, *args) -> None:
    for key in (_NEW, _ENDED, _CLOSED, _TAKEN_BACK, _REOFFER, _RESTEP, _NEWLY_OFFERED):
        session.info.pop(key, None)


@job_handler(DUE_JOB, label=_l("Task due reminder"))
def task_due(job) -> None:
    """The due date of a task passed and it is still open: remind whoever holds it."""
    from app.extensions import db

    from . import services

    task = db.session.get(HumanTask, job.payload["task_id"])
    if task is None or task.status != TASK_OPEN or task.instance.status != "running":
        return
    record = _record_label(services, task.instance)  # several contracts' tasks share one step's name
    text = (_l("Reminder: the task %(task)s (%(record)s) is overdue.", task=task.name, record=record) if record
            else _l("Reminder: the task %(task)s is overdue.", task=task.name))
    services._notify(_people(services, task), text, task)
    db.session.commit()


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _clear)
    event.listen(Session, "after_rollback", _clear)
    _installed = True


@periodic("inbox.out_of_office", every_seconds=900, label=_l("Out-of-office routing"))
def route_for_the_away(job) -> None:
    """A period's first day came: what already waits for its person goes to their substitute."""
    from . import services

    services.offer_waiting_tasks_to_substitutes()
