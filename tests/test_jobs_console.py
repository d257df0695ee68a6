"""The operator's view of background jobs: what waits, what failed, a failed job tried again
(page and API), and the warning when due work waits for a worker that is not running."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cli import DEMO_PASSWORD


@pytest.fixture
def failing_webhook_job(app, demo_people):
    """A webhook call that used up its attempts, as the worker leaves it."""
    from app.db import utcnow
    from app.extensions import db
    from app.jobs.models import FAILED, Job

    with app.app_context():
        job = Job(kind="automation.webhook", payload={"delivery_id": 7}, status=FAILED, attempts=5, max_attempts=5,
                  finished_at=utcnow(), last_error="Traceback (most recent call last):\n  File \"x\"\n"
                                                   "ConnectionRefusedError: [Errno 111] Connection refused")
        db.session.add(job)
        db.session.commit()
        return job.id


def test_backlog_counts_open_and_failed_jobs_by_kind_and_notices_a_missing_worker(app, failing_webhook_job):
    from app.db import utcnow
    from app.extensions import db
    from app.jobs import services as jobs
    from app.jobs.models import Job

    with app.app_context():
        now = utcnow()
        db.session.add_all([
            Job(kind="notifications.email", due_at=now - timedelta(seconds=30)),
            Job(kind="notifications.email", due_at=now + timedelta(hours=1)),
            Job(kind="engine.timer", status="running", locked_until=now + timedelta(minutes=5), due_at=now),
            Job(kind="engine.timer", status="done", due_at=now - timedelta(days=1)),
        ])
        db.session.commit()
        backlog = jobs.backlog(now)
        assert backlog.counts == {
            "automation.webhook": {"due": 0, "scheduled": 0, "running": 0, "failed": 1},
            "engine.timer": {"due": 0, "scheduled": 0, "running": 1, "failed": 0},
            "notifications.email": {"due": 1, "scheduled": 1, "running": 0, "failed": 0},
        }
        assert backlog.worker_late is None  # 30 s: a worker may be busy
        later = jobs.backlog(now + timedelta(minutes=10))
        assert later.worker_late > timedelta(minutes=10)
        # A running job whose lease ran out is due again (its worker died).
        assert later.counts["engine.timer"]["due"] == 1


def test_an_admin_tries_a_failed_job_again_from_the_page(app, failing_webhook_job):
    from app.audit import AuditEvent
    from app.extensions import db
    from app.jobs.models import Job

    from app.jobs.services import schedule_periodics

    with app.app_context():
        schedule_periodics()  # a worker runs
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "Webhook 调用" in page and "ConnectionRefusedError: [Errno 111] Connection refused" in page
    assert 'id="worker-late"' not in page
    response = client.post(f"/admin/jobs/{failing_webhook_job}/retry")
    assert response.status_code == 302
    with app.app_context():
        job = db.session.get(Job, failing_webhook_job)
        assert (job.status, job.attempts, job.finished_at) == ("pending", 0, None)
        [row] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "jobs.retried"))
        assert row.actor_name == "admin" and row.details["kind"] == "automation.webhook"
    # Tried again while it waits: refused, nothing changes.
    again = client.post(f"/admin/jobs/{failing_webhook_job}/retry", follow_redirects=True)
    assert "只有失败的任务" in again.get_data(as_text=True)
    assert client.post("/admin/jobs/999999/retry").status_code == 404
    sales = app.test_client()
    sales.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    assert sales.get("/admin/jobs").status_code == 403


def test_the_jobs_api_lists_failed_jobs_and_retries_them(app, api_as, failing_webhook_job):
    api = api_as("admin")
    listed = api.get("/api/v1/jobs").get_json()
    assert [item["id"] for item in listed["items"]] == [failing_webhook_job]
    assert listed["items"][0]["error"] == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert api.get("/api/v1/jobs?status=pending").get_json()["items"] == []
    assert api.get("/api/v1/jobs?status=done").status_code == 400
    assert api.get("/api/v1/jobs/backlog").get_json()["kinds"]["automation.webhook"]["failed"] == 1
    retried = api.post(f"/api/v1/jobs/{failing_webhook_job}/retry")
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    assert api.post(f"/api/v1/jobs/{failing_webhook_job}/retry").status_code == 409
    assert api.get("/api/v1/jobs?status=pending&kind=automation.webhook").get_json()["total"] == 1


def test_the_page_warns_when_no_worker_takes_due_jobs(app, demo_people):
    from app.db import utcnow
    from app.extensions import db
    from app.jobs.models import Job

    with app.app_context():
        db.session.add(Job(kind="engine.timer", due_at=utcnow() - timedelta(minutes=15)))
        db.session.commit()
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert 'id="worker-late"' in page and "flask worker" in page


def test_a_job_s_payload_reads_in_one_line_with_the_whole_on_request(app):
    from app.jobs.services import payload_summary

    webhook = {"url": "https://hooks.example.com/crm", "rule_id": 3, "action_index": 0, "timeout": 10,
               "body": {"record": {"name": "厦门" * 200}}, "signed": True}
    assert payload_summary(webhook) == ("url: https://hooks.example.com/crm, rule_id: 3, action_index: 0, timeout: 10, "
                                        "signed: True")
    assert len(payload_summary({"note": "x" * 500})) == 160 and payload_summary("odd") == ""


def test_a_job_taken_over_from_a_silent_worker_is_not_read_as_no_worker_running(app, demo_people):
    """A job whose lease had just run out (its worker busy or dead, another ready) read as
    "5 minutes late: no worker seems to be running"; and which worker held it was not shown."""
    from app.db import utcnow
    from app.extensions import db
    from app.jobs import services as jobs
    from app.jobs.models import Job

    with app.app_context():
        now = utcnow()
        db.session.add(Job(kind="automation.webhook", status="running", locked_by="crm-1:4242", attempts=1,
                           due_at=now - timedelta(minutes=6), locked_until=now - timedelta(seconds=20)))
        db.session.commit()
        assert jobs.backlog(now).worker_late is None
        assert jobs.backlog(now + timedelta(minutes=3)).worker_late > timedelta(minutes=3)
        job = db.session.scalar(select(Job))
        job.locked_until = now + timedelta(minutes=4)
        db.session.commit()
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    row = client.get("/admin/jobs?status=running").get_data(as_text=True).split('id="job-list"')[1]
    assert "data-held-by>crm-1:4242<" in row and "直到" in row
    api = app.test_client()  # a program: a token, no session cookie
    token = api.post("/api/v1/tokens", json={"username": "admin", "password": DEMO_PASSWORD}).get_json()["token"]
    [listed] = api.get("/api/v1/jobs?status=running", headers={"Authorization": f"Bearer {token}"}).get_json()["items"]
    assert listed["locked_by"] == "crm-1:4242" and listed["locked_until"]
