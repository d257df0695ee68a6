"""`make load`: a bounded loopback load run — locust headless against gunicorn (4 processes,
as `make serve`), sales users creating customers and approvers completing their tasks in a
mix (3:2) for 40 s.  Figures go into bench/results/latest.json as ``load_per_s`` (requests/s),
``load_p95_ms`` (all requests) and ``load_errors`` (must be 0).  PostgreSQL when
BENCH_DATABASE_URL is set, else a SQLite file.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from .common import ROOT, app_on, database_kind, result
from .cycle import APPROVER, REPORTER, customer_data, ensure_prerequisites
from .server import ApiUser, ReportCycle, gunicorn

RUN_SECONDS = 40
USERS = 10
WORKERS = 4


def run() -> dict:
    out_dir = Path(f"/tmp/bench-load-{os.getpid()}")
    out_dir.mkdir(exist_ok=True)
    with app_on("load", demo=True) as app:
        with app.test_request_context():
            notes = ensure_prerequisites()
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        with gunicorn(url, workers=WORKERS, log_path=str(out_dir / "gunicorn.log")) as base:
            probe = ReportCycle()  # does a binding start the process? (one cycle tells)
            sales, approver = ApiUser(base, REPORTER), ApiUser(base, APPROVER)
            probe.approve(approver, probe.report(sales, approver, customer_data("load-probe-")))
            env = dict(os.environ, LOAD_BINDING="1" if probe.binding else "0")
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                 "--host", base, "-u", str(USERS), "-r", str(USERS), "-t", f"{RUN_SECONDS}s", "--stop-timeout", "10",
                 "--csv", str(out_dir / "load"), "--only-summary", "--loglevel", "WARNING"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_SECONDS + 60)
            seconds = time.perf_counter() - started
    rows = {r["Name"]: r for r in csv.DictReader(open(out_dir / "load_stats.csv"))}
    total = rows["Aggregated"]
    failures = list(csv.DictReader(open(out_dir / "load_failures.csv")))
    errors = int(total["Failure Count"])
    notes.append(probe.note())
    if failures:
        notes.append("failures: " + "; ".join(f"{f['Method']} {f['Name']}: {f['Error'][:150]} ×{f['Occurrences']}"
                                              for f in failures[:5]))
    per_endpoint = {name: {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
                           "median_ms": float(r["Median Response Time"]), "p95_ms": float(r["95%"])}
                    for name, r in rows.items() if name != "Aggregated"}
    common = dict(database=database_kind(url), users=USERS, gunicorn_workers=WORKERS, run_seconds=RUN_SECONDS,
                  requests=int(total["Request Count"]), errors=errors)
    if proc.returncode not in (0, 1):  # locust exits 1 when any request failed
        notes.append(f"locust exit {proc.returncode}: {proc.stderr[-300:]}")
    return {
        "load_per_s": result(round(float(total["Requests/s"]), 1), "requests/s", seconds=seconds,
                             note="; ".join(notes), endpoints=per_endpoint, **common),
        "load_p95_ms": result(float(total["95%"]), "ms", seconds=seconds, median=float(total["Median Response Time"]),
                              p95=float(total["95%"]), **common),
        "load_errors": errors,
    }


def main() -> int:
    from .run import load_latest, merge, save, table
    figures = run()
    report = load_latest()
    report.setdefault("measurements", {})
    merge(report, figures)
    save(report)
    print(table(report))
    return 0 if figures["load_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
