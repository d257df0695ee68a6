"""Size of the designer bundle (app/static/build/bpmn-js.js) as served gzipped.

Level 6 is what `gzip` does by default; the bundle is built by `node static/build.mjs`
(`make bench` runs the build first, so the figure is of the current sources).
"""
from __future__ import annotations

import gzip
import time

from .common import ROOT, result

BUNDLE = ROOT / "app" / "static" / "build" / "bpmn-js.js"
STYLES = ROOT / "app" / "static" / "build" / "bpmn-js.css"


def run() -> dict:
    started = time.perf_counter()
    raw = BUNDLE.read_bytes()
    js_kb = len(gzip.compress(raw, compresslevel=6)) / 1024
    css_kb = len(gzip.compress(STYLES.read_bytes(), compresslevel=6)) / 1024 if STYLES.exists() else 0.0
    return {"designer_js_gzip_kb": result(round(js_kb, 1), "KiB", seconds=time.perf_counter() - started,
                                          raw_kb=round(len(raw) / 1024, 1), css_gzip_kb=round(css_kb, 1))}
