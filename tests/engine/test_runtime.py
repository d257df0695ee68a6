"""Running the shipped customer-report process and the Camunda Modeler fixture end to end."""
import json

import pytest

from app.engine import runtime as R
from app.engine import serialization as S
from app.engine.script_engine import RestrictedScriptEngine
from app.engine.validation import validate_diagram

from .support import FIXTURES, make_timer_due

FORM = ["decision", "comment"]
CUSTOMER = {"customer_id": 42, "name": "厦门海沧医疗", "province": "福建", "industry": "医疗",
            "reporter": "sales1", "owner": "sales1"}


def start(cache, xml, data):
    validate_diagram(xml)
    _, _, spec, subs = cache.add_xml(xml)
    wf = R.create_instance(spec, subs, data)
    return wf, R.run(wf)


def reload(wf, cache):
    return S.loads(S.dumps(wf), cache)


@pytest.mark.parametrize("province, industry, task_id, group", [
    ("福建", "医疗", "Task_fujian_review", "fujian-heads"),
    ("福建省", "制造", "Task_fujian_review", "fujian-heads"),  # as the Fujian round-robin rule reads it too
    ("广东", "医疗", "Task_medical_review", "medical-reviewers"),
    ("广东", "制造", "Task_manager_review", "sales-managers"),
    (None, "医疗", "Task_medical_review", "medical-reviewers"),  # no province: no type error
    (None, None, "Task_manager_review", "sales-managers"),
])
def test_routing(cache, customer_report_xml, fake_ops, province, industry, task_id, group):
    wf, result = start(cache, customer_report_xml, dict(CUSTOMER, province=province, industry=industry))
    assert result.status == "running" and result.error is None
    [task] = result.user_tasks
    assert (task.bpmn_id, task.candidate_groups, task.form_key) == (task_id, [group], "customer_report")
    assert task.assignee is None and task.due_at is not None
    assert sorted(t.bpmn_id for t in result.timers) == sorted(
        [task_id.replace("review", "").replace("Task_", "Timer_") + s for s in ("remind", "escalate")])


def test_approve_sets_status(cache, customer_report_xml, fake_ops):
    wf, result = start(cache, customer_report_xml, CUSTOMER)
    wf = reload(wf, cache)
    result = R.complete_user_task(wf, result.user_tasks[0].id, {"decision": "approve", "comment": "ok"}, FORM)
    assert result.status == "completed"
    assert fake_ops.of("crm.set_report_status") == [
        {"customer_id": 42, "status": "approved", "comment": "ok", "element": "Task_mark_approved"}]
    assert fake_ops.of("notify.users") == []


def test_reject_sets_status_and_notifies_reporter(cache, customer_report_xml, fake_ops):
    wf, result = start(cache, customer_report_xml, dict(CUSTOMER, province="浙江", industry="制造"))
    result = R.complete_user_task(wf, result.user_tasks[0].id, {"decision": "reject", "comment": "撞单"}, FORM)
    assert result.status == "completed"
    assert fake_ops.of("crm.set_report_status")[0]["status"] == "rejected"
    assert fake_ops.of("notify.users") == [
        {"message": "客户报备「厦门海沧医疗」被驳回：撞单", "users": "sales1,sales1", "groups": None}]


def test_saved_state_holds_no_spec_and_is_small(cache, customer_report_xml, fake_ops):
    wf, _ = start(cache, customer_report_xml, CUSTOMER)
    state = S.dumps(wf)
    dct = json.loads(state)
    assert "spec" not in dct and "subprocess_specs" not in dct
    assert dct["spec_ref"] == S.spec_hash(customer_report_xml)
    assert "task_specs" not in state and "BpmnProcessSpec" not in state
    assert "camunda" not in state and "crm.set_report_status" not in state  # no spec details
    assert len(state.encode()) <= 8000
    loaded = S.loads(state, cache)
    assert isinstance(loaded.script_engine, RestrictedScriptEngine)  # trap 3


def test_load_without_known_spec_fails_clearly(customer_report_xml, fake_ops, cache):
    wf, _ = start(cache, customer_report_xml, CUSTOMER)
    with pytest.raises(LookupError):
        S.loads(S.dumps(wf), S.SpecCache())
    # ...but a cache with a loader (the database, in the app) finds it by hash
    loaded = S.loads(S.dumps(wf), S.SpecCache(loader=lambda ref: customer_report_xml))
    assert R.ready_user_tasks(loaded)[0].bpmn_id == "Task_fujian_review"


def test_spec_json_roundtrip_keeps_camunda_attributes(cache, customer_report_xml, fake_ops):
    _, _, spec, subs = cache.add_xml(customer_report_xml)
    spec2, subs2 = S.spec_from_json(S.spec_to_json(spec, subs))
    task = spec2.task_specs["Task_escalated_review"]
    assert (task.assignee, task.candidate_groups, task.candidate_users, task.due_date) == (
        "${escalation_manager}", None, None, "P1D")
    assert task.form.key == "customer_report"
    lookup = spec2.task_specs["Task_find_manager"]
    assert (lookup.operation, lookup.params, lookup.result_variable) == (
        "directory.group_manager", [{"name": "group", "value": "${approver_group}"}], "escalation_manager")
    svc = spec2.task_specs["Task_mark_approved"]
    assert svc.operation == "crm.set_report_status"
    assert {"name": "status", "value": "approved"} in svc.params


def test_complete_refuses_cancelled_and_done_tasks(cache, customer_report_xml, fake_ops):
    wf, result = start(cache, customer_report_xml, CUSTOMER)
    escalated_away = result.user_tasks[0].id
    make_timer_due(wf, "Timer_fujian_escalate")
    result = R.fire_due_timers(wf)
    with pytest.raises(R.TaskNotReady):  # trap 4: the escalation cancelled it
        R.complete_user_task(wf, escalated_away, {"decision": "approve"}, FORM)
    task_id = result.user_tasks[0].id
    R.complete_user_task(wf, task_id, {"decision": "approve"}, FORM)
    with pytest.raises(R.TaskNotReady):
        R.complete_user_task(wf, task_id, {"decision": "approve"}, FORM)
    with pytest.raises(R.TaskNotFound):
        R.complete_user_task(wf, "not-a-uuid", {}, FORM)
    with pytest.raises(R.TaskNotFound):  # a well-formed id the state does not hold (pruned meanwhile)
        R.complete_user_task(wf, "f26dcf18-96a5-4723-9c2e-786e94a6a5ae", {}, FORM)


def test_complete_refuses_non_user_task(cache, customer_report_xml, fake_ops):
    wf, _ = start(cache, customer_report_xml, CUSTOMER)
    gateway = [t for t in wf.get_tasks() if t.task_spec.bpmn_id == "Gateway_route"][0]
    with pytest.raises(R.NotAUserTask):
        R.complete_user_task(wf, gateway.id, {}, FORM)


def test_only_form_fields_are_accepted(cache, customer_report_xml, fake_ops):
    wf, result = start(cache, customer_report_xml, CUSTOMER)
    task_id = result.user_tasks[0].id
    with pytest.raises(R.InvalidTaskData) as info:  # trap 5
        R.complete_user_task(wf, task_id, {"decision": "approve", "customer_id": 1}, FORM)
    assert info.value.fields == ["customer_id"]
    with pytest.raises(R.InvalidTaskData):  # trap 6
        R.complete_user_task(wf, task_id, {"decision": {"typename": "BpmnWorkflow"}}, FORM)
    assert R.task_form_data(wf, task_id, FORM) == {"decision": None, "comment": None}


def test_typename_in_start_data_is_refused(cache, customer_report_xml, fake_ops):
    with pytest.raises(ValueError):
        start(cache, customer_report_xml, dict(CUSTOMER, extra={"typename": "BpmnWorkflow"}))


def test_reminder_timer_keeps_task_open(cache, customer_report_xml, fake_ops):
    wf, result = start(cache, customer_report_xml, CUSTOMER)
    wf = reload(wf, cache)
    make_timer_due(wf, "Timer_fujian_remind")
    result = R.fire_due_timers(wf)
    assert [t.bpmn_id for t in result.user_tasks] == ["Task_fujian_review"]
    assert fake_ops.of("notify.users") == [
        {"message": "客户报备「厦门海沧医疗」等待审批已超过 1 天", "users": None, "groups": "fujian-heads"}]
    assert [t.bpmn_id for t in result.timers] == ["Timer_fujian_escalate"]


@pytest.mark.parametrize("province, industry, group, manager", [
    ("福建", "医疗", "fujian-heads", "fj_boss"),
    ("广东", "医疗", "medical-reviewers", "med_boss"),
    ("广东", "制造", "sales-managers", "sales_director"),
])
def test_escalation_goes_to_the_approver_groups_manager(cache, customer_report_xml, fake_ops,
                                                          province, industry, group, manager):
    wf, result = start(cache, customer_report_xml, dict(CUSTOMER, province=province, industry=industry))
    assert result.user_tasks[0].candidate_groups == [group]
    wf = reload(wf, cache)
    key = result.user_tasks[0].bpmn_id.split("_")[1]
    make_timer_due(wf, f"Timer_{key}_escalate")
    result = R.fire_due_timers(wf)
    [task] = result.user_tasks
    assert fake_ops.of("directory.group_manager") == [{"group": group}]
    assert (task.bpmn_id, task.assignee, task.candidate_groups, task.candidate_users) == (
        "Task_escalated_review", manager, [], [])
    assert result.timers == []
    result = R.complete_user_task(wf, task.id, {"decision": "approve"}, FORM)
    assert result.status == "completed"
    assert fake_ops.of("crm.set_report_status")[0]["status"] == "approved"


def test_failing_operation_puts_instance_in_error_then_retry(cache, customer_report_xml, fake_ops):
    wf, result = start(cache, customer_report_xml, CUSTOMER)
    fake_ops.fail_status = True
    result = R.complete_user_task(wf, result.user_tasks[0].id, {"decision": "approve"}, FORM)
    assert result.status == "error"
    assert result.error.element_id == "Task_mark_approved"
    assert "CRM unavailable" in result.error.message
    wf = reload(wf, cache)  # an errored instance still saves and loads
    assert R.snapshot(wf).status == "error"
    fake_ops.fail_status = False
    result = R.retry(wf)
    assert result.status == "completed" and fake_ops.of("crm.set_report_status")


SCRIPTED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="scripted" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="Script_score" name="打分" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>score = 0
for c in capitals:
    score += c
ratio = score / divisor</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Script_score"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Script_score" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_script_error_reports_element_and_line_then_retry_with_fixed_data(cache):
    wf, result = start(cache, SCRIPTED, {"capitals": [1, 2, 3], "divisor": 0})
    assert result.status == "error"
    assert (result.error.element_id, result.error.line) == ("Script_score", 4)
    assert "division by zero" in result.error.message
    assert result.error.error_line == "ratio = score / divisor"
    wf = reload(wf, cache)
    result = R.retry(wf, {"divisor": 2})
    assert result.status == "completed"
    assert R.instance_data(wf)["ratio"] == 3


def test_script_sandbox_escape_is_an_error_not_an_escape(cache, tmp_path):
    marker = tmp_path / "pwned"
    xml = SCRIPTED.replace("score = 0", f"x = __import__('os').system('touch {marker}')")
    with pytest.raises(Exception):
        validate_diagram(xml)  # refused at deploy
    _, _, spec, subs = cache.add_xml(xml)  # and if it got in anyway, refused at run time
    wf = R.create_instance(spec, subs, {"capitals": [], "divisor": 1})
    result = R.run(wf)
    assert result.status == "error" and not marker.exists()


def test_camunda_modeler_diagram_runs_unchanged(cache):
    xml = (FIXTURES / "leave_request_modeler5.bpmn").read_bytes()
    wf, result = start(cache, xml, {"owner": "sales2", "amount": 500})
    [task] = result.user_tasks
    assert (task.assignee, task.candidate_groups) == ("sales2", ["sales-managers"])
    assert task.form_fields == ["approved", "note"] and task.properties == {"priority": "high"}
    wf = reload(wf, cache)
    result = R.complete_user_task(wf, task.id, {"approved": True, "note": "fine"})
    [task] = result.user_tasks
    assert task.candidate_users == ["finance1", "finance2"]
    assert task.due_at.isoformat().startswith("2030-01-15")
    result = R.complete_user_task(wf, task.id, {})
    assert result.status == "completed"
    ends = [t.task_spec.bpmn_id for t in wf.get_tasks() if t.task_spec.bpmn_id == "Event_0approved"
            and t.state == 64]
    assert ends == ["Event_0approved"]


def test_camunda_modeler_reject_path(cache):
    xml = (FIXTURES / "leave_request_modeler5.bpmn").read_bytes()
    wf, result = start(cache, xml, {"owner": "sales2"})
    result = R.complete_user_task(wf, result.user_tasks[0].id, {"approved": False})
    assert result.status == "completed" and result.user_tasks == []


LOOPING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">
  <bpmn:process id="looping" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="g_in"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>back</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="count" scriptFormat="python"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="g_out" default="back"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>back</bpmn:outgoing><bpmn:outgoing>done</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="e"><bpmn:incoming>done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g_in"/>
    <bpmn:sequenceFlow id="f2" sourceRef="g_in" targetRef="count"/>
    <bpmn:sequenceFlow id="f3" sourceRef="count" targetRef="g_out"/>
    <bpmn:sequenceFlow id="back" sourceRef="g_out" targetRef="g_in"/>
    <bpmn:sequenceFlow id="done" sourceRef="g_out" targetRef="e">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">n &gt;= limit</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""


def test_bounded_loop_completes(cache):
    wf, result = start(cache, LOOPING, {"n": 0, "limit": 50})
    assert result.status == "completed" and R.instance_data(wf)["n"] == 50


def test_endless_loop_is_stopped_not_hung(cache):
    import time

    started = time.monotonic()
    wf, result = start(cache, LOOPING, {"n": 0, "limit": 10**9})
    assert time.monotonic() - started < 30
    assert result.status == "error" and "automatic steps" in result.error.message
    assert result.error.element_id in {"g_in", "count", "g_out"}
    wf = reload(wf, cache)  # still saves and loads; fix the data and retry
    result = R.retry(wf, {"limit": 0})
    assert result.status == "completed"


ERROR_PATH = (FIXTURES / "error_boundary.bpmn.template").read_text()


@pytest.mark.parametrize("error_ref, raised, caught", [
    ("", RuntimeError("CRM unavailable"), True),  # a boundary without a code catches all
    ('errorRef="Error_crm"', RuntimeError("CRM unavailable"), False),
    ('errorRef="Error_crm"', "CRM_DOWN", True),
    ('errorRef="Error_crm"', "OTHER", False),
])
def test_operation_failure_takes_modelled_error_path(cache, fake_ops, error_ref, raised, caught):
    from app.engine import operations

    def failing(ctx, customer_id, status, comment=None):
        if isinstance(raised, str):
            raise operations.OperationError("CRM unavailable", code=raised)
        raise raised

    operations.register_operation("crm.set_report_status", failing, params=["customer_id", "status"],
                                  optional=["comment"], replace=True)
    wf, result = start(cache, ERROR_PATH.replace("ERRREF", error_ref), {"customer_id": 1})
    if caught:
        assert result.status == "running" and [t.bpmn_id for t in result.user_tasks] == ["fix"]
        error = R.task_form_data(wf, result.user_tasks[0].id, ["error"])["error"]
        assert error["element_id"] == "call" and "CRM unavailable" in error["message"]
        assert error["code"] == (raised if isinstance(raised, str) else None)
        service = [t for t in wf.get_tasks() if t.task_spec.bpmn_id == "call"][0]
        assert service.state == 256  # the failed task is cancelled by the interrupting event
    else:
        assert result.status == "error" and result.error.element_id == "call"


TIMED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">
  <bpmn:process id="timed" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="等到截止日"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><TIMER</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("timer, due", [
    ('bpmn:timeDate xsi:type="bpmn:tFormalExpression">2030-12-01T10:00:00Z</bpmn:timeDate>', "2030-12-01T10:00:00+00:00"),
    ('bpmn:timeDate xsi:type="bpmn:tFormalExpression">${deadline}</bpmn:timeDate>', "2031-01-02T03:04:05+00:00"),
    ('bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1H</bpmn:timeDuration>', None),
])
def test_intermediate_timer_waits_with_due_time(cache, timer, due):
    from datetime import datetime, timedelta, timezone

    wf, result = start(cache, TIMED.replace("<TIMER", "<" + timer), {"deadline": "2031-01-02T03:04:05Z"})
    [waiting] = result.timers
    assert result.status == "running" and waiting.bpmn_id == "wait" and waiting.attached_to is None
    if due:
        assert waiting.due_at.isoformat() == due
    else:
        expected = datetime.now(timezone.utc) + timedelta(hours=1)
        assert abs((waiting.due_at - expected).total_seconds()) < 60
    wf = reload(wf, cache)
    assert R.fire_due_timers(wf).status == "running"  # not yet due
    make_timer_due(wf, "wait")
    assert R.fire_due_timers(wf).status == "completed"


def test_past_date_timer_fires_at_once(cache):
    wf, result = start(cache, TIMED.replace(
        "<TIMER", '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">2020-01-01T00:00:00Z</bpmn:timeDate>'), {})
    assert result.status == "completed"


def test_business_types_survive_save_and_load(cache, customer_report_xml, fake_ops):
    from datetime import date, datetime, timezone
    from decimal import Decimal

    data = dict(CUSTOMER, registered_capital=Decimal("12000000.50"), founded=date(2001, 2, 3),
                reported_at=datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc), tags={"a"})
    wf, _ = start(cache, customer_report_xml, data)
    loaded = R.instance_data(reload(wf, cache))
    assert loaded["registered_capital"] == Decimal("12000000.50")
    assert type(loaded["registered_capital"]) is Decimal and type(loaded["founded"]) is date
    assert loaded["reported_at"] == data["reported_at"] and loaded["tags"] == ["a"]


def test_data_driven_assignment(cache):
    """Assignee and candidate groups computed from process data (record owner, group by province)."""
    xml = (FIXTURES / "leave_request_modeler5.bpmn").read_text().replace(
        'camunda:candidateGroups="sales-managers"',
        'camunda:candidateGroups="${\'fujian-heads\' if province == \'福建\' else \'sales-managers\'}, auditors"')
    wf, result = start(cache, xml, {"owner": "sales1", "province": "福建"})
    [task] = result.user_tasks
    assert (task.assignee, task.candidate_groups) == ("sales1", ["fujian-heads", "auditors"])


def test_failing_assignee_expression_is_an_error_with_the_element(cache):
    xml = (FIXTURES / "leave_request_modeler5.bpmn").read_text()
    wf, result = start(cache, xml, {"amount": 1})  # no "owner" in the data
    assert result.status == "error" and result.error.element_id == "Activity_0qz7c1k"
    assert "owner" in result.error.message
    result = R.retry(wf, {"owner": "sales2"})
    assert result.status == "running" and result.user_tasks[0].assignee == "sales2"


TWO_LEVELS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="two_levels" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="level1" name="一级审批" camunda:formKey="customer_report" camunda:candidateGroups="sales-managers"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="suggest" scriptFormat="python"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>comment = "系统建议：金额较大"</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="level2" name="二级审批" camunda:formKey="customer_report" camunda:candidateUsers="admin"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="level1"/>
    <bpmn:sequenceFlow id="f2" sourceRef="level1" targetRef="suggest"/>
    <bpmn:sequenceFlow id="f3" sourceRef="suggest" targetRef="level2"/>
    <bpmn:sequenceFlow id="f4" sourceRef="level2" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_an_earlier_answer_does_not_prefill_the_next_form(cache):
    wf, result = start(cache, TWO_LEVELS, {"decision": "from start data"})
    first = result.user_tasks[0].id
    assert R.task_form_data(wf, first, FORM) == {"decision": "from start data", "comment": None}
    result = R.complete_user_task(wf, first, {"decision": "approve", "comment": "一级同意"}, FORM)
    wf = reload(wf, cache)
    second = result.user_tasks[0].id
    # level 1's answer is not shown; the script's suggestion is
    assert R.task_form_data(wf, second, FORM) == {"decision": None, "comment": "系统建议：金额较大"}
    assert R.instance_data(wf)["decision"] == "approve"  # still in the process data for gateways
    assert R.task_form_data(wf, first, FORM) == {"decision": "approve", "comment": "一级同意"}


def test_a_task_without_a_type_and_a_manual_task_are_passed_through(cache):
    """As Camunda runs them: each was a task for nobody in the inbox, and the instance stood."""
    from .test_pruning import HEAD

    xml = HEAD + """<bpmn:process id="sketch" isExecutable="true">
      <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
      <bpmn:task id="prepare" name="准备资料"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing></bpmn:task>
      <bpmn:manualTask id="phone" name="电话确认"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:manualTask>
      <bpmn:userTask id="sign" name="签字" camunda:assignee="manager"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="prepare"/>
      <bpmn:sequenceFlow id="f1" sourceRef="prepare" targetRef="phone"/>
      <bpmn:sequenceFlow id="f2" sourceRef="phone" targetRef="sign"/>
      <bpmn:sequenceFlow id="f3" sourceRef="sign" targetRef="e"/>
    </bpmn:process></bpmn:definitions>"""
    wf, result = start(cache, xml, {})
    assert [t.bpmn_id for t in result.user_tasks] == ["sign"]
    wf = reload(wf, cache)
    assert [t.bpmn_id for t in R.run(wf).user_tasks] == ["sign"]
