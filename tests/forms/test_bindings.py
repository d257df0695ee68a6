"""Embedded processes: a CRM action starts a process with the form's embedded fields."""
from pathlib import Path

import pytest
from sqlalchemy import select

from app.api.errors import ApiError
from app.auth.models import User
from app.crm import services as crm
from app.engine import services as engine
from app.engine.models import HumanTask, ProcessInstance
from app.engine.product_operations import register_product_operations
from app.extensions import db
from app.forms import bindings
from app.forms import services as forms
from app.forms.models import BindingRun, FormBinding

ROOT = Path(__file__).resolve().parents[2]
FUJIAN = {"name": "厦门海沧医疗器械有限公司", "province": "福建", "city": "厦门", "industry": "医疗",
          "registered_capital": "12000000.00", "customer_class": "A", "phone": "0592-5550123",
          "credit_code": "91350200MA2Y0000XD", "source": "展会"}

# Start → a service task that changes the same customer (emits customer.updated) → a user task.
STATUS_ON_START = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs" targetNamespace="http://example.com/crm">
  <bpmn:process id="status_on_start" name="改状态" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="Pending" name="报备中" camunda:type="external" camunda:topic="crm.set_report_status">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="customer_id">${customer_id}</camunda:inputParameter>
        <camunda:inputParameter name="status">pending</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="Review" name="审核" camunda:candidateGroups="sales-managers" camunda:formKey="customer_report">
      <bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Pending" />
    <bpmn:sequenceFlow id="F2" sourceRef="Pending" targetRef="Review" />
    <bpmn:sequenceFlow id="F3" sourceRef="Review" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>"""


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


@pytest.fixture
def env(ctx, demo_people):
    register_product_operations()  # notify.users, used by the shipped diagram's reminders
    engine.deploy((ROOT / "bpmn" / "customer_report.bpmn").read_bytes())
    forms.load_shipped_forms()
    db.session.commit()


def bind(**over):
    data = {"name": "新增客户 → 客户报备", "entity": "customer", "event": "created", "process_key": "customer_report",
            "form_key": "customer_report", "mapping": [], **over}
    binding = bindings.save_binding(data, actor=user("admin"))
    db.session.commit()
    return binding


def instances_of(record):
    return list(db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.record_type == record.entity, ProcessInstance.record_id == record.id)))


def test_customer_created_starts_the_report_with_embedded_fields(env):
    bind(mapping=[{"field": "source", "to": "lead_source"}])
    customer = crm.create("customer", FUJIAN, user("sales1"))
    [instance] = instances_of(customer)
    assert instance.process_key == "customer_report" and instance.status == "running"
    data = instance.data
    assert {k: data[k] for k in ("record_type", "record_id", "customer_id", "reporter")} == {
        "record_type": "customer", "record_id": customer.id, "customer_id": customer.id, "reporter": "sales1"}
    assert (data["name"], data["province"], data["registered_capital"], data["owner"], data["lead_source"]) == (
        FUJIAN["name"], "福建", 12000000, "sales1", "展会")
    [task] = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
    assert (task.candidate_groups, task.form_key) == (["fujian-heads"], "customer_report")
    [run] = bindings.runs_for_record("customer", customer.id)
    assert (run.outcome, run.instance_id) == ("started", instance.id)
    assert customer.report_status == "none"  # this binding does not mark reports pending


def test_a_report_binding_marks_the_customer_pending_until_decided(env):
    bind(report_pending=True)
    customer = crm.create("customer", FUJIAN, user("sales1"))
    assert customer.report_status == "pending"
    [instance] = instances_of(customer)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    engine.claim(task.id, user("fj_head"))
    engine.complete(task.id, user("fj_head"), {"decision": "reject", "comment": "撞单"})
    db.session.refresh(customer)
    assert customer.report_status == "rejected"
    with pytest.raises(ApiError):
        bind(entity="opportunity", event="won", report_pending=True)


def test_the_value_at_start_stays_and_the_difference_shows(env):
    bind()
    customer = crm.create("customer", FUJIAN, user("sales1"))
    [instance] = instances_of(customer)
    schema = forms.get_form("customer_report").schema
    crm.update(customer, {"registered_capital": "5000000"}, user("sales1"))
    db.session.refresh(instance)
    assert instance.data["registered_capital"] == 12000000
    assert forms.embedded_diff(schema, instance.data, customer, "customer") == {"registered_capital": (12000000, 5000000)}


def test_approving_through_the_form_sets_the_report_status(env):
    bind()
    customer = crm.create("customer", FUJIAN, user("sales1"))
    [instance] = instances_of(customer)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    schema = forms.form_for_task(task.form_key).schema
    clean, errors = forms.validate_submission(schema, {"decision": "reject", "province": "广东"})
    assert set(errors) == {"comment"}  # refused: the task stays open
    clean, errors = forms.validate_submission(schema, {"decision": "approve", "comment": "资料齐全", "typename": "x"})
    assert errors == {} and clean == {"decision": "approve", "comment": "资料齐全"}
    # A manager handed the customer over meanwhile: the process's owner followed, so the approver
    # saw the new owner, and approving confirms them (客户归属) instead of undoing the hand-over.
    crm.assign_owner(customer, "sales2", user("admin"), "test")
    db.session.refresh(instance)
    assert instance.data["owner"] == "sales2"
    engine.claim(task.id, user("fj_head"))
    engine.complete(task.id, user("fj_head"), clean)
    db.session.refresh(customer)
    assert customer.report_status == "approved"
    assert customer.owner.username == "sales2"


def test_condition_decides(env):
    bind(condition={"field": "province", "op": "contains", "value": "福建"})
    guangdong = crm.create("customer", dict(FUJIAN, name="广州一号", province="广东"), user("sales1"))
    fujian = crm.create("customer", dict(FUJIAN, name="福州一号"), user("sales1"))
    assert instances_of(guangdong) == [] and len(instances_of(fujian)) == 1
    assert bindings.runs_for_record("customer", guangdong.id)[0].outcome == "not_matched"


def test_updates_do_not_start_a_second_one_while_running(env):
    bind(event="updated")
    customer = crm.create("customer", FUJIAN, user("sales1"))
    assert instances_of(customer) == []
    crm.update(customer, {"phone": "0592-1"}, user("sales1"))
    crm.update(customer, {"phone": "0592-2"}, user("sales1"))
    assert len(instances_of(customer)) == 1
    outcomes = [r.outcome for r in bindings.runs_for_record("customer", customer.id)]
    assert outcomes == ["skipped", "started"]


def test_a_process_changing_its_own_record_does_not_restart_itself(env):
    engine.deploy(STATUS_ON_START)
    bind(event="updated", process_key="status_on_start", skip_if_running=False)
    customer = crm.create("customer", FUJIAN, user("sales1"))
    crm.update(customer, {"phone": "0592-1"}, user("sales1"))
    assert len(instances_of(customer)) == 1
    assert customer.report_status == "pending"


def test_a_mapping_broken_after_saving_is_logged_and_the_record_kept(env):
    crm.save_custom_field(None, entity="customer", key="tier", label="等级", type="text", choices=[],
                          required=False, actor=user("admin"))
    db.session.commit()
    bind(mapping=[{"field": "custom.tier", "to": "tier"}])
    definition = crm.custom_field_defs("customer")[0]
    with pytest.raises(crm.ApiError) as refused:  # the product refuses while the binding maps it ...
        crm.delete_custom_field(definition, actor=user("admin"))
    assert refused.value.code == "field_in_use"
    db.session.delete(definition)  # ... so it went behind the product's back (SQL, an older version)
    db.session.commit()
    customer = crm.create("customer", FUJIAN, user("sales1"))
    assert customer.id is not None and instances_of(customer) == []
    [run] = bindings.runs_for_record("customer", customer.id)
    assert run.outcome == "failed" and "custom.tier" in run.message
    from app.notifications.models import Notification
    assert db.session.scalar(select(Notification).where(Notification.user_id == user("admin").id)) is not None


def test_an_engine_failure_at_start_is_rolled_back_to_a_savepoint(env, monkeypatch):
    bind()

    def refuse(*args, **kwargs):
        db.session.add(ProcessInstance(definition_id=1, process_key="half", status="running", state="", data={}))
        db.session.flush()
        raise RuntimeError("engine unavailable")

    monkeypatch.setattr(engine, "start_instance", refuse)
    customer = crm.create("customer", FUJIAN, user("sales1"))
    db.session.commit()
    assert db.session.get(type(customer), customer.id) is not None
    assert db.session.scalar(select(ProcessInstance).where(ProcessInstance.process_key == "half")) is None
    assert bindings.runs_for_record("customer", customer.id)[0].message == "engine unavailable"


def test_a_process_stuck_right_after_starting_is_a_failed_run(env):
    """No form, no mapping: the shipped report's route reads ``province``, which nothing passes."""
    bind(form_key=None)
    customer = crm.create("customer", FUJIAN, user("sales1"))
    db.session.commit()
    assert customer.id is not None and instances_of(customer) == []
    [run] = bindings.runs_for_record("customer", customer.id)
    assert run.outcome == "failed" and "customer_report" in run.message and "province" in run.message


@pytest.mark.parametrize("over, field", [
    ({"process_key": "nope"}, "process_key"),
    ({"form_key": "nope"}, "form_key"),
    ({"entity": "invoice"}, "entity"),
    ({"event": "exploded"}, "event"),
    ({"event": "won"}, "event"),  # customers are never won
    ({"name": " "}, "name"),
    ({"mapping": [{"field": "shoe_size", "to": "x"}]}, "mapping.0.field"),
    ({"mapping": [{"field": "city", "to": "typename"}]}, "mapping.0.to"),
    ({"mapping": [{"field": "city", "to": "customer_id"}]}, "mapping.0.to"),
    ({"mapping": [{"field": "city", "to": "a"}, {"field": "phone", "to": "a"}]}, "mapping.1.to"),
    ({"mapping": ["city"]}, "mapping.0"),
    ({"condition": {"field": "shoe_size", "op": "eq", "value": 1}}, "condition"),
])
def test_mapping_errors_are_caught_when_saving(env, over, field):
    with pytest.raises(ApiError) as refused:
        bind(**over)
    assert refused.value.status == 400
    assert any(d["field"].startswith(field) for d in refused.value.details), refused.value.details
    assert db.session.scalar(select(FormBinding)) is None


def test_a_form_showing_fields_the_record_cannot_provide_is_refused(env):
    schema = {"components": [{"type": "number", "key": "amount", "properties": {"crm_field": "contract.amount"}}]}
    forms.save_form("contract_review", "合同审批", schema)
    with pytest.raises(ApiError) as refused:
        bind(form_key="contract_review")
    assert refused.value.details[0]["field"] == "form_key"
    # An opportunity reaches its customer: the customer report form works for opportunity.won.
    assert bind(entity="opportunity", event="won").id


def test_demo_binding_and_sample_report_are_idempotent(env):
    for _ in range(2):
        bindings.bind_shipped_processes()
        bindings.demo_report()
        db.session.commit()
    [customer] = db.session.scalars(select(crm.MODELS["customer"])).all()
    assert customer.report_status == "pending" and len(instances_of(customer)) == 1
    [binding] = db.session.scalars(select(FormBinding)).all()
    assert (binding.action, binding.process_key, binding.form_key, binding.report_pending) == (
        "customer.created", "customer_report", "customer_report", True)


def test_the_demo_sends_new_contracts_to_approval_when_that_process_is_deployed(env):
    engine.deploy((ROOT / "bpmn" / "contract_approval.bpmn").read_bytes())
    for _ in range(2):
        bindings.bind_shipped_processes()
        db.session.commit()
    assert sorted((b.action, b.process_key, b.report_pending) for b in db.session.scalars(select(FormBinding))) == [
        ("contract.created", "contract_approval", True), ("customer.created", "customer_report", True)]
    customer = crm.create("customer", {"name": "厦门鹭江医疗器械有限公司"}, user("sales1"))
    contract = crm.create("contract", {"customer_id": customer.id, "title": "影像设备采购合同", "amount": "80000"},
                          user("sales1"))
    assert contract.approval_status == "pending" and len(instances_of(contract)) == 1


def test_works_without_a_request_like_flask_demo_and_the_worker(app, demo_people):
    """No request means no locale selector: the demo step and an event in the worker still work."""
    with app.app_context():
        register_product_operations()
        engine.deploy((ROOT / "bpmn" / "customer_report.bpmn").read_bytes())
        forms.load_shipped_forms()
        bindings.bind_shipped_processes()
        db.session.commit()
        customer = crm.create("customer", FUJIAN, user("sales1"))
        assert [r.outcome for r in bindings.runs_for_record("customer", customer.id)] == ["started"]
        db.session.remove()


def test_actions_are_named_in_the_reader_s_language_and_punctuation(app):
    from flask_babel import force_locale

    from app.forms.bindings import actions

    with app.test_request_context():
        with force_locale("en"):
            assert {"action": "opportunity.created", "label": "Opportunity: created"}.items() <= \
                next(a for a in actions() if a["action"] == "opportunity.created").items()
        with force_locale("zh_CN"):
            assert next(a for a in actions() if a["action"] == "opportunity.created")["label"] == "销售机会：新增"
