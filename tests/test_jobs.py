"""The job table and worker: outbox semantics, retries, leases, periodic scheduling."""
from datetime import timedelta

import pytest
from sqlalchemy import select

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
