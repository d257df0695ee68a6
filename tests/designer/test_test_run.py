"""Test runs: the draft runs on the engine in a sandbox; operations are recorded, not run."""
import pytest

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="trial" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" />
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Review" />
    <bpmn:userTask id="Review" name="经理审批" camunda:candidateGroups="sales-managers" camunda:formKey="customer_report" />
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Gw" />
    <bpmn:exclusiveGateway id="Gw" default="f_no" />
    <bpmn:sequenceFlow id="f_yes" sourceRef="Gw" targetRef="Mark">
      <bpmn:conditionExpression>${decision == 'approve'}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="Gw" targetRef="EndRejected" />
    <bpmn:serviceTask id="Mark" name="报备通过" camunda:type="external" camunda:topic="crm.set_report_status">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="customer_id">${customer_id}</camunda:inputParameter>
        <camunda:inputParameter name="status">approved</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Mark" targetRef="EndApproved" />
    <bpmn:endEvent id="EndApproved" />
    <bpmn:endEvent id="EndRejected" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def admin(api_as):
    return api_as("admin")


def test_test_run_records_operations_without_running_them(admin, app):
    customer = admin.post("/api/v1/customers", json={"name": "测试客户", "province": "福建"})
    assert customer.status_code == 201, customer.get_json()
    customer_id = customer.get_json()["id"]
    admin.post("/api/v1/designer/drafts", json={"xml": DIAGRAM})

    started = admin.post("/api/v1/designer/drafts/trial/test-runs", json={"data": {"customer_id": customer_id}})
    assert started.status_code == 201, started.get_json()
    run = started.get_json()
    assert run["status"] == "running"
    [task] = run["user_tasks"]
    assert task["bpmn_id"] == "Review" and task["candidate_groups"] == ["sales-managers"]
    assert task["fields"] == ["decision", "comment"]

    # The admin is not in sales-managers, yet completes the task: anyone may in a test run.
    done = admin.post(f"/api/v1/designer/test-runs/{run['id']}/tasks/{task['id']}/complete",
                      json={"data": {"decision": "approve", "comment": "ok"}})
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert result["status"] == "completed" and result["user_tasks"] == []
    [call] = [e for e in result["log"] if e["event"] == "operation"]
    assert call["operation"] == "crm.set_report_status"
    assert call["params"] == {"customer_id": customer_id, "status": "approved"}

    # Nothing happened to the CRM record, and no real instance or inbox task exists.
    assert admin.get(f"/api/v1/customers/{customer_id}").get_json()["report_status"] == "none"
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db
    with app.app_context():
        assert db.session.query(ProcessInstance).count() == 0
        assert db.session.query(HumanTask).count() == 0

    again = admin.post(f"/api/v1/designer/test-runs/{run['id']}/tasks/{task['id']}/complete", json={"data": {}})
    assert again.status_code == 409
    assert admin.delete(f"/api/v1/designer/test-runs/{run['id']}").status_code == 204
    assert admin.get(f"/api/v1/designer/test-runs/{run['id']}").status_code == 404


def test_test_run_refuses_unknown_fields_and_broken_diagrams(admin, api_as):
    admin.post("/api/v1/designer/drafts", json={"xml": DIAGRAM})
    run = admin.post("/api/v1/designer/drafts/trial/test-runs", json={"data": {"customer_id": 1}}).get_json()
    task = run["user_tasks"][0]
    bad = admin.post(f"/api/v1/designer/test-runs/{run['id']}/tasks/{task['id']}/complete",
                     json={"data": {"salary": 1}})
    assert bad.status_code == 400

    broken = DIAGRAM.replace('camunda:candidateGroups="sales-managers" ', "").replace('id="trial"', 'id="trial2"')
    admin.post("/api/v1/designer/drafts", json={"xml": broken})
    refused = admin.post("/api/v1/designer/drafts/trial2/test-runs", json={})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"][0]["element_id"] == "Review"

    # Test runs are for designers only.
    assert api_as("sales1").get(f"/api/v1/designer/test-runs/{run['id']}").status_code == 403


def test_a_test_run_words_its_errors_as_the_real_engine_does(admin):
    # No default flow, and "maybe" fits neither condition: the designer reads what to fix.
    no_default = DIAGRAM.replace(' default="f_no"', ' name="是否同意"').replace(
        '<bpmn:sequenceFlow id="f_no" sourceRef="Gw" targetRef="EndRejected" />',
        '<bpmn:sequenceFlow id="f_no" sourceRef="Gw" targetRef="EndRejected">'
        "<bpmn:conditionExpression>${decision == 'reject'}</bpmn:conditionExpression></bpmn:sequenceFlow>")
    assert admin.post("/api/v1/designer/drafts", json={"xml": no_default}).status_code in (200, 201)
    run = admin.post("/api/v1/designer/drafts/trial/test-runs", json={"data": {"customer_id": 1}}).get_json()
    task = run["user_tasks"][0]
    result = admin.post(f"/api/v1/designer/test-runs/{run['id']}/tasks/{task['id']}/complete",
                        json={"data": {"decision": "maybe"}}).get_json()
    assert result["status"] == "error"
    said = "“是否同意”的出口条件都不成立，且没有默认流：请把一条流设为默认流，或修正数据后重试。"
    assert result["error"]["error_type"] == "no_path" and result["error"]["message"] == said
    assert [e["message"] for e in result["log"] if e["event"] == "error"] == [said]


def test_a_test_run_of_a_review_loop_waits_for_both_reviews_every_round(admin):
    """The test run never pruned its finished steps, so round two's join counted round one's
    arrivals and fired early: a designer concluded the process was broken, though deployed it
    waited as it should."""
    from tests.engine.test_pruning import PARALLEL_ROUNDS

    xml = PARALLEL_ROUNDS.replace('id="parallel_rounds"', 'id="review_rounds"').replace(
        ' camunda:formKey="legal"', "").replace(' camunda:formKey="finance"', "")
    assert admin.post("/api/v1/designer/drafts", json={"xml": xml}).status_code == 201
    run = admin.post("/api/v1/designer/drafts/review_rounds/test-runs", json={"data": {"rounds": 0}}).get_json()

    def complete(step):
        nonlocal run
        [task] = [t for t in run["user_tasks"] if t["bpmn_id"] == step]
        done = admin.post(f"/api/v1/designer/test-runs/{run['id']}/tasks/{task['id']}/complete", json={"data": {}})
        assert done.status_code == 200, done.get_json()
        run = done.get_json()
        return sorted(t["bpmn_id"] for t in run["user_tasks"])

    assert complete("finance") == ["legal"]
    assert complete("legal") == ["finance", "legal"]  # round two
    assert complete("legal") == ["finance"]  # the other way round now: still waits for finance
    assert complete("finance") == ["finance", "legal"]  # round three
