"""The designer's condition builder (static/bpmn-js/expressions.js) writes what the engine's
restricted evaluator reads, with the intended meaning, and reads its own output back."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from app.engine.expressions import evaluate

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "static" / "bpmn-js" / "expressions.js"

CASES = [
    # rows, join, data, expected
    ([("province", "==", "福建")], "&&", {"province": "福建"}, True),
    ([("province", "!=", "福建"), ("industry", "==", "医疗")], "&&", {"province": "广东", "industry": "医疗"}, True),
    ([("province", "!=", "福建"), ("industry", "==", "医疗")], "&&", {"province": "福建", "industry": "医疗"}, False),
    ([("registered_capital", ">=", "10000000")], "&&", {"registered_capital": 10_000_000}, True),
    ([("amount", "<", "5000"), ("customer_class", "==", "A")], "||", {"amount": 9000, "customer_class": "A"}, True),
    ([("tags", "contains", "vip")], "&&", {"tags": ["new", "vip"]}, True),
    ([("province", "contains", "福建")], "&&", {"province": "福建省"}, True),
    ([("province", "not_contains", "福建"), ("industry", "==", "医疗")], "&&", {"province": "福建省", "industry": "医疗"},
     False),
    ([("province", "not_contains", "福建"), ("industry", "==", "医疗")], "&&", {"province": None, "industry": "医疗"},
     True),
    ([("province", "contains", "福建")], "&&", {"province": None}, False),  # an empty field contains nothing
    ([("amount", ">=", "0")], "&&", {"amount": None}, False),  # ... and compares as neither more nor less
    ([("comment", "empty", "")], "&&", {"comment": ""}, True),
    ([("comment", "not_empty", "")], "&&", {"comment": "ok"}, True),
    ([("name", "==", "O'Brien \\ Co")], "&&", {"name": "O'Brien \\ Co"}, True),
    ([("decision", "==", "approve")], "&&", {"decision": "reject"}, False),
]

SCRIPT = """
import { buildCondition, parseCondition, durationToIso, isoToDuration } from %s;
const cases = JSON.parse(process.argv[2]);
const out = cases.map(([rows, join]) => {
  const expr = buildCondition(rows.map(([field, op, value]) => ({ field, op, value })), join);
  return { expr, back: parseCondition(expr) };
});
const durations = [[30, "M"], [2, "H"], [3, "D"], [1, "W"]].map(([n, u]) => {
  const iso = durationToIso(n, u);
  return { iso, back: isoToDuration(iso) };
});
console.log(JSON.stringify({ out, durations }));
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to build the front end")
    script = tmp_path_factory.mktemp("js") / "check.mjs"
    script.write_text(SCRIPT % json.dumps(MODULE.as_uri()), encoding="utf-8")
    cases = [[[list(r) for r in rows], join] for rows, join, _, _ in CASES]
    done = subprocess.run([node, str(script), json.dumps(cases)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_builder_output_means_what_the_rows_say(built, index):
    rows, join, data, expected = CASES[index]
    result = built["out"][index]
    assert evaluate(result["expr"], data) is expected, result["expr"]
    back = result["back"]
    assert back["join"] == join
    assert [(r["field"], r["op"], r["value"]) for r in back["rows"]] == [
        (f, op, v) for f, op, v in rows]


def test_duration_picker_writes_valid_iso(built):
    from app.engine.validation import _check_iso, _Collector

    found = _Collector()
    for item in built["durations"]:
        _check_iso("Task", "due date", item["iso"], found)
    assert [d["iso"] for d in built["durations"]] == ["PT30M", "PT2H", "P3D", "P1W"]
    assert found.problems == []
    assert built["durations"][2]["back"] == {"amount": "3", "unit": "D"}
