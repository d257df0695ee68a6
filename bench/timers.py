"""Timer lag: 200 timers due at the same moment, one `flask worker` process.

200 instances of bench/diagrams/timer_bench.bpmn (start → timer at ``${due}`` → end) are
started with the same ``due``, a little after the last one is saved; the worker (started
first, idle-polling as in production) fires them.  Lag of one timer = the instance's
``completed_at`` (set in the transaction that fires the timer) − ``due``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import select

from .common import ROOT, app_on, percentile, result
from .server import stop_process

TIMERS = 200
DIAGRAM = ROOT / "bench" / "diagrams" / "timer_bench.bpmn"


def start_worker(database_url: str, log_path) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=database_url, FLASK_APP="wsgi", PYTHONPATH=str(ROOT),
               SECRET_KEY="bench-secret")
    return subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)


def run(timeout_s: float = 90.0) -> dict:
    from app.db import utcnow
    from app.engine import services as engine
    from app.engine.models import ProcessInstance
    from app.extensions import db

    with app_on("timers") as app:
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        log_path = f"/tmp/bench-timers-worker-{os.getpid()}.log"
        with app.app_context():
            engine.deploy(DIAGRAM.read_bytes())
            far = (utcnow() + timedelta(days=1)).isoformat()
            t0 = time.perf_counter()
            for _ in range(10):  # how long a start takes here, to place "due" just after the last
                engine.start_instance("timer_bench", {"due": far})
            per_start = (time.perf_counter() - t0) / 10
            db.session.execute(db.delete(ProcessInstance))  # (their far timers stay pending, harmless)
            db.session.commit()
        worker = start_worker(url, log_path)
        try:
            with app.app_context():
                due = utcnow() + timedelta(seconds=per_start * TIMERS * 1.5 + 3)
                ids = [engine.start_instance("timer_bench", {"due": due.isoformat()}).id for _ in range(TIMERS)]
                late = utcnow() > due
                started = time.perf_counter()
                while time.perf_counter() - started < timeout_s:
                    db.session.rollback()
                    done = db.session.scalar(select(db.func.count()).select_from(ProcessInstance).where(
                        ProcessInstance.id.in_(ids), ProcessInstance.status == "completed"))
                    if done == TIMERS:
                        break
                    if worker.poll() is not None:
                        raise RuntimeError(f"worker exited: {open(log_path).read()[-2000:]}")
                    time.sleep(0.2)
                rows = db.session.execute(select(ProcessInstance.completed_at, ProcessInstance.status)
                                          .where(ProcessInstance.id.in_(ids))).all()
        finally:
            stop_process(worker)
    finished = [at for at, status in rows if status == "completed" and at is not None]
    if len(finished) < TIMERS:
        raise RuntimeError(f"only {len(finished)} of {TIMERS} timers fired within {timeout_s} s")
    lags = [(at - due).total_seconds() for at in finished]
    return {"timer_lag_p95_s": result(
        round(percentile(lags, 95), 3), "s", lags, seconds=max(lags),
        note="due → instance completed, 200 timers, one `flask worker` (its defaults: poll 0.25 s, batch 20)"
             + ("; starting took longer than planned, due passed before the last start" if late else ""),
        max_s=round(max(lags), 3))}
