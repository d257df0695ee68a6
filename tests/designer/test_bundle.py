"""The designer bundle stays within its budget: 600 KB gzipped (script + styles + font)."""
import gzip
from pathlib import Path

BUILD = Path(__file__).resolve().parents[2] / "app" / "static" / "build"
BUDGET = 600 * 1024


def test_designer_bundle_within_budget():
    files = [BUILD / "bpmn-js.js", BUILD / "bpmn-js.css"]
    missing = [f.name for f in files if not f.exists()]
    assert not missing, f"build the front end first (make build): {missing}"
    woff2 = sorted(BUILD.glob("bpmn-*.woff2"))  # the only font format current browsers fetch
    total = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files) + sum(f.stat().st_size for f in woff2)
    assert total <= BUDGET, f"designer bundle is {total / 1024:.0f} KB gzipped"
