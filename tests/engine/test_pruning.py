"""Saved states stay small however often an instance loops (ENGINE-NOTES trap 10).

Each test runs the same steps twice, saving and loading after every step: once as the
product saves (``prune_finished`` before ``dumps``), once without pruning, and compares
what the product sees: status, process data, form values, diagram trace, open tasks.
"""
import json

import pytest

from app.engine import runtime as R
from app.engine import serialization as S
from app.engine.trace import passed
from app.engine.validation import validate_diagram

from .support import make_timer_due

FORM = ["decision", "comment"]
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">"""

# A review sent back for rework until approved, with a non-interrupting daily reminder.
REVIEW_LOOP = HEAD + """
  <bpmn:process id="review_loop" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="审核" camunda:formKey="customer_report" camunda:candidateGroups="sales-managers">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>again</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="remind" cancelActivity="false" attachedToRef="review"><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:scriptTask id="count_reminder" scriptFormat="python"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
      <bpmn:script>last_reminder = rounds</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="reminded"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:exclusiveGateway id="decide" default="f3"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="rework" scriptFormat="python"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>again</bpmn:outgoing>
      <bpmn:script>rounds = rounds + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="rework"/>
    <bpmn:sequenceFlow id="again" sourceRef="rework" targetRef="review"/>
    <bpmn:sequenceFlow id="f4" sourceRef="decide" targetRef="e">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "approve"</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f5" sourceRef="remind" targetRef="count_reminder"/>
    <bpmn:sequenceFlow id="f6" sourceRef="count_reminder" targetRef="reminded"/>
  </bpmn:process>
</bpmn:definitions>"""

# Two reviews in parallel, then a summary step after the join.
PARALLEL = HEAD + """
  <bpmn:process id="parallel" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="legal" name="法务" camunda:formKey="legal" camunda:candidateGroups="legal">
      <bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="finance" name="财务" camunda:formKey="finance" camunda:candidateGroups="finance">
      <bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>fb2</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>fa2</bpmn:incoming><bpmn:incoming>fb2</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="sign" name="签字" camunda:formKey="sign" camunda:candidateGroups="sales-managers">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="legal"/>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="finance"/>
    <bpmn:sequenceFlow id="fa2" sourceRef="legal" targetRef="join"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="finance" targetRef="join"/>
    <bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="sign"/>
    <bpmn:sequenceFlow id="f3" sourceRef="sign" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""

# The parallel reviews sent back together until both agree.
PARALLEL_LOOP = PARALLEL.replace('id="parallel"', 'id="parallel_loop"').replace(
    '<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>fa</bpmn:outgoing>',
    '<bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>back</bpmn:incoming><bpmn:outgoing>fa</bpmn:outgoing>').replace(
    '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:parallelGateway>',
    '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:parallelGateway>'
    '<bpmn:exclusiveGateway id="agree" default="back"><bpmn:incoming>f2</bpmn:incoming>'
    '<bpmn:outgoing>back</bpmn:outgoing><bpmn:outgoing>ok</bpmn:outgoing></bpmn:exclusiveGateway>').replace(
    '<bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="sign"/>',
    '<bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="agree"/>'
    '<bpmn:sequenceFlow id="back" sourceRef="agree" targetRef="split"/>'
    '<bpmn:sequenceFlow id="ok" sourceRef="agree" targetRef="sign">'
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">legal_ok and finance_ok</bpmn:conditionExpression>'
    '</bpmn:sequenceFlow>').replace('<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>',
                                    '<bpmn:incoming>ok</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>')

# Parallel reviews in a loop, modelled with an exclusive gateway merging the way back in.
PARALLEL_ROUNDS = HEAD + """
  <bpmn:process id="parallel_rounds" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="merge"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>back</bpmn:incoming><bpmn:outgoing>f0</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="legal" name="法务" camunda:formKey="legal" camunda:candidateGroups="legal">
      <bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="finance" name="财务" camunda:formKey="finance" camunda:candidateGroups="finance">
      <bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>fb2</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>fa2</bpmn:incoming><bpmn:incoming>fb2</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:scriptTask id="count" scriptFormat="python"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>rounds = rounds + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="enough" default="back"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>back</bpmn:outgoing><bpmn:outgoing>ok</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="e"><bpmn:incoming>ok</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="merge"/>
    <bpmn:sequenceFlow id="f0" sourceRef="merge" targetRef="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="legal"/>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="finance"/>
    <bpmn:sequenceFlow id="fa2" sourceRef="legal" targetRef="join"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="finance" targetRef="join"/>
    <bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="count"/>
    <bpmn:sequenceFlow id="f3" sourceRef="count" targetRef="enough"/>
    <bpmn:sequenceFlow id="back" sourceRef="enough" targetRef="merge"/>
    <bpmn:sequenceFlow id="ok" sourceRef="enough" targetRef="e">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">rounds &gt;= 3</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""

# An embedded subprocess with a user task, then a user task after it.
SUBPROCESS = HEAD + """
  <bpmn:process id="with_sub" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="check"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="ss"><bpmn:outgoing>sf1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="inner" name="内审" camunda:formKey="inner" camunda:candidateGroups="audit">
        <bpmn:incoming>sf1</bpmn:incoming><bpmn:outgoing>sf2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="se"><bpmn:incoming>sf2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="sf1" sourceRef="ss" targetRef="inner"/>
      <bpmn:sequenceFlow id="sf2" sourceRef="inner" targetRef="se"/>
    </bpmn:subProcess>
    <bpmn:userTask id="after" name="复核" camunda:formKey="after" camunda:candidateGroups="audit">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="after"/>
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


class Run:
    """One instance, saved and loaded after every step, pruned as the product saves or not."""

    def __init__(self, cache, xml, data, prune):
        validate_diagram(xml)
        _, _, spec, subs = cache.add_xml(xml)
        self.cache, self.prune = cache, prune
        self.wf = R.create_instance(spec, subs, data)
        self.result = R.run(self.wf)
        self.save()

    def save(self):
        if self.prune:
            R.prune_finished(self.wf)
        self.state = S.dumps(self.wf)
        self.wf = S.loads(self.state, self.cache)

    def complete(self, bpmn_id, data, fields=FORM, assignee=None):
        [task] = [t for t in self.result.user_tasks if t.bpmn_id == bpmn_id and assignee in (None, t.assignee)]
        self.result = R.complete_user_task(self.wf, task.id, data, fields)
        self.save()

    def fire(self, bpmn_id):
        make_timer_due(self.wf, bpmn_id)
        self.result = R.fire_due_timers(self.wf)
        self.save()

    def seen(self, fields=FORM):
        """What the product shows of the instance now."""
        completed, active, flows = passed(self.wf)
        return {"status": self.result.status, "data": R.instance_data(self.wf),
                "open": sorted((t.bpmn_id, tuple(t.candidate_groups)) for t in self.result.user_tasks),
                "forms": sorted(tuple(sorted(R.task_form_data(self.wf, t.id, fields).items()))
                                for t in self.result.user_tasks),
                "timers": sorted(t.bpmn_id for t in self.result.timers),
                "completed": completed, "active": active - completed, "flows": flows}


def both(cache, xml, data):
    return Run(cache, xml, data, prune=True), Run(cache, xml, data, prune=False)


def test_review_loop_state_stays_flat_and_behaves_the_same(cache):
    pruned, plain = both(cache, REVIEW_LOOP, {"rounds": 0, "reminders": 0})
    sizes = []
    for round_ in range(12):
        for run in (pruned, plain):
            if round_ % 3 == 0:
                run.fire("remind")
            run.complete("review", {"decision": "reject", "comment": f"第{round_}轮退回"})
        assert pruned.seen() == plain.seen()
        sizes.append(len(pruned.state))
    assert pruned.seen()["forms"] == [(("comment", None), ("decision", None))]  # trap 5 across the cut
    # Flat from round to round; only a reminder that ran to its end event leaves its end
    # step (SpiffWorkflow merges its data when the process ends): fired in rounds 0, 3, 6, 9.
    assert abs(sizes[2] - sizes[1]) < 100 and abs(sizes[5] - sizes[4]) < 100, sizes
    assert sizes[11] - sizes[2] < 3 * 1000, sizes
    assert len(plain.state) > 3 * len(pruned.state)
    for run in (pruned, plain):
        run.complete("review", {"decision": "approve", "comment": "同意"})
    assert pruned.seen() == plain.seen()
    assert pruned.result.status == "completed"
    # the reminder branch's own data reaches the end only through its end step
    assert R.instance_data(pruned.wf)["rounds"] == 12 and R.instance_data(pruned.wf)["last_reminder"] == 9
    assert {"s", "review", "decide", "rework", "e", "remind", "count_reminder"} <= pruned.seen()["completed"]
    assert ("s", "review") in pruned.seen()["flows"]


def test_a_long_review_loop_no_longer_runs_out_of_depth(cache):
    """Unpruned, some 250 rounds take a path deeper than SpiffWorkflow can follow."""
    pruned, plain = both(cache, REVIEW_LOOP, {"rounds": 0, "reminders": 0})
    broke = None
    for _ in range(300):
        pruned.complete("review", {"decision": "reject"})
        if broke is None:
            try:
                plain.complete("review", {"decision": "reject"})
            except RecursionError as exc:
                broke = exc
            else:
                if plain.result.status == "error":
                    broke = plain.result.error
    assert broke is not None
    assert pruned.result.status == "running" and len(pruned.wf.tasks) < 30
    pruned.complete("review", {"decision": "approve"})
    assert pruned.result.status == "completed" and R.instance_data(pruned.wf)["rounds"] == 300


def test_parallel_branches_keep_what_the_join_merges(cache):
    pruned, plain = both(cache, PARALLEL, {"amount": 100})
    for run in (pruned, plain):
        run.complete("legal", {"legal_ok": True}, ["legal_ok"])
    # the finished branch waits at the join: nothing of it may be dropped
    assert pruned.seen(["legal_ok", "finance_ok"]) == plain.seen(["legal_ok", "finance_ok"])
    for run in (pruned, plain):
        run.complete("finance", {"finance_ok": False}, ["finance_ok"])
    assert [t.bpmn_id for t in pruned.result.user_tasks] == ["sign"]
    for run in (pruned, plain):
        run.complete("sign", {"signed": "yes"}, ["signed"])
    assert pruned.seen(["signed"]) == plain.seen(["signed"])
    assert R.instance_data(pruned.wf) | {} == {"amount": 100, "legal_ok": True, "finance_ok": False, "signed": "yes"}


def test_parallel_reviews_in_a_loop_wait_for_each_other_in_any_order(cache):
    """SpiffWorkflow keeps last round's cancelled arrivals at the join and counts them again:
    unpruned, the round where finance answers first fires the join early and opens legal
    twice.  Saving drops the arrivals a firing consumed."""
    fields = ["legal_ok", "finance_ok"]
    pruned, plain = both(cache, PARALLEL_ROUNDS, {"rounds": 0})
    for first, then in [("legal", "finance"), ("finance", "legal"), ("legal", "finance")]:
        pruned.complete(first, {f"{first}_ok": True}, fields)
        assert [t.bpmn_id for t in pruned.result.user_tasks] == [then]
        pruned.complete(then, {f"{then}_ok": True}, fields)
    assert pruned.result.status == "completed" and R.instance_data(pruned.wf)["rounds"] == 3
    # the same steps unpruned (the engine as it comes): the second round opens legal twice
    plain.complete("legal", {"legal_ok": True}, fields)
    plain.complete("finance", {"finance_ok": True}, fields)
    plain.complete("finance", {"finance_ok": True}, fields)
    assert sorted(t.bpmn_id for t in plain.result.user_tasks) == ["finance", "legal", "legal"]


def test_a_loop_back_into_the_parallel_split_runs_every_round(cache):
    """A way back that enters the split itself (not pruned: it runs on the earlier steps the
    gateway looks up) goes round until both reviews agree, then on to the signature."""
    run = Run(cache, PARALLEL_LOOP, {"amount": 100}, prune=True)
    for round_ in range(4):
        run.complete("finance", {"finance_ok": round_ == 3}, ["finance_ok"])
        run.complete("legal", {"legal_ok": round_ >= 2}, ["legal_ok"])
        expected = ["sign"] if round_ == 3 else ["finance", "legal"]
        assert sorted(t.bpmn_id for t in run.result.user_tasks) == expected
    run.complete("sign", {"signed": "yes"}, ["signed"])
    assert run.result.status == "completed"
    assert {k: R.instance_data(run.wf)[k] for k in ("legal_ok", "finance_ok", "signed")} == {
        "legal_ok": True, "finance_ok": True, "signed": "yes"}


@pytest.mark.parametrize("sequential", [False, True])
def test_countersign_behaves_the_same(cache, sequential):
    from .test_multi_instance import diagram

    pruned, plain = both(cache, diagram(sequential=sequential), {"approvers": ["a", "b", "c"]})
    for who, decision in [("a", "approve"), ("b", "reject"), ("c", "approve")]:
        for run in (pruned, plain):
            run.complete("Sign", {"decision": decision}, assignee=who)
        assert pruned.seen() == plain.seen()
    assert pruned.result.status == "completed"
    assert R.instance_data(pruned.wf)["Sign_results"] == R.instance_data(plain.wf)["Sign_results"]


def test_finished_subprocess_is_dropped_with_its_step(cache):
    pruned, plain = both(cache, SUBPROCESS, {"n": 1})
    for run in (pruned, plain):
        assert run.wf.subprocesses  # running inside: kept
        run.complete("inner", {"inner_ok": True}, ["inner_ok"])
    assert pruned.seen(["x"]) == plain.seen(["x"])
    for run in (pruned, plain):
        run.complete("after", {"done": True}, ["done"])
    assert pruned.seen(["x"]) == plain.seen(["x"]) and pruned.result.status == "completed"
    assert not pruned.wf.subprocesses and plain.wf.subprocesses
    assert {"check", "inner", "after"} <= pruned.seen()["completed"]
    assert {("s", "check"), ("ss", "inner"), ("check", "after")} <= pruned.seen()["flows"]


@pytest.mark.parametrize("province, industry, task_id", [
    ("福建", "医疗", "Task_fujian_review"), ("广东", "制造", "Task_manager_review")])
def test_customer_report_waits_smaller_and_runs_the_same(cache, customer_report_xml, fake_ops,
                                                         province, industry, task_id):
    data = {"customer_id": 42, "name": "厦门海沧医疗", "province": province, "industry": industry,
            "reporter": "sales1", "owner": "sales1"}
    pruned, plain = both(cache, customer_report_xml, data)
    assert pruned.seen() == plain.seen()
    assert len(pruned.state) < len(plain.state)
    remind, escalate = task_id.replace("Task_", "Timer_").replace("_review", "_remind"), \
        task_id.replace("Task_", "Timer_").replace("_review", "_escalate")
    for run in (pruned, plain):
        run.fire(remind)
    assert pruned.seen() == plain.seen()
    for run in (pruned, plain):
        run.fire(escalate)  # the task goes to the group's manager
    assert pruned.seen() == plain.seen()
    [escalated] = [t.bpmn_id for t in pruned.result.user_tasks]
    for run in (pruned, plain):
        run.complete(escalated, {"decision": "approve", "comment": "同意"})
    assert pruned.seen() == plain.seen() and pruned.result.status == "completed"


def test_an_errored_step_is_kept_for_retry(cache, customer_report_xml, fake_ops):
    fake_ops.fail_status = True
    data = {"customer_id": 42, "name": "厦门", "province": "广东", "industry": "制造", "reporter": "sales1", "owner": "sales1"}
    pruned = Run(cache, customer_report_xml, data, prune=True)
    pruned.complete("Task_manager_review", {"decision": "approve", "comment": "同意"})
    assert pruned.result.status == "error"
    fake_ops.fail_status = False
    result = R.retry(pruned.wf)
    assert result.status == "completed"
    assert [c["status"] for c in fake_ops.of("crm.set_report_status")][-1] == "approved"


def test_pruning_what_is_already_pruned_changes_nothing(cache):
    run = Run(cache, REVIEW_LOOP, {"rounds": 0, "reminders": 0}, prune=True)
    run.complete("review", {"decision": "reject"})
    assert R.prune_finished(run.wf) == 0
    assert json.loads(S.dumps(run.wf)) == json.loads(run.state)
