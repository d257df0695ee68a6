"""`flask worker` as a real process: runs jobs, survives SIGKILL mid-job, exits on SIGTERM."""
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.db import utcnow
from app.extensions import db
from app.jobs import Job

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _worker(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, FLASK_APP="wsgi", PYTHONPATH=str(ROOT),
               INSTANCE_PATH=str(tmp_path), SECRET_KEY="test", WORKER_TEST_MARKER_DIR=str(tmp_path))
    # tests/worker_jobs.py registers a slow job handler that writes marker files.
    code = ("import tests.worker_jobs; from wsgi import app; from app.jobs.cli import init_app; "
            "import sys; sys.argv=['flask','worker','--poll','0.1']; from flask.cli import main; main()")
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_worker_killed_mid_job_runs_it_again_after_the_lease(app, ctx, database_url, tmp_path):
    import tests.worker_jobs  # noqa: F401 - registers the handler in this process too
    from app.jobs import enqueue

    job = enqueue("test.slow_marker", {"name": "a"})
    db.session.commit()
    worker = _worker(database_url, tmp_path)
    try:
        assert _wait_for(lambda: (tmp_path / "a.started").exists()), worker.stdout.read1().decode()
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    db.session.expire_all()
    row = db.session.get(Job, job.id)
    assert row.status == "running" and not (tmp_path / "a.done").exists()
    # Fast-forward the lease instead of waiting five minutes.
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    worker = _worker(database_url, tmp_path)
    try:
        assert _wait_for(lambda: (tmp_path / "a.done").exists())
        assert _wait_for(lambda: (db.session.expire_all() or db.session.get(Job, job.id).status) == "done")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert db.session.get(Job, job.id).attempts == 2
