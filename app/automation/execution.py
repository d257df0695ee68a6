"""Running rules: dispatch of record events, loop protection, the run log, dry runs and the
time-event scanner.

A rule's actions run inside a SAVEPOINT of the transaction that saved the record: field
changes commit with the user's change; side effects are outbox jobs in that same
transaction. If an action fails, the savepoint is rolled back (the rule's work is undone as
a whole), the failure is logged, and the user's save goes on, unless the rule is blocking.
"""
from __future__ import annotations

import logging
import time as clock
from types import SimpleNamespace
from datetime import date, datetime, timedelta, timezone

from flask import flash, g, has_request_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event as sa_event
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from app.api.errors import ApiError
from app.automation import catalog as cat
from app.automation.actions import APPLIES, PLANS, Context, simulate
from app.auth.lookup import creator
from app.automation.conditions import evaluate
from app.automation.fields import coerce
from app.automation.models import FiredOccasion, Rule, RuleRun
from app.automation.validation import Catalog, TIME_EVENTS
from app.automation.wording import plan_in_words
from app.clock import company_today, company_zone
from app.db import insert_row, jsonable, plain_type, read_plain, transaction_memo, update_row, utcnow
from app.events import RecordEvent, caused_by
from app.extensions import db

log = logging.getLogger(__name__)

MAX_DEPTH = 5
# A time event whose moment passed while the worker was down still fires, up to this late.
CATCH_UP_DAYS = 7


class RuleBlocked(ApiError):
    """A blocking rule's action failed: the user's save is refused with the reason."""

    def __init__(self, rule_name: str, error: str):
        message = _("Automation rule %(name)s refused the change: %(error)s", name=rule_name, error=error)
        super().__init__(400, "rule_blocked", message, [{"field": "automation", "message": error}])


DispatchRule = plain_type(Rule, "DispatchRule", "A rule as dispatch runs it: its columns as plain values.",
                          created_by=property(creator))
# Built once: building a statement and its cache key cost more than running it.
_RULES_FOR = (DispatchRule.select().where(Rule.entity == bindparam("entity"), Rule.event == bindparam("event"),
                                          Rule.enabled.is_(True)).order_by(Rule.position, Rule.id))


def rules_for(entity: str, event: str) -> list:
    # Indexed (entity, event, enabled): unrelated rules are never loaded. Measured per event:
    # median 0.5 ms on SQLite and 1.8 ms on a local PostgreSQL, the same with 0 or 2,000
    # unrelated rules. A query stays right across processes (web workers and the worker see a
    # rule change at once), which an in-process cache would need invalidation messages for.
    # Once per transaction: a save and its cascade (rules' own updates, report status) emit
    # the same event several times. As plain data (DispatchRule), not ORM objects: ~60 us
    # instead of ~160 us for two rules (measured in one process).
    return list(transaction_memo(("automation.rules_for", entity, event), lambda: read_plain(
        DispatchRule, _RULES_FOR, {"entity": entity, "event": event}), depends_on=(Rule,)))


def on_record_event(event: RecordEvent) -> None:
    """The ``app.events`` subscriber: run the enabled rules of this entity and event."""
    if event.event in TIME_EVENTS or not event.automate or getattr(event.record, "id", None) is None:
        return
    rules = rules_for(event.entity, event.event)
    if not rules:
        return
    catalog = cat.catalog()
    for rule in rules:
        run_rule(rule, event, catalog)


def _context(rule, entity, event: RecordEvent, catalog: Catalog) -> Context:
    return Context(rule=rule, entity=entity, record=event.record, event=event.event, changes=dict(event.changes),
                   actor=event.actor, chain=event.chain + (_link(rule, event.entity, event.record.id),),
                   catalog=catalog, today=company_today())


def _condition_holds(rule, event: RecordEvent, catalog: Catalog) -> bool:
    entity = catalog.entities.get(event.entity)
    if entity is None:
        return True  # run_rule logs the unknown record type
    ctx = _context(rule, entity, event, catalog)
    return evaluate(rule.condition, entity.fields, ctx.get, ctx.changes, ctx.today)[0]


def _link(rule: Rule, entity: str, record_id) -> tuple:
    return (rule.id, rule.name, entity, record_id)


def _chain_json(chain) -> list[dict]:
    return [{"rule_id": c[0], "rule": c[1], "entity": c[2], "record_id": c[3]} for c in chain]


def _label(record) -> str:
    return str(getattr(record, "label", "") or "")[:200]


def run_rule(rule: Rule, event: RecordEvent, catalog: Catalog) -> RuleRun:
    """Evaluate ``rule`` on the event's record and, if it matches, do its actions; logged."""
    started = clock.perf_counter()
    record = event.record
    run = RuleRun(rule_id=rule.id, rule_name=rule.name, entity=event.entity, record_id=record.id,
                  record_label=_label(record), event=event.event, chain=_chain_json(event.chain))
    entity = catalog.entities.get(event.entity)
    if entity is None:
        run.outcome, run.error = "failed", _("Unknown record type %(name)s.", name=event.entity)
        return _save(run, started)
    ctx = _context(rule, entity, event, catalog)
    matched, leaves = evaluate(rule.condition, entity.fields, ctx.get, ctx.changes, ctx.today)
    run.conditions = [leaf.to_dict() for leaf in leaves]
    if not matched:
        run.outcome = "not_matched"
        return _save(run, started)
    seen = any(c[0] == rule.id and c[2] == event.entity and c[3] == record.id for c in event.chain)
    if seen or len(event.chain) >= MAX_DEPTH:
        run.outcome = "stopped"
        run.error = (_("Loop stopped: this rule already ran on this record in this cascade.") if seen else
                     _("Loop stopped: cascades are limited to %(n)d rules in a row.", n=MAX_DEPTH))
        run.chain = _chain_json(event.chain + (_link(rule, event.entity, record.id),))
        log.warning("automation loop stopped: %s", " → ".join(c["rule"] for c in run.chain))
        _save(run, started)
        alert_author(rule, run)  # a loop's records were made before it stopped: only the run log said so
        return run
    if rule.once_per_record and _acted_before(rule, event.entity, record.id):
        run.outcome = "already_done"
        return _save(run, started)
    run.outcome = "running"
    _save(run, started)  # the id keys this run's outbox jobs
    ctx.run_id = run.id
    results: list[dict] = []
    try:
        with db.session.begin_nested(), caused_by(f"rule:{rule.name}"):
            for index, action in enumerate(rule.actions):
                ctx.current_action, ctx.action_index = action, index
                entry = {"index": index, "type": action["type"], "status": "failed"}
                results.append(entry)
                plan = PLANS[action["type"]](action, ctx)
                entry["plan"] = jsonable(plan)
                outcome = APPLIES[action["type"]](plan, ctx)
                entry.update(status="skipped" if plan.get("skipped") else "done", result=jsonable(outcome))
            if rule.once_per_record:  # in the actions' savepoint: a failed run may try again
                insert_row(FiredOccasion(rule_id=rule.id, entity=event.entity, record_id=record.id, occasion=ONCE))
    except RuleBlocked:
        raise  # a blocking rule further down the cascade refuses the whole save
    except Exception as error:  # noqa: BLE001 - any failing action is logged, not swallowed silently
        message = str(error) if isinstance(error, ApiError) else (
            getattr(error, "message", None) or str(error) or error.__class__.__name__)
        for entry in results:
            if entry["status"] == "done":
                entry["status"] = "rolled_back"
        if results:
            results[-1]["error"] = message
        results += [{"index": index, "type": action["type"], "status": "not_run"}
                    for index, action in enumerate(rule.actions) if index >= len(results)]
        run.outcome, run.error, run.actions = "failed", message, results
        log.warning("automation rule %s failed on %s %s: %s", rule.id, event.entity, record.id, message)
        _save(run, started)
        if rule.blocking:
            _keep_after_rollback(run)
            raise RuleBlocked(rule.name, message) from error
        alert_author(rule, run)
        _tell_whoever_saved("warning", _("Automation rule “%(name)s” could not act on %(record)s: %(error)s",
                                         name=rule.name, record=_label(record), error=message))
        return run
    run.outcome, run.actions = "matched", results
    for entry in results:
        if entry["type"] == "create_record" and entry["status"] == "done":
            made = catalog.entities.get(entry["plan"]["entity"])
            _tell_whoever_saved("info", _("Automation rule “%(name)s” created %(entity)s “%(record)s”.", name=rule.name,
                                          entity=str(made.label if made else entry["plan"]["entity"]),
                                          record=entry["result"].get("label", "")))
    return _save(run, started)


# What a rule did that the person whose save set it off hears of on their next page, once
# the save commits: winning a deal drafted a contract and sent it to approval, and the page
# said only "Marked as won".
_NEWS = "automation_news_for_whoever_saved"


def _tell_whoever_saved(category: str, message: str) -> None:
    if has_request_context() and getattr(g, "api_token", None) is None:  # a person's page, not a program
        db.session.info.setdefault(_NEWS, []).append((message, category))


ONCE = "once"  # the occasion of a rule that acts on a record once


_ACTED = select(FiredOccasion.id).where(
    FiredOccasion.rule_id == bindparam("rule_id"), FiredOccasion.entity == bindparam("entity"),
    FiredOccasion.record_id == bindparam("record_id"), FiredOccasion.occasion == ONCE)


def _acted_before(rule: Rule, entity: str, record_id: int) -> bool:
    return db.session.scalar(_ACTED, {"rule_id": rule.id, "entity": entity, "record_id": record_id}) is not None


def _save(run: RuleRun, started: float) -> RuleRun:
    run.duration_ms = int((clock.perf_counter() - started) * 1000)
    # Core statements: the run log is append-only, nothing reads it back as an ORM object in
    # this transaction, and a flush of the whole session per run cost more than the rule.
    if run.id is None:
        insert_row(run)
    else:
        update_row(run)
    return run


def alert_author(rule: Rule, run: RuleRun) -> None:
    """Failures are not silent (DOMAIN.md): the rule's author hears about it in-app."""
    from app.notifications.services import notify

    if rule.created_by is not None:
        notify(rule.created_by, _l("Automation rule %(name)s failed on %(record)s: %(error)s", name=rule.name,
                                   record=run.record_label or run.record_id, error=run.error),
               link=f"/automation/runs?rule_id={rule.id}", kind="automation")


# A blocking failure rolls the whole transaction back, run log included; these rows are
# written again in their own transaction once the rollback has happened.
_PENDING = "automation_failed_runs"


def _keep_after_rollback(run: RuleRun) -> None:
    row = {c.key: getattr(run, c.key) for c in RuleRun.__table__.columns if c.key != "id"}
    if run.event == "created":
        # The refused record was never saved: its id goes with the rollback (and may be given to
        # another record later), so the log keeps only what it was called.
        row["record_id"] = None
    db.session.info.setdefault(_PENDING, []).append(row)


def _install_rollback_hooks() -> None:
    from sqlalchemy.orm import Session

    if getattr(_install_rollback_hooks, "done", False):
        return
    _install_rollback_hooks.done = True

    @sa_event.listens_for(Session, "after_commit")
    def _forget(session):
        session.info.pop(_PENDING, None)
        news = session.info.pop(_NEWS, ())
        if news and has_request_context():
            g.setdefault(_NEWS, []).extend(news)  # flashed after the view's own message

    @sa_event.listens_for(Session, "after_soft_rollback")
    def _write_pending(session, previous_transaction):
        if previous_transaction.parent is not None or previous_transaction.nested:
            return
        session.info.pop(_NEWS, None)  # what the rules did was undone with the save
        rows = session.info.pop(_PENDING, None)
        if not rows:
            return
        try:
            with session.get_bind().begin() as connection:
                connection.execute(insert(RuleRun), rows)
        except Exception:  # noqa: BLE001 - losing a log row must not hide the user's error
            log.exception("could not keep the log of a blocked rule")


# --- dry run ------------------------------------------------------------------------------

def dry_run(rule_data: dict, record, catalog: Catalog, changes: dict | None = None, event: str | None = None) -> dict:
    """What the rule would do on ``record`` (a model instance or sample values): conditions
    with their results and each action's exact plan. Changes nothing, sends nothing."""
    entity = catalog.entities[rule_data["entity"]]

    class _Named:
        id = rule_data.get("id")
        name = rule_data.get("name", "")

    changes = {k: tuple(v) for k, v in (changes or {}).items()}
    ctx = Context(rule=_Named(), entity=entity, record=record, event=event or rule_data["event"], changes=changes,
                  actor=None, chain=(), catalog=catalog, today=company_today())
    # The event happens after the change: the record reads its new values, as in a real run.
    ctx.overlay.update({name: coerce(entity.field(name), new, ctx.today) for name, (_old, new) in changes.items()})
    matched, leaves = evaluate(rule_data.get("condition"), entity.fields, ctx.get, changes, ctx.today)
    held = _held_back(rule_data, record, entity, event) if matched else None
    actions = []
    if matched:
        for index, action in enumerate(rule_data.get("actions") or []):
            ctx.current_action, ctx.action_index = action, index
            try:
                plan = PLANS[action["type"]](action, ctx)
            except Exception as error:  # noqa: BLE001 - shown as what would fail
                actions.append({"index": index, "type": action["type"], "status": "would_fail",
                                "error": getattr(error, "message", None) or str(error)})
                continue
            simulate(action, plan, ctx)
            status = ("would_fail" if plan.get("refused") else "skipped" if plan.get("skipped")
                      else "held" if held else "would_run")
            actions.append({"index": index, "type": action["type"], "status": status, "plan": jsonable(plan),
                            "said": plan_in_words(action["type"], jsonable(plan), ctx.entity, catalog.entities)})
    return {"matched": matched, "held": held, "conditions": [leaf.to_dict() for leaf in leaves], "actions": actions}


def _held_back(rule_data: dict, record, entity, event: str | None) -> str | None:
    """Why the rule would not act on this saved record now although its conditions hold, as the
    real run would say: it acted on it once already, or a time rule's moment has not come (or
    came and was acted on). The dry run said "would run" for a contract 350 days from expiry."""
    record_id = getattr(record, "id", None)
    if record_id is None:
        return None  # sample values: no record to have a history
    if rule_data.get("once_per_record") and rule_data.get("id") is not None and \
            _acted_before(SimpleNamespace(id=rule_data["id"]), rule_data["entity"], record_id):
        return _("Already acted on this record once: a rule limited to once per record does not act again.")
    if (event or rule_data["event"]) not in TIME_EVENTS:
        return None
    dated = (rule_data.get("event_options") or {}).get("field")
    if rule_data["event"] in ("date_before", "date_after") and dated and cat.read(record, dated) in (None, ""):
        spec = entity.field(dated)
        return _("This record has no %(field)s: the rule never acts on it until it has one.",
                 field=spec.said if spec else dated)
    timed = SimpleNamespace(entity=rule_data["entity"], event=rule_data["event"],
                            event_options=rule_data.get("event_options") or {})
    occasion = next((o for r, o in due_records(timed, utcnow()) if r.id == record_id), None)
    if occasion is None and _moment_passed(rule_data, cat.read(record, dated) if dated else None):
        # Said "when its moment comes" of a deal 5 weeks past its expected close: it never would.
        return _("Its moment has passed: the worker acts on a date up to %(days)d days late, not later.",
                 days=CATCH_UP_DAYS) if rule_data["event"] == "date_after" else _(
            "Its date has passed: a rule acting before a date no longer acts on it.")
    if occasion is None:
        return _("Not due: the worker acts on this record when its moment comes, not now.")
    if rule_data.get("id") is not None and db.session.scalar(select(FiredOccasion.id).where(
            FiredOccasion.rule_id == rule_data["id"], FiredOccasion.entity == rule_data["entity"],
            FiredOccasion.record_id == record_id, FiredOccasion.occasion == occasion)) is not None:
        return _("Acted on already for this record's date; it acts again when the date changes.")
    return None


def _moment_passed(rule_data: dict, value) -> bool:
    """A dated time rule's moment for ``value`` is over for good: the date itself for one acting
    before it, CATCH_UP_DAYS after date + days for one acting after it."""
    if isinstance(value, datetime):
        value = value.astimezone(company_zone()).date()
    elif isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return False
    if not isinstance(value, date):
        return False
    days = int((rule_data.get("event_options") or {}).get("days", 0))
    if rule_data["event"] == "date_before":
        return value < company_today()
    if rule_data["event"] == "date_after":
        return value + timedelta(days=days + CATCH_UP_DAYS) < company_today()
    return False


# --- time events --------------------------------------------------------------------------

def _occasion_day(value) -> str:
    """The day in an occasion's key (a custom date is ISO text already). Not a business day:
    kept in UTC so the keys of occasions already fired stay the same."""
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc).date()
    return value if isinstance(value, str) else value.isoformat()


def due_records(rule: Rule, now: datetime):
    """(record, occasion) pairs whose moment for this time rule has come. An occasion is the
    record's date (or moment), not the rule's number of days: a rule changed from 30 to 31 days
    before expiry does not remind again of a contract it reminded of (migration 0030)."""
    model = cat.model_for(rule.entity)
    if model is None:
        return []
    options = rule.event_options or {}
    days = int(options.get("days", 0))
    name = options.get("field") or ("stage_entered_at" if rule.entity == "opportunity" and rule.event == "idle"
                                    else "updated_at")
    custom = name.startswith("custom.")
    if custom and rule.event == "idle":
        return []  # refused when the rule is saved: idle time counts from the record's own dates
    current_day = now.astimezone(company_zone()).date()
    if rule.event == "idle" and name == "last_activity":
        return _without_activity(model, days, now)
    # A custom date is ISO text in the record's JSON: as text it orders as the dates do.
    column = model.custom[name[len("custom."):]].as_string() if custom else getattr(model, name)
    if rule.event == "idle":
        # N days since the chosen moment: the last change (updated_at), or entering the stage
        # (stage_entered_at: a deal idle in its stage, however often it was edited meanwhile).
        # The occasion is that moment, so a later one starts a new wait.
        stmt = select(model).where(column <= now - timedelta(days=days))
        if rule.entity == "opportunity":
            stmt = stmt.where(model.status == "open")
        key = "" if name == "updated_at" else f"{name}:"  # updated_at's occasions as they always were
        return [(r, f"idle:{key}{getattr(r, name).isoformat()}") for r in db.session.scalars(stmt.order_by(model.id))]
    if rule.event == "date_before":
        # N days before the date, or any day after that until the date itself: a contract
        # entered with 9 days left is reminded at once by a 30-days-before rule (it never was:
        # its moment had passed more than CATCH_UP_DAYS ago). Once the date passed: too late.
        low, high = current_day, current_day + timedelta(days=days)
    else:
        # N days after the date; fire when that is today or passed at most CATCH_UP_DAYS ago.
        low, high = current_day - timedelta(days=days + CATCH_UP_DAYS), current_day - timedelta(days=days)
    spec = cat.entity_specs()[rule.entity].fields.get(name)
    if spec is not None and spec.type == "datetime":
        low_b = datetime.combine(low, datetime.min.time(), tzinfo=company_zone())
        high_b = datetime.combine(high + timedelta(days=1), datetime.min.time(), tzinfo=company_zone())
        stmt = select(model).where(column >= low_b, column < high_b)
    elif custom:
        stmt = select(model).where(column >= low.isoformat(), column <= high.isoformat())
    else:
        stmt = select(model).where(column >= low, column <= high)
    return [(r, f"{rule.event}:{name}:{_occasion_day(cat.read(r, name))}")
            for r in db.session.scalars(stmt.order_by(model.id))]


def _without_activity(model, days: int, now: datetime):
    """Customers whose newest activity record (or, with none, their creation) is N days old;
    the occasion is that moment, so a new activity starts a new wait."""
    activity = cat.model_for("activity")
    newest = (select(activity.customer_id, func.max(activity.happened_at).label("at"))
              .group_by(activity.customer_id).subquery())
    since = func.coalesce(newest.c.at, model.created_at)
    stmt = (select(model, newest.c.at).outerjoin(newest, newest.c.customer_id == model.id)
            .where(since <= now - timedelta(days=days)).order_by(model.id))
    out = []
    for record, at in db.session.execute(stmt):
        moment = at or record.created_at
        out.append((record, f"no_activity:{moment.isoformat() if isinstance(moment, datetime) else moment}"))
    return out


def scan_time_events(now: datetime | None = None) -> int:
    """Fire every due time event once (per rule, record and occasion); returns how many fired.
    Each firing commits on its own, so a crash midway loses nothing and repeats nothing."""
    now = now or utcnow()
    fired = 0
    rule_ids = list(db.session.scalars(select(Rule.id).where(Rule.event.in_(TIME_EVENTS), Rule.enabled.is_(True))))
    catalog = cat.catalog()
    for rule_id in rule_ids:
        rule = db.session.get(Rule, rule_id)
        for record, occasion in due_records(rule, now):
            if db.session.scalar(select(FiredOccasion.id).where(
                    FiredOccasion.rule_id == rule.id, FiredOccasion.entity == rule.entity,
                    FiredOccasion.record_id == record.id, FiredOccasion.occasion == occasion)) is not None:
                continue
            event = RecordEvent(rule.entity, rule.event, record)
            # Not yet: a later scan of the same occasion asks again. Recorded as fired at once, a
            # draft contract's renewal reminder never came once it was signed (nor is the miss
            # logged every five minutes).
            if not _condition_holds(rule, event, catalog):
                continue
            db.session.add(FiredOccasion(rule_id=rule.id, entity=rule.entity, record_id=record.id, occasion=occasion))
            try:
                db.session.flush()  # the unique key: another worker may have fired it just now
                run_rule(rule, event, catalog)
                db.session.commit()
                fired += 1
            except IntegrityError:
                db.session.rollback()
            except Exception:  # noqa: BLE001 - one bad record must not stop the scan
                db.session.rollback()
                log.exception("time rule %s on %s %s", rule.id, rule.entity, record.id)
            rule = db.session.get(Rule, rule_id)
    return fired


def init_app(app) -> None:
    from app.events import subscribe

    _install_rollback_hooks()

    @app.after_request
    def _flash_news(response):
        # After the view: the page says "Marked as won." first, then what the rules made of it.
        for message, category in g.pop(_NEWS, ()):
            flash(message, category)
        return response

    # Before other subscribers (default order 100), so a bound workflow starts from the record
    # as the rules left it.
    subscribe(app, on_record_event, order=50)
