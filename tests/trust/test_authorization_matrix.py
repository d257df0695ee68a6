"""Every API route × {anonymous, sales1, sales2, fj_head, manager, admin} → the expected status,
with real records behind the ids (sales1's customer reported to the Fujian heads, …).

A new route under /api/v1 without a row here fails ``test_every_api_route_is_in_the_matrix``.
Rows that change or delete something get a fresh target per caller, so every caller meets the
same situation. Statuses: anonymous, sales1, sales2, fj_head, manager, admin.
"""
from __future__ import annotations

import io

from tests.trust.conftest import USERS

SPEC_ENDPOINTS = {"openapi.spec", "openapi.docs"}  # public by design (the API description)

ANY = "401 200 200 200 200 200"          # every logged-in user (their own view of it)
OWNED = "401 200 404 404 200 200"        # sales1's record: owner, their manager, admins; others 404
OWNED_DEL = "401 204 404 404 204 204"
DESIGNERS = "401 403 403 403 403 200"    # admin holds the designer role; nobody else does
ADMINS = "401 403 403 403 403 200"
# Attaching to a customer one cannot see reads as "no such customer" (400 naming the field),
# the same answer as for an id that does not exist.
GROUP_MANAGERS = "401 403 403 403 200 200"  # the people report: group managers and admins
ON_OWNED = "401 201 400 400 201 201"


def _json(url, body=None):
    return {"url": url, "json": body if body is not None else {}}


def _upload(url, name, content: bytes, **fields):
    return {"url": url, "data": {"file": (io.BytesIO(content), name), **fields}, "content_type": "multipart/form-data"}


BPMN = (b'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
        b' id="D" targetNamespace="t"><bpmn:process id="trust_matrix" isExecutable="true"><bpmn:startEvent id="s">'
        b'<bpmn:outgoing>f</bpmn:outgoing></bpmn:startEvent><bpmn:endEvent id="e"><bpmn:incoming>f</bpmn:incoming>'
        b'</bpmn:endEvent><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/></bpmn:process></bpmn:definitions>')

# (method, rule): (expected statuses, how to call it given the world and the caller)
MATRIX = {
    # --- auth, people
    ("POST", "/api/v1/tokens"): ("201 201 201 201 201 201",
                                 lambda w, u: _json("/api/v1/tokens", {"username": "sales1", "password": "demo1234"})),
    ("DELETE", "/api/v1/tokens/current"): ("401 204 204 204 204 204",
                                           lambda w, u: {"url": "/api/v1/tokens/current", "token": u != "anonymous" and w.new_token(u)}),
    ("GET", "/api/v1/me"): (ANY, lambda w, u: _json("/api/v1/me")),
    ("GET", "/api/v1/session/csrf-token"): (ANY, lambda w, u: _json("/api/v1/session/csrf-token")),
    ("GET", "/api/v1/users"): (ANY, lambda w, u: _json("/api/v1/users")),
    ("POST", "/api/v1/users"): ("401 403 403 403 403 201", lambda w, u: _json("/api/v1/users", {
        "username": f"new_{u}", "password": "Strong-pass-42", "display_name": "新人", "roles": ["sales"]})),
    ("GET", "/api/v1/users/<username>"): (ANY, lambda w, u: _json("/api/v1/users/sales1")),
    ("PATCH", "/api/v1/users/<username>"): (ADMINS, lambda w, u: _json("/api/v1/users/sales2", {"display_name": "销售二"})),
    ("GET", "/api/v1/groups"): (ANY, lambda w, u: _json("/api/v1/groups")),
    ("POST", "/api/v1/groups"): ("401 403 403 403 403 201",
                                 lambda w, u: _json("/api/v1/groups", {"name": f"g-{u}", "display_name": "新组"})),
    ("GET", "/api/v1/groups/<name>"): (ANY, lambda w, u: _json("/api/v1/groups/sales")),
    ("PATCH", "/api/v1/groups/<name>"): (ADMINS, lambda w, u: _json("/api/v1/groups/sales", {"display_name": "销售部"})),
    ("GET", "/api/v1/audit-events"): (ADMINS, lambda w, u: _json("/api/v1/audit-events")),
    ("GET", "/api/v1/jobs"): (ADMINS, lambda w, u: _json("/api/v1/jobs")),
    ("GET", "/api/v1/jobs/backlog"): (ADMINS, lambda w, u: _json("/api/v1/jobs/backlog")),
    # No failed job in this world: the admin passes the check and meets a 404.
    ("POST", "/api/v1/jobs/<int:job_id>/retry"): ("401 403 403 403 403 404", lambda w, u: _json("/api/v1/jobs/999/retry")),
    ("POST", "/api/v1/users/<username>/hand-over"): (ADMINS, lambda w, u: _json(
        "/api/v1/users/med_reviewer/hand-over", {"to": "manager"})),
    # --- CRM records: sales2 and fj_head never reach sales1's; the manager of "sales" and admins do
    ("GET", "/api/v1/customers"): (ANY, lambda w, u: _json("/api/v1/customers")),
    ("POST", "/api/v1/customers"): ("401 201 201 201 201 201",
                                    lambda w, u: _json("/api/v1/customers", {"name": f"{u}的新客户有限公司"})),
    ("GET", "/api/v1/customers/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/customers/{w.customer}")),
    ("PATCH", "/api/v1/customers/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/customers/{w.customer}",
                                                                               {"phone": "0591-12345678"})),
    ("DELETE", "/api/v1/customers/<int:record_id>"): (OWNED_DEL,
                                                      lambda w, u: _json(f"/api/v1/customers/{w.new_customer()}")),
    ("GET", "/api/v1/customers/export.csv"): (ANY, lambda w, u: _json("/api/v1/customers/export.csv")),
    ("POST", "/api/v1/customers/import"): ("401 201 201 201 201 201", lambda w, u: _upload(
        "/api/v1/customers/import", "c.csv", f"name\n{u}导入的客户\n".encode())),
    ("GET", "/api/v1/customers/imports/<int:import_id>"): (
        "401 200 404 404 404 200", lambda w, u: _json(f"/api/v1/customers/imports/{w.import_id}")),
    ("GET", "/api/v1/activities"): (ANY, lambda w, u: _json("/api/v1/activities")),
    ("POST", "/api/v1/activities"): (ON_OWNED, lambda w, u: _json(
        "/api/v1/activities", {"customer_id": w.customer, "kind": "call", "content": "回访"})),
    ("GET", "/api/v1/activities/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/activities/{w.activity}")),
    ("PATCH", "/api/v1/activities/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/activities/{w.activity}",
                                                                                {"content": "改过"})),
    ("DELETE", "/api/v1/activities/<int:record_id>"): (OWNED_DEL, lambda w, u: _json(
        f"/api/v1/activities/{w.create('activity', customer_id=w.customer, kind='call', content='x')}")),
    ("GET", "/api/v1/opportunities"): (ANY, lambda w, u: _json("/api/v1/opportunities")),
    ("POST", "/api/v1/opportunities"): (ON_OWNED, lambda w, u: _json(
        "/api/v1/opportunities", {"customer_id": w.customer, "title": "新商机", "amount": 1})),
    ("GET", "/api/v1/opportunities/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/opportunities/{w.opportunity}")),
    ("PATCH", "/api/v1/opportunities/<int:record_id>"): (OWNED, lambda w, u: _json(
        f"/api/v1/opportunities/{w.opportunity}", {"amount": 2000})),
    ("DELETE", "/api/v1/opportunities/<int:record_id>"): (OWNED_DEL, lambda w, u: _json(
        f"/api/v1/opportunities/{w.new_opportunity()}")),
    ("POST", "/api/v1/opportunities/<int:record_id>/won"): (OWNED, lambda w, u: _json(
        f"/api/v1/opportunities/{w.new_opportunity()}/won")),
    ("POST", "/api/v1/opportunities/<int:record_id>/lost"): (OWNED, lambda w, u: _json(
        f"/api/v1/opportunities/{w.new_opportunity()}/lost", {"reason": "价格"})),
    ("POST", "/api/v1/opportunities/<int:record_id>/stage"): (OWNED, lambda w, u: _json(
        f"/api/v1/opportunities/{w.new_opportunity()}/stage", {"stage": "needs_confirmed"})),
    ("GET", "/api/v1/contracts"): (ANY, lambda w, u: _json("/api/v1/contracts")),
    ("POST", "/api/v1/contracts"): (ON_OWNED, lambda w, u: _json(
        "/api/v1/contracts", {"customer_id": w.customer, "title": "新合同", "amount": 1})),
    ("GET", "/api/v1/contracts/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/contracts/{w.contract}")),
    ("PATCH", "/api/v1/contracts/<int:record_id>"): (OWNED, lambda w, u: _json(f"/api/v1/contracts/{w.contract}",
                                                                               {"amount": 60000})),
    ("DELETE", "/api/v1/contracts/<int:record_id>"): (OWNED_DEL, lambda w, u: _json(
        f"/api/v1/contracts/{w.create('contract', customer_id=w.customer, title='删', amount=1)}")),
    ("GET", "/api/v1/records/<entity>/<int:record_id>/history"): (OWNED, lambda w, u: _json(
        f"/api/v1/records/customer/{w.customer}/history")),
    ("GET", "/api/v1/pipeline-stages"): (ANY, lambda w, u: _json("/api/v1/pipeline-stages")),
    ("GET", "/api/v1/record-fields/<entity>"): (ANY, lambda w, u: _json("/api/v1/record-fields/customer")),
    # --- processes and instances
    ("GET", "/api/v1/processes"): (ANY, lambda w, u: _json("/api/v1/processes")),
    ("POST", "/api/v1/processes"): ("401 403 403 403 403 201", lambda w, u: {
        "url": "/api/v1/processes", "data": BPMN, "content_type": "application/xml"}),
    ("GET", "/api/v1/processes/<key>/xml"): (ANY, lambda w, u: _json("/api/v1/processes/customer_report/xml")),
    ("POST", "/api/v1/processes/<key>/versions/<int:version>/current"): (
        DESIGNERS, lambda w, u: _json("/api/v1/processes/customer_report/versions/1/current")),
    ("POST", "/api/v1/process-instances"): ("401 201 201 201 201 201", lambda w, u: _json(
        "/api/v1/process-instances", {"process_key": "assigned_review", "data": {"approver": "sales1"}})),
    # manager: the manager of the group deciding it (may reassign its task), as its page shows it.
    ("GET", "/api/v1/process-instances/<int:instance_id>"): (
        "401 200 404 200 200 200", lambda w, u: _json(f"/api/v1/process-instances/{w.report_instance}")),
    ("POST", "/api/v1/process-instances/<int:instance_id>/suspend"): (ADMINS, lambda w, u: _json(
        f"/api/v1/process-instances/{w.new_report_task()[0]}/suspend")),
    ("POST", "/api/v1/process-instances/<int:instance_id>/resume"): (
        "401 403 403 403 403 409", lambda w, u: _json(f"/api/v1/process-instances/{w.report_instance}/resume")),
    ("POST", "/api/v1/process-instances/<int:instance_id>/terminate"): (ADMINS, lambda w, u: _json(
        f"/api/v1/process-instances/{w.new_report_task()[0]}/terminate", {"comment": "测试"})),
    ("POST", "/api/v1/process-instances/<int:instance_id>/retry"): (
        "401 403 403 403 403 409", lambda w, u: _json(f"/api/v1/process-instances/{w.report_instance}/retry")),
    # The report runs on the current version already: for an admin that is a refusal (409).
    ("POST", "/api/v1/process-instances/<int:instance_id>/migrate"): (
        "401 403 403 403 403 409", lambda w, u: _json(f"/api/v1/process-instances/{w.report_instance}/migrate")),
    ("GET", "/api/v1/engine/operations"): (ANY, lambda w, u: _json("/api/v1/engine/operations")),
    # --- inbox: the task is offered to fujian-heads; sales1 started it; manager manages that group
    ("GET", "/api/v1/tasks"): (ANY, lambda w, u: _json("/api/v1/tasks")),
    ("GET", "/api/v1/tasks/<int:task_id>"): ("401 200 404 200 200 200", lambda w, u: _json(f"/api/v1/tasks/{w.task}")),
    ("POST", "/api/v1/tasks/<int:task_id>/claim"): ("401 403 404 200 403 200", lambda w, u: _json(
        f"/api/v1/tasks/{w.new_report_task()[1]}/claim")),
    # taken by fj_head: they and an administrator may give it back
    ("POST", "/api/v1/tasks/<int:task_id>/unclaim"): ("401 403 404 200 403 200", lambda w, u: _json(
        f"/api/v1/tasks/{w.claimed_report_task()}/unclaim")),
    ("POST", "/api/v1/tasks/<int:task_id>/complete"): ("401 403 404 403 403 200", lambda w, u: _json(
        f"/api/v1/tasks/{w.new_report_task()[1]}/complete", {"data": {"decision": "approve", "comment": "同意"}})),
    ("POST", "/api/v1/tasks/<int:task_id>/draft"): ("401 403 404 403 403 200", lambda w, u: _json(
        f"/api/v1/tasks/{w.task}/draft", {"data": {"comment": "草稿"}})),
    ("POST", "/api/v1/tasks/<int:task_id>/comments"): ("401 201 404 201 201 201", lambda w, u: _json(
        f"/api/v1/tasks/{w.task}/comments", {"comment": "请尽快"})),
    ("POST", "/api/v1/tasks/<int:task_id>/delegate"): ("401 403 404 403 403 200", lambda w, u: _json(
        f"/api/v1/tasks/{w.new_report_task()[1]}/delegate", {"to": "med_reviewer"})),
    ("POST", "/api/v1/tasks/<int:task_id>/reassign"): ("401 403 404 403 200 200", lambda w, u: _json(
        f"/api/v1/tasks/{w.new_report_task()[1]}/reassign", {"to": "fj_head"})),
    # Like comments: whoever may see the task may add to its file; only the holder decides.
    ("POST", "/api/v1/tasks/<int:task_id>/attachments"): ("401 201 404 201 201 201", lambda w, u: _upload(
        f"/api/v1/tasks/{w.task}/attachments", "note.txt", b"note")),
    ("GET", "/api/v1/attachments/<int:attachment_id>"): ("401 200 404 200 200 200", lambda w, u: _json(
        f"/api/v1/attachments/{w.attachment}")),
    ("GET", "/api/v1/my-submissions"): (ANY, lambda w, u: _json("/api/v1/my-submissions")),
    # Those who take part in it (a candidate, the group's manager, admins) see it; sales2 does not.
    ("GET", "/api/v1/my-submissions/<int:instance_id>"): ("401 200 404 200 200 200", lambda w, u: _json(
        f"/api/v1/my-submissions/{w.report_instance}")),
    ("POST", "/api/v1/my-submissions/<int:instance_id>/withdraw"): ("401 200 404 403 403 403", lambda w, u: _json(
        f"/api/v1/my-submissions/{w.new_report_task()[0]}/withdraw")),
    ("GET", "/api/v1/out-of-office"): (ANY, lambda w, u: _json("/api/v1/out-of-office")),
    ("POST", "/api/v1/out-of-office"): ("401 201 201 201 201 201", lambda w, u: _json("/api/v1/out-of-office", {
        "substitute": "admin" if u != "admin" else "med_reviewer", "starts_on": "2099-01-01", "ends_on": "2099-01-02"})),
    ("DELETE", "/api/v1/out-of-office/<int:period_id>"): ("401 204 404 404 404 404", lambda w, u: _json(
        f"/api/v1/out-of-office/{w.away}")),
    ("GET", "/api/v1/operator/instances"): (ADMINS, lambda w, u: _json("/api/v1/operator/instances")),
    ("POST", "/api/v1/operator/instances/<int:instance_id>/suspend"): (ADMINS, lambda w, u: _json(
        f"/api/v1/operator/instances/{w.new_report_task()[0]}/suspend")),
    ("POST", "/api/v1/operator/instances/<int:instance_id>/resume"): ("401 403 403 403 403 409", lambda w, u: _json(
        f"/api/v1/operator/instances/{w.report_instance}/resume")),
    ("POST", "/api/v1/operator/instances/<int:instance_id>/terminate"): (ADMINS, lambda w, u: _json(
        f"/api/v1/operator/instances/{w.new_report_task()[0]}/terminate", {"reason": "测试"})),
    ("POST", "/api/v1/operator/instances/<int:instance_id>/retry"): ("401 403 403 403 403 409", lambda w, u: _json(
        f"/api/v1/operator/instances/{w.report_instance}/retry")),
    # --- notifications, live counts, to-dos
    ("GET", "/api/v1/notifications"): (ANY, lambda w, u: _json("/api/v1/notifications")),
    ("POST", "/api/v1/notifications/<int:notification_id>/read"): ("401 204 404 404 404 404", lambda w, u: _json(
        f"/api/v1/notifications/{w.notification}/read")),
    ("POST", "/api/v1/notifications/read-all"): ("401 204 204 204 204 204", lambda w, u: _json("/api/v1/notifications/read-all")),
    ("GET", "/api/v1/live-counts"): (ANY, lambda w, u: _json("/api/v1/live-counts")),
    ("GET", "/api/v1/todos"): (ANY, lambda w, u: _json("/api/v1/todos")),
    ("POST", "/api/v1/todos/<int:todo_id>/complete"): ("401 404 404 404 404 404", lambda w, u: _json(
        "/api/v1/todos/999999/complete")),
    # --- forms and bindings
    ("GET", "/api/v1/forms"): (ANY, lambda w, u: _json("/api/v1/forms")),
    ("POST", "/api/v1/forms"): ("401 403 403 403 403 201", lambda w, u: _json("/api/v1/forms", {
        "key": "trust_form", "name": "信任表单", "schema": {"type": "default", "components": [
            {"type": "textfield", "key": "title", "label": "标题"}]}})),
    ("GET", "/api/v1/forms/<key>"): (ANY, lambda w, u: _json("/api/v1/forms/customer_report")),
    ("POST", "/api/v1/forms/<key>/validate"): (ANY, lambda w, u: _json("/api/v1/forms/customer_report/validate",
                                                                       {"data": {}})),
    ("GET", "/api/v1/forms/<key>/versions"): (ANY, lambda w, u: _json("/api/v1/forms/customer_report/versions")),
    ("GET", "/api/v1/forms/crm-fields"): (DESIGNERS, lambda w, u: _json("/api/v1/forms/crm-fields")),
    ("GET", "/api/v1/form-bindings"): (DESIGNERS, lambda w, u: _json("/api/v1/form-bindings")),
    ("POST", "/api/v1/form-bindings"): ("401 403 403 403 403 201", lambda w, u: _json("/api/v1/form-bindings", {
        "name": "新绑定", "entity": "customer", "event": "updated", "process_key": "customer_report",
        "form_key": "customer_report", "mapping": []})),
    ("GET", "/api/v1/form-bindings/<int:binding_id>"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/form-bindings/{w.binding}")),
    ("PATCH", "/api/v1/form-bindings/<int:binding_id>"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/form-bindings/{w.binding}", {"enabled": False})),
    ("DELETE", "/api/v1/form-bindings/<int:binding_id>"): ("401 403 403 403 403 204", lambda w, u: _json(
        f"/api/v1/form-bindings/{w.new_binding()}")),
    ("GET", "/api/v1/form-bindings/<int:binding_id>/start-data"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/form-bindings/{w.binding}/start-data?record={w.customer}")),
    ("GET", "/api/v1/form-bindings/actions"): (DESIGNERS, lambda w, u: _json("/api/v1/form-bindings/actions")),
    # sales1's customer is already reported (pending): callers who may act get 409, not 201.
    ("POST", "/api/v1/records/<entity>/<int:record_id>/report-again"): ("401 409 404 404 409 409", lambda w, u: _json(
        f"/api/v1/records/customer/{w.customer}/report-again")),
    ("GET", "/api/v1/form-binding-runs"): (OWNED, lambda w, u: _json(
        f"/api/v1/form-binding-runs?entity=customer&record_id={w.customer}")),
    # --- automation
    ("GET", "/api/v1/automation-fields"): (DESIGNERS, lambda w, u: _json("/api/v1/automation-fields")),
    ("GET", "/api/v1/automation-rules"): (DESIGNERS, lambda w, u: _json("/api/v1/automation-rules")),
    ("POST", "/api/v1/automation-rules"): ("401 403 403 403 403 201", lambda w, u: _json("/api/v1/automation-rules", {
        "name": "新规则", "entity": "customer", "event": "created",
        "condition": {"field": "registered_capital", "op": "ge", "value": 1},
        "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "value": "B"}]}]})),
    ("GET", "/api/v1/automation-rules/<int:rule_id>"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/automation-rules/{w.rule}")),
    ("PATCH", "/api/v1/automation-rules/<int:rule_id>"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/automation-rules/{w.rule}", {"name": "大客户规则"})),
    ("DELETE", "/api/v1/automation-rules/<int:rule_id>"): ("401 403 403 403 403 204", lambda w, u: _json(
        f"/api/v1/automation-rules/{w.new_rule()}")),
    ("POST", "/api/v1/automation-rules/<int:rule_id>/dry-run"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/automation-rules/{w.rule}/dry-run", {"record_id": w.customer})),
    ("POST", "/api/v1/automation-rules/dry-run"): (DESIGNERS, lambda w, u: _json("/api/v1/automation-rules/dry-run", {
        "rule": {"name": "试", "entity": "customer", "event": "created", "condition": None,
                 "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "value": "B"}]}]},
        "record_id": w.customer})),
    ("GET", "/api/v1/automation-runs"): (DESIGNERS, lambda w, u: _json("/api/v1/automation-runs")),
    ("GET", "/api/v1/automation-runs/<int:run_id>"): (DESIGNERS, lambda w, u: _json(f"/api/v1/automation-runs/{w.run}")),
    ("GET", "/api/v1/automation-settings/webhook-allowlist"): (ADMINS, lambda w, u: _json(
        "/api/v1/automation-settings/webhook-allowlist")),
    ("PUT", "/api/v1/automation-settings/webhook-allowlist"): (ADMINS, lambda w, u: _json(
        "/api/v1/automation-settings/webhook-allowlist", {"hosts": []})),
    # --- designer (process designers only)
    ("POST", "/api/v1/designer/check"): (DESIGNERS, lambda w, u: _json("/api/v1/designer/check", {
        "xml": BPMN.decode()})),
    ("POST", "/api/v1/designer/drafts"): ("401 403 403 403 403 201", lambda w, u: _json("/api/v1/designer/drafts", {
        "key": "trust_new", "name": "新草稿"})),
    ("GET", "/api/v1/designer/drafts/<key>"): (DESIGNERS, lambda w, u: _json(f"/api/v1/designer/drafts/{w.draft}")),
    ("PATCH", "/api/v1/designer/drafts/<key>"): ("401 403 403 403 403 400", lambda w, u: _json(
        f"/api/v1/designer/drafts/{w.draft}", {"xml": "not xml", "version": 2})),
    ("DELETE", "/api/v1/designer/drafts/<key>"): ("401 403 403 403 403 204", lambda w, u: _json(
        f"/api/v1/designer/drafts/{w.new_draft()}")),
    ("POST", "/api/v1/designer/drafts/<key>/deploy"): ("401 403 403 403 403 201", lambda w, u: _json(
        f"/api/v1/designer/drafts/{w.draft}/deploy")),
    ("POST", "/api/v1/designer/drafts/<key>/test-runs"): ("401 403 403 403 403 201", lambda w, u: _json(
        f"/api/v1/designer/drafts/{w.draft}/test-runs", {"data": {}})),
    ("GET", "/api/v1/designer/processes"): (DESIGNERS, lambda w, u: _json("/api/v1/designer/processes")),
    ("POST", "/api/v1/designer/processes/<key>/rollback"): (DESIGNERS, lambda w, u: _json(
        "/api/v1/designer/processes/customer_report/rollback", {"version": 1})),
    ("GET", "/api/v1/designer/processes/<key>/versions"): (DESIGNERS, lambda w, u: _json(
        "/api/v1/designer/processes/customer_report/versions")),
    ("GET", "/api/v1/designer/processes/<key>/versions/<int:version>"): (DESIGNERS, lambda w, u: _json(
        "/api/v1/designer/processes/customer_report/versions/1")),
    ("GET", "/api/v1/designer/templates"): (DESIGNERS, lambda w, u: _json("/api/v1/designer/templates")),
    ("GET", "/api/v1/designer/test-runs/<int:run_id>"): ("401 403 403 403 403 404", lambda w, u: _json(
        "/api/v1/designer/test-runs/999999")),
    ("DELETE", "/api/v1/designer/test-runs/<int:run_id>"): ("401 403 403 403 403 404", lambda w, u: _json(
        "/api/v1/designer/test-runs/999999")),
    ("POST", "/api/v1/designer/test-runs/<int:run_id>/tasks/<task_id>/complete"): (
        "401 403 403 403 403 404", lambda w, u: _json("/api/v1/designer/test-runs/999999/tasks/x/complete", {"data": {}})),
    # --- reports
    ("GET", "/api/v1/reports/people"): (GROUP_MANAGERS, lambda w, u: _json("/api/v1/reports/people")),
    ("GET", "/api/v1/reports/people/csv/<table>"): (GROUP_MANAGERS, lambda w, u: _json("/api/v1/reports/people/csv/people")),
    # Sales, their managers and admins; fj_head (an approver, managing no group) owns no deals.
    ("GET", "/api/v1/reports/sales"): ("401 200 200 403 200 200", lambda w, u: _json("/api/v1/reports/sales")),
    ("GET", "/api/v1/reports/sales/csv/<table>"): ("401 200 200 403 200 200", lambda w, u: _json(
        "/api/v1/reports/sales/csv/people")),
    ("GET", "/api/v1/reports/processes"): (DESIGNERS, lambda w, u: _json("/api/v1/reports/processes")),
    ("GET", "/api/v1/reports/processes/<key>"): (DESIGNERS, lambda w, u: _json("/api/v1/reports/processes/customer_report")),
    ("GET", "/api/v1/reports/processes/<key>/csv/<table>"): (DESIGNERS, lambda w, u: _json(
        "/api/v1/reports/processes/customer_report/csv/steps")),
    ("GET", "/api/v1/reports/automation"): (DESIGNERS, lambda w, u: _json("/api/v1/reports/automation")),
    ("GET", "/api/v1/reports/automation/csv/<table>"): (DESIGNERS, lambda w, u: _json(
        "/api/v1/reports/automation/csv/rules")),
    ("PUT", "/api/v1/reports/automation/rules/<int:rule_id>/minutes"): (DESIGNERS, lambda w, u: _json(
        f"/api/v1/reports/automation/rules/{w.rule}/minutes", {"settings": [{"index": 0, "minutes": 5}]})),
}


def api_routes(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1/") and rule.endpoint not in SPEC_ENDPOINTS
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_api_route_is_in_the_matrix(app):
    routes = api_routes(app)
    missing = sorted(routes - MATRIX.keys())
    assert not missing, "API routes without a row in the authorization matrix: " + ", ".join(
        f"{m} {r}" for m, r in missing)
    assert not MATRIX.keys() - routes, "matrix rows for routes that no longer exist"


def test_authorization_matrix(app, world):
    tokens = {u: (None if u == "anonymous" else world.api_as(u).token) for u in USERS}
    client = app.test_client()
    wrong = []
    for (method, rule), (expected, make) in sorted(MATRIX.items(), key=lambda item: item[0][1]):
        for user, status in zip(USERS, map(int, expected.split())):
            call = make(world, user)
            url = call.pop("url")
            token = call.pop("token", tokens[user]) if user != "anonymous" else None
            call.pop("token", None)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = client.open(url, method=method, headers=headers, **call)
            body = response.get_data(as_text=True)[:160].replace("\n", " ")
            response.close()  # streamed CSV answers hold their request context until closed
            if response.status_code != status:
                wrong.append(f"{method} {url} as {user}: {response.status_code}, expected {status} ({body})")
    assert not wrong, f"{len(wrong)} unexpected statuses:\n" + "\n".join(wrong)


def test_sales2_never_sees_sales1s_customer(world, api_as):
    """Read, list, search, export, update: the customer does not exist for sales2 (or fj_head)."""
    name = "福州海峡贸易有限公司"
    for user in ("sales2", "fj_head"):
        api = api_as(user)
        assert api.get(f"/api/v1/customers/{world.customer}").status_code == 404
        for query in ("", "?q=海峡", f"?q={name}", "?province=福建"):
            listed = api.get(f"/api/v1/customers{query}").get_json()
            assert all(c["id"] != world.customer for c in listed["items"]), (user, query)
        for entity in ("opportunities", "activities", "contracts"):
            assert all(r.get("customer_id") != world.customer
                       for r in api.get(f"/api/v1/{entity}?q=海峡").get_json()["items"]), (user, entity)
        export = api.get("/api/v1/customers/export.csv")
        assert export.status_code == 200 and name not in export.get_data(as_text=True)
        assert api.patch(f"/api/v1/customers/{world.customer}", json={"name": "被改了"}).status_code == 404
        assert api.delete(f"/api/v1/customers/{world.customer}").status_code == 404
    # The same calls as the owner and their manager do find it: the filters above are not empty by accident.
    for user in ("sales1", "manager"):
        api = api_as(user)
        assert any(c["id"] == world.customer for c in api.get("/api/v1/customers?q=海峡").get_json()["items"])
        assert name in api.get("/api/v1/customers/export.csv").get_data(as_text=True)
    assert api_as("sales1").get(f"/api/v1/customers/{world.customer}").get_json()["name"] == name


def test_only_the_holder_a_delegate_or_an_admin_completes_a_task(world, api_as):
    decision = {"data": {"decision": "approve", "comment": "同意"}}

    def complete(user, task):
        return api_as(user).post(f"/api/v1/tasks/{task}/complete", json=decision).status_code

    # Offered to fujian-heads: nobody but an admin completes it before claiming.
    _, task = world.new_report_task()
    assert [complete(u, task) for u in ("sales1", "sales2", "fj_head", "manager")] == [403, 404, 403, 403]
    assert api_as("fj_head").post(f"/api/v1/tasks/{task}/claim").status_code == 200
    # Claimed: still nobody else (the manager of the group may reassign, not decide).
    assert [complete(u, task) for u in ("sales1", "sales2", "manager", "med_reviewer")] == [403, 404, 403, 404]
    assert complete("fj_head", task) == 200
    assert complete("fj_head", task) == 409

    # A delegate completes; the delegator no longer can.
    _, task = world.new_report_task()
    assert api_as("fj_head").post(f"/api/v1/tasks/{task}/claim").status_code == 200
    delegated = api_as("fj_head").post(f"/api/v1/tasks/{task}/delegate", json={"to": "med_reviewer"})
    assert delegated.status_code == 200, delegated.get_json()
    assert complete("fj_head", task) == 409  # refused, told who has it (their group's task, someone else's now)
    assert complete("med_reviewer", task) == 200

    # An admin may complete any open task.
    _, task = world.new_report_task()
    assert complete("admin", task) == 200
