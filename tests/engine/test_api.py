"""The workflow API: deploy, versions, start, view, retry, terminate (API.md "Workflows")."""
import pytest

from app.engine import operations
from app.engine.product_operations import register_product_operations

from .support import CUSTOMER_REPORT

XML = CUSTOMER_REPORT.read_bytes()
CUSTOMER = {"customer_id": 9, "name": "泉州二号", "province": "福建", "industry": "制造", "reporter": "sales1", "owner": "sales1"}


@pytest.fixture
def engine_app(app, database_url):
    """The app with the engine registered (also before app/__init__.py registers it)."""
    if "engine_api" in app.blueprints:
        return app
    from app import create_app
    from app.engine import init_app

    other = create_app(dict(app.config))
    init_app(other)
    return other


@pytest.fixture
def call(engine_app, demo_people, fake_ops):
    operations.unregister_operation("notify.users")
    register_product_operations()
    client = engine_app.test_client()
    tokens = {}

    def as_user(username):
        if username not in tokens:
            r = client.post("/api/v1/tokens", json={"username": username, "password": "demo1234"})
            assert r.status_code == 201
            tokens[username] = r.get_json()["token"]

        def request(method, path, **kw):
            kw.setdefault("headers", {})["Authorization"] = f"Bearer {tokens[username]}"
            return client.open(path, method=method, **kw)
        return request
    return as_user


def deploy(call, xml=XML, user="admin", language=None):
    headers = {"Accept-Language": language} if language else {}
    return call(user)("POST", "/api/v1/processes", data=xml, content_type="application/xml", headers=headers)


def test_deploy_list_xml_and_rollback(call):
    r = deploy(call)
    assert (r.status_code, r.get_json()) == (201, {"key": "customer_report", "version": 1})
    # The current diagram again (a pipeline deploying on every push): no identical version 2.
    again = deploy(call)
    assert (again.status_code, again.get_json()) == (200, {"key": "customer_report", "version": 1})
    changed = XML.replace(b"</bpmn:definitions>", b"<!-- v2 --></bpmn:definitions>")
    assert changed != XML and deploy(call, changed).get_json()["version"] == 2
    listing = call("sales1")("GET", "/api/v1/processes?current=true").get_json()
    assert [(i["key"], i["version"], i["is_current"]) for i in listing["items"]] == [("customer_report", 2, True)]
    r = call("admin")("POST", "/api/v1/processes/customer_report/versions/1/current")
    assert r.status_code == 200 and r.get_json()["version"] == 1
    xml = call("sales1")("GET", "/api/v1/processes/customer_report/xml?version=2")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and xml.data == changed
    assert call("sales1")("GET", "/api/v1/processes/nope/xml").status_code == 404


def test_deploy_needs_designer_and_valid_xml(call):
    assert deploy(call, user="sales1").status_code == 403
    r = deploy(call, xml=b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_diagram"
    r = deploy(call, xml=XML.replace(b'camunda:candidateGroups="${approver_group}" ', b"", 1), language="en")
    assert r.status_code == 400
    assert r.get_json()["error"]["details"] == [
        {"element_id": "Task_fujian_review", "message": "user task has no assignee and no candidate users or groups"}]
    assert deploy(call, xml=b"").status_code == 400
    r = call("admin")("POST", "/api/v1/processes", data=b"<a/>" + b" " * (6 * 1024 * 1024),
                      content_type="application/xml")
    assert r.status_code == 413
    assert call("admin")("GET", "/api/v1/processes").get_json()["total"] == 0


def test_start_view_and_visibility(call):
    deploy(call)
    r = call("sales1")("POST", "/api/v1/process-instances", json={"process_key": "customer_report", "data": CUSTOMER})
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "running" and body["process_version"] == 1
    [task] = body["active_tasks"]
    assert task["candidate_groups"] == ["fujian-heads"] and task["name"] == "福建区域负责人审批"
    assert [h["event"] for h in body["history"]] == ["started", "task_created"]
    assert call("fj_head")("GET", f"/api/v1/process-instances/{body['id']}").status_code == 200
    assert call("sales2")("GET", f"/api/v1/process-instances/{body['id']}").status_code == 404
    bad = call("sales1")("POST", "/api/v1/process-instances",
                         json={"process_key": "customer_report", "data": {"x": {"typename": "BpmnWorkflow"}}})
    assert bad.status_code == 400
    missing = call("sales1")("POST", "/api/v1/process-instances", json={"process_key": "nope"},
                             headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 404 and missing.get_json()["error"]["message"] == "未部署流程 nope。"


def test_error_retry_and_terminate(call, fake_ops, engine_app):
    from sqlalchemy import select

    from app.engine import services
    from app.engine.models import HumanTask
    from app.extensions import db

    deploy(call)
    started = call("sales1")("POST", "/api/v1/process-instances",
                             json={"process_key": "customer_report", "data": CUSTOMER}).get_json()
    fake_ops.fail_status = True
    from app.auth.models import User
    with engine_app.app_context():  # the inbox API (not the engine's) completes tasks
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == started["id"]))
        services.complete(task.id, admin, {"decision": "approve"})
        db.session.remove()
    view = call("admin")("GET", f"/api/v1/process-instances/{started['id']}").get_json()
    assert view["status"] == "error" and view["error"]["element_id"] == "Task_mark_approved"
    assert call("sales1")("POST", f"/api/v1/process-instances/{started['id']}/retry", json={}).status_code == 403
    fake_ops.fail_status = False
    r = call("admin")("POST", f"/api/v1/process-instances/{started['id']}/retry", json={})
    assert r.status_code == 200 and r.get_json()["status"] == "completed"
    assert call("admin")("POST", f"/api/v1/process-instances/{started['id']}/terminate", json={}).status_code == 409
    other = call("sales1")("POST", "/api/v1/process-instances",
                           json={"process_key": "customer_report", "data": CUSTOMER}).get_json()
    r = call("admin")("POST", f"/api/v1/process-instances/{other['id']}/terminate", json={"comment": "重复"})
    assert r.status_code == 200 and r.get_json()["status"] == "terminated" and r.get_json()["active_tasks"] == []


def test_deploy_as_multipart_file(call):
    import io

    r = call("admin")("POST", "/api/v1/processes", data={"file": (io.BytesIO(XML), "customer_report.bpmn")},
                      content_type="multipart/form-data")
    assert r.status_code == 201 and r.get_json() == {"key": "customer_report", "version": 1}


# A diagram with one problem of each kind the designer shows most: a gateway flow without a
# condition, a condition that does not compile, a timer that is not ISO-8601, an unknown operation.
BROKEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="d" targetNamespace="x">
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:exclusiveGateway id="g"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
    <bpmn:sequenceFlow id="fa" sourceRef="g" targetRef="u">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${amount &gt;}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="sv"/>
    <bpmn:userTask id="u" camunda:assignee="admin"/>
    <bpmn:boundaryEvent id="t" attachedToRef="u"><bpmn:timerEventDefinition>
      <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1X</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:serviceTask id="sv" camunda:type="external" camunda:topic="crm.no_such_op"/>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="u" targetRef="e"/>
    <bpmn:sequenceFlow id="f2" sourceRef="sv" targetRef="e"/>
    <bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""
DOCTYPE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'


def _refusal(response):
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    return error["message"], {d["element_id"]: d["message"] for d in error["details"]}


@pytest.mark.parametrize("language", ["zh-CN", None])  # no header: the product's default, Chinese
def test_deploy_problems_are_in_chinese(call, language):
    message, found = _refusal(deploy(call, xml=BROKEN, language=language))
    assert message == "流程图无法部署。"
    assert set(found) == {"fa", "fb", "t", "sv"}
    assert found["fb"] == "从网关流出的顺序流需要条件，或须设为该网关的默认流"
    # The label ("condition") is translated too; only Python's own detail stays as it is.
    assert found["fa"].startswith("条件 '${amount >}'：语法错误：") and found["fa"].endswith("（第 1 行）")
    assert found["t"] == "定时器 'P1X' 不是有效的 ISO-8601 时长（天数写作 P1D，小时写作 PT1H）"
    assert found["sv"].startswith("未知操作“crm.no_such_op”（可用的操作：crm.")
    message, found = _refusal(deploy(call, xml=DOCTYPE, language=language))
    assert found == {None: "不允许 DOCTYPE 和实体（ENTITY）声明"}


def test_deploy_problems_are_in_english_when_asked(call):
    message, found = _refusal(deploy(call, xml=BROKEN, language="en"))
    assert message == "The diagram cannot be deployed."
    assert found["fb"] == "flow leaving a gateway needs a condition or must be the gateway's default"
    assert found["fa"].startswith("condition '${amount >}': syntax error: ") and found["fa"].endswith(" (line 1)")
    assert found["t"] == "timer 'P1X' is not a valid ISO-8601 duration (days are P1D, hours PT1H)"
    assert found["sv"].startswith("unknown operation 'crm.no_such_op' (known: crm.")
    assert _refusal(deploy(call, xml=DOCTYPE, language="en"))[1] == {
        None: "DOCTYPE and entity declarations are not allowed"}


def test_the_users_language_setting_wins_over_the_browser(call, engine_app):
    from sqlalchemy import update

    from app.auth.models import User
    from app.extensions import db

    with engine_app.app_context():
        db.session.execute(update(User).where(User.username == "admin").values(locale="zh_CN"))
        db.session.commit()
        db.session.remove()
    found = _refusal(deploy(call, xml=BROKEN, language="en"))[1]
    assert found["t"] == "定时器 'P1X' 不是有效的 ISO-8601 时长（天数写作 P1D，小时写作 PT1H）"


STARTED_BY_MANAGERS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="budget_review" name="预算复核" isExecutable="true" camunda:candidateStarterGroups="sales-managers">
    <bpmn:startEvent id="Start_1" />
    <bpmn:sequenceFlow id="f0" sourceRef="Start_1" targetRef="Task_1" />
    <bpmn:userTask id="Task_1" name="复核" camunda:assignee="manager" />
    <bpmn:sequenceFlow id="f1" sourceRef="Task_1" targetRef="End_1" />
    <bpmn:endEvent id="End_1" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_a_process_naming_its_starters_is_started_by_them_only(call):
    """Any salesperson could start any deployed process, and so give other people tasks."""
    assert deploy(call, STARTED_BY_MANAGERS).status_code == 201
    body = {"process_key": "budget_review", "data": {"amount": 1}}
    refused = call("sales1")("POST", "/api/v1/process-instances", json=body)
    assert refused.status_code == 403 and "sales-managers" in refused.get_json()["error"]["message"]
    assert call("manager")("POST", "/api/v1/process-instances", json=body).status_code == 201  # in the group
    assert call("admin")("POST", "/api/v1/process-instances", json=body).status_code == 201
