"""Efficiency reports (issue 10): process, people and automation figures.

Every figure is a SQL aggregate over the engine's instance, task and history rows and the
automation run log; no workflow state is ever loaded. Durations are seconds (floats).

Definitions (what each figure counts):
- The process report covers the instances *started* in the period (a cohort); per-step
  figures are over the tasks of those instances.
- in progress = running + suspended; withdrawn = terminated with a ``withdrawn`` history
  event (the starter took it back); terminated = the other terminated instances.
- approval / rejection: the ``decision`` of the last completed task of each completed
  instance (``approve``/``approved`` vs ``reject``/``rejected``; anything else is "other");
  ends: how many completed instances reached each end event, by its name (unnamed: ``None``).
- duration: created → completed of completed instances; weekly by the week it started.
- waiting: task created → claimed (tasks that were claimed); handling: claimed (or created,
  for tasks assigned directly) → completed; time in step: created → completed.
- overdue: a due date that passed before completion, or passed while the task is still open.
- escalated: the task was interrupted by a boundary timer (the engine's ``task_cancelled``;
  e.g. the 3-day escalation timer; not ``task_closed``, a task the process went on without); delegated / reassigned: inbox history events on the task.
- skipped: completed instances of a version containing the step in which it never ran.
- bottlenecks: the slowest step by median time in step, and every step within half of it, among
  steps with enough completed tasks to have a median worth the name (MIN_BOTTLENECK_SAMPLES), and
  only where another step is under half as long (one step alone is no bottleneck) and the slowest
  takes a quarter of an hour at least (steps done in seconds hold nothing up).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, distinct, exists, func, literal, null, or_, select, true, union_all

from app.auth.models import Group, User, group_members
from app.automation.models import Rule, RuleRun
from app.clock import company_zone
from app.db import utcnow
from app.engine.models import TASK_CANCELLED, TASK_COMPLETED, TASK_OPEN, HumanTask, ProcessDefinition, \
    ProcessHistory, ProcessInstance
from app.extensions import db
from app.spreadsheet import formula_safe

from . import sql
from .models import ActionMinutes

APPROVE = ("approve", "approved")
REJECT = ("reject", "rejected")
DEFAULT_DAYS = 84  # twelve weeks
MAX_DAYS = 3 * 366
EARLIEST, LATEST = date(2000, 1, 1), date(2199, 12, 31)
STEP_EVENTS = {"task_cancelled": "escalated", "delegated": "delegated", "reassigned": "reassigned"}
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

I = ProcessInstance.__table__
T = HumanTask.__table__
H = ProcessHistory.__table__
R = RuleRun.__table__


class ReportError(ValueError):
    """Bad filter input (400) or an unknown process (404)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


# ------------------------------------------------------------------ period

@dataclass(frozen=True)
class Period:
    first: date  # local dates, both included
    last: date
    start: datetime  # UTC bounds: [start, end)
    end: datetime
    offset_s: int  # the zone's offset, for local week buckets

    @property
    def weeks(self) -> float:
        return ((self.last - self.first).days + 1) / 7.0

    def as_dict(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def make_period(first: date | None = None, last: date | None = None, today: date | None = None) -> Period:
    zone = company_zone()
    today = today or utcnow().astimezone(zone).date()
    for value, field in ((first, "from"), (last, "to")):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ReportError(400, "invalid_input", _("Dates must lie between %(first)s and %(last)s.",
                                                      first=EARLIEST, last=LATEST), field)
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ReportError(400, "invalid_input", _("The start date is after the end date."), "from")
    if (last - first).days >= MAX_DAYS:
        raise ReportError(400, "invalid_input", _("The period is longer than %(days)d days.", days=MAX_DAYS), "from")
    start = datetime.combine(first, time(), zone).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(timezone.utc)
    offset = int(datetime.combine(first, time(), zone).utcoffset().total_seconds())
    return Period(first, last, start, end, offset)


def week_start(index: int) -> date:
    """The Monday of local week ``index`` (see :func:`sql.week_index`)."""
    return (datetime(1970, 1, 5) + timedelta(weeks=index)).date()


def _r(value, digits: int = 1):
    return None if value is None else round(float(value), digits)


# ------------------------------------------------------------------ processes

def process_list() -> list[dict]:
    """Deployed processes with their versions (for the filters)."""
    rows = db.session.execute(select(ProcessDefinition.key, ProcessDefinition.name, ProcessDefinition.version,
                                     ProcessDefinition.is_current)
                              .order_by(ProcessDefinition.key, ProcessDefinition.version)).all()
    out: dict[str, dict] = {}
    for key, name, version, current in rows:
        item = out.setdefault(key, {"key": key, "name": name or key, "versions": [], "current_version": None})
        item["versions"].append(version)
        if current:
            item["current_version"], item["name"] = version, name or key
    for item in out.values():
        item["current_version"] = item["current_version"] or item["versions"][-1]
    return list(out.values())


def default_process(items: list[dict]) -> str | None:
    """The key the process report opens on: the process started last (a template deployed but
    never used is not a useful first page; one indexed row, not a count over every instance),
    else the first one."""
    keys = [item["key"] for item in items]
    latest = db.session.scalar(select(ProcessInstance.process_key).order_by(ProcessInstance.id.desc()).limit(1))
    return latest if latest in keys else (keys[0] if keys else None)


@lru_cache(maxsize=64)
def _user_tasks(spec_hash: str, xml: str) -> tuple[tuple[str, str], ...]:
    """(id, name) of the user tasks of a diagram, in document order (cached by XML hash)."""
    from app.engine.xml import load_xml

    root = load_xml(xml)
    return tuple((el.get("id"), el.get("name") or el.get("id"))
                 for el in root.iter(f"{{{BPMN_NS}}}userTask"))


def _definitions(key: str, version: int | None) -> list[ProcessDefinition]:
    stmt = select(ProcessDefinition).where(ProcessDefinition.key == key).order_by(ProcessDefinition.version)
    if version is not None:
        stmt = stmt.where(ProcessDefinition.version == version)
    defs = list(db.session.scalars(stmt))
    if not defs:
        raise ReportError(404, "not_found", _("No process %(key)s version %(version)s.", key=key, version=version)
                          if version else _("No process %(key)s.", key=key))
    return defs


def diagram(key: str, version: int | None = None) -> ProcessDefinition:
    """The definition whose diagram the heat overlay is drawn on: the version asked for, else
    the current one."""
    defs = _definitions(key, version)
    return next((d for d in defs if d.is_current), defs[-1]) if version is None else defs[0]


def _cohort(key: str, version_ids: list[int] | None, period: Period):
    cond = [I.c.process_key == key, I.c.created_at >= period.start, I.c.created_at < period.end]
    if version_ids is not None:
        cond.append(I.c.definition_id.in_(version_ids))
    return and_(*cond)


def process_report(key: str, version: int | None = None, period: Period | None = None,
                   now: datetime | None = None) -> dict:
    period = period or make_period()
    now = now or utcnow()
    defs = _definitions(key, version)
    cohort = _cohort(key, [d.id for d in defs] if version is not None else None, period)
    shown = diagram(key, version)

    # One pass over the cohort: instances by start week (statuses, durations start → end of
    # completed ones) and, for completed ones, the decision in the last completed task (history
    # rows are small; the instance row's data sits behind the large workflow state). The cohort
    # is materialised once and aggregated twice: by week, and as a whole (last row).
    completed = I.c.status == "completed"
    withdrawn = and_(I.c.status == "terminated",
                     exists().where(H.c.instance_id == I.c.id, H.c.event == "withdrawn"))
    last_decision = (select(H.c.data["decision"].as_string())
                     .where(H.c.event == "completed_task", H.c.instance_id == I.c.id)
                     .order_by(H.c.id.desc()).limit(1).scalar_subquery())
    src = (select(sql.week_index(I.c.created_at, period.offset_s).label("week"), I.c.status,
                  case((withdrawn, 1), else_=0).label("withdrawn"),
                  case((completed, sql.span(I.c.created_at, I.c.completed_at))).label("duration"),
                  case((completed, last_decision)).label("decision"))
           .where(cohort).cte("cohort").prefix_with("MATERIALIZED"))
    conditions = {"completed": src.c.status == "completed",
                  "in_progress": src.c.status.in_(("running", "suspended")),
                  "withdrawn": src.c.withdrawn == 1, "terminated": src.c.status == "terminated",
                  "error": src.c.status == "error"}
    decisions = {"approved": src.c.decision.in_(APPROVE), "rejected": src.c.decision.in_(REJECT)}
    sums = [func.sum(case((cond, 1), else_=0)).label(name) for name, cond in conditions.items()]
    times = sql.percentiles(src.c.duration).label("times")
    by_week = (select(src.c.week, func.count().label("started"), *sums, times,
                      *[null().label(name) for name in decisions])
               .group_by(src.c.week))
    whole = select(null().label("week"), func.count().label("started"), *sums, times,
                   *[func.sum(case((cond, 1), else_=0)).label(name) for name, cond in decisions.items()])
    counts = {"started": 0, "completed": 0, "in_progress": 0, "withdrawn": 0, "terminated": 0, "error": 0}
    outcomes = {"approved": 0, "rejected": 0, "other": 0}
    trend, overall_p50, overall_p90 = [], None, None
    for row in db.session.execute(union_all(by_week, whole)):
        p50, p90 = sql.unpack(row.times)
        if row.week is None:  # the whole cohort
            counts.update({name: row._mapping[name] or 0 for name in counts})
            outcomes.update({name: row._mapping[name] or 0 for name in decisions})
            overall_p50, overall_p90 = p50, p90
            continue
        trend.append({"week": week_start(row.week).isoformat(), "started": row.started,
                      "completed": row.completed or 0, "median_s": _r(p50), "p90_s": _r(p90)})
    trend.sort(key=lambda w: w["week"])
    counts["terminated"] -= counts["withdrawn"]
    # no decision, or one that is neither approve nor reject
    outcomes["other"] = counts["completed"] - outcomes["approved"] - outcomes["rejected"]
    if len(defs) == 1:
        completed_by_def = {defs[0].id: counts["completed"]}
    else:
        completed_by_def = dict(db.session.execute(
            select(I.c.definition_id, func.count()).where(cohort, completed).group_by(I.c.definition_id)).all())
    decided = outcomes["approved"] + outcomes["rejected"]
    # Which end each completed instance reached (报备通过 / 报备驳回): what a diagram whose reviews
    # answer in fields of their own (legal_ok, finance_ok) came to, where ``decision`` says nothing.
    ends = [{"name": name, "count": n} for name, n in db.session.execute(
        select(H.c.task, func.count()).join(I, I.c.id == H.c.instance_id)
        .where(cohort, completed, H.c.event == "completed").group_by(H.c.task)
        .order_by(func.count().desc(), H.c.task.is_(None), H.c.task))]
    outcomes["approval_rate"] = round(outcomes["approved"] / decided, 4) if decided else None
    outcomes["rejection_rate"] = round(outcomes["rejected"] / decided, 4) if decided else None

    return {
        "process": {"key": key, "name": shown.name or key, "version": version,
                    "diagram_version": shown.version},
        "period": period.as_dict(),
        "instances": counts,
        "outcomes": outcomes,
        "ends": ends,
        "duration": {"n": counts["completed"], "median_s": _r(overall_p50), "p90_s": _r(overall_p90)},
        "weekly": trend,
        "steps": _steps(cohort, defs, completed_by_def, now),
    }


def _steps(cohort, defs: list[ProcessDefinition], completed_by_def: dict[int, int], now: datetime) -> list[dict]:
    steps: dict[str, dict] = {}
    contains: dict[str, set[int]] = {}
    for d in defs:  # every user task of the diagrams, also those that never ran
        for bpmn_id, name in _user_tasks(d.spec_hash, d.xml):
            contains.setdefault(bpmn_id, set()).add(d.id)
            steps.setdefault(bpmn_id, _empty_step(bpmn_id, name))

    # counts and times (waiting before claim, handling, time in step) per step
    done = T.c.status == TASK_COMPLETED
    overdue = and_(T.c.due_at.is_not(None),
                   or_(and_(done, T.c.completed_at > T.c.due_at), and_(T.c.status == TASK_OPEN, T.c.due_at < now)))
    spans = sql.task_spans(T.c.created_at, T.c.claimed_at, case((done, T.c.completed_at)))
    rows = db.session.execute(
        select(T.c.bpmn_id, func.max(T.c.name).label("name"), func.count().label("runs"),
               func.sum(case((done, 1), else_=0)).label("completed"),
               func.sum(case((T.c.status == TASK_OPEN, 1), else_=0)).label("open"),
               func.sum(case((overdue, 1), else_=0)).label("overdue"),
               func.count(distinct(case((I.c.status == "completed", T.c.instance_id)))).label("ran_in_completed"),
               *spans)
        .select_from(T).join(I, I.c.id == T.c.instance_id).where(cohort).group_by(T.c.bpmn_id))
    for row in rows:
        step = steps.setdefault(row.bpmn_id, _empty_step(row.bpmn_id, row.name))
        values = row._mapping
        for field in ("runs", "completed", "open", "overdue"):
            step[field] = values[field] or 0
        for name, (p50, p90) in sql.unpack_task_spans(row).items():
            step[f"{name}_median_s"], step[f"{name}_p90_s"] = _r(p50), _r(p90)
        # a step runs only in the versions that contain it: those versions' completed
        # instances minus the ones it ran in were completed without it
        if row.bpmn_id in contains:
            completed = sum(completed_by_def.get(d, 0) for d in contains[row.bpmn_id])
            step["skipped"] = max(0, completed - (row.ran_in_completed or 0))
    for bpmn_id, step in steps.items():
        if step["runs"] == 0 and bpmn_id in contains:
            step["skipped"] = sum(completed_by_def.get(d, 0) for d in contains[bpmn_id])

    # history events on a step: interrupted (escalated), delegated, reassigned
    on_task = and_(T.c.instance_id == H.c.instance_id, T.c.name == H.c.task, T.c.created_at <= H.c.at,
                   or_(T.c.completed_at.is_(None), T.c.completed_at >= H.c.at))
    # the cohort as a set of ids (read from the instances' covering index once): joining the
    # instance per event would read each instance row with its large state (~8 µs a row);
    # "+ 0" keeps SQLite from probing the history index once per cohort id instead
    in_cohort = (H.c.instance_id + 0).in_(select(I.c.id).where(cohort))
    events = db.session.execute(
        select(T.c.bpmn_id, H.c.event, func.count(distinct(H.c.id)))
        .select_from(H).join(T, on_task)
        .where(in_cohort, sql.rare(H.c.event.in_(list(STEP_EVENTS))),
               or_(H.c.event != "task_cancelled", T.c.status == TASK_CANCELLED))
        .group_by(T.c.bpmn_id, H.c.event))
    for bpmn_id, event, n in events:
        steps[bpmn_id][STEP_EVENTS[event]] += n

    return mark_bottlenecks(list(steps.values()))


# A median of one or two tasks says little: one slow case (a holiday) would name a bottleneck.
MIN_BOTTLENECK_SAMPLES = 3
# Nor does a step people finish within minutes hold anything up (the page would show "0 分钟"
# beside the flag): a bottleneck is slow by a person's measure, not only by comparison.
MIN_BOTTLENECK_SECONDS = 15 * 60


def mark_bottlenecks(steps: list[dict]) -> list[dict]:
    """The slowest step by median time in step, and every step within half of it, among the
    steps with at least MIN_BOTTLENECK_SAMPLES completed tasks; named only where another step
    is clearly quicker (under half as long), and only a step of MIN_BOTTLENECK_SECONDS or more.
    A one-step process, or steps all alike, has no bottleneck: the flag would only repeat that
    the process takes time."""
    judged = [s for s in steps if s["completed"] >= MIN_BOTTLENECK_SAMPLES]
    slowest = max((s["in_step_median_s"] or 0 for s in judged), default=0)
    slow = [s for s in judged if slowest >= MIN_BOTTLENECK_SECONDS and (s["in_step_median_s"] or 0) >= slowest / 2]
    quicker = any(s["in_step_median_s"] is not None and s["in_step_median_s"] < slowest / 2 for s in steps)
    for s in steps:
        s["bottleneck"] = quicker and s in slow
    return steps


def _empty_step(bpmn_id: str, name: str) -> dict:
    step = {"id": bpmn_id, "name": name, "runs": 0, "completed": 0, "open": 0, "overdue": 0,
            "escalated": 0, "delegated": 0, "reassigned": 0, "skipped": None}
    for v in ("waiting", "handling", "in_step"):
        step[f"{v}_median_s"] = step[f"{v}_p90_s"] = None
    return step


# ------------------------------------------------------------------ people

def managed_groups(user) -> list[str]:
    return list(db.session.scalars(select(Group.name).where(Group.manager_id == user.id).order_by(Group.name)))


def can_see_everything(user) -> bool:
    return user.has_role("admin", "designer")


def can_see_people(user) -> bool:
    return can_see_everything(user) or bool(managed_groups(user))


def people_report(period: Period | None = None, scope_groups: list[str] | None = None,
                  process_key: str | None = None, now: datetime | None = None, manager: str | None = None) -> dict:
    """Open and overdue tasks and handling times per approver and per candidate group.

    ``scope_groups`` (a manager's groups) limits the rows to those groups and their members, and
    the ``manager`` (username) themself, who decides tasks too; None = everyone."""
    period = period or make_period()
    now = now or utcnow()
    users = {u.username: u for u in db.session.scalars(select(User))}
    members: set[str] | None = None
    if scope_groups is not None:
        members = set(db.session.scalars(
            select(User.username).join(group_members, group_members.c.user_id == User.id)
            .join(Group, Group.id == group_members.c.group_id).where(Group.name.in_(scope_groups))))
        if manager:
            members.add(manager)
    base = [] if process_key is None else [I.c.process_key == process_key]
    overdue = and_(T.c.due_at.is_not(None), T.c.due_at < now)
    done_in_period = and_(T.c.status == TASK_COMPLETED, T.c.completed_at >= period.start,
                          T.c.completed_at < period.end)
    handling = sql.span(func.coalesce(T.c.claimed_at, T.c.created_at), T.c.completed_at)

    people: dict[str, dict] = {}

    def person(name):
        user = users.get(name)
        return people.setdefault(name, {"username": name, "label": user.label if user else name, "open": 0,
                                        "overdue": 0, "completed": 0, "handling_median_s": None,
                                        "handling_p90_s": None})

    holder = func.coalesce(T.c.claimed_by, T.c.assignee)
    for name, n, late in db.session.execute(
            select(holder, func.count(), func.sum(case((overdue, 1), else_=0)))
            .select_from(T).join(I, I.c.id == T.c.instance_id)
            .where(T.c.status == TASK_OPEN, holder.is_not(None), *base).group_by(holder)):
        if members is None or name in members:
            p = person(name)
            p["open"], p["overdue"] = n, late or 0
    for who, n, times in db.session.execute(
            select(T.c.completed_by, func.count(), sql.percentiles(handling))
            .select_from(T).join(I, I.c.id == T.c.instance_id)
            .where(done_in_period, T.c.completed_by.is_not(None), *base).group_by(T.c.completed_by)):
        if members is None or who in members:
            p = person(who)
            p50, p90 = sql.unpack(times)
            p["completed"], p["handling_median_s"], p["handling_p90_s"] = n, _r(p50), _r(p90)
    if members is not None:  # a manager sees every member, also those with nothing to do
        for name in members:
            person(name)

    groups_rows = {g.name: g for g in db.session.scalars(select(Group))}
    groups: dict[str, dict] = {}

    def group(name):
        g = groups_rows.get(name)
        return groups.setdefault(name, {"name": name, "label": g.label if g else name, "open": 0,
                                        "unclaimed": 0, "overdue": 0, "completed": 0,
                                        "handling_median_s": None, "handling_p90_s": None})

    offered = sql.json_text_items(T.c.candidate_groups)
    unclaimed = and_(T.c.claimed_by.is_(None), T.c.assignee.is_(None))
    in_scope = [] if scope_groups is None else [offered.c.value.in_(scope_groups)]
    for name, n, free, late in db.session.execute(
            select(offered.c.value, func.count(), func.sum(case((unclaimed, 1), else_=0)),
                   func.sum(case((overdue, 1), else_=0)))
            .select_from(T).join(I, I.c.id == T.c.instance_id).join(offered, true())
            .where(T.c.status == TASK_OPEN, *base, *in_scope).group_by(offered.c.value)):
        g = group(name)
        g["open"], g["unclaimed"], g["overdue"] = n, free or 0, late or 0
    for name, n, times in db.session.execute(
            select(offered.c.value, func.count(), sql.percentiles(handling))
            .select_from(T).join(I, I.c.id == T.c.instance_id).join(offered, true())
            .where(done_in_period, *base, *in_scope).group_by(offered.c.value)):
        g = group(name)
        p50, p90 = sql.unpack(times)
        g["completed"], g["handling_median_s"], g["handling_p90_s"] = n, _r(p50), _r(p90)
    for name in scope_groups or []:
        group(name)

    by_load = lambda r: (-r["overdue"], -r["open"], r["label"])  # noqa: E731 - the overloaded first
    return {"period": period.as_dict(), "process": process_key,
            "people": sorted(people.values(), key=by_load), "groups": sorted(groups.values(), key=by_load)}


# ------------------------------------------------------------------ automation

def action_minutes() -> dict[tuple[int, int], ActionMinutes]:
    return {(m.rule_id, m.action_index): m for m in db.session.scalars(select(ActionMinutes))}


def set_action_minutes(rule_id: int, settings: list[dict], actor=None) -> list[dict]:
    """Set the minutes per action of a rule: ``[{"index": 0, "minutes": 5}, ...]``."""
    rule = db.session.get(Rule, rule_id)
    if rule is None:
        raise ReportError(404, "not_found", _("No automation rule %(id)s.", id=rule_id))
    actions = rule.actions or []
    for item in settings:
        index, minutes = item["index"], item["minutes"]
        if not 0 <= index < len(actions):
            raise ReportError(400, "invalid_input", _("The rule has no action %(number)s.", number=index), "settings")
        row = db.session.get(ActionMinutes, (rule.id, index))
        if row is None:
            row = ActionMinutes(rule_id=rule.id, action_index=index)
            db.session.add(row)
        row.action_type, row.minutes = actions[index].get("type", ""), float(minutes)
        row.updated_by = getattr(actor, "username", None)
    db.session.commit()
    return _rule_actions(rule, action_minutes())


def _rule_actions(rule: Rule, minutes: dict) -> list[dict]:
    out = []
    for index, action in enumerate(rule.actions or []):
        setting = minutes.get((rule.id, index))
        valid = setting is not None and setting.action_type == action.get("type")
        out.append({"index": index, "type": action.get("type"), "minutes": setting.minutes if valid else 0})
    return out


def automation_report(period: Period | None = None) -> dict:
    period = period or make_period()
    in_period = and_(R.c.at >= period.start, R.c.at < period.end)
    rules = {r.id: r for r in db.session.scalars(select(Rule).order_by(Rule.name, Rule.id))}
    minutes = action_minutes()
    out: dict = {}

    def rule_row(rule_id, name):
        rule = rules.get(rule_id)
        # A deleted rule's runs keep its name, not its id: each deleted rule is a row of its own
        # (all of them were one row, under one of their names, marked "off").
        return out.setdefault(rule_id if rule_id is not None else ("deleted", name), {
            "rule_id": rule_id, "name": rule.name if rule else name, "enabled": rule.enabled if rule else False,
            "deleted": rule is None, "evaluations": 0, "matches": 0, "failures": 0, "stopped": 0, "actions_done": 0,
            "last_error": None, "last_error_at": None, "minutes_saved": 0.0,
            "actions": _rule_actions(rule, minutes) if rule else []})

    # The rule a run counts for: its id, or the name of a deleted one.
    deleted_name = case((R.c.rule_id.is_(None), R.c.rule_name), else_=literal(""))
    for rule in rules.values():
        rule_row(rule.id, rule.name)
    for rule_id, name, n, matched, failed, stopped in db.session.execute(
            select(R.c.rule_id, deleted_name, func.count(),
                   func.sum(case((R.c.outcome == "matched", 1), else_=0)),
                   func.sum(case((R.c.outcome == "failed", 1), else_=0)),
                   func.sum(case((R.c.outcome == "stopped", 1), else_=0)))
            .where(in_period).group_by(R.c.rule_id, deleted_name)):
        row = rule_row(rule_id, name)
        row.update(evaluations=n, matches=matched or 0, failures=failed or 0, stopped=stopped or 0)

    latest = (select(R.c.rule_id, deleted_name.label("deleted_name"), R.c.error, R.c.at,
                     func.row_number().over(partition_by=(R.c.rule_id, deleted_name),
                                            order_by=(R.c.at.desc(), R.c.id.desc())).label("rn"))
              .where(in_period, R.c.outcome == "failed").subquery())
    for rule_id, name, error, at, _rn in db.session.execute(select(latest).where(latest.c.rn == 1)):
        row = rule_row(rule_id, name)
        row["last_error"], row["last_error_at"] = error, at.isoformat() if at else None

    # actions done, per rule, action index/type and week → minutes saved
    items, field = sql.json_array_items(R.c.actions)
    index, kind = field("index"), field("type")
    week = sql.week_index(R.c.at, period.offset_s).label("week")
    weekly: dict[int, float] = {}
    for rule_id, name, idx, typ, wk, n in db.session.execute(
            select(R.c.rule_id, deleted_name, index, kind, week, func.count())
            .select_from(R).join(items, true())
            .where(in_period, field("status") == "done")
            .group_by(R.c.rule_id, deleted_name, index, kind, week)):
        row = rule_row(rule_id, name)
        row["actions_done"] += n
        setting = minutes.get((rule_id, int(idx))) if rule_id is not None else None
        if setting is not None and setting.action_type == typ:
            saved = n * setting.minutes
            row["minutes_saved"] += saved
            weekly[wk] = weekly.get(wk, 0.0) + saved

    total = sum(r["minutes_saved"] for r in out.values())
    rows = sorted(out.values(), key=lambda r: (-r["minutes_saved"], -r["evaluations"], r["name"]))
    for r in rows:
        r["hours_saved"] = round(r["minutes_saved"] / 60, 2)
        r["minutes_saved"] = round(r["minutes_saved"], 1)
    return {
        "period": period.as_dict(),
        "rules": rows,
        "total_hours_saved": round(total / 60, 2),
        # A period shorter than a week is not scaled up to one (a day's 0.28 h read 1.93 h a week).
        "hours_saved_per_week": round(total / 60 / max(period.weeks, 1.0), 2),
        "weekly": [{"week": week_start(wk).isoformat(), "hours_saved": round(m / 60, 2)}
                   for wk, m in sorted(weekly.items())],
    }


# ------------------------------------------------------------------ CSV

# report -> table -> (columns, how to get the rows from the report dict)
CSV_TABLES = {
    "process": {
        "summary": (["metric", "value"], lambda r: [
            *[[k, v] for k, v in r["instances"].items()], *[[k, v] for k, v in r["outcomes"].items()],
            *[[_("Ended at: %(end)s", end=e["name"] or _("(unnamed end)")), e["count"]] for e in r["ends"]],
            ["duration_n", r["duration"]["n"]], ["duration_median_s", r["duration"]["median_s"]],
            ["duration_p90_s", r["duration"]["p90_s"]]]),
        "weekly": (["week", "started", "completed", "median_s", "p90_s"], lambda r: r["weekly"]),
        "steps": (["id", "name", "runs", "completed", "open", "waiting_median_s", "waiting_p90_s",
                   "handling_median_s", "handling_p90_s", "in_step_median_s", "in_step_p90_s", "overdue",
                   "escalated", "delegated", "reassigned", "skipped", "bottleneck"], lambda r: r["steps"]),
    },
    "people": {
        "people": (["username", "label", "open", "overdue", "completed", "handling_median_s", "handling_p90_s"],
                   lambda r: r["people"]),
        "groups": (["name", "label", "open", "unclaimed", "overdue", "completed", "handling_median_s",
                    "handling_p90_s"], lambda r: r["groups"]),
    },
    "sales": {
        # In the page's order: contracts signed before the open pipeline.
        "people": (["label", "username", "new", "new_amount", "won", "won_amount", "lost", "win_rate", "contracts",
                    "contracts_amount", "open", "open_amount"], lambda r: r["people"]),
        "stages": (["name", "key", "count", "amount"], lambda r: r["stages"]),
    },
    "automation": {
        "rules": (["rule_id", "name", "enabled", "evaluations", "matches", "failures", "stopped", "actions_done",
                   "minutes_saved", "hours_saved", "last_error", "last_error_at"], lambda r: r["rules"]),
        "weekly": (["week", "hours_saved"], lambda r: r["weekly"]),
    },
}


# How the files name their columns (and the summary its metrics): as the pages do, in the
# reader's language, with the unit of the figure (people open them in Excel, not a program:
# the JSON API gives the keys).
CSV_LABELS = {
    "metric": _l("Metric"), "value": _l("Value"), "week": _l("Week of"), "id": _l("Step ID"), "name": _l("Name"),
    "label": _l("Name"), "username": _l("Username"), "rule_id": _l("Rule ID"), "key": _l("Stage key"),
    "started": _l("Started"), "completed": _l("Completed"), "in_progress": _l("In progress"),
    "withdrawn": _l("Withdrawn"), "terminated": _l("Terminated"), "error": _l("In error"),
    "approved": _l("Approved"), "rejected": _l("Rejected"), "other": _l("Other outcome"),
    "approval_rate": _l("Approval rate"), "rejection_rate": _l("Rejection rate"),
    "duration_n": _l("Completed instances"), "duration_median_s": _l("Duration, median (seconds)"),
    "duration_p90_s": _l("Duration, p90 (seconds)"), "median_s": _l("Median duration (seconds)"),
    "p90_s": _l("p90 duration (seconds)"), "runs": _l("Runs"), "open": _l("Open tasks"),
    "waiting_median_s": _l("Waiting before claim, median (seconds)"),
    "waiting_p90_s": _l("Waiting before claim, p90 (seconds)"),
    "handling_median_s": _l("Handling, median (seconds)"), "handling_p90_s": _l("Handling, p90 (seconds)"),
    "in_step_median_s": _l("Time in step, median (seconds)"), "in_step_p90_s": _l("Time in step, p90 (seconds)"),
    "overdue": _l("Overdue"), "escalated": _l("Escalated"), "delegated": _l("Delegated"),
    "reassigned": _l("Reassigned"), "skipped": _l("Passed by"), "bottleneck": _l("Bottleneck"),
    "unclaimed": _l("Unclaimed"), "new": _l("New opportunities"), "new_amount": _l("New opportunities, amount"),
    "won": _l("Won"), "won_amount": _l("Amount won"), "lost": _l("Lost"), "win_rate": _l("Win rate"),
    "contracts": _l("Contracts signed"), "contracts_amount": _l("Contracts signed, amount"),
    "open_amount": _l("Open pipeline, amount"), "count": _l("Opportunities"), "amount": _l("Amount"),
    "enabled": _l("Enabled"), "evaluations": _l("Evaluations"), "matches": _l("Matches"),
    "failures": _l("Failures"), "stopped": _l("Stopped"), "actions_done": _l("Actions done"),
    "minutes_saved": _l("Minutes saved"), "hours_saved": _l("Hours saved"), "last_error": _l("Last error"),
    "last_error_at": _l("Last error at"),
    # "open" of a salesperson is deals; of an approver, the tasks they hold; of a group, its tasks.
    "sales.people.open": _l("Open pipeline"), "people.people.open": _l("Tasks held"), "sales.people.label": _l("Owner"),
    "sales.stages.name": _l("Stage"),
    "people.groups.name": _l("Group key"), "people.groups.label": _l("Group"),
}
CSV_RATES = frozenset({"approval_rate", "rejection_rate", "win_rate"})  # written 58.3%, as Excel reads it


def _csv_cell(column: str, value):
    if value is None:
        return ""
    if column in CSV_RATES and isinstance(value, (int, float)):
        return f"{value * 100:.1f}%"
    if (column == "amount" or column.endswith("_amount")) and isinstance(value, (int, float)):
        return f"{value:.2f}"  # yuan to the fen, as the page shows them (1020000.0 read as a float)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return formula_safe(value)


def to_csv(report_kind: str, table: str, report: dict) -> str:
    columns, rows_of = CSV_TABLES[report_kind][table]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([str(CSV_LABELS.get(f"{report_kind}.{table}.{c}") or CSV_LABELS.get(c, c)) for c in columns])
    for row in rows_of(report):
        if isinstance(row, list):  # the summary: a metric and its value
            metric, value = row
            writer.writerow([formula_safe(str(CSV_LABELS.get(metric, metric))), _csv_cell(metric, value)])
        else:
            writer.writerow([_csv_cell(c, row.get(c)) for c in columns])
    return "\ufeff" + buffer.getvalue()  # BOM: Excel opens UTF-8 (Chinese names) correctly
