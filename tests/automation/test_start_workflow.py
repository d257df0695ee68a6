"""The "start a workflow" action against the real engine."""
import pytest
from sqlalchemy import select

from app.api.errors import ApiError
from app.automation.models import RuleRun
from app.engine.models import ProcessInstance
from app.extensions import db

# A one-task review process: enough to see the rule start it for the record.
REVIEW = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="big_customer_review" name="大客户复核" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:userTask id="review" name="复核" camunda:candidateGroups="sales-managers">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_rule_starts_the_deployed_process_for_the_record(crm, make_rule, user):
    from app.engine import services as engine

    with pytest.raises(ApiError) as refused:
        make_rule(name="未部署", entity="customer", event="created",
                  actions=[{"type": "start_workflow", "process_key": "big_customer_review"}])
    assert "未知流程 big_customer_review" in refused.value.details[0]["message"]
    db.session.rollback()
    engine.deploy(REVIEW, actor=user("admin"))
    make_rule(name="报备", entity="customer", event="created",
              actions=[{"type": "start_workflow", "process_key": "big_customer_review",
                        "mapping": {"name": "name", "province": "province", "industry": "industry",
                                    "registered_capital": "registered_capital"}}])
    customer = crm.create("customer", {"name": "流程客户", "province": "福建", "registered_capital": "100"},
                          user("sales1"))
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.record_id == customer.id))
    assert instance is not None and instance.process_key == "big_customer_review" and instance.record_type == "customer"
    run = db.session.scalar(select(RuleRun).where(RuleRun.rule_name == "报备"))
    assert run.outcome == "matched" and run.actions[0]["result"]["instance_id"] == instance.id
    assert run.actions[0]["plan"]["data"]["name"] == "流程客户"


def test_a_process_that_stops_with_an_error_at_once_fails_the_action(crm, make_rule, user):
    """The rule passes no data, the diagram's first gateway reads ``province``: the run says so
    (and the rule's author hears of it) instead of "done" beside an instance in error."""
    from app.engine import services as engine
    from app.notifications.models import Notification

    routed = REVIEW.replace('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />',
                            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route" />'
                            '<bpmn:exclusiveGateway id="route" default="f0"><bpmn:incoming>f1</bpmn:incoming>'
                            '<bpmn:outgoing>f0</bpmn:outgoing><bpmn:outgoing>fx</bpmn:outgoing></bpmn:exclusiveGateway>'
                            '<bpmn:sequenceFlow id="f0" sourceRef="route" targetRef="review" />'
                            '<bpmn:sequenceFlow id="fx" sourceRef="route" targetRef="end">'
                            '<bpmn:conditionExpression>${province.startswith("福")}</bpmn:conditionExpression>'
                            '</bpmn:sequenceFlow>')
    engine.deploy(routed, actor=user("admin"))
    make_rule(name="空映射", entity="customer", event="created",
              actions=[{"type": "start_workflow", "process_key": "big_customer_review"}])
    customer = crm.create("customer", {"name": "照常保存的客户"}, user("sales1"))
    assert customer.id is not None  # the save goes on
    run = db.session.scalar(select(RuleRun).where(RuleRun.rule_name == "空映射"))
    assert run.outcome == "failed" and run.actions[0]["status"] == "failed"
    assert "big_customer_review" in run.error and "province" in run.error
    assert db.session.scalar(select(ProcessInstance).where(ProcessInstance.record_id == customer.id)) is None
    notice = db.session.scalar(select(Notification).where(Notification.user_id == user("admin").id))
    assert notice is not None and "空映射" in notice.text


def test_a_report_a_rule_starts_puts_the_customer_in_reporting(app, crm, make_rule, user):
    """Started by a rule, the customer report ran while the customer said 未报备 (its binding
    says 报备中); a process that decides nothing about the record leaves its status alone."""
    from pathlib import Path

    import app.crm as crm_module
    from app.engine import services as engine
    from app.engine.product_operations import register_product_operations

    crm_module._register_operations()
    register_product_operations()
    engine.deploy((Path(app.root_path).parent / "bpmn" / "customer_report.bpmn").read_bytes(), actor=user("admin"))
    engine.deploy(REVIEW, actor=user("admin"))
    for process in ("customer_report", "big_customer_review"):
        make_rule(name=process, entity="customer", event="updated",
                  condition={"field": "province", "op": "changed_to", "value": "福建"},
                  actions=[{"type": "start_workflow", "process_key": process,
                            "mapping": {"name": "name", "province": "province", "industry": "industry",
                                        "customer_id": "id", "reporter": "owner", "owner": "owner"}}])
    customer = crm.create("customer", {"name": "迁入客户", "province": "广东", "industry": "制造"}, user("sales1"))
    assert customer.report_status == "none"
    crm.update(customer, {"province": "福建"}, user("sales1"))
    started = {i.process_key for i in db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.record_id == customer.id))}
    assert started == {"customer_report", "big_customer_review"}
    assert db.session.get(type(customer), customer.id).report_status == "pending"


def test_a_rule_with_no_mapping_starts_the_process_with_the_record_s_fields(app, crm, make_rule, user):
    """Left empty, the mapping passed nothing: the customer report stopped at once with "name
    'province' is not defined", where its embedded start passes the record's fields."""
    from pathlib import Path

    import app.crm as crm_module
    from app.engine import services as engine
    from app.engine.models import HumanTask
    from app.engine.product_operations import register_product_operations

    crm_module._register_operations()
    register_product_operations()
    engine.deploy((Path(app.root_path).parent / "bpmn" / "customer_report.bpmn").read_bytes(), actor=user("admin"))
    make_rule(name="医疗客户报备", entity="customer", event="updated",
              condition={"field": "industry", "op": "changed_to", "value": "医疗"},
              actions=[{"type": "start_workflow", "process_key": "customer_report"}])
    customer = crm.create("customer", {"name": "莆田医疗", "province": "福建", "industry": "软件"}, user("sales1"))
    crm.update(customer, {"industry": "医疗"}, user("sales1"))
    # (The report it starts marks the customer 报备中: an update the rule then finds not to match.)
    run = db.session.scalars(select(RuleRun).where(RuleRun.rule_name == "医疗客户报备").order_by(RuleRun.id)).first()
    assert run.outcome == "matched", run.error
    data = run.actions[0]["plan"]["data"]
    assert (data["province"], data["industry"], data["customer_id"], data["owner"]) == ("福建", "医疗", customer.id,
                                                                                        "sales1")
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.record_id == customer.id))
    assert instance.status == "running"
    assert db.session.scalar(select(HumanTask.name).where(HumanTask.instance_id == instance.id))


def test_a_rule_does_not_start_a_second_approval_and_a_chain_s_start_is_the_owner_s(crm, make_rule, user):
    """Class changed to A started a second review beside the running one (two tasks for one
    customer); a rule set off by another rule started it for nobody, so the salesperson never
    saw it in their submissions."""
    from app.engine import services as engine

    engine.deploy(REVIEW, actor=user("admin"))
    make_rule(name="A类复核", entity="customer", event="updated",
              condition={"field": "customer_class", "op": "changed_to", "value": "A"},
              actions=[{"type": "start_workflow", "process_key": "big_customer_review"}])
    make_rule(name="大额即A类", entity="customer", event="created",
              condition={"field": "registered_capital", "op": "gt", "value": 1000000},
              actions=[{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value", "value": "A"}]}])
    customer = crm.create("customer", {"name": "链式客户", "registered_capital": "5000000"}, user("sales1"))
    [instance] = db.session.scalars(select(ProcessInstance).where(ProcessInstance.record_id == customer.id)).all()
    assert instance.started_by_id == user("sales1").id and instance.data["reporter"] == "sales1"
    crm.update(customer, {"customer_class": "B"}, user("sales1"))
    crm.update(customer, {"customer_class": "A"}, user("sales1"))
    assert db.session.scalars(select(ProcessInstance.id).where(ProcessInstance.record_id == customer.id)).all() \
        == [instance.id]
    last = db.session.scalars(select(RuleRun).where(RuleRun.rule_name == "A类复核").order_by(RuleRun.id.desc())).first()
    assert last.actions[0]["status"] == "skipped"
    assert last.actions[0]["plan"]["skipped"] == f"此记录的流程 #{instance.id} 正在运行。"
