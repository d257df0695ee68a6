"""The designer's draft API: create, save with optimistic locking, autosave, checks, deploy."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRAFTS = "/api/v1/designer/drafts"

APPROVAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{key}" name="审批" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" />
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Review" />
    <bpmn:userTask id="Review" name="Review" {assign} />
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="EndEvent_1" />
    <bpmn:endEvent id="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""


def approval(key="approval", assign='camunda:candidateGroups="sales-managers"'):
    return APPROVAL.format(key=key, assign=assign)


@pytest.fixture
def admin(api_as):
    return api_as("admin")


def test_a_name_with_control_characters_is_refused(admin):
    response = admin.post(DRAFTS, json={"key": "approval", "name": "审批\u000e"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["details"][0]["field"] == "name"


def test_blank_draft_save_and_stale_version(admin):
    created = admin.post(DRAFTS, json={"key": "approval", "name": "审批"})
    assert created.status_code == 201, created.get_json()
    draft = created.get_json()
    assert draft["key"] == "approval" and 'id="approval"' in draft["xml"] and draft["version"] == 1
    assert 'name="审批"' in draft["xml"] and draft["name"] == "审批"

    saved = admin.patch(f"{DRAFTS}/approval", json={"xml": approval(), "version": 1})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["version"] == 2 and saved.get_json()["has_changes"] is True

    # A second editor still holding version 1 cannot overwrite the newer draft.
    stale = admin.patch(f"{DRAFTS}/approval", json={"xml": approval(assign=""), "version": 1})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    assert admin.get(f"{DRAFTS}/approval").get_json()["xml"] == approval()


def test_autosave_is_recorded_and_survives_reopening(admin):
    admin.post(DRAFTS, json={"key": "approval"})
    saved = admin.patch(f"{DRAFTS}/approval", json={"xml": approval(), "version": 1, "autosave": True})
    assert saved.status_code == 200
    assert saved.get_json()["autosaved_at"] is not None
    again = admin.get(f"{DRAFTS}/approval").get_json()
    assert again["xml"] == approval() and again["version"] == 2


def test_save_refuses_a_changed_process_id_and_bad_xml(admin):
    admin.post(DRAFTS, json={"key": "approval"})
    other = admin.patch(f"{DRAFTS}/approval", json={"xml": approval(key="other"), "version": 1})
    assert other.status_code == 400
    broken = admin.patch(f"{DRAFTS}/approval", json={"xml": "<bpmn:definitions", "version": 1})
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "invalid_diagram"


def test_the_check_refuses_what_the_deploy_refuses_two_executable_processes(admin):
    """The check said nothing, the deploy then refused "more than one executable process"."""
    one = approval()
    two = one.replace("</bpmn:definitions>", '<bpmn:process id="helper" isExecutable="true">'
                      '<bpmn:startEvent id="hs"><bpmn:outgoing>hf</bpmn:outgoing></bpmn:startEvent>'
                      '<bpmn:endEvent id="he"><bpmn:incoming>hf</bpmn:incoming></bpmn:endEvent>'
                      '<bpmn:sequenceFlow id="hf" sourceRef="hs" targetRef="he"/></bpmn:process></bpmn:definitions>')
    problems = admin.post("/api/v1/designer/check?key=approval", json={"xml": two}).get_json()["problems"]
    assert [p["message"] for p in problems] == ["可执行流程不止一个：approval, helper"]
    assert admin.post("/api/v1/designer/check?key=approval", json={"xml": one}).get_json()["problems"] == []


def test_deploy_is_refused_with_element_problems_then_succeeds(admin):
    admin.post(DRAFTS, json={"key": "approval"})
    admin.patch(f"{DRAFTS}/approval", json={"xml": approval(assign=""), "version": 1})
    check = admin.post("/api/v1/designer/check?key=approval", json={"xml": approval(assign="")})
    assert any(p["element_id"] == "Review" for p in check.get_json()["problems"])

    refused = admin.post(f"{DRAFTS}/approval/deploy", json={})
    assert refused.status_code == 400
    # No language asked for: the product's default, Chinese (the engine's messages are translated).
    assert {"element_id": "Review", "message": "用户任务没有办理人，也没有候选用户或候选组"} \
        in refused.get_json()["error"]["details"]
    english = admin.post(f"{DRAFTS}/approval/deploy", json={}, headers={"Accept-Language": "en"})
    assert {"element_id": "Review", "message": "user task has no assignee and no candidate users or groups"} \
        in english.get_json()["error"]["details"]
    assert admin.get("/api/v1/designer/processes").get_json()["items"][0]["current_version"] is None
    # A form that does not exist: the approver would get no form (and no decision to read).
    unknown_form = approval(assign='camunda:candidateGroups="sales-managers" camunda:formKey="nosuch_form"')
    check = admin.post("/api/v1/designer/check?key=approval", json={"xml": unknown_form}).get_json()["problems"]
    assert [p["element_id"] for p in check] == ["Review"] and "nosuch_form" in check[0]["message"]
    with_fields = unknown_form.replace('formKey="nosuch_form" />', 'formKey="nosuch_form"><bpmn:extensionElements>'
                                       '<camunda:formData><camunda:formField id="ok" type="boolean"/></camunda:formData>'
                                       '</bpmn:extensionElements></bpmn:userTask>')
    assert admin.post("/api/v1/designer/check?key=approval", json={"xml": with_fields}).get_json()["problems"] == []
    # People who do not exist or have left: the task would wait in nobody's inbox.
    admin.patch("/api/v1/users/sales2", json={"active": False})
    nobody = approval(assign='camunda:assignee="nobody_xyz" camunda:candidateUsers="sales2, manager" '
                             'camunda:candidateGroups="no-such-group,sales-managers"')
    messages = [p["message"] for p in admin.post("/api/v1/designer/check?key=approval",
                                                 json={"xml": nobody}).get_json()["problems"]]
    assert messages == ["用户“nobody_xyz”不存在", "用户“sales2”已停用：请选择其他人", "用户组“no-such-group”不存在"]
    at_run_time = approval(assign='camunda:assignee="${owner}" camunda:candidateGroups="${approver_group}"')
    assert admin.post("/api/v1/designer/check?key=approval", json={"xml": at_run_time}).get_json()["problems"] == []

    version = admin.get(f"{DRAFTS}/approval").get_json()["version"]
    admin.patch(f"{DRAFTS}/approval", json={"xml": approval(), "version": version})
    deployed = admin.post(f"{DRAFTS}/approval/deploy", json={})
    assert deployed.status_code == 201, deployed.get_json()
    assert deployed.get_json() == {"key": "approval", "version": 1, "left_behind": []}
    row = admin.get("/api/v1/designer/processes").get_json()["items"][0]
    assert row["current_version"] == 1 and row["draft"]["has_changes"] is False
    versions = admin.get("/api/v1/designer/processes/approval/versions").get_json()["items"]
    assert versions[0]["version"] == 1 and versions[0]["deployed_by"] == "admin"
    # Deploy clicked twice (or again with nothing changed): not a second identical version.
    again = admin.post(f"{DRAFTS}/approval/deploy", json={}, headers={"Accept-Language": "en"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_deployed"
    assert "deployed already, as version 1" in again.get_json()["error"]["message"]
    assert len(admin.get("/api/v1/designer/processes/approval/versions").get_json()["items"]) == 1


def test_discarding_a_draft(admin):
    admin.post(DRAFTS, json={"key": "approval"})
    admin.patch(f"{DRAFTS}/approval", json={"xml": approval(), "version": 1})
    admin.post(f"{DRAFTS}/approval/deploy", json={})
    version = admin.get(f"{DRAFTS}/approval").get_json()["version"]
    admin.patch(f"{DRAFTS}/approval", json={"xml": approval(assign=""), "version": version})
    assert admin.delete(f"{DRAFTS}/approval").status_code == 204
    # Reopening starts again from the deployed version, with nothing to deploy.
    reopened = admin.get(f"{DRAFTS}/approval").get_json()
    assert reopened["xml"] == approval() and reopened["has_changes"] is False and reopened["base_version"] == 1

    admin.post(DRAFTS, json={"key": "never_deployed"})
    assert admin.delete(f"{DRAFTS}/never_deployed").status_code == 204
    assert admin.get(f"{DRAFTS}/never_deployed").status_code == 404
    assert [r["key"] for r in admin.get("/api/v1/designer/processes").get_json()["items"]] == ["approval"]


@pytest.mark.parametrize("template", ["customer_report", "contract_approval"])
def test_every_shipped_template_deploys_as_a_new_process(app, admin, template):
    """What a designer gets from 新建 → 模板 passes the server's checks and deploys unchanged."""
    from app.extensions import db
    from app.forms.services import load_shipped_forms

    with app.app_context():
        load_shipped_forms()  # the forms the templates' tasks name
        db.session.commit()
    created = admin.post(DRAFTS, json={"key": f"my_{template}", "template": template})
    assert created.status_code == 201, created.get_json()
    deployed = admin.post(f"{DRAFTS}/my_{template}/deploy", json={})
    assert deployed.status_code == 201 and deployed.get_json()["version"] == 1, deployed.get_json()


def test_templates_copies_and_imports(admin):
    assert {"name": "customer_report", "title": "客户报备"} in admin.get("/api/v1/designer/templates").get_json()["items"]
    from_template = admin.post(DRAFTS, json={"key": "report2", "template": "customer_report"})
    assert from_template.status_code == 201
    assert 'id="report2"' in from_template.get_json()["xml"]
    assert 'bpmnElement="report2"' in from_template.get_json()["xml"]
    assert admin.post(DRAFTS, json={"key": "report2"}).status_code == 409

    copy = admin.post(DRAFTS, json={"key": "report3", "copy_of": "report2"})
    assert copy.status_code == 201 and 'id="report3"' in copy.get_json()["xml"]
    assert copy.get_json()["name"] == "客户报备（副本）"  # not a second 客户报备 in the lists

    imported = admin.post(DRAFTS, json={"xml": approval(key="imported_one")})
    assert imported.status_code == 201 and imported.get_json()["key"] == "imported_one"
    assert admin.post(DRAFTS, json={"xml": "<!DOCTYPE x><x/>"}).status_code == 400
    assert admin.post(DRAFTS, json={"key": "1bad key"}).status_code == 400


def test_only_designers(api_as):
    sales = api_as("sales1")
    assert sales.get("/api/v1/designer/processes").status_code == 403
    assert sales.post(DRAFTS, json={"key": "x"}).status_code == 403
    # The operation registry is readable by anyone logged in (service-task picker).
    ops = sales.get("/api/v1/engine/operations", headers={"Accept-Language": "en"})
    assert ops.status_code == 200 and isinstance(ops.get_json()["items"], list)
    by_name = {op["name"]: op for op in ops.get_json()["items"]}
    assert by_name["notify.users"]["labels"]["message"] == "Message"  # what the designer shows beside "message"
    # What a parameter may be, offered to pick: the records' fields, once each, with their types.
    fields = {o["value"]: o["label"] for o in by_name["crm.update_record"]["suggestions"]["field"]}
    assert fields["amount"] == "Amount · Opportunity, Contract" and fields["province"] == "Province · Customer"
    assert "created_at" not in fields  # read-only fields cannot be set
    statuses = [o["value"] for o in by_name["crm.set_report_status"]["suggestions"]["status"]]
    assert statuses == ["none", "pending", "approved", "rejected"]


def test_versions_rollback_compare_and_export(admin, client, app):
    admin.post(DRAFTS, json={"key": "approval"})
    admin.patch(f"{DRAFTS}/approval", json={"xml": approval(), "version": 1})
    assert admin.post(f"{DRAFTS}/approval/deploy", json={}).get_json()["version"] == 1
    version = admin.get(f"{DRAFTS}/approval").get_json()["version"]
    v2_xml = approval().replace('name="Review"', 'name="复核"')
    admin.patch(f"{DRAFTS}/approval", json={"xml": v2_xml, "version": version})
    # A deploy with a stale draft version is refused rather than deploying unseen changes.
    assert admin.post(f"{DRAFTS}/approval/deploy", json={"version": version}).status_code == 409
    assert admin.post(f"{DRAFTS}/approval/deploy", json={"version": version + 1}).get_json()["version"] == 2

    versions = admin.get("/api/v1/designer/processes/approval/versions").get_json()["items"]
    assert [(v["version"], v["is_current"]) for v in versions] == [(2, True), (1, False)]
    assert admin.get("/api/v1/designer/processes/approval/versions/2").get_json()["xml"] == v2_xml
    assert admin.get("/api/v1/designer/processes/approval/versions/9").status_code == 404
    assert admin.get("/api/v1/designer/processes/approval/versions/99999999999999").status_code == 404
    assert admin.get("/api/v1/designer/test-runs/99999999999999").status_code == 404
    assert admin.post("/api/v1/designer/processes/approval/rollback", json={"version": 2**40}).status_code == 400

    assert admin.post("/api/v1/designer/processes/approval/rollback", json={"version": 1}).status_code == 200
    versions = admin.get("/api/v1/designer/processes/approval/versions").get_json()["items"]
    assert [(v["version"], v["is_current"]) for v in versions] == [(2, False), (1, True)]
    assert admin.post("/api/v1/designer/processes/approval/rollback", json={"version": 7}).status_code == 404

    # Pages: compare shows the changed line, export downloads a .bpmn file.
    client.post("/login", data={"username": "admin", "password": "demo1234"})
    page = client.get("/designer/approval/versions?a=1&b=2").get_data(as_text=True)
    assert "<title>审批 · 版本" in page  # by the process's name, its key beside it
    assert 'class="add">+    &lt;bpmn:userTask id=&#34;Review&#34; name=&#34;复核&#34;' in page
    export = client.get("/designer/approval/export?version=1")
    assert export.headers["Content-Disposition"] == 'attachment; filename="approval_v1.bpmn"'
    assert export.get_data(as_text=True) == approval()
    assert client.get("/designer/nope").status_code == 404
    listing = client.get("/designer/").get_data(as_text=True)  # templates by their processes' names
    assert '<option value="contract_approval">模板: 合同审批</option>' in listing
    modeler = client.get("/designer/approval").get_data(as_text=True)
    assert '"Saved": "已保存"' in modeler  # the modeler's status, not the forms list's "saved at" column
    rolled = client.post("/designer/approval/versions/2/rollback")
    assert rolled.status_code == 302
    from app.engine import services as engine
    with app.app_context():
        assert engine.get_definition("approval").version == 2


def test_a_condition_is_offered_every_record_type_s_fields(app, demo_people):
    # Not only the customer report's: an opportunity's amount, a contract's status, a custom field.
    from flask_babel import force_locale

    from app.crm import services as crm
    from app.designer.views import condition_fields
    from app.extensions import db

    with app.test_request_context(), force_locale("zh_CN"):
        crm.save_custom_field(None, entity="opportunity", key="discount", label="折扣", type="number", choices=[],
                              required=False, actor=None)
        db.session.commit()
        offered = {f["name"]: f["label"] for f in condition_fields()}
    assert offered["decision"] == "审批结果" and offered["owner"] == "负责人"
    assert offered["reporter"] == "提交人"  # who submitted a customer's report or a contract's approval
    assert offered["approval_status"] == "审批状态（合同）"
    assert offered["amount"] == "金额（销售机会、合同）" and offered["discount"] == "折扣（销售机会）"
    assert offered["province"] == "省份（客户）"


def test_a_process_started_from_customers_is_offered_customers_fields(app, demo_flow):
    """The customer report's condition builder offered 46 fields of four record types (amount,
    stage, invoice …), none of which it is ever started with."""
    from flask_babel import force_locale

    from app.designer.views import condition_fields

    with app.test_request_context(), force_locale("zh_CN"):
        offered = {f["name"]: f["label"] for f in condition_fields("customer_report")}
    assert offered["province"] == "省份" and offered["decision"] == "审批结果"
    assert "invoice_title" not in offered and "stage" not in offered


def test_the_check_hints_at_a_condition_reading_a_variable_nothing_gives_the_process(api_as, demo_flow):
    """amout for amount: deployable (an API call may start it with more), but said before it stops
    a real approval at that gateway."""
    from pathlib import Path

    xml = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text()
    admin = api_as("admin")
    clean = admin.post("/api/v1/designer/check?key=customer_report", json={"xml": xml}).get_json()
    assert clean == {"problems": [], "hints": []}  # every variable it reads comes from its forms or its binding
    typo = xml.replace("${decision == 'approve'}", "${decison == 'approve'}")
    assert typo != xml
    said = admin.post("/api/v1/designer/check?key=customer_report", json={"xml": typo}).get_json()
    assert said["problems"] == []
    [hint] = said["hints"]
    assert "decison" in hint["message"] and hint["element_id"]


def test_the_check_hints_at_a_gateway_whose_conditions_may_all_fail(api_as, demo_flow):
    """"> 15" and "< 5" with no default deployed without a word; a discount of 10 stopped there."""
    from pathlib import Path

    xml = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text()
    admin = api_as("admin")
    rejected = '<bpmn:sequenceFlow id="Flow_rejected" name="驳回" sourceRef="Gateway_decision" targetRef="Task_mark_rejected" />'
    assert rejected in xml
    all_conditional = xml.replace('name="审批结果" default="Flow_rejected"', 'name="审批结果"').replace(
        rejected, rejected[:-3] + '><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        "${decision == 'reject'}</bpmn:conditionExpression></bpmn:sequenceFlow>")
    said = admin.post("/api/v1/designer/check?key=customer_report", json={"xml": all_conditional}).get_json()
    assert said["problems"] == []
    [hint] = said["hints"]
    assert hint["element_id"] == "Gateway_decision" and "默认" in hint["message"]
    # A way without a condition is enough, as a default is.
    no_default = xml.replace('name="审批结果" default="Flow_rejected"', 'name="审批结果"')
    assert admin.post("/api/v1/designer/check?key=customer_report", json={"xml": no_default}).get_json()["hints"] == []
    assert admin.post("/api/v1/designer/check?key=customer_report", json={"xml": xml}).get_json()["hints"] == []


def test_the_check_hints_at_a_group_a_script_routes_to_that_does_not_exist(api_as, demo_flow):
    """A new company without medical-reviewers deployed the shipped report; its medical
    customers' reports would have waited in nobody's inbox."""
    from pathlib import Path

    xml = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text()
    admin = api_as("admin")
    assert admin.post("/api/v1/designer/check?key=customer_report", json={"xml": xml}).get_json()["hints"] == []
    renamed = xml.replace("approver_group = 'medical-reviewers'", "approver_group = 'medical-review'")
    said = admin.post("/api/v1/designer/check?key=customer_report", json={"xml": renamed}).get_json()
    assert said["problems"] == []
    # Only the step the medical route leads to: the Fujian and the managers' steps have groups
    # of their own (each blamed for every script's group, a new company saw 9 hints).
    [hint] = said["hints"]
    assert hint["element_id"] == "Task_medical_review"
    assert "medical-review”" in hint["message"] and "approver_group" in hint["message"]


def test_a_step_without_a_form_in_a_process_a_binding_starts_is_checked_not_a_500(api_as, demo_flow):
    """The variable check read the form of every step, and a step without one made it a 500
    that greyed out Deploy."""
    from pathlib import Path

    xml = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text()
    formless = xml.replace('camunda:formKey="customer_report" camunda:candidateGroups="${approver_group}" '
                           'camunda:dueDate="P3D">', 'camunda:candidateGroups="${approver_group}" camunda:dueDate="P3D">', 1)
    assert formless != xml
    checked = api_as("admin").post("/api/v1/designer/check?key=customer_report", json={"xml": formless})
    assert checked.status_code == 200, checked.get_json()
    assert checked.get_json()["problems"] == []


def test_a_timer_written_in_words_is_hinted_at_as_a_variable_nothing_gives(api_as, demo_flow):
    """三天 passed the check and deploy, then every new report stopped with an error."""
    from pathlib import Path

    xml = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text()
    worded = xml.replace('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1D</bpmn:timeDuration>',
                         '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">三天</bpmn:timeDuration>', 1)
    assert worded != xml
    said = api_as("admin").post("/api/v1/designer/check?key=customer_report", json={"xml": worded}).get_json()
    assert said["problems"] == []
    [hint] = said["hints"]
    assert hint["element_id"].startswith("Timer_") and "三天" in hint["message"] and "P3D" in hint["message"]


def test_a_condition_comparing_a_choice_with_its_label_is_hinted_at(api_as, demo_flow):
    """The approver picks 同意报备, the form stores approve: ``decision == '同意报备'`` passed the
    check and sent every approval down the default way (驳回)."""
    from pathlib import Path

    xml = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text()
    by_label = xml.replace("${decision == 'approve'}", "${decision == '同意报备'}")
    assert by_label != xml
    said = api_as("admin").post("/api/v1/designer/check?key=customer_report", json={"xml": by_label}).get_json()
    assert said["problems"] == []
    [hint] = said["hints"]
    assert hint["element_id"] == "Flow_approved"
    assert "同意报备" in hint["message"] and "approve" in hint["message"] and "reject" in hint["message"]


def test_the_check_follows_each_script_forward_once_and_looks_each_group_up_once(app, demo_people, monkeypatch):
    """10,000 steps offered to ${approver_group} behind one gateway: the check walked back from
    every step and looked the group up for each (107 s of CPU for one request)."""
    import app.auth.services as auth
    from app.designer.services import _people_set_by_scripts
    from app.engine.xml import load_xml

    steps = "".join(f'<bpmn:userTask id="t{i}" camunda:candidateGroups="${{approver_group}}"/>'
                    f'<bpmn:sequenceFlow id="a{i}" sourceRef="G" targetRef="t{i}"/>'
                    f'<bpmn:sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="G"/>' for i in range(300))
    xml = (APPROVAL.split("<bpmn:process")[0] + '<bpmn:process id="hub" isExecutable="true">'
           '<bpmn:scriptTask id="sc" scriptFormat="python"><bpmn:script>approver_group = "nope"</bpmn:script>'
           '</bpmn:scriptTask><bpmn:parallelGateway id="G"/><bpmn:sequenceFlow id="f" sourceRef="sc" targetRef="G"/>'
           + steps + "</bpmn:process></bpmn:definitions>")
    looked_up = []
    real = auth.get_group
    monkeypatch.setattr(auth, "get_group", lambda name: looked_up.append(name) or real(name))
    with app.test_request_context():
        hints = _people_set_by_scripts(load_xml(xml))
    assert len(hints) == 300 and looked_up == ["nope"]


def test_deploying_says_which_running_instances_wait_at_steps_it_removed(admin):
    admin.post(DRAFTS, json={"key": "approval"})
    admin.patch(f"{DRAFTS}/approval", json={"xml": approval(), "version": 1})
    admin.post(f"{DRAFTS}/approval/deploy", json={})
    started = admin.post("/api/v1/process-instances", json={"process_key": "approval", "data": {}})
    assert started.status_code == 201, started.get_json()
    renamed = approval().replace('id="Review" name="Review"', 'id="Check" name="Check"').replace(
        'targetRef="Review"', 'targetRef="Check"').replace('sourceRef="Review"', 'sourceRef="Check"')
    version = admin.get(f"{DRAFTS}/approval").get_json()["version"]
    admin.patch(f"{DRAFTS}/approval", json={"xml": renamed, "version": version})
    deployed = admin.post(f"{DRAFTS}/approval/deploy", json={})
    assert deployed.status_code == 201
    assert deployed.get_json()["left_behind"] == [{"step": "Review", "instances": 1}]


def test_a_file_of_a_process_that_exists_is_imported_as_its_next_version(admin):
    assert admin.post(DRAFTS, json={"xml": approval()}).status_code == 201
    assert admin.post(f"{DRAFTS}/approval/deploy", json={}).status_code == 201
    changed = approval(assign='camunda:candidateGroups="fujian-heads"')
    taken = admin.post(DRAFTS, json={"xml": changed})
    assert taken.status_code == 409 and taken.get_json()["error"]["details"] == [{"field": "key", "message": "approval"}]
    imported = admin.post(DRAFTS, json={"xml": changed, "as_next_version": True})
    assert imported.status_code == 201, imported.get_json()
    assert imported.get_json()["key"] == "approval" and "fujian-heads" in imported.get_json()["xml"]
    # Someone's undeployed work in the draft is not overwritten by the next import.
    refused = admin.post(DRAFTS, json={"xml": approval(), "as_next_version": True})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "draft_has_changes"
    deployed = admin.post(f"{DRAFTS}/approval/deploy", json={})
    assert deployed.status_code == 201 and deployed.get_json()["version"] == 2


def test_a_template_brings_its_forms_to_an_install_without_them(admin, app):
    from app.extensions import db
    from app.forms.models import FormDefinition

    with app.app_context():  # a fresh install: flask demo never loaded the shipped forms
        db.session.query(FormDefinition).delete()
        db.session.commit()
    made = admin.post(DRAFTS, json={"key": "contract_review", "template": "contract_approval"})
    assert made.status_code == 201, made.get_json()
    assert admin.get("/api/v1/forms/contract_approval").status_code == 200
    deployed = admin.post(f"{DRAFTS}/contract_review/deploy", json={})
    assert deployed.status_code == 201, deployed.get_json()  # before: 表单"contract_approval"不存在


def test_a_diagram_of_a_few_megabytes_is_saved_and_checked_as_a_deploy_takes_it(admin):
    """The API deploys up to 5 MB, the designer's saves and checks took 1 MB: a 2.8 MB process
    opened as one it could neither check, save nor deploy."""
    padding = "<bpmn:documentation>" + "审批说明。" * 180_000 + "</bpmn:documentation>"  # ~2.7 MB in UTF-8
    start = '<bpmn:startEvent id="StartEvent_1" />'
    big = approval().replace(start, padding + start, 1)
    assert big != approval() and len(big.encode()) > 2 * 1024 * 1024
    assert admin.post(DRAFTS, json={"key": "approval"}).status_code == 201
    saved = admin.patch(f"{DRAFTS}/approval", json={"xml": big, "version": 1})
    assert saved.status_code == 200, saved.get_json()
    checked = admin.post("/api/v1/designer/check?key=approval", json={"xml": big})
    assert checked.status_code == 200 and checked.get_json()["problems"] == []
    # Other JSON bodies keep their 1 MB.
    assert admin.post("/api/v1/groups", json={"name": "x", "display_name": "审" * 400_000}).status_code == 413
