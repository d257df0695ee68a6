"""`make bench`: run every benchmark module, write bench/results/latest.json, print a table.

Each module runs in its own process (``python -m bench.run --child MODULE OUT``): a clean
interpreter per measurement (no registry or cache shared between them) and a hard time
limit.  Ratios are computed here from figures of the same run.

    python -m bench.run                 # everything
    python -m bench.run --only rules,inbox
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LATEST = RESULTS / "latest.json"

# module -> time limit (s).  Order: cheap first, so a hang late costs least.
MODULES = {
    "bench.engine_raw": 120,
    "bench.designer": 60,
    "bench.rules": 180,
    "bench.timers": 180,
    "bench.service": 180,
    "bench.http": 240,
    "bench.inbox": 420,
    "bench.report_bench": 300,  # written by the reports module; skipped while absent
}


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


# key -> (what the table says, a check of the latest figures or None for "report only")
TARGETS = {
    "engine_raw_per_s": ("reference", None),
    "service_per_s": ("report", None),
    "service_ratio": ("≥ 0.5", lambda r: r["service_ratio"] >= 0.5),
    "http_per_s": ("report", None),
    "http_p95_ms": ("report", None),
    "http_ratio": ("≥ 0.3", lambda r: r["http_ratio"] >= 0.3),
    "inbox_p95_ms_1k": ("report", None),
    "inbox_p95_ms_100k": ("100k/1k ≤ 2", lambda r: r["inbox_p95_ms_100k"] <= 2 * r["inbox_p95_ms_1k"]),
    "rules_dispatch_us_10": ("report", None),
    "rules_dispatch_us_1000": ("1000/10 ≤ 1.5",
                               lambda r: r["rules_dispatch_us_1000"] <= 1.5 * r["rules_dispatch_us_10"]),
    "state_bytes_waiting": ("≤ 8000", lambda r: r["state_bytes_waiting"] <= 8000),
    "timer_lag_p95_s": ("≤ 2", lambda r: r["timer_lag_p95_s"] <= 2),
    "designer_js_gzip_kb": ("≤ 600", lambda r: r["designer_js_gzip_kb"] <= 600),
    "report_ms_100k": ("report", None),
    "load_per_s": ("report", None),
    "load_p95_ms": ("0 errors", lambda r: r.get("load_errors") == 0),
}


def machine() -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(),
            # Other work on a shared box skews every figure: the load average says how much.
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")  # several engineers share the tree
    except (OSError, subprocess.CalledProcessError):
        return None


def run_module(name: str, limit: int) -> tuple[dict, str | None]:
    """Run ``name.run()`` in a child process; returns (figures, error)."""
    if importlib.util.find_spec(name) is None:
        return {}, "absent"
    out = RESULTS / f".{name}.json"
    out.unlink(missing_ok=True)
    started = time.time()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.run", "--child", name, str(out)], cwd=ROOT,
                              capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {limit} s"
    sys.stderr.write(proc.stderr[-2000:] if proc.returncode else "")
    if proc.returncode or not out.exists():
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {}, f"failed ({time.time() - started:.0f} s): {tail}"
    figures = json.loads(out.read_text())
    out.unlink()
    return figures, None


def child(name: str, out: str) -> None:
    figures = importlib.import_module(name).run()
    Path(out).write_text(json.dumps(figures, ensure_ascii=False, default=str))


def merge(report: dict, figures: dict) -> None:
    """A module returns ``key -> number`` or ``key -> {"value": ..., median, p95, ...}``."""
    for key, item in figures.items():
        if isinstance(item, dict) and "value" in item:
            report[key] = item["value"]
            report["measurements"][key] = {k: v for k, v in item.items() if k != "value"}
        else:
            report[key] = item


def add_ratios(report: dict) -> None:
    report["service_ratio"] = _ratio(report.get("service_per_s"), report.get("engine_raw_per_s"))
    report["http_ratio"] = _ratio(report.get("http_per_s"), report.get("service_per_s"))
    report["inbox_growth"] = _ratio(report.get("inbox_p95_ms_100k"), report.get("inbox_p95_ms_1k"))
    report["rules_growth"] = _ratio(report.get("rules_dispatch_us_1000"), report.get("rules_dispatch_us_10"))


def verdict(report: dict, key: str) -> str:
    target, check = TARGETS[key]
    if report.get(key) is None:
        return "n/a"
    if check is None:
        return "—"
    try:
        return "pass" if check(report) else "MISS"
    except (KeyError, TypeError):
        return "n/a"


def table(report: dict) -> str:
    rows = [("key", "value", "target", "result")]
    for key, (target, _) in TARGETS.items():
        value = report.get(key)
        rows.append((key, "—" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value),
                     target, verdict(report, key)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, error in report.get("errors", {}).items():
        lines.append(f"! {name}: {error}")
    for key, m in report.get("measurements", {}).items():
        if m.get("note") and ("not" in m["note"] or "until" in m["note"]):
            lines.append(f"* {key}: {m['note']}")
    return "\n".join(lines)


def load_latest() -> dict:
    try:
        return json.loads(LATEST.read_text())
    except (OSError, ValueError):
        return {}


def save(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    report["verdicts"] = {k: verdict(report, k) for k in TARGETS}
    LATEST.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="comma-separated module names (engine_raw,rules,...)")
    parser.add_argument("--child", nargs=2, metavar=("MODULE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    previous = load_latest()
    # A partial run (--only) keeps the other figures of the last run; a full run starts fresh
    # except for the load run's figures, which come from `make load`.
    report = previous if wanted else {k: v for k, v in previous.items() if k.startswith("load_")}
    report.setdefault("measurements", {})
    report["measurements"] = {k: v for k, v in report["measurements"].items()
                              if wanted or k.startswith("load_")}
    report["errors"] = {}
    report.update(machine=machine(), date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  commit=git_commit(), database=("postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite"))
    started = time.time()
    for name, limit in MODULES.items():
        short = name.split(".", 1)[1]
        if wanted and short not in wanted:
            continue
        t0 = time.time()
        print(f"== {short} …", flush=True, file=sys.stderr)
        figures, error = run_module(name, limit)
        if error == "absent":
            report["errors"][short] = "module not present yet"
        elif error:
            report["errors"][short] = error
        merge(report, figures)
        print(f"   {short}: {time.time() - t0:.0f} s{' — ' + error if error else ''}", flush=True, file=sys.stderr)
    add_ratios(report)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.time() - started, 1)
    save(report)
    print(table(report))
    print(f"\n{LATEST.relative_to(ROOT)} written in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
