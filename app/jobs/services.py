from __future__ import annotations

import logging
import os
import random
import socket
import time
import traceback
from dataclasses import dataclass
from itertools import zip_longest
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import make_transient_to_detached

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.api.errors import ApiError
from app.audit import audit, label_audit_events
from app.db import MAX_ID, JSONType, UTCDateTime, delete_in_batches, utcnow
from app.extensions import db
from app.jobs.models import DONE, FAILED, PENDING, RUNNING, Job

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 3600


@dataclass(frozen=True)
class Handler:
    func: Callable[[Job], None]
    max_attempts: int
    # The handler's work is one transaction that it commits itself: "done" goes in with it.
    one_transaction: bool = False
    label: Any = None  # what the job does, in the operator's words (a lazy translation)
    # Seconds to wait after the 1st, 2nd … failed attempt (the last repeats); None: 2, 4, 8 …
    backoff: tuple[int, ...] | None = None
    # How long one run may take before another worker takes the job for a dead one's.
    lease: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Periodic:
    kind: str
    every_seconds: int


_HANDLERS: dict[str, Handler] = {}
_PERIODICS: dict[str, Periodic] = {}


class FailedForGood(Exception):
    """Raised by a handler when trying again by itself cannot help (a webhook to an address not
    allow-listed): the job is failed at once, listed with "Try again" for when the cause is
    fixed. Returning instead marked it done: nothing to try again once the host was allowed."""


def job_handler(kind: str, max_attempts: int = 8, one_transaction: bool = False, label=None,
                backoff: tuple[int, ...] | None = None, lease: timedelta | None = None):
    """Register ``func(job)`` to run jobs of ``kind``. Raise to have the job retried, after
    ``backoff`` seconds (see ``Handler``). ``label`` names the kind on the operator's jobs page.

    ``one_transaction``: the handler commits all its work in one commit (or none), so the job
    is marked done in that same commit. Handlers that commit progress step by step (a delivery
    log, an import in chunks) must not set it: a crash after such a commit would leave the job
    done with its work unfinished.

    ``lease``: how long one run may take (default five minutes); a worker silent for longer is
    taken for dead and its job run again elsewhere, so work that may take longer says so.
    """

    def decorator(func):
        _HANDLERS[kind] = Handler(func, max_attempts, one_transaction, label, backoff, lease or LEASE)
        return func

    return decorator


def periodic(kind: str, every_seconds: int, label=None):
    """Register a handler that the worker schedules every ``every_seconds`` (once per slot
    across all workers, thanks to the job key)."""

    def decorator(func):
        _HANDLERS[kind] = Handler(func, 1, label=label)
        _PERIODICS[kind] = Periodic(kind, every_seconds)
        return func

    return decorator


# Same SQL on SQLite (3.35+) and PostgreSQL; a text statement is compiled once (SQLAlchemy
# does not cache its dialect-specific ON CONFLICT constructs).
_INSERT_UNLESS_KEY = text(
    "INSERT INTO jobs (kind, payload, key, status, due_at, attempts, max_attempts, created_at) "
    "VALUES (:kind, :payload, :key, :status, :due_at, :attempts, :max_attempts, :created_at) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
).bindparams(bindparam("payload", type_=JSONType()), bindparam("due_at", type_=UTCDateTime()),
             bindparam("created_at", type_=UTCDateTime()))


def enqueue(kind: str, payload: dict | None = None, *, due_at: datetime | None = None,
            key: str | None = None, max_attempts: int | None = None) -> Job:
    """Add a job to the current transaction. With ``key``, an existing job is returned instead."""
    if kind not in _HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    values = dict(kind=kind, payload=payload or {}, key=key, due_at=due_at or utcnow(),
                  max_attempts=max_attempts or _HANDLERS[kind].max_attempts)
    if key is not None:
        # One statement, not SELECT then INSERT: insert unless the key exists (also safe when
        # two transactions enqueue the same key at once), then read the existing job if so.
        row = dict(values, status=PENDING, attempts=0, created_at=utcnow())
        job_id = db.session.scalar(_INSERT_UNLESS_KEY, row)
        if job_id is None:
            return db.session.scalar(select(Job).where(Job.key == key))
        # The row as written, known to the session without reading it back.
        job = Job(id=job_id, locked_by=None, locked_until=None, last_error=None, finished_at=None, **row)
        make_transient_to_detached(job)
        db.session.add(job)
        return job
    job = Job(**values)
    db.session.add(job)
    return job


_CANCEL = (update(Job.__table__)  # built once: run whenever a task with a due date closes
           .where(Job.__table__.c.key.in_(bindparam("keys", expanding=True)), Job.__table__.c.status == PENDING)
           .values(status=DONE, finished_at=bindparam("now", type_=UTCDateTime()), last_error="cancelled"))


def cancel(keys: list[str], connection=None) -> None:
    """Drop pending jobs by key (e.g. a task's due reminder once the task is done). Inside a
    flush, pass the flush's ``connection``: the session itself may not run statements there."""
    (connection or db.session).execute(_CANCEL, {"keys": list(keys), "now": utcnow()})


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _due_condition(now: datetime):
    return or_(
        and_(Job.status == PENDING, Job.due_at <= now),
        # A worker died holding this job: its lease ran out.
        and_(Job.status == RUNNING, Job.locked_until < now),
    )


def _claim(limit: int, owner: str) -> list[int]:
    """Turn up to ``limit`` due jobs into this worker's running jobs, shared fairly among the
    kinds that wait, in the order each kind's jobs came due; returns them in the order to run
    (the kinds taking turns).

    Fair because one slow kind (600 webhooks to a receiver taking 25 s each) must not hold
    timers, reminders and the date-based rules' scan back behind it. The ids are read first and
    then claimed by id: on PostgreSQL an ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` may be
    run more than once within the UPDATE, each time skipping the rows it locked before, and
    claimed 67 jobs for a batch of 20. The compare-and-set in the WHERE clause means a job is
    claimed once even when workers race; ``SKIP LOCKED`` keeps them from waiting on each other.
    """
    now = utcnow()
    kinds = list(db.session.scalars(select(Job.kind).where(_due_condition(now)).group_by(Job.kind)
                                    .order_by(func.min(Job.due_at))))  # the longest waiting first
    if not kinds:
        db.session.rollback()
        return []
    share = max(1, limit // len(kinds))
    picked: dict[str, list[int]] = {}
    for kind in kinds:
        due = select(Job.id).where(_due_condition(now), Job.kind == kind).order_by(Job.due_at, Job.id).limit(share)
        if db.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        picked[kind] = list(db.session.scalars(due))
    ids = [job_id for ids in picked.values() for job_id in ids][:limit]
    claimed = set(db.session.scalars(
        update(Job).where(Job.id.in_(ids), _due_condition(now))
        .values(status=RUNNING, locked_by=owner, locked_until=now + LEASE, attempts=Job.attempts + 1)
        .returning(Job.id),
        execution_options={"synchronize_session": False},
    ).all())
    db.session.commit()
    turns = [[job_id for job_id in ids if job_id in claimed] for ids in picked.values()]
    return [job_id for round_ in zip_longest(*turns) for job_id in round_ if job_id is not None]


def _release(job_ids: list[int], owner: str) -> None:
    """Give claimed jobs this worker has not started back to the queue (it is stopping, or its
    round ran long): another worker, or this one's next round, takes them in their turn."""
    if job_ids:
        db.session.execute(update(Job).where(Job.id.in_(job_ids), Job.locked_by == owner, Job.status == RUNNING)
                           .values(status=PENDING, locked_by=None, locked_until=None, attempts=Job.attempts - 1),
                           execution_options={"synchronize_session": False})
        db.session.commit()


def _backoff(attempts: int, schedule: tuple[int, ...] | None = None) -> timedelta:
    seconds = schedule[min(attempts, len(schedule)) - 1] if schedule else min(MAX_BACKOFF_SECONDS, 2 ** attempts)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def _mark_done(job_id: int) -> None:
    db.session.execute(update(Job).where(Job.id == job_id).values(
        status=DONE, finished_at=utcnow(), locked_until=None, last_error=None),
        execution_options={"synchronize_session": False})


def _still_mine(job_id: int, owner: str, values: dict) -> bool:
    """Set ``values`` on the job if this worker still holds it: a job that waited in this
    worker's round past its lease may have been taken by another worker since, and must not
    run twice (the same webhook went out twice, 16 s apart)."""
    return db.session.execute(update(Job).where(Job.id == job_id, Job.locked_by == owner, Job.status == RUNNING)
                              .values(**values), execution_options={"synchronize_session": False}).rowcount == 1


def _run_one(job_id: int, owner: str) -> bool | None:
    """Run one claimed job: True done, False failed (retried later or given up), None when
    another worker holds it now."""
    # A worker's session outlives many jobs: each one starts from what is committed now
    # (the claim itself was a Core UPDATE the loaded objects did not see).
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    handler = _HANDLERS.get(job.kind)
    if handler is not None and handler.one_transaction:
        # Done goes in with the handler's own commit (timers: ~100 a second), and only if the job is still ours.
        if not _still_mine(job_id, owner, {"status": DONE, "finished_at": utcnow(), "locked_until": None,
                                           "last_error": None}):
            db.session.rollback()
            return None
    else:
        # The lease counts from this run's start (the job may have waited in the round), as long as the handler needs.
        if not _still_mine(job_id, owner, {"locked_until": utcnow() + (handler.lease if handler else LEASE)}):
            db.session.rollback()
            return None
        db.session.commit()
    try:
        if handler is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        handler.func(job)
        if not handler.one_transaction:
            _mark_done(job_id)
        db.session.commit()
        return True
    except Exception as raised:  # noqa: BLE001 - any failure is recorded and retried
        error = traceback.format_exc(limit=5)
        db.session.rollback()
        log.warning("job %s (%s) failed: %s", job_id, getattr(job, "kind", "?"), error_summary(error))
        job = db.session.get(Job, job_id)
        job.last_error = error[-4000:]
        job.locked_until = None
        if job.attempts >= job.max_attempts or isinstance(raised, FailedForGood):
            job.status, job.finished_at = FAILED, utcnow()
        else:
            job.status, job.due_at = PENDING, utcnow() + _backoff(job.attempts, handler and handler.backoff)
        db.session.commit()
        return False


def schedule_periodics(now: datetime | None = None) -> None:
    now = now or utcnow()
    for item in _PERIODICS.values():
        slot = int(now.timestamp()) // item.every_seconds
        key = f"periodic:{item.kind}:{slot}"
        if db.session.scalar(select(Job.id).where(Job.key == key)) is None:
            db.session.add(Job(kind=item.kind, key=key, due_at=now, max_attempts=1))
            try:
                db.session.commit()
            except IntegrityError:  # another worker scheduled the same slot
                db.session.rollback()


# A worker's round of claimed jobs ends after this long: the jobs it has not started go back,
# the periodic jobs are scheduled and a fair round is claimed (slow webhooks held timers back).
ROUND_SECONDS = 10.0


def run_due_jobs(limit: int = 50, owner: str | None = None, stop: Callable[[], bool] = lambda: False,
                 round_seconds: float | None = None) -> int:
    """Claim and run up to ``limit`` due jobs, the kinds taking turns; returns how many ran
    (tests call this). Stops early, giving the rest back, when ``stop()`` says so (SIGTERM: a
    round of slow webhooks outlasted systemd's stop timeout) or after ``round_seconds``."""
    owner = owner or worker_id()
    ran = 0
    began = time.monotonic()
    claimed = _claim(limit, owner)
    for position, job_id in enumerate(claimed):
        if stop() or (position and round_seconds is not None and time.monotonic() - began > round_seconds):
            _release(claimed[position:], owner)
            break
        ran += _run_one(job_id, owner) is not None
    return ran


def run_worker(poll_seconds: float = 0.5, batch: int = 20, stop: Callable[[], bool] = lambda: False) -> None:
    """The worker loop: periodic scheduling, due jobs, and backing off while the DB is down."""
    owner = worker_id()
    failures = 0
    log.info("worker %s started", owner)
    while not stop():
        try:
            schedule_periodics()
            ran = run_due_jobs(batch, owner, stop=stop, round_seconds=ROUND_SECONDS)
            failures = 0
        except OperationalError as error:
            db.session.rollback()
            failures += 1
            wait = min(30, 2 ** failures)
            log.warning("database unavailable (%s); retrying in %ss", error.__class__.__name__, wait)
            time.sleep(wait)
            continue
        finally:
            db.session.remove()
        if ran < batch:
            time.sleep(poll_seconds)
    log.info("worker %s stopped", owner)


@periodic("jobs.prune_done", every_seconds=24 * 3600, label=_l("Finished jobs clean-up"))
def prune_done_jobs_job(job) -> None:
    """Once a day: jobs done more than JOB_RETENTION_DAYS ago (0 keeps them all). Without it
    the table grows by every timer, e-mail and scan. Failed jobs stay until retried: each is
    work the operator still has to look at."""
    days = current_app.config["JOB_RETENTION_DAYS"]
    if days > 0:
        prune_done_jobs(utcnow() - timedelta(days=days))


def prune_done_jobs(before: datetime, batch: int = 5000) -> int:
    """Delete jobs that finished before ``before``; returns how many went.

    Safe for idempotency because every job key names something that happens once (a periodic
    slot, a notification, a rule run's action, a task, a timer's due moment): a key is never
    enqueued again after its job is long done."""
    return delete_in_batches(Job, Job.status == DONE, Job.finished_at < before, batch=batch)


# --- the operator's view: what waits, what failed, and trying a failed job again ----------

# Due jobs waiting longer than this mean no worker is taking them (it polls every 0.25 s).
WORKER_LATE = timedelta(minutes=2)


@dataclass(frozen=True)
class Backlog:
    counts: dict[str, dict[str, int]]  # kind -> {"due", "scheduled", "running", "failed"} -> n
    oldest_due_at: datetime | None  # the longest-waiting job that is due now
    now: datetime
    worker_seen: bool = True  # a worker scheduled the periodic jobs lately (_worker_seen)

    @property
    def failed(self) -> int:
        """Jobs given up after their attempts, of every kind."""
        return sum(states["failed"] for states in self.counts.values())

    @property
    def worker_late(self) -> timedelta | None:
        """How long due work has waited, when that is longer than a working worker allows."""
        if self.oldest_due_at is None or self.now - self.oldest_due_at < WORKER_LATE:
            return None
        return self.now - self.oldest_due_at


def backlog(now: datetime | None = None) -> Backlog:
    """Open and failed jobs by kind. Done jobs are not counted: their number only grows, and
    counting them would walk the whole table."""
    now = now or utcnow()
    state = case((_due_condition(now), "due"), (Job.status == PENDING, "scheduled"),
                 (Job.status == RUNNING, "running"), else_=Job.status)
    counts: dict[str, dict[str, int]] = {}
    rows = db.session.execute(select(Job.kind, state, func.count()).where(Job.status != DONE)
                              .group_by(Job.kind, state))
    for kind, name, number in rows:
        counts.setdefault(kind, dict.fromkeys(("due", "scheduled", "running", "failed"), 0))[name] = number
    # A job whose worker died waits from when its lease ran out, not from when it first came due
    # (a job taken over read as "5 minutes late: no worker seems to be running" at once).
    oldest = db.session.scalar(select(func.min(case((Job.status == RUNNING, Job.locked_until), else_=Job.due_at)))
                               .where(_due_condition(now)))
    return Backlog(counts=dict(sorted(counts.items())), oldest_due_at=oldest, now=now, worker_seen=_worker_seen(now))


def _worker_seen(now: datetime) -> bool:
    """Whether a worker scheduled the most frequent periodic job's slots lately (it does as each
    slot comes, schedule_periodics). On a quiet system no due job waits, so only this shows
    that no worker runs. Looks up two or three slot keys by the unique index."""
    if not _PERIODICS:
        return True
    item = min(_PERIODICS.values(), key=lambda p: p.every_seconds)
    first = int((now - WORKER_LATE).timestamp()) // item.every_seconds
    keys = [f"periodic:{item.kind}:{slot}" for slot in range(first, int(now.timestamp()) // item.every_seconds + 1)]
    return db.session.scalar(select(Job.id).where(Job.key.in_(keys)).limit(1)) is not None


def jobs_query(status: str = FAILED, kind: str | None = None):
    """Jobs of one status, newest first, for the operator's list."""
    stmt = select(Job).where(Job.status == status).order_by(Job.id.desc())
    return stmt.where(Job.kind == kind) if kind else stmt


def kind_labels() -> dict[str, str]:
    """Every registered job kind → its label (the kind itself when it has none)."""
    return {kind: str(handler.label or kind) for kind, handler in sorted(_HANDLERS.items())}


label_audit_events({"jobs.retried": _l("Failed background job tried again")})


def retry(job_id: int, actor) -> Job:
    """Give a failed job a fresh set of attempts, due now (the cause was fixed: the webhook's
    receiver is back, the mail server's password corrected). 404 without such a job; 409 when
    it has not failed (a pending or running job is the worker's already)."""
    job = db.session.get(Job, job_id) if 0 < job_id <= MAX_ID else None
    if job is None:
        raise ApiError(404, "not_found", _("No such job."))
    if job.status != FAILED:
        raise ApiError(409, "not_failed", _("Only a failed job can be tried again; this one is already with the worker."))
    job.status, job.attempts, job.due_at, job.finished_at = PENDING, 0, utcnow(), None
    job.locked_by = job.locked_until = None
    audit("jobs.retried", actor=actor, target=f"job:{job.id}", kind=job.kind, last_error=error_summary(job.last_error))
    db.session.commit()
    return job


def payload_summary(payload) -> str:
    """A job's payload in one short line: its plain values (a webhook's rule, action and
    address), not the nested record it carries; the page shows the whole on request."""
    if not isinstance(payload, dict):
        return ""
    plain = [f"{key}: {value}" for key, value in payload.items()
             if isinstance(value, (str, int, float, bool)) and value != ""]
    text = ", ".join(plain)
    return text if len(text) <= 160 else text[:159] + "…"


def error_summary(error: str | None) -> str:
    """A traceback's exception line: the exception and its message. Not simply the last line:
    SQLAlchemy ends with "[SQL: …]" and a "(Background on this error at: …)" link, which say
    nothing of what failed ("database is locked")."""
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    frames = [i for i, line in enumerate(lines) if line[:1].isspace()]
    at = frames[-1] + 1 if frames and frames[-1] + 1 < len(lines) else len(lines) - 1
    return lines[at][:300] if lines else ""
