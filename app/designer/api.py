"""The designer's API: drafts (save/autosave with version), checks, deploy, versions, rollback,
and the engine's operation registry for the service-task picker."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask_babel import gettext as _
from flask_login import current_user

from app.access import login_required, roles_required
from app.api.errors import ApiError
from app.api.frame import carries_a_diagram
from app.designer import engine_link, services, test_run
from app.designer.schemas import CheckQuery, DraftCreate, DraftDeploy, DraftSave, Rollback, TaskComplete, TestRunStart, XmlCheck

bp = APIBlueprint("designer_api", __name__, url_prefix="/api/v1", tag="Designer")
designer_only = roles_required("designer", "admin")


def draft_out(draft, with_xml=True) -> dict:
    out = {"id": draft.id, "key": draft.process_key, "name": draft.name,
           "created_at": draft.created_at.isoformat(), **services.draft_summary(draft)}
    if with_xml:
        out["xml"] = draft.xml
    return out


def _draft_or_404(key):
    draft = services.get_draft(key)
    if draft is None:
        raise ApiError(404, "not_found", _("No draft for this process."))
    return draft


@bp.get("/designer/processes")
@designer_only
@bp.doc(summary="Processes with current version, draft state and running instances")
def list_processes():
    rows = services.process_rows()
    return {"items": rows, "total": len(rows), "page": 1, "per_page": len(rows)}


@bp.get("/designer/templates")
@designer_only
@bp.doc(summary="Diagrams a new process may start from")
def list_templates():
    return {"items": services.template_titles()}


@bp.post("/designer/drafts")
@carries_a_diagram
@designer_only
@bp.input(DraftCreate, arg_name="body")
@bp.doc(summary="Create a process draft: blank, from a template, an imported XML or a copy",
        responses=[201, 400, 409])
def create_draft(body):
    draft = services.create_draft(actor=current_user, **body)
    return draft_out(draft), 201


@bp.get("/designer/drafts/<key>")
@designer_only
@bp.doc(summary="The draft of a process (made from the current version if there is none)")
def get_draft(key):
    return draft_out(services.open_draft(key, current_user))


@bp.patch("/designer/drafts/<key>")
@carries_a_diagram
@designer_only
@bp.input(DraftSave, arg_name="body")
@bp.doc(summary="Save (or autosave) the draft; a stale version answers 409")
def save_draft(key, body):
    draft = services.save_draft(_draft_or_404(key), actor=current_user, **body)
    return draft_out(draft, with_xml=False)


@bp.delete("/designer/drafts/<key>")
@designer_only
@bp.doc(summary="Discard the draft", responses=[204, 404])
def discard_draft(key):
    services.discard_draft(_draft_or_404(key))
    return "", 204


@bp.post("/designer/check")
@carries_a_diagram
@designer_only
@bp.input(CheckQuery, location="query", arg_name="query")
@bp.input(XmlCheck, arg_name="body")
@bp.doc(summary="The engine's problems with a diagram, each with its element id; `hints` do not block "
                "deploying (a condition reading a variable nothing gives the process, a gateway without a default "
                "whose conditions may all fail)")
def check(query, body):
    key = query["key"] or None
    problems = services.check_xml(body["xml"], key)
    return {"problems": problems, "hints": [] if problems else services.check_hints(body["xml"], key)}


@bp.post("/designer/drafts/<key>/deploy")
@designer_only
@bp.input(DraftDeploy, arg_name="body")
@bp.doc(summary="Deploy the saved draft as the next version (400 with problems while any remain); "
                "`left_behind` lists steps it removed where running instances wait (they stay on their version)",
        responses=[201, 400, 404, 409])
def deploy(key, body):
    draft = _draft_or_404(key)
    version = services.deploy_draft(draft, actor=current_user, version=body["version"])
    # Said at once: instances waiting at a step this version removed stay on their own version.
    return {"key": key, "version": version, "left_behind": engine_link.waiting_at_removed_steps(key, draft.xml)}, 201


@bp.get("/designer/processes/<key>/versions")
@designer_only
@bp.doc(summary="Deployed versions with who and when")
def versions(key):
    rows = engine_link.versions(key)
    if not rows:
        raise ApiError(404, "not_found", _("No such process."))
    return {"items": rows, "total": len(rows), "page": 1, "per_page": len(rows)}


@bp.get("/designer/processes/<key>/versions/<int:version>")
@designer_only
@bp.doc(summary="One deployed version's XML")
def version_xml(key, version):
    xml = engine_link.version_xml(key, version)
    if xml is None:
        raise ApiError(404, "not_found", _("No such version."))
    return {"key": key, "version": version, "xml": xml}


@bp.post("/designer/processes/<key>/rollback")
@designer_only
@bp.input(Rollback, arg_name="body")
@bp.doc(summary="Make an older deployed version current again")
def rollback(key, body):
    engine_link.rollback(key, body["version"], current_user)
    return {"key": key, "version": body["version"]}


@bp.post("/designer/drafts/<key>/test-runs")
@designer_only
@bp.input(TestRunStart, arg_name="body")
@bp.doc(summary="Start a sandboxed test run of the saved draft (operations recorded, not run)",
        responses=[201, 400, 404])
def start_test_run(key, body):
    draft = _draft_or_404(key)
    return test_run.start(key, draft.xml, body["data"], current_user), 201


@bp.get("/designer/test-runs/<int:run_id>")
@designer_only
@bp.doc(summary="A test run: status, open tasks, waiting timers, what happened")
def get_test_run(run_id):
    return test_run.describe(test_run.get_run(run_id, current_user))


@bp.post("/designer/test-runs/<int:run_id>/tasks/<task_id>/complete")
@designer_only
@bp.input(TaskComplete, arg_name="body")
@bp.doc(summary="Complete an open task of a test run, whoever it is assigned to")
def complete_test_task(run_id, task_id, body):
    return test_run.complete(test_run.get_run(run_id, current_user), task_id, body["data"])


@bp.delete("/designer/test-runs/<int:run_id>")
@designer_only
@bp.doc(summary="Discard a test run", responses=[204, 404])
def discard_test_run(run_id):
    test_run.discard(test_run.get_run(run_id, current_user))
    return "", 204


@bp.get("/engine/operations")
@login_required
@bp.doc(summary="Operations a service task may call, with their parameters")
def operations():
    return {"items": engine_link.operations()}
