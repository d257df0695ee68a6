"""Background jobs: the outbox, timers and periodic scans, run by ``flask worker``.

``enqueue`` adds a job row to the caller's session, so it commits (or not) with the change
that caused it: a side effect is never lost on a crash and never sent for a rolled-back
change. The worker claims due jobs with a compare-and-set on the row (plus ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so several workers share the table), runs the handler and marks the
job done in the handler's own transaction; a failure is retried with exponential backoff.
A worker killed mid-job leaves the job ``running`` with an expired lease; another claim picks
it up again, so handlers must be idempotent (they get ``job.key`` / ``job.id`` for that).
"""
from app.jobs.models import Job
from app.jobs.services import FailedForGood, cancel, enqueue, job_handler, periodic, run_due_jobs

__all__ = ["FailedForGood", "Job", "cancel", "enqueue", "job_handler", "periodic", "run_due_jobs"]
