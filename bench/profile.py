"""Profiles behind bench/README.md (not part of `make bench`):

    python -m bench.profile service     # cProfile of 30 service cycles
    python -m bench.profile sql         # SQL statements of one service cycle, by table and caller
    python -m bench.profile inbox       # cProfile of GET /api/v1/tasks (1,000 open + 50,000 completed)
    python -m bench.profile timers      # cProfile of one worker draining 200 due timers

For a running process: `py-spy top --pid PID` (py-spy is in requirements.txt).
"""
from __future__ import annotations

import collections
import cProfile
import pstats
import re
import sys
import time
import traceback
from datetime import timedelta


def _print(profile: cProfile.Profile, lines: int = 40) -> None:
    pstats.Stats(profile).sort_stats("cumulative").print_stats(lines)


def service() -> None:
    from .common import app_on
    from .cycle import ensure_prerequisites
    from .service import make_cycle
    with app_on("profile", sqlite_only=True, demo=True) as app, app.test_request_context():
        ensure_prerequisites()
        cycle = make_cycle(set())
        for _ in range(3):
            cycle()
        profile = cProfile.Profile()
        profile.runcall(lambda: [cycle() for _ in range(30)])
        _print(profile)


def sql() -> None:
    from sqlalchemy import event

    from app.extensions import db

    from .common import app_on
    from .cycle import ensure_prerequisites
    from .service import make_cycle
    with app_on("profile", sqlite_only=True, demo=True) as app, app.test_request_context():
        ensure_prerequisites()
        cycle = make_cycle(set())
        cycle()
        seen = []

        def record(conn, cursor, statement, params, context, executemany):
            caller = next((f"{f.filename.split('/app/', 1)[1]}:{f.lineno} {f.name}"
                           for f in reversed(traceback.extract_stack()[:-1]) if "/app/" in f.filename
                           and "site-packages" not in f.filename), "?")
            table = (re.findall(r"(?:FROM|INTO|UPDATE)\s+(\w+)", statement) or ["?"])[0]
            seen.append((f"{statement.split()[0]} {table}", caller))
        event.listen(db.engine, "before_cursor_execute", record)
        cycle()
        event.remove(db.engine, "before_cursor_execute", record)
    print(f"{len(seen)} statements in one cycle")
    for index in (0, 1):
        for key, n in collections.Counter(s[index] for s in seen).most_common(30):
            print(f"{n:4d}  {key}")
        print("--- by caller")


def inbox() -> None:
    from . import inbox as bench
    from .common import make_app, scratch_database_url
    url, drop = scratch_database_url("profile")
    try:
        app = make_app(url, demo=True)
        template = bench._template(app)
        bench._insert(app, template, 1000, 50_000, 0)
        bench._analyze(app)
        get = bench._requester(app)
        get()
        profile = cProfile.Profile()
        profile.runcall(lambda: [get() for _ in range(3)])
        _print(profile)
        bench._dispose(app)
    finally:
        drop()


def timers() -> None:
    from app.db import utcnow
    from app.engine import services as engine
    from app.jobs.services import run_due_jobs

    from .common import app_on
    from .timers import DIAGRAM, TIMERS
    with app_on("profile") as app, app.app_context():
        engine.deploy(DIAGRAM.read_bytes())
        due = utcnow() + timedelta(seconds=15)
        for _ in range(TIMERS):
            engine.start_instance("timer_bench", {"due": due.isoformat()})
        while utcnow() < due:
            time.sleep(0.1)
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.runcall(lambda: [n for n in iter(lambda: run_due_jobs(20, "profile"), 0)])
        print(f"{TIMERS} timers fired in {time.perf_counter() - started:.2f} s (profiled)")
        _print(profile)


if __name__ == "__main__":
    {"service": service, "sql": sql, "inbox": inbox, "timers": timers}[sys.argv[1] if len(sys.argv) > 1 else "sql"]()
