"""A job handler used by tests/test_worker_process.py (imported by the worker subprocess)."""
import os
import time
from pathlib import Path

from app.jobs import job_handler


@job_handler("test.slow_marker")
def slow_marker(job):
    folder = Path(os.environ.get("WORKER_TEST_MARKER_DIR", "/tmp"))
    name = job.payload["name"]
    (folder / f"{name}.started").touch()
    time.sleep(1.5)
    (folder / f"{name}.done").touch()
