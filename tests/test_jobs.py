"""The job table and worker: outbox semantics, retries, leases, periodic scheduling."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.extensions import db
from app.jobs import Job, enqueue, job_handler, periodic, run_due_jobs
from app.jobs import services as job_services

CALLS: list = []


@job_handler("test.record", max_attempts=3)
def _record(job):
    CALLS.append(job.payload["n"])


@job_handler("test.flaky", max_attempts=3)
def _flaky(job):
    CALLS.append(job.attempts)
    if job.attempts < 3:
        raise RuntimeError("not yet")


@job_handler("test.always_fails", max_attempts=2)
def _fails(job):
    raise RuntimeError("broken target")


def _commit_then_observe(job):
    """Commits its work, then records what the committed job row says at that moment."""
    db.session.commit()
    CALLS.append(db.session.scalar(select(Job.status).where(Job.id == job.id)))
    if job.payload.get("fail_after_commit"):
        raise RuntimeError("failed after committing")


job_handler("test.one_transaction", max_attempts=2, one_transaction=True)(_commit_then_observe)
job_handler("test.step_by_step", max_attempts=2)(_commit_then_observe)


@periodic("test.periodic", every_seconds=60)
def _periodic(job):
    CALLS.append("tick")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def _make_due(job_id):
    job = db.session.get(Job, job_id)
    job.due_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_job_runs_and_is_marked_done(ctx):
    job = enqueue("test.record", {"n": 1})
    db.session.commit()
    assert run_due_jobs() == 1
    assert CALLS == [1]
    db.session.refresh(job)
    assert job.status == "done" and job.attempts == 1 and job.finished_at
    assert run_due_jobs() == 0  # never twice


def test_rolled_back_change_sends_nothing(ctx):
    enqueue("test.record", {"n": 2})
    db.session.rollback()
    assert run_due_jobs() == 0 and CALLS == []


def test_same_key_is_enqueued_once(ctx):
    first = enqueue("test.record", {"n": 3}, key="once")
    db.session.commit()
    second = enqueue("test.record", {"n": 3}, key="once")
    assert first.id == second.id
    db.session.commit()
    assert db.session.scalar(select(db.func.count()).select_from(Job)) == 1


def test_future_job_waits_for_its_time(ctx):
    enqueue("test.record", {"n": 4}, due_at=utcnow() + timedelta(hours=1))
    db.session.commit()
    assert run_due_jobs() == 0


def test_failures_retry_with_backoff_then_succeed(ctx):
    job = enqueue("test.flaky")
    db.session.commit()
    run_due_jobs()
    db.session.refresh(job)
    assert job.status == "pending" and job.due_at > utcnow() and "not yet" in job.last_error
    _make_due(job.id)
    run_due_jobs()
    _make_due(job.id)
    run_due_jobs()
    db.session.refresh(job)
    assert job.status == "done" and CALLS == [1, 2, 3]


def test_too_many_failures_mark_the_job_failed(ctx):
    job = enqueue("test.always_fails")
    db.session.commit()
    run_due_jobs()
    _make_due(job.id)
    run_due_jobs()
    db.session.refresh(job)
    assert job.status == "failed" and "broken target" in job.last_error


def test_job_of_a_dead_worker_is_claimed_again_after_its_lease(ctx):
    job = enqueue("test.record", {"n": 5})
    db.session.commit()
    # A worker claimed it and died: status running, lease expired.
    job.status, job.locked_by, job.attempts = "running", "dead-worker", 1
    job.locked_until = utcnow() + timedelta(minutes=1)
    db.session.commit()
    assert run_due_jobs() == 0  # lease still held
    job.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert run_due_jobs() == 1 and CALLS == [5]


def test_periodic_job_is_scheduled_once_per_slot(ctx):
    now = utcnow()
    job_services.schedule_periodics(now)
    job_services.schedule_periodics(now)
    ticks = db.session.scalars(select(Job).where(Job.kind == "test.periodic")).all()
    assert len(ticks) == 1 and ticks[0].key.startswith("periodic:test.periodic:")
    run_due_jobs()
    assert CALLS == ["tick"]
    job_services.schedule_periodics(now + timedelta(seconds=60))  # the next slot
    assert db.session.scalar(select(db.func.count()).select_from(Job).where(Job.kind == "test.periodic")) == 2


def test_unknown_kind_is_refused(ctx):
    with pytest.raises(ValueError):
        enqueue("no.such.kind")


@pytest.mark.parametrize("kind, status_in_handlers_commit", [
    ("test.one_transaction", "done"),  # done goes in with the handler's own commit
    ("test.step_by_step", "running"),  # a crash after a progress commit runs it again
])
def test_done_is_committed_with_the_work_only_for_one_transaction_handlers(ctx, kind, status_in_handlers_commit):
    job = enqueue(kind, {})
    db.session.commit()
    assert run_due_jobs() == 1
    assert CALLS == [status_in_handlers_commit]
    db.session.refresh(job)
    assert job.status == "done"


def test_one_transaction_handler_failing_after_its_commit_is_retried(ctx):
    job = enqueue("test.one_transaction", {"fail_after_commit": True})
    db.session.commit()
    run_due_jobs()
    db.session.refresh(job)
    assert job.status == "pending" and "failed after committing" in job.last_error


SEEN_LEASES: list = []


@job_handler("test.slow_kind")
def _slow_kind(job):
    CALLS.append(("slow", job.payload["n"]))


@job_handler("test.long", lease=timedelta(hours=1))
def _long(job):
    SEEN_LEASES.append(db.session.scalar(select(Job.locked_until).where(Job.id == job.id)))


def _claimed_by(job_id):
    return db.session.scalar(select(Job.locked_by).where(Job.id == job_id))


def test_the_kinds_take_turns_so_a_queue_of_slow_webhooks_holds_no_timer_back(ctx):
    """600 webhooks to a slow receiver, due first, kept the timers and the date-based rules'
    scan waiting behind them on every worker."""
    for n in range(10):
        enqueue("test.slow_kind", {"n": n}, due_at=utcnow() - timedelta(minutes=10))
    enqueue("test.record", {"n": "timer"})
    db.session.commit()
    assert run_due_jobs(limit=4) == 3  # a fair share each: two of one kind, the one of the other
    assert CALLS == [("slow", 0), "timer", ("slow", 1)]  # turns, each kind in due order


def test_a_round_gives_back_what_it_did_not_start_when_it_runs_long_or_the_worker_stops(ctx):
    jobs = [enqueue("test.record", {"n": n}) for n in range(3)]
    db.session.commit()
    assert run_due_jobs(limit=3, round_seconds=0) == 1  # the first, then the round is over
    db.session.expire_all()
    assert [(j.status, j.locked_by, j.attempts) for j in jobs[1:]] == [("pending", None, 0)] * 2
    assert run_due_jobs(limit=3, stop=lambda: True) == 0  # SIGTERM: nothing more is started
    assert {j.status for j in jobs[1:]} == {"pending"} and CALLS == [0]
    assert run_due_jobs(limit=3) == 2 and CALLS == [0, 1, 2]


@pytest.mark.parametrize("kind", ["test.record", "test.one_transaction"])
def test_a_job_another_worker_took_over_meanwhile_is_not_run_twice(ctx, kind):
    """A job waiting in a worker's round past its lease was taken by a second worker, and the
    first ran it too: the same webhook went out twice."""
    job = enqueue(kind, {"n": 1})
    db.session.commit()
    [job_id] = job_services._claim(5, "worker-a")
    db.session.execute(update(Job).where(Job.id == job_id).values(locked_by="worker-b"))  # its lease ran out: b took it
    db.session.commit()
    assert job_services._run_one(job_id, "worker-a") is None
    assert CALLS == [] and _claimed_by(job_id) == "worker-b"
    db.session.refresh(job)
    assert job.status == "running"


def test_a_job_s_lease_counts_from_its_start_and_is_as_long_as_its_handler_needs(ctx):
    job = enqueue("test.long", {})
    db.session.commit()
    started = utcnow()
    assert run_due_jobs() == 1
    assert SEEN_LEASES[0] - started > timedelta(minutes=59)
    db.session.refresh(job)
    assert job.status == "done"


def test_a_claim_takes_no_more_than_its_batch(ctx):
    """On PostgreSQL one claim of a batch of 20 took 67 jobs."""
    for n in range(60):
        enqueue("test.record", {"n": n})
    db.session.commit()
    assert len(job_services._claim(20, "worker-a")) == 20
    assert db.session.scalar(select(db.func.count()).select_from(Job).where(Job.status == "running")) == 20
