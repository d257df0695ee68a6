"""/api/v1/automation-rules, /automation-runs, /todos (API.md "Automation")."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask_babel import gettext as _
from flask_login import current_user

from app.access import login_required, roles_required
from app.api.errors import ApiError
from app.api.frame import page_of
from app.api.versions import etag, expected_version, refuse_stale
from app.automation import catalog as cat
from app.automation import services
from app.automation.schemas import AllowListIn, DryRunIn, RuleIn, RulePatch, RuleQuery, RunQuery, TodoQuery
from app.extensions import db

bp = APIBlueprint("automation_api", __name__, url_prefix="/api/v1")
EDITORS = ("admin", "designer")


@bp.get("/automation-rules")
@roles_required(*EDITORS)
@bp.input(RuleQuery, location="query", arg_name="query")
def list_rules(query):
    stmt = services.rules_query(query["entity"], query["event"], query["q"])
    return page_of(stmt, query["page"], query["per_page"], services.rule_dict)


@bp.post("/automation-rules")
@roles_required(*EDITORS)
@bp.input(RuleIn, arg_name="body")
@bp.doc(summary="Create a rule (checked as the editor checks it)", responses=[201, 400])
def create_rule(body):
    rule = services.create_rule(body, current_user)
    return services.rule_dict(rule), 201


@bp.get("/automation-rules/<int:rule_id>")
@roles_required(*EDITORS)
def get_rule(rule_id):
    rule = services.get_rule(rule_id)
    return services.rule_dict(rule), etag(rule)


@bp.patch("/automation-rules/<int:rule_id>")
@roles_required(*EDITORS)
@bp.input(RulePatch, arg_name="body")
def update_rule(rule_id, body):
    rule = services.get_rule(rule_id)
    version = expected_version(body.pop("version", None))
    rule = services.update_rule(rule, body, current_user, version=version)
    return services.rule_dict(rule), etag(rule)


@bp.delete("/automation-rules/<int:rule_id>")
@roles_required(*EDITORS)
@bp.doc(summary="Delete a rule (its runs stay in the log under its name); a stale `If-Match` is 409",
        responses=[204, 404, 409])
def delete_rule(rule_id):
    rule = services.get_rule(rule_id)
    refuse_stale(rule, expected_version(None))
    services.delete_rule(rule, current_user)
    return "", 204


@bp.post("/automation-rules/<int:rule_id>/dry-run")
@roles_required(*EDITORS)
@bp.input(DryRunIn, arg_name="body")
def dry_run(rule_id, body):
    rule = services.get_rule(rule_id)
    definition = services.rule_dict(rule, reveal=True)
    if body["rule"] is not None:  # the editor's unsaved changes
        definition = {**services.checked_definition({**definition, **body["rule"]}, definition["actions"]),
                      "id": rule.id}
    return _dry_run(definition, body)


@bp.post("/automation-rules/dry-run")
@roles_required(*EDITORS)
@bp.input(DryRunIn, arg_name="body")
def dry_run_unsaved(body):
    """A rule that is not saved yet (the editor's dry run before the first save)."""
    if body["rule"] is None:
        raise ApiError(400, "invalid_input", _("Send the rule to try."), [{"field": "rule", "message": _("Required.")}])
    return _dry_run(services.checked_definition(body["rule"]), body)


def _dry_run(definition, body):
    if (body["record_id"] is None) == (body["record"] is None):
        raise ApiError(400, "invalid_input", _("Send either record_id or record (sample values)."),
                       [{"field": "record_id", "message": _("Send either record_id or record.")}])
    return services.dry_run_rule(definition, current_user, record_id=body["record_id"], sample=body["record"],
                                 changes=body["changes"], event=body["event"])


@bp.get("/automation-runs")
@roles_required(*EDITORS)
@bp.input(RunQuery, location="query", arg_name="query")
def list_runs(query):
    stmt = services.runs_query(query["rule_id"], query["entity"], query["record_id"], query["outcome"])
    return page_of(stmt, query["page"], query["per_page"], services.run_dict)


@bp.get("/automation-runs/<int:run_id>")
@roles_required(*EDITORS)
@bp.doc(summary="One run with its webhook attempts (each attempt's address, status code, response and error)")
def get_run(run_id):
    return services.run_with_deliveries(run_id)


@bp.get("/automation-fields")
@roles_required(*EDITORS)
def fields():
    """Record types, their fields and events, and the operators per field type (for editors)."""
    from app.automation.conditions import OPERATORS_BY_TYPE
    from app.automation.validation import IDLE_EXTRA, events_for

    extra_labels = {"last_activity": _("Last activity record")}
    return {"entities": [{"name": e.name, "label": str(e.label), "events": list(events_for(e)),
                          "fields": [f.to_dict() for f in e.fields.values()],
                          "idle_fields": [{"name": n, "label": extra_labels[n]} for n in IDLE_EXTRA.get(e.name, ())]}
                         for e in cat.catalog().entities.values()],
            "operators": {k: list(v) for k, v in OPERATORS_BY_TYPE.items()}}


@bp.get("/automation-settings/webhook-allowlist")
@roles_required("admin")
@bp.doc(summary="The private hosts webhooks may call (read before changing: the PUT replaces the list)")
def get_allowlist():
    from app.automation.catalog import webhook_allowlist

    return {"hosts": webhook_allowlist()}


@bp.put("/automation-settings/webhook-allowlist")
@roles_required("admin")
@bp.input(AllowListIn, arg_name="body")
def set_allowlist(body):
    return {"hosts": services.set_webhook_allowlist(body["hosts"], current_user)}


@bp.get("/todos")
@login_required
@bp.input(TodoQuery, location="query", arg_name="query")
@bp.doc(summary="The caller's open to-dos whose delayed start has come, soonest deadline first "
                "(?done=true: the completed ones, latest first; ?scheduled=true: those still to start, soonest first)")
def my_todos(query):
    if query["done"] and query["scheduled"]:
        raise ApiError(400, "invalid_input", _("A to-do is either done or scheduled: ask for one of them."),
                       [{"field": "scheduled", "message": _("Not with done=true.")}])
    stmt = (services.done_todos_query(current_user) if query["done"] else
            services.scheduled_todos_query(current_user) if query["scheduled"] else services.open_todos_query(current_user))
    return page_of(stmt, query["page"], query["per_page"], services.todo_dict)


@bp.post("/todos/<int:todo_id>/complete")
@login_required
def complete(todo_id):
    todo = services.complete_todo(todo_id, current_user)
    db.session.refresh(todo)
    return services.todo_dict(todo)
