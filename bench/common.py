"""Shared helpers of the benchmarks: timing with a budget, a migrated app on a scratch
database, and the result record each key carries into ``latest.json``.

A measurement is ``{"value", "unit", "median", "p95", "repeats", "seconds"}`` (+ ``note``);
``run.py`` lifts ``value`` to the top-level key and keeps the rest under ``measurements``.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CUSTOMER_REPORT = ROOT / "bpmn" / "customer_report.bpmn"


def percentile(samples, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def sample(fn, *, min_repeats: int = 5, max_repeats: int = 10_000, budget_s: float = 5.0,
           warmup: int = 1) -> tuple[list[float], float]:
    """Call ``fn()`` until ``budget_s`` is spent (at least ``min_repeats`` times); returns the
    per-call durations in seconds and the wall time taken."""
    for _ in range(warmup):
        fn()
    samples = []
    started = time.perf_counter()
    while len(samples) < max_repeats:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if len(samples) >= min_repeats and time.perf_counter() - started >= budget_s:
            break
    return samples, time.perf_counter() - started


def with_cpu_time(fn):
    """``fn`` recording each call's CPU time (this thread) in ``.cpu``: on this shared box CPU
    time swings far less with the load than wall time, so before/after compare better."""
    def timed():
        started = time.thread_time()
        fn()
        timed.cpu.append(time.thread_time() - started)
    timed.cpu = []
    return timed


def median_ms(seconds) -> float:
    return round(statistics.median(seconds) * 1000, 3)


def result(value, unit: str, samples=None, seconds: float | None = None, scale: float = 1.0,
           note: str | None = None, **extra) -> dict:
    """One measurement; ``samples`` (seconds) are summarised as median/p95 times ``scale``."""
    out = {"value": value, "unit": unit}
    if samples:
        out.update(median=round(statistics.median(samples) * scale, 4),
                   p95=round(percentile(samples, 95) * scale, 4), repeats=len(samples))
    if seconds is not None:
        out["seconds"] = round(seconds, 2)
    if note:
        out["note"] = note
    out.update(extra)
    return out


def rate(samples) -> float:
    """Cycles per second from per-cycle durations (the median, robust to this noisy box)."""
    return round(1.0 / statistics.median(samples), 1)


# ---------------------------------------------------------------- databases

def scratch_database_url(tag: str) -> tuple[str, callable]:
    """A fresh database: PostgreSQL under ``BENCH_DATABASE_URL`` (created, dropped after),
    else a SQLite file in a temp directory."""
    base = os.environ.get("BENCH_DATABASE_URL")
    if not base:
        folder = tempfile.mkdtemp(prefix=f"bench-{tag}-")
        path = Path(folder) / "bench.sqlite3"

        def drop():
            for p in Path(folder).glob("*"):
                p.unlink()
            os.rmdir(folder)
        return f"sqlite:///{path}", drop
    from tools.scratch_db import scratch_postgres_database

    return scratch_postgres_database(base, f"crm_bench_{tag}")


def sqlite_file_url(tag: str) -> tuple[str, callable]:
    """Always SQLite (the service benchmark is defined on a SQLite file)."""
    saved = os.environ.pop("BENCH_DATABASE_URL", None)
    try:
        return scratch_database_url(tag)
    finally:
        if saved is not None:
            os.environ["BENCH_DATABASE_URL"] = saved


def make_app(database_url: str, demo: bool = False, **config):
    """The real app on ``database_url``, migrated, with the demo people (``demo``: all of
    ``flask demo``: records, forms, the deployed customer report and its binding, rules)."""
    os.environ.setdefault("INSTANCE_PATH", tempfile.mkdtemp(prefix="bench-instance-"))
    from flask_migrate import upgrade

    from app import create_app
    from app.cli import run_demo, seed_people

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "bench-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        **config,
    })
    with app.app_context():
        upgrade()
    with app.test_request_context():  # demo steps translate labels
        run_demo() if demo else seed_people()
    return app


@contextmanager
def app_on(tag: str, sqlite_only: bool = False, demo: bool = False, **config):
    """``with app_on("inbox") as app:`` a migrated app on a scratch database, dropped after."""
    url, drop = sqlite_file_url(tag) if sqlite_only else scratch_database_url(tag)
    app = make_app(url, demo=demo, **config)
    try:
        yield app
    finally:
        from app.extensions import db
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()


def database_kind(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def clone_database(url: str, tag: str) -> tuple[str, callable]:
    """A copy of a scratch database (all connections to it must be closed): a file copy on
    SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        import shutil
        source = Path(make_url(url).database)
        engine = create_engine(url)
        with engine.connect() as connection:  # fold the WAL into the main file before copying
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        folder = tempfile.mkdtemp(prefix=f"bench-{tag}-")
        target = Path(folder) / "bench.sqlite3"
        shutil.copyfile(source, target)

        def drop():
            for p in Path(folder).glob("*"):
                p.unlink()
            os.rmdir(folder)
        return f"sqlite:///{target}", drop
    parsed = make_url(url)
    name = f"crm_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False), drop
