"""Finished background jobs are deleted after JOB_RETENTION_DAYS by a daily job; failed and
open ones stay."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.extensions import db
from app.jobs import Job, run_due_jobs
from app.jobs import services as job_services
from app.jobs.models import DONE, FAILED, PENDING


@pytest.fixture
def jobs(ctx):
    """Jobs of each status: done 40 and 10 days ago, failed and pending 40 days ago."""
    long_ago, lately = utcnow() - timedelta(days=40), utcnow() - timedelta(days=10)
    rows = {
        "old_done": Job(kind="jobs.prune_done", status=DONE, key="test:old", finished_at=long_ago),
        "old_done_2": Job(kind="jobs.prune_done", status=DONE, finished_at=long_ago),
        "old_done_3": Job(kind="jobs.prune_done", status=DONE, finished_at=long_ago),
        "recent_done": Job(kind="jobs.prune_done", status=DONE, finished_at=lately),
        "old_failed": Job(kind="jobs.prune_done", status=FAILED, finished_at=long_ago),
        "old_pending": Job(kind="jobs.prune_done", status=PENDING, due_at=utcnow() + timedelta(days=1),
                           created_at=long_ago),
    }
    db.session.add_all(rows.values())
    db.session.commit()
    return {name: job.id for name, job in rows.items()}


def _remaining(ids: dict) -> set[str]:
    kept = set(db.session.scalars(select(Job.id).where(Job.id.in_(ids.values()))))
    return {name for name, job_id in ids.items() if job_id in kept}


def _run_daily_job():
    job_services.schedule_periodics()
    db.session.execute(update(Job).where(Job.kind == "jobs.prune_done", Job.key.startswith("periodic:"))
                       .values(due_at=utcnow()))
    db.session.commit()
    run_due_jobs()
    db.session.expire_all()


def test_the_daily_job_deletes_jobs_done_before_the_retention(app, jobs, monkeypatch):
    monkeypatch.setitem(app.config, "JOB_RETENTION_DAYS", 30)
    _run_daily_job()
    assert _remaining(jobs) == {"recent_done", "old_failed", "old_pending"}


def test_zero_keeps_every_job(app, jobs, monkeypatch):
    monkeypatch.setitem(app.config, "JOB_RETENTION_DAYS", 0)
    _run_daily_job()
    assert _remaining(jobs) == set(jobs)


def test_pruning_goes_in_batches_and_counts(jobs):
    assert job_services.prune_done_jobs(utcnow() - timedelta(days=30), batch=2) == 3
    assert _remaining(jobs) == {"recent_done", "old_failed", "old_pending"}


def test_the_clean_up_is_named_on_the_jobs_page(ctx):
    from flask_babel import force_locale

    with force_locale("en"):
        assert job_services.kind_labels()["jobs.prune_done"] == "Finished jobs clean-up"
