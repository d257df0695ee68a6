"""What a parallel or inclusive join passes on: each branch's own answers, whatever order they
arrive in.

SpiffWorkflow's join copies the last branch's data over the others; every branch carries a
copy of everything from the split, so a field that existed before the split got the last
branch's stale copy back (``specs._join_branches``).
"""
import pytest

from app.engine import runtime as R

from .test_pruning import PARALLEL, PARALLEL_ROUNDS, Run

AGREED = PARALLEL_ROUNDS.replace("rounds &gt;= 3", "legal_ok and finance_ok")


@pytest.mark.parametrize("first, then", [("legal", "finance"), ("finance", "legal")])
def test_a_field_from_before_the_split_keeps_the_branch_that_changed_it(cache, first, then):
    answers = {"legal": ({"legal_ok": True}, ["legal_ok"]), "finance": ({"credit_limit": 200}, ["credit_limit"])}
    run = Run(cache, PARALLEL, {"credit_limit": 100, "note": "客户资料"}, prune=True)
    for step in (first, then):
        run.complete(step, *answers[step])
    data = R.instance_data(run.wf)
    assert (data["credit_limit"], data["legal_ok"], data["note"]) == (200, True, "客户资料")


def test_reviews_answered_again_in_the_next_round_both_count(cache):
    run = Run(cache, AGREED, {"rounds": 0}, prune=True)
    run.complete("legal", {"legal_ok": False}, ["legal_ok"])
    run.complete("finance", {"finance_ok": False}, ["finance_ok"])
    assert sorted(t.bpmn_id for t in run.result.user_tasks) == ["finance", "legal"]  # sent round again
    run.complete("finance", {"finance_ok": True}, ["finance_ok"])
    run.complete("legal", {"legal_ok": True}, ["legal_ok"])
    assert run.result.status == "completed"
    assert {k: R.instance_data(run.wf)[k] for k in ("legal_ok", "finance_ok", "rounds")} == {
        "legal_ok": True, "finance_ok": True, "rounds": 2}


def test_a_field_both_branches_changed_takes_the_later_answer(cache):
    run = Run(cache, PARALLEL, {"comment": "", "amount": 1}, prune=True)
    run.complete("finance", {"comment": "财务意见"}, ["comment"])
    run.complete("legal", {"comment": "法务意见"}, ["comment"])
    assert R.instance_data(run.wf)["comment"] == "法务意见" and R.instance_data(run.wf)["amount"] == 1


def inclusive(xml):
    """``xml``'s parallel gateways made inclusive (process parallel… renamed inclusive…):
    legal reviews only above an amount."""
    return xml.replace('<bpmn:process id="parallel', '<bpmn:process id="inclusive', 1).replace(
        '<bpmn:parallelGateway id=', '<bpmn:inclusiveGateway id=').replace(
        '</bpmn:parallelGateway>', '</bpmn:inclusiveGateway>').replace(
        '<bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="legal"/>',
        '<bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="legal">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">amount &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>').replace(
        '<bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="finance"/>',
        '<bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="finance">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">amount &gt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>')


INCLUSIVE = inclusive(PARALLEL)


@pytest.mark.parametrize("amount, reviews", [(50, ["finance"]), (500, ["finance", "legal"])])
def test_inclusive_gateways_open_the_matching_reviews_and_wait_for_them(cache, amount, reviews):
    run = Run(cache, INCLUSIVE, {"amount": amount}, prune=True)
    assert sorted(t.bpmn_id for t in run.result.user_tasks) == reviews
    for review in reviews:
        run.complete(review, {f"{review}_ok": True}, [f"{review}_ok"])
    assert [t.bpmn_id for t in run.result.user_tasks] == ["sign"]
    assert all(R.instance_data(run.wf)[f"{review}_ok"] for review in reviews)


@pytest.mark.parametrize("first, then", [("legal", "finance"), ("finance", "legal")])
def test_an_inclusive_join_keeps_the_field_the_earlier_branch_changed(cache, first, then):
    answers = {"legal": ({"legal_ok": True}, ["legal_ok"]), "finance": ({"credit_limit": 200}, ["credit_limit"])}
    run = Run(cache, INCLUSIVE, {"amount": 500, "credit_limit": 100}, prune=True)
    for step in (first, then):
        run.complete(step, *answers[step])
    assert [t.bpmn_id for t in run.result.user_tasks] == ["sign"]
    data = R.instance_data(run.wf)
    assert (data["credit_limit"], data["legal_ok"], data["amount"]) == (200, True, 500)


INCLUSIVE_CHOICE = INCLUSIVE.replace('id="inclusive"', 'id="inclusive_choice"').replace(
    '<bpmn:inclusiveGateway id="join">', '<bpmn:inclusiveGateway id="join" default="f4">').replace(
    '<bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="sign"/>',
    '<bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="sign">'
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">credit_limit &gt; 150</bpmn:conditionExpression>'
    '</bpmn:sequenceFlow><bpmn:sequenceFlow id="f4" sourceRef="join" targetRef="e"/>').replace(
    '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:inclusiveGateway>',
    '<bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:inclusiveGateway>').replace(
    '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming>',
    '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming>')


@pytest.mark.parametrize("raised_to, next_steps", [(200, ["sign"]), (120, [])])
def test_an_inclusive_join_chooses_its_way_on_the_joined_answers(cache, raised_to, next_steps):
    """Finance raises the limit first, legal answers last with its stale copy of the limit."""
    run = Run(cache, INCLUSIVE_CHOICE, {"amount": 500, "credit_limit": 100}, prune=True)
    run.complete("finance", {"credit_limit": raised_to}, ["credit_limit"])
    run.complete("legal", {"legal_ok": True}, ["legal_ok"])
    assert [t.bpmn_id for t in run.result.user_tasks] == next_steps


# The reviews of PARALLEL_ROUNDS opened by inclusive gateways.
INCLUSIVE_ROUNDS = inclusive(PARALLEL_ROUNDS)


@pytest.mark.parametrize("prune", [True, False])
@pytest.mark.parametrize("first, then", [("legal", "finance"), ("finance", "legal")])
def test_an_inclusive_join_in_a_loop_waits_for_every_review_of_the_round(cache, prune, first, then):
    """SpiffWorkflow's inclusive join looked for this round's arrivals only above its earlier
    firing, found none and fired on the first review of the second round."""
    run = Run(cache, INCLUSIVE_ROUNDS, {"rounds": 0, "amount": 500}, prune=prune)
    for round_ in (1, 2, 3):
        assert sorted(t.bpmn_id for t in run.result.user_tasks) == ["finance", "legal"], round_
        run.complete(first, {f"{first}_ok": True}, [f"{first}_ok"])
        assert [t.bpmn_id for t in run.result.user_tasks] == [then], round_
        run.complete(then, {f"{then}_ok": True}, [f"{then}_ok"])
        assert R.instance_data(run.wf)["rounds"] == round_
    assert run.result.status == "completed"


def test_an_inclusive_join_in_a_loop_waits_only_for_the_reviews_it_opened(cache):
    run = Run(cache, INCLUSIVE_ROUNDS, {"rounds": 0, "amount": 50}, prune=True)
    for round_ in (1, 2, 3):
        assert [t.bpmn_id for t in run.result.user_tasks] == ["finance"], round_
        run.complete("finance", {"finance_ok": True}, ["finance_ok"])
    assert run.result.status == "completed" and R.instance_data(run.wf)["rounds"] == 3
