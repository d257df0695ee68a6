"""Countersign (会签): parallel and sequential multi-instance approvals, all / any."""
import pytest

from app.engine import runtime as R
from app.engine import serialization as S
from app.engine.validation import validate_diagram

from .support import FIXTURES

FORM = ["decision", "comment"]
TEMPLATE = (FIXTURES / "countersign.bpmn.template").read_text()
ALL_APPROVE = "${all(r['decision'] == 'approve' for r in Sign_results)}"
ANY_APPROVE = "${any(r['decision'] == 'approve' for r in Sign_results)}"


def diagram(sequential=False, completion=None, outcome=ALL_APPROVE):
    xml = TEMPLATE.replace("IS_SEQUENTIAL", 'isSequential="true"' if sequential else "")
    cond = (f'<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">{completion}</bpmn:completionCondition>'
            if completion else "")
    return xml.replace("COMPLETION", cond).replace("OUTCOME", outcome.replace("'", "&apos;"))


def start(cache, xml, approvers):
    validate_diagram(xml)
    _, _, spec, subs = cache.add_xml(xml)
    wf = R.create_instance(spec, subs, {"approvers": approvers})
    return wf, R.run(wf)


def answer(wf, cache, assignee, decision):
    wf = S.loads(S.dumps(wf), cache)  # every step through a save/load, as in production
    task = next(t for t in R.ready_user_tasks(wf) if t.assignee == assignee)
    return wf, R.complete_user_task(wf, task.id, {"decision": decision}, FORM)


def end_reached(wf):
    return [t.task_spec.bpmn_id for t in wf.get_tasks() if (t.task_spec.bpmn_id or "").startswith("End") and t.state == 64]


def test_parallel_all_must_approve(cache):
    wf, result = start(cache, diagram(), ["fj_head", "manager", "med_reviewer"])
    assert sorted(t.assignee for t in result.user_tasks) == ["fj_head", "manager", "med_reviewer"]
    assert all(t.multi_instance and t.bpmn_id == "Sign" for t in result.user_tasks)
    wf, result = answer(wf, cache, "manager", "approve")
    assert len(result.user_tasks) == 2
    wf, result = answer(wf, cache, "fj_head", "approve")
    wf, result = answer(wf, cache, "med_reviewer", "approve")
    assert result.status == "completed" and end_reached(wf) == ["EndApproved"]
    results = R.instance_data(wf)["Sign_results"]
    assert sorted((r["approver"], r["decision"]) for r in results) == [
        ("fj_head", "approve"), ("manager", "approve"), ("med_reviewer", "approve")]


def test_parallel_all_must_approve_one_rejects(cache):
    wf, result = start(cache, diagram(), ["a", "b", "c"])
    wf, _ = answer(wf, cache, "a", "approve")
    wf, _ = answer(wf, cache, "b", "reject")
    wf, result = answer(wf, cache, "c", "approve")
    assert result.status == "completed" and end_reached(wf) == ["EndRejected"]


def test_parallel_stop_at_first_reject(cache):
    xml = diagram(completion="${decision == 'reject'}".replace("'", "&apos;"))
    wf, result = start(cache, xml, ["a", "b", "c"])
    wf, result = answer(wf, cache, "b", "reject")
    assert result.status == "completed" and result.user_tasks == []
    assert end_reached(wf) == ["EndRejected"]


def test_parallel_any_one_approves(cache):
    xml = diagram(completion="${decision == 'approve'}".replace("'", "&apos;"), outcome=ANY_APPROVE)
    wf, result = start(cache, xml, ["a", "b", "c"])
    wf, result = answer(wf, cache, "a", "reject")
    assert len(result.user_tasks) == 2
    wf, result = answer(wf, cache, "c", "approve")
    assert result.status == "completed" and result.user_tasks == []
    assert end_reached(wf) == ["EndApproved"]


def test_any_with_camunda_counters(cache):
    xml = diagram(completion="${nrOfCompletedInstances &gt;= 2}", outcome=ANY_APPROVE)
    wf, result = start(cache, xml, ["a", "b", "c"])
    wf, result = answer(wf, cache, "a", "reject")
    wf, result = answer(wf, cache, "b", "approve")
    assert result.status == "completed" and end_reached(wf) == ["EndApproved"]


def test_sequential_countersign_in_order(cache):
    wf, result = start(cache, diagram(sequential=True), ["first", "second"])
    assert [t.assignee for t in result.user_tasks] == ["first"]
    wf, result = answer(wf, cache, "first", "approve")
    assert [t.assignee for t in result.user_tasks] == ["second"]
    wf, result = answer(wf, cache, "second", "approve")
    assert result.status == "completed" and end_reached(wf) == ["EndApproved"]


def test_decision_does_not_leak_between_approvers(cache):
    wf, result = start(cache, diagram(sequential=True), ["first", "second"])
    wf, result = answer(wf, cache, "first", "reject")
    task = result.user_tasks[0]
    assert R.task_form_data(wf, task.id, FORM) == {"decision": None, "comment": None}


def test_shared_spec_is_connected_once_before_any_thread_runs_it(cache):
    """SpiffWorkflow connects a multi-instance child lazily; on a spec shared by threads that
    could happen twice.  The cache connects it once at parse time."""
    _, _, spec, _ = cache.add_xml(diagram())
    child = spec.task_specs["Sign [child]"]
    before = child.completed_event.n_subscribers()
    assert child.completed_event.is_connected(spec.task_specs["Sign"].merge_child)
    for _ in range(2):
        wf = R.create_instance(spec, {}, {"approvers": ["a"]})
        R.run(wf)
    assert child.completed_event.n_subscribers() == before
