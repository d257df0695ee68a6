"""The run log and webhook attempts are kept AUTOMATION_RUN_RETENTION_DAYS (a daily job)."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.automation.models import RuleRun, WebhookDelivery
from app.db import utcnow
from app.extensions import db
from app.jobs import Job, run_due_jobs
from app.jobs import services as job_services


@pytest.fixture
def runs(crm, make_rule, user):
    """Five runs of a rule, the first three dated 400 days back, and a delivery per run."""
    make_rule(name="记一笔", entity="customer", event="created",
              actions=[{"type": "notify", "users": ["manager"], "template": "新客户 {name}"}])
    for n in range(5):
        crm.create("customer", {"name": f"保留期客户{n}"}, user("sales1"))
    ids = list(db.session.scalars(select(RuleRun.id).order_by(RuleRun.id)))
    assert len(ids) == 5
    old = utcnow() - timedelta(days=400)
    db.session.execute(update(RuleRun).where(RuleRun.id.in_(ids[:3])).values(at=old))
    db.session.add_all(WebhookDelivery(delivery_key=f"k{i}", run_id=i, url="https://example.com/h",
                                       at=old if n < 3 else utcnow()) for n, i in enumerate(ids))
    db.session.commit()
    return ids


def _run_daily_job():
    job_services.schedule_periodics()
    db.session.execute(update(Job).where(Job.kind == "automation.prune_run_log").values(due_at=utcnow()))
    db.session.commit()
    run_due_jobs()


def test_the_daily_job_deletes_what_is_older_than_the_retention(app, runs, monkeypatch):
    monkeypatch.setitem(app.config, "AUTOMATION_RUN_RETENTION_DAYS", 365)
    _run_daily_job()
    db.session.expire_all()
    assert list(db.session.scalars(select(RuleRun.id).order_by(RuleRun.id))) == runs[3:]
    assert [d.run_id for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))] == runs[3:]


def test_zero_keeps_everything(app, runs, monkeypatch):
    monkeypatch.setitem(app.config, "AUTOMATION_RUN_RETENTION_DAYS", 0)
    _run_daily_job()
    assert db.session.scalar(select(db.func.count()).select_from(RuleRun)) == 5


def test_pruning_goes_in_batches(runs):
    from app.automation.services import prune_run_log

    assert prune_run_log(utcnow() - timedelta(days=365), batch=2) == 6  # 3 deliveries, 3 runs
    assert db.session.scalar(select(db.func.count()).select_from(RuleRun)) == 2
