"""Two `flask worker` processes drain 500 due jobs together; each job runs exactly once.

Half are engine timers (instances of a diagram whose timer is due at one moment), half are
outbox e-mails (in-app notifications with SMTP configured) delivered to a loopback SMTP sink
that records each message's Message-ID (the job id).
"""
import collections
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from app.db import utcnow
from app.extensions import db
from app.jobs import Job
from tests.test_notifications import _SMTPHandler

ROOT = Path(__file__).resolve().parents[2]
TIMER_DIAGRAM = ROOT / "bench" / "diagrams" / "timer_bench.bpmn"
TIMERS = EMAILS = 250
KINDS = ("engine.timer", "notifications.email")  # (periodic scans may add their own jobs)


def _worker(database_url, smtp_port, tmp_path, name):
    env = dict(os.environ, DATABASE_URL=database_url, FLASK_APP="wsgi", PYTHONPATH=str(ROOT),
               INSTANCE_PATH=str(tmp_path), SECRET_KEY="test", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port))
    return subprocess.Popen([sys.executable, "-m", "flask", "worker", "--poll", "0.2"], env=env, cwd=ROOT,
                            stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_workers_run_each_of_500_due_jobs_exactly_once(app, ctx, demo_people, database_url, tmp_path):
    from app.auth.services import get_user
    from app.engine import services as engine
    from app.engine.models import ProcessHistory, ProcessInstance
    from app.notifications.services import notify

    sink = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    sink.messages = []
    threading.Thread(target=sink.serve_forever, daemon=True).start()

    engine.deploy(TIMER_DIAGRAM.read_bytes())
    # One due moment for all, far enough ahead that starting 250 instances ends before it (a
    # timer already due at start fires in the start step): the lead is scaled from how long
    # a few starts take on this machine now.
    far = (utcnow() + timedelta(days=1)).isoformat()
    began = time.perf_counter()
    probes = [engine.start_instance("timer_bench", {"due": far}).id for _ in range(5)]
    lead = (time.perf_counter() - began) / 5 * TIMERS * 3 + 5
    for instance_id in probes:
        engine.terminate(instance_id, None)
    db.session.execute(delete(Job).where(Job.kind == "engine.timer"))  # the probes' cancelled timers
    due = utcnow() + timedelta(seconds=lead)
    instance_ids = [engine.start_instance("timer_bench", {"due": due.isoformat()}).id for _ in range(TIMERS)]
    assert utcnow() < due, "starting the instances took longer than the timers' lead"
    get_user("manager").email = "manager@example.com"
    db.session.commit()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.server_address[1])
    try:
        for n in range(EMAILS):
            notify("manager", f"客户报备 #{n} 等待审批")
        db.session.commit()
    finally:
        app.config.update(SMTP_HOST=None)
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind.in_(KINDS))) == TIMERS + EMAILS
    while utcnow() < due:  # every job is due before either worker starts
        time.sleep(0.1)

    workers = [_worker(database_url, sink.server_address[1], tmp_path, f"worker{i}") for i in range(2)]
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            db.session.expire_all()
            if db.session.scalar(select(func.count()).select_from(Job).where(
                    Job.kind.in_(KINDS), Job.status == "done")) == TIMERS + EMAILS:
                break
            assert all(w.poll() is None for w in workers), [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
            time.sleep(0.3)
    finally:
        for w in workers:
            _stop(w)
        sink.shutdown()

    jobs = list(db.session.scalars(select(Job).where(Job.kind.in_(KINDS))))
    assert collections.Counter(j.status for j in jobs) == {"done": TIMERS + EMAILS}
    assert {j.attempts for j in jobs} == {1}, "a job was claimed twice"
    owners = collections.Counter(j.locked_by for j in jobs)
    assert len(owners) == 2, f"both workers should have taken part: {owners}"

    ids = [line.split("<job-", 1)[1].split("@", 1)[0] for m in sink.messages for line in m.splitlines()
           if line.lower().startswith("message-id:")]
    assert len(ids) == EMAILS and len(set(ids)) == EMAILS, "an e-mail was sent twice or not at all"

    statuses = collections.Counter(db.session.scalars(
        select(ProcessInstance.status).where(ProcessInstance.id.in_(instance_ids))))
    assert statuses == {"completed": TIMERS}
    fired = collections.Counter(db.session.scalars(select(ProcessHistory.instance_id).where(
        ProcessHistory.event == "timer_fired", ProcessHistory.instance_id.in_(instance_ids))))
    assert set(fired) == set(instance_ids) and set(fired.values()) == {1}, "a timer fired twice"
