"""The home page (工作台): the administrator's system figures, and which sections each role gets."""
import re
from datetime import timedelta

from app.cli import DEMO_PASSWORD


def _login(app, username):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


def _sections(app, username):
    from app.auth.services import get_user
    from app.ui.dashboard import home_sections

    with app.test_request_context():
        return {s.key: s for s in home_sections(get_user(username))}


def test_the_administrator_sees_failed_jobs_a_late_worker_and_failed_rule_runs(app, demo_people):
    from app.automation.models import RuleRun
    from app.db import utcnow
    from app.extensions import db
    from app.jobs.models import Job

    from app.jobs.services import schedule_periodics

    now = utcnow()
    with app.app_context():
        schedule_periodics()  # as a running worker does
        db.session.add_all([Job(kind="webhook", status="failed"), Job(kind="email", status="failed"),
                            Job(kind="email", status="done"), Job(kind="email", status="pending",
                                                                 due_at=now + timedelta(hours=1))])
        db.session.add_all([RuleRun(entity="customer", event="created", outcome=outcome, at=now - timedelta(days=age))
                            for outcome, age in [("failed", 0), ("failed", 6.9), ("failed", 7.1), ("matched", 1)]])
        db.session.commit()
    system = _sections(app, "admin")["system"]
    # Failed rule runs of the last 7 days (not the one of 7.1 days ago), then failed jobs (not the done one).
    assert [f.value for f in system.figures][:5] == [2, 0, 0, 0, 2]
    assert [f.url for f in system.figures] == ["/automation/runs?outcome=failed", "/forms/bindings?outcome=failed",
                                               "/operator?status=error", "/operator?unattended=1",
                                               "/admin/jobs?status=failed", "/admin/jobs?status=pending"]
    assert [f.alert for f in system.figures] == [True, False, False, False, True, False]

    with app.app_context():  # a job due ten minutes ago that nobody took: no worker runs
        db.session.add(Job(kind="email", status="pending", due_at=now - timedelta(minutes=10)))
        db.session.commit()
    worker = _sections(app, "admin")["system"].figures[5]
    assert worker.alert and "10" in str(worker.value)

    html = _login(app, "admin").get("/").get_data(as_text=True)
    system_html = html.split('id="home-system"')[1].split("</section>")[0]
    assert "已延迟 10 分钟" in system_html
    assert re.findall(r"data-value>([^<]+)<", system_html)[:5] == ["2", "0", "0", "0", "2"]
    assert "border-danger" in system_html


def test_each_role_gets_its_sections_only(app, demo_people):
    assert list(_sections(app, "admin")) == ["tasks", "system"]  # no customers yet: no sales figures
    assert list(_sections(app, "sales1")) == ["tasks", "sales", "pipeline"]
    assert list(_sections(app, "fj_head")) == ["tasks"]
    page = _login(app, "fj_head").get("/").get_data(as_text=True)
    assert 'id="home-tasks"' in page and 'id="home-system"' not in page
    assert "/admin/jobs" not in page and "/automation/runs" not in page


def test_a_worker_that_stopped_on_a_quiet_system_is_noticed(app, demo_people):
    """Nothing due waits, yet no worker has scheduled its periodic jobs lately: it is not running."""
    from app.db import utcnow
    from app.jobs import services as jobs

    with app.app_context():
        assert not jobs.backlog().worker_seen  # never started
        jobs.schedule_periodics()
        assert jobs.backlog().worker_seen
        assert jobs.backlog(utcnow() + timedelta(minutes=1)).worker_seen  # a poll or two away
        assert not jobs.backlog(utcnow() + timedelta(minutes=20)).worker_seen  # it stopped scheduling
    assert _sections(app, "admin")["system"].figures[4].alert is False
    with app.app_context():
        from app.extensions import db
        from app.jobs.models import Job

        db.session.query(Job).delete()  # as if its last slots were long ago
        db.session.commit()
    worker = _sections(app, "admin")["system"].figures[5]
    assert worker.alert is True and worker.note is not None
    page = _login(app, "admin").get("/admin/jobs").get_data(as_text=True)
    assert 'id="worker-late"' in page and "最近几分钟没有后台任务进程在运行" in page
