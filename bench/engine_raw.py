"""The reference: SpiffWorkflow (through the engine's pure runtime) on the shipped
customer-report diagram, in memory, no database.

One cycle = create, run to the approval, serialize, deserialize, approve, run to the end,
serialize.  The diagram's service tasks call product operations; here they are in-memory
operations that only record the call, because this figure is the engine alone (the service
benchmark runs the real ones against the database).
"""
from __future__ import annotations

from contextlib import contextmanager

from app.engine import operations
from app.engine import runtime as R
from app.engine import serialization as S
from app.engine.specs import CrmServiceTask

from .common import CUSTOMER_REPORT, median_ms, rate, result, sample, with_cpu_time

CUSTOMER = {"customer_id": 1, "name": "厦门海沧医疗器械有限公司", "province": "广东", "industry": "制造",
            "reporter": "sales1", "owner": "sales1"}
FORM = ["decision", "comment"]


def used_operations(spec, subs) -> list[str]:
    """Every operation the parsed diagram's service tasks call (subprocesses included)."""
    return sorted({task.operation for one in [spec, *subs.values()] for task in one.task_specs.values()
                   if isinstance(task, CrmServiceTask) and task.operation})


@contextmanager
def in_memory_operations(names):
    """The operations ``names`` as in-memory recorders accepting any parameters (the real
    ones are restored afterwards).  Derived from the diagram, so a new operation in it cannot
    break this figure."""
    calls = []
    saved = operations.registry_snapshot()
    for name in names:
        operations.register_operation(name, lambda ctx, _name=name, **p: calls.append((_name, p)), replace=True)
    try:
        yield calls
    finally:
        operations.restore_registry(saved)


def cycle(spec, subs, cache) -> int:
    """One instance through the approval; returns the size of its waiting state."""
    wf = R.create_instance(spec, subs, CUSTOMER)
    first = R.run(wf)
    waiting = S.dumps(wf)
    wf = S.loads(waiting, cache)
    done = R.complete_user_task(wf, first.user_tasks[0].id, {"decision": "approve", "comment": "ok"}, FORM)
    S.dumps(wf)
    if done.status != "completed":
        raise AssertionError(f"customer report did not complete: {done.status} {done.error}")
    return len(waiting.encode("utf-8"))


def saved_waiting_state(spec, subs) -> int:
    """Size of a waiting instance's state as the product saves it (pruned first, trap 10)."""
    wf = R.create_instance(spec, subs, CUSTOMER)
    R.run(wf)
    R.prune_finished(wf)
    return len(S.dumps(wf).encode("utf-8"))


def run(budget_s: float = 8.0) -> dict:
    cache = S.SpecCache()
    _, _, spec, subs = cache.add_xml(CUSTOMER_REPORT.read_bytes())
    with in_memory_operations(used_operations(spec, subs)) as calls:
        unpruned_bytes = cycle(spec, subs, cache)
        state_bytes = saved_waiting_state(spec, subs)
        timed = with_cpu_time(lambda: cycle(spec, subs, cache))
        samples, seconds = sample(timed, budget_s=budget_s, min_repeats=50)
    assert calls, "the approval branch called no operation"
    return {
        "engine_raw_per_s": result(rate(samples), "cycles/s", samples, seconds, scale=1000,
                                   note="median/p95 in ms per cycle; cpu_ms: median CPU time per cycle",
                                   cpu_ms=median_ms(timed.cpu[-len(samples):])),
        "state_bytes_waiting": result(state_bytes, "bytes",
                                      note="saved state of a customer report waiting for approval, as the "
                                           f"product saves it (pruned); unpruned: {unpruned_bytes} bytes"),
    }


if __name__ == "__main__":
    import json
    print(json.dumps(run(), ensure_ascii=False, indent=1))
