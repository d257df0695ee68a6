"""The service benchmark's cycle through the REST API on loopback: gunicorn with 4 worker
processes (as `make serve`), 8 client threads, each alternating as sales1 (create a
customer) and the manager (find, claim and approve its task).  PostgreSQL when
BENCH_DATABASE_URL is set, else a SQLite file.

``http_per_s``: completed cycles per second over the measured window (all threads);
``http_p95_ms``: 95th percentile of single request latency.
"""
from __future__ import annotations

import statistics
import threading
import time

from .common import app_on, database_kind, percentile, result
from .cycle import APPROVER, REPORTER, customer_data, ensure_prerequisites
from .server import ApiUser, ReportCycle, RequestFailed, gunicorn

WORKERS = 4
THREADS = 8


def drive(base: str, threads: int, seconds: float, warmup: float = 3.0) -> dict:
    """Run cycles from ``threads`` threads; count those finishing inside the window."""
    cycle = ReportCycle()
    # The first cycle decides whether a binding starts the process (see ReportCycle).
    first = ApiUser(base, REPORTER), ApiUser(base, APPROVER)
    cycle.approve(first[1], cycle.report(*first, customer_data("http-")))
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    lock = threading.Lock()
    done, latencies, cycle_times, errors = [0], [], [], []

    def worker():
        sales, approver = ApiUser(base, REPORTER), ApiUser(base, APPROVER)
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            mark = len(sales.latencies), len(approver.latencies)
            try:
                cycle.approve(approver, cycle.report(sales, approver, customer_data("http-")))
            except (RequestFailed, OSError) as exc:
                with lock:
                    errors.append(str(exc)[:300])
                continue
            t1 = time.perf_counter()
            if t0 >= start_at and t1 <= stop_at:
                with lock:
                    done[0] += 1
                    cycle_times.append(t1 - t0)
                    latencies.extend(sales.latencies[mark[0]:] + approver.latencies[mark[1]:])

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"cycles": done[0], "latencies": latencies, "cycle_times": cycle_times, "errors": errors,
            "note": cycle.note()}


def run(seconds: float = 20.0) -> dict:
    with app_on("http", demo=True) as app:
        with app.test_request_context():
            notes = ensure_prerequisites()
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        with gunicorn(url, workers=WORKERS, log_path="/tmp/bench-http-gunicorn.log") as base:
            started = time.perf_counter()
            out = drive(base, THREADS, seconds)
            wall = time.perf_counter() - started
    if out["errors"]:
        notes.append(f"{len(out['errors'])} failed cycles, first: {out['errors'][0]}")
    notes.append(out["note"])
    per_s = round(out["cycles"] / seconds, 1)
    common = dict(database=database_kind(url), gunicorn_workers=WORKERS, client_threads=THREADS,
                  errors=len(out["errors"]))
    return {
        "http_per_s": result(per_s, "cycles/s", out["cycle_times"], wall, scale=1000,
                             note="; ".join(notes) + "; median/p95 in ms per cycle", **common),
        "http_p95_ms": result(round(percentile(out["latencies"], 95) * 1000, 1), "ms", out["latencies"], wall,
                              scale=1000, note="per request", **common,
                              requests=len(out["latencies"]),
                              mean_ms=round(statistics.fmean(out["latencies"]) * 1000, 1)),
    }


if __name__ == "__main__":
    import json
    print(json.dumps(run(), ensure_ascii=False, indent=1))
