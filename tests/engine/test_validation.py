"""Deploy validation: each problem is reported with its element id; all are collected."""
import pytest

from app.engine.validation import validate_diagram
from app.engine.xml import DiagramError

HEAD = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">')


def process(body, executable="true"):
    return f'{HEAD}<bpmn:process id="p" isExecutable="{executable}">{body}</bpmn:process></bpmn:definitions>'


def problems(xml):
    with pytest.raises(DiagramError) as info:
        validate_diagram(xml)
    return {(p["element_id"], p["message"]) for p in info.value.problems}


def ids(xml):
    return {element_id for element_id, _ in problems(xml)}


START = '<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'


def test_shipped_customer_report_is_valid(customer_report_xml, fake_ops):
    process_id, spec, _ = validate_diagram(customer_report_xml)
    assert process_id == "customer_report" and "Task_fujian_review" in spec.task_specs


def test_unknown_operation_is_a_deploy_error(customer_report_xml, no_ops):
    # no operations registered in this test: every service task is reported
    found = ids(customer_report_xml)
    assert {"Task_mark_approved", "Task_mark_rejected", "Task_notify_reporter", "Task_fujian_remind"} <= found


def test_no_executable_process():
    assert ids(process(START, executable="false")) == {"p"}


def test_user_task_without_assignee_or_candidates():
    xml = process(START + '<bpmn:userTask id="u" name="x"/><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>')
    assert ("u", "user task has no assignee and no candidate users or groups") in problems(xml)


def test_a_step_no_flow_leads_to_and_a_start_leading_nowhere_are_refused():
    """Both deployed: the lint badge showed "1 个错误" but the deploy's list did not, and a diagram
    of a lone start event became a process nobody can delete."""
    xml = process(START + """
      <bpmn:userTask id="u" camunda:assignee="manager"/>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>
      <bpmn:sequenceFlow id="f1" sourceRef="u" targetRef="e"/>
      <bpmn:endEvent id="e"/>
      <bpmn:serviceTask id="remind" name="提醒经理"/>
      <bpmn:sequenceFlow id="f2" sourceRef="remind" targetRef="e2"/>
      <bpmn:endEvent id="e2"/>""")
    unreachable = {element for element, message in problems(xml) if "never runs" in message}
    assert unreachable == {"remind"}  # e2 has a flow: the one step to fix is named
    assert ids(process('<bpmn:startEvent id="lonely"/>')) == {"lonely"}
    # A boundary event starts a path of its own; an event subprocess is started by its event.
    validate_diagram(process(START + """
      <bpmn:userTask id="u" camunda:assignee="manager"/>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>
      <bpmn:sequenceFlow id="f1" sourceRef="u" targetRef="e"/>
      <bpmn:endEvent id="e"/>
      <bpmn:boundaryEvent id="late" attachedToRef="u" cancelActivity="false">
        <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
      </bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f2" sourceRef="late" targetRef="e3"/>
      <bpmn:endEvent id="e3"/>"""))


def test_all_problems_are_collected():
    body = START + """
      <bpmn:exclusiveGateway id="g"/>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
      <bpmn:sequenceFlow id="fa" sourceRef="g" targetRef="u1">
        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${().__class__}</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="u2"/>
      <bpmn:userTask id="u1" camunda:assignee="${__import__('os')}"/>
      <bpmn:userTask id="u2" camunda:candidateGroups="g1" camunda:dueDate="PT1D">
        <bpmn:multiInstanceLoopCharacteristics camunda:collection="${a + b}"/>
      </bpmn:userTask>
      <bpmn:boundaryEvent id="t1" attachedToRef="u2"><bpmn:timerEventDefinition>
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
      <bpmn:boundaryEvent id="t2" attachedToRef="u2"><bpmn:timerEventDefinition>
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">10 ** 10 ** 8 +</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
      <bpmn:scriptTask id="sc"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>
      <bpmn:serviceTask id="sv" camunda:class="com.example.Delegate"/>
      <bpmn:serviceTask id="sv2" camunda:type="external" camunda:topic="no.such.op"/>
    """
    found = ids(process(body))
    assert found == {"fa", "fb", "u1", "u2", "t1", "t2", "sc", "sv", "sv2"}


@pytest.mark.parametrize("kind, text, said", [
    ("timeDuration", "P99999Y", "100 年"),  # passed, then every start was refused "date value out of range"
    ("timeCycle", "R/PT1S", "每分钟"),  # a notice a second until someone stopped the process
    ("timeCycle", "R5/PT30S", "每分钟"),
    ("timeDuration", "P3D", None), ("timeCycle", "R/PT5M", None), ("timeCycle", "R3/P1D", None)])
def test_a_timer_too_far_away_or_repeating_within_a_minute_is_refused(app, kind, text, said):
    body = START + f"""
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>
      <bpmn:userTask id="u" camunda:candidateGroups="g1"/>
      <bpmn:boundaryEvent id="t" attachedToRef="u" cancelActivity="false"><bpmn:timerEventDefinition>
        <bpmn:{kind} xsi:type="bpmn:tFormalExpression">{text}</bpmn:{kind}></bpmn:timerEventDefinition>
      </bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f1" sourceRef="u" targetRef="e"/><bpmn:endEvent id="e"/>
      <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e2"/><bpmn:endEvent id="e2"/>"""
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        if said is None:
            validate_diagram(process(body))
        else:
            assert [message for element, message in problems(process(body)) if element == "t"] == [
                next(message for element, message in problems(process(body)) if said in message)]


def test_gateway_with_default_is_fine_and_wrong_default_is_reported():
    body = START + """
      <bpmn:exclusiveGateway id="g" default="fb"/>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
      <bpmn:sequenceFlow id="fa" sourceRef="g" targetRef="e1">
        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${x &gt; 1}</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="e2"/>
      <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>"""
    assert validate_diagram(process(body))[0] == "p"
    assert ("g", "default flow 'nope' is not an outgoing flow of this gateway") in problems(
        process(body.replace('default="fb"', 'default="nope"')))


def test_unsupported_condition_language():
    body = START + """<bpmn:exclusiveGateway id="g" default="fb"/>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
      <bpmn:sequenceFlow id="fa" sourceRef="g" targetRef="e1">
        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="javascript">x &gt; 1</bpmn:conditionExpression>
      </bpmn:sequenceFlow><bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="e1"/><bpmn:endEvent id="e1"/>"""
    assert ids(process(body)) == {"fa"}


def test_operation_parameters_are_checked(fake_ops):
    body = START + """<bpmn:serviceTask id="sv" camunda:type="external" camunda:topic="crm.set_report_status">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="status">approved</camunda:inputParameter>
        <camunda:inputParameter name="colour">red</camunda:inputParameter>
        <camunda:inputParameter name="comment">${().__class__}</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="sv"/>"""
    messages = {m for _, m in problems(process(body))}
    assert "operation 'crm.set_report_status' needs parameter 'customer_id'" in messages
    assert "operation 'crm.set_report_status' has no parameter 'colour'" in messages
    assert any("comment" in m and "__class__" in m for m in messages)


def test_a_parameter_reads_at_deploy_as_it_runs_one_expression_or_a_template(fake_ops):
    """"${reporter},${owner}" is a text with two expressions (as the step evaluates it), not one
    broken expression; "${a b}" as a whole value is still refused."""
    def task(value):
        return START + f"""<bpmn:serviceTask id="sv" camunda:type="external" camunda:topic="notify.users">
          <bpmn:extensionElements><camunda:inputOutput>
            <camunda:inputParameter name="users">{value}</camunda:inputParameter>
            <camunda:inputParameter name="message">x</camunda:inputParameter>
          </camunda:inputOutput></bpmn:extensionElements><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
          </bpmn:serviceTask><bpmn:endEvent id="e"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
          <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="sv"/><bpmn:sequenceFlow id="f1" sourceRef="sv" targetRef="e"/>"""
    validate_diagram(process(task("${reporter},${owner}")))
    assert "sv" in ids(process(task("${a b}"))) and "sv" in ids(process(task("${a},${b c}")))


def test_a_notice_without_recipients_is_refused_at_deploy(app):
    from app.engine.product_operations import register_product_operations

    register_product_operations()
    body = START + """<bpmn:serviceTask id="tell" camunda:type="external" camunda:topic="notify.users">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="users"> </camunda:inputParameter>
        <camunda:inputParameter name="message">已通过</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="tell"/>"""
    with app.test_request_context():
        said = {m for element, m in problems(process(body)) if element == "tell"}
        assert any("“用户” (users) 或 “用户组” (groups)" in m for m in said), said
        fine = body.replace('<camunda:inputParameter name="users"> </camunda:inputParameter>',
                            '<camunda:inputParameter name="groups">sales</camunda:inputParameter>')
        validate_diagram(process(fine))  # a group is recipients enough


def test_events_nothing_can_trigger_are_refused():
    body = START + """<bpmn:intermediateCatchEvent id="wait_msg"><bpmn:messageEventDefinition/></bpmn:intermediateCatchEvent>
      <bpmn:intermediateCatchEvent id="wait_signal"><bpmn:signalEventDefinition/></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="wait_msg"/>
      <bpmn:sequenceFlow id="f1" sourceRef="wait_msg" targetRef="wait_signal"/>"""
    assert ids(process(body)) == {"wait_msg", "wait_signal"}


ALL_PROBLEMS = START + """
  <bpmn:exclusiveGateway id="g"/>
  <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
  <bpmn:sequenceFlow id="fa" sourceRef="g" targetRef="u1">
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${x &gt;}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="u2"/>
  <bpmn:sequenceFlow id="fc" sourceRef="g" targetRef="nowhere"/>
  <bpmn:sequenceFlow id="fd" sourceRef="g" targetRef="u1"><bpmn:conditionExpression/></bpmn:sequenceFlow>
  <bpmn:userTask id="u1" camunda:assignee="${}"/>
  <bpmn:userTask id="u2" camunda:candidateGroups="${g +}" camunda:dueDate="PT1D">
    <bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>1 +</bpmn:loopCardinality>
      <bpmn:completionCondition>done ==</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="t1" attachedToRef="u2"><bpmn:timerEventDefinition>
    <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1X</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="t2" attachedToRef="u2"><bpmn:timerEventDefinition>
    <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">days +</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
  <bpmn:scriptTask id="sc"><bpmn:script>while True: pass</bpmn:script></bpmn:scriptTask>
  <bpmn:serviceTask id="sv" camunda:class="com.example.Delegate"/>
  <bpmn:serviceTask id="sv2" camunda:type="external" camunda:topic="notify.users">
    <bpmn:extensionElements><camunda:inputOutput>
      <camunda:inputParameter name="colour">${a +}</camunda:inputParameter>
    </camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>
  <bpmn:intermediateCatchEvent id="m"><bpmn:signalEventDefinition/></bpmn:intermediateCatchEvent>
  <bpmn:businessRuleTask id="br"/>
"""
# English words that would show a label or sentence left untranslated in a Chinese message.
_ENGLISH_WORDS = ("condition", "assignee", "candidate", "due date", "timer", "expression", "script",
                  "parameter", "operation", "gateway", "flow", "signal", "business", "not ", " is ")


def test_every_problem_is_in_chinese_in_a_chinese_request(app, fake_ops):
    from flask_babel import force_locale

    found = {}
    for locale in ("en", "zh_CN"):
        with app.test_request_context(), force_locale(locale):
            found[locale] = sorted(problems(process(ALL_PROBLEMS)))
    assert [i for i, _ in found["en"]] == [i for i, _ in found["zh_CN"]]
    assert {i for i, _ in found["zh_CN"]} == {"fa", "fb", "fc", "fd", "u1", "u2", "t1", "t2", "sc", "sv", "sv2", "m", "br"}
    for (element, english), (_, chinese) in zip(found["en"], found["zh_CN"]):
        assert chinese != english, element
        assert not [w for w in _ENGLISH_WORDS if w in chinese], (element, chinese)
    zh = dict(found["zh_CN"])
    assert zh["fd"] == "条件为空"
    assert zh["u1"] == "办理人 '${}'：表达式为空"
    assert zh["fc"] == "顺序流的目标元素“nowhere”不存在"


SUBPROCESS_WITHOUT_START = START + """<bpmn:subProcess id="sp"/>
  <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="sp"/>"""


def test_spiffworkflow_parser_errors_keep_their_detail_in_a_translated_frame(app):
    from flask_babel import force_locale

    [(element, english)] = problems(process(SUBPROCESS_WITHOUT_START))  # no request: English
    assert element == "sp"
    assert english.startswith("the diagram could not be parsed: Exactly one start event is required")
    assert not english.endswith(". ")  # SpiffWorkflow's str() appends ". " and its notes
    with app.test_request_context(), force_locale("zh_CN"):
        [(element, chinese)] = problems(process(SUBPROCESS_WITHOUT_START))
    assert chinese == "无法解析流程图：" + english.split(": ", 1)[1]


def test_the_parsers_own_refusals_are_not_framed(app):
    from flask_babel import force_locale

    body = START + """<bpmn:userTask id="u" camunda:assignee="a">
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="xs" camunda:elementVariable="1x"/>
      </bpmn:userTask><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>"""
    assert problems(process(body)) == {
        ("u", "invalid element variable '1x': use letters, digits and _ (not starting with a digit)")}
    with app.test_request_context(), force_locale("zh_CN"):
        assert problems(process(body)) == {("u", "元素变量 '1x' 无效：只能用字母、数字和 _，且不能以数字开头")}


def test_a_chain_of_steps_too_long_to_parse_is_said_in_words(app):
    """2,000 steps in a row: "无法解析流程图：RecursionError('maximum recursion depth exceeded…')"."""
    chain = "".join(f'<bpmn:manualTask id="t{i}"/><bpmn:sequenceFlow id="f{i}" sourceRef="{f"t{i - 1}" if i else "s"}" '
                    f'targetRef="t{i}"/>' for i in range(2000))
    body = chain + '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="fe" sourceRef="t1999" targetRef="e"/>'
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        said = {message for _element, message in problems(process(START.replace(
            "<bpmn:outgoing>f0</bpmn:outgoing>", "") + body))}
    assert len(said) == 1 and "RecursionError" not in said.pop()


def test_an_event_without_a_type_is_told_to_become_a_timer(app):
    """Dropped from the palette, a boundary event showed the parser's NotImplementedError."""
    body = START + """<bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/><bpmn:userTask id="u" camunda:candidateGroups="g"/>
      <bpmn:boundaryEvent id="b" attachedToRef="u"/>
      <bpmn:intermediateCatchEvent id="w"/>
      <bpmn:sequenceFlow id="f1" sourceRef="u" targetRef="w"/>"""
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        said = problems(process(body))
    assert {element for element, _message in said} == {"b", "w"}
    assert all("定时" in message and "NotImplemented" not in message for _element, message in said)


def test_elements_that_deployed_and_then_stood_still_are_refused():
    """An event-based gateway waited with its timers never armed, a timer start event started
    nothing by itself and ran twice when started by hand, a call activity passed the check and
    not the deploy, an error boundary on a script task never fired."""
    body = START + """<bpmn:eventBasedGateway id="race"/>
      <bpmn:callActivity id="call" calledElement="other"/>
      <bpmn:scriptTask id="calc"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:boundaryEvent id="calc_err" attachedToRef=" calc"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>
      <bpmn:startEvent id="every_day"><bpmn:timerEventDefinition>
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R2/PT1M</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="race"/>
      <bpmn:sequenceFlow id="f1" sourceRef="race" targetRef="call"/>
      <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="calc"/>
      <bpmn:sequenceFlow id="f3" sourceRef="every_day" targetRef="calc"/>"""
    found = problems(process(body))
    assert {element_id for element_id, _ in found} == {"race", "call", "calc_err", "every_day"}
    said = dict(found)
    assert "event-based" in said["race"] and "embedded subprocess" in said["call"]
    assert "timer" in said["every_day"] and "never fires" in said["calc_err"]


def test_a_timer_starting_an_event_subprocess_is_still_fine():
    body = START + """<bpmn:userTask id="u" camunda:assignee="admin"/>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>
      <bpmn:subProcess id="reminders" triggeredByEvent="true">
        <bpmn:startEvent id="tick" isInterrupting="false"><bpmn:timerEventDefinition>
          <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
          <bpmn:outgoing>r1</bpmn:outgoing></bpmn:startEvent>
        <bpmn:endEvent id="tock"/><bpmn:sequenceFlow id="r1" sourceRef="tick" targetRef="tock"/>
      </bpmn:subProcess>"""
    assert validate_diagram(process(body))[0] == "p"


def test_what_the_engine_would_skip_without_a_word_is_refused():
    """Deployed from Camunda Modeler: a link throw ended the process (the catch's path never
    ran), a compensation throw did nothing, listeners' scripts, a script task's parameters and
    its result variable were skipped. An escalation, which runs, is still fine."""
    body = START + """<bpmn:intermediateThrowEvent id="goto"><bpmn:linkEventDefinition name="A"/></bpmn:intermediateThrowEvent>
      <bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="A"/></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="goto"/>
      <bpmn:sequenceFlow id="f1" sourceRef="land" targetRef="calc"/>
      <bpmn:scriptTask id="calc" camunda:resultVariable="total"><bpmn:extensionElements>
          <camunda:inputOutput><camunda:inputParameter name="rate">3</camunda:inputParameter></camunda:inputOutput>
          <camunda:executionListener event="end"><camunda:script scriptFormat="python">y = 5</camunda:script>
          </camunda:executionListener></bpmn:extensionElements>
        <bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="review"/>
      <bpmn:userTask id="review" camunda:assignee="manager"><bpmn:extensionElements>
        <camunda:taskListener event="create" class="com.acme.Notify"/></bpmn:extensionElements></bpmn:userTask>
      <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="undo"/>
      <bpmn:intermediateThrowEvent id="undo"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>
      <bpmn:sequenceFlow id="f4" sourceRef="undo" targetRef="up"/>
      <bpmn:intermediateThrowEvent id="up"><bpmn:escalationEventDefinition/></bpmn:intermediateThrowEvent>"""
    said: dict[str, list[str]] = {}
    for element_id, message in problems(process(body)):
        said.setdefault(element_id, []).append(message)
    assert set(said) == {"goto", "land", "calc", "review", "undo"}
    assert all("link events" in m for m in said["goto"] + said["land"]) and "compensation" in said["undo"][0]
    assert {m.split(":")[0] for m in said["calc"]} == {
        "Camunda listeners do not run here", "input/output parameters are read only on service tasks",
        "a script task's result variable is not set here"}
    assert said["review"] == ["Camunda listeners do not run here: draw their work as a script task or a service "
                              "task on the flow"]
