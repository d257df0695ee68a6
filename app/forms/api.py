"""API: form definitions (/api/v1/forms)."""
from apiflask import APIBlueprint
from flask_babel import gettext as _
from flask_login import current_user

from app.access import login_required, roles_required
from app.api.errors import ApiError
from app.api.frame import SearchQuery, page_of
from app.api.versions import etag, expected_version, refuse_stale
from app.extensions import db
from app.forms import bindings, services
from app.forms.models import FormDefinition
from app.forms.schemas import (BindingIn, BindingOut, BindingPatch, BindingQuery, FormIn, FormOut, FormSummaryOut,
                               FormVersionQuery, RunQuery, StartDataQuery, ValidateIn, ValidateOut)

bp = APIBlueprint("forms_api", __name__, url_prefix="/api/v1", tag="Forms")

DESIGNERS = ("designer", "admin")


@bp.get("/forms")
@login_required
@bp.input(SearchQuery, location="query", arg_name="query")
@bp.doc(summary="Form definitions, current versions (?q= in key or name)")
def list_forms(query):
    stmt = services.current_forms_query()
    if query["q"]:
        like = f"%{query['q']}%"
        stmt = stmt.where(FormDefinition.key.ilike(like) | FormDefinition.name.ilike(like))
    return page_of(stmt, query["page"], query["per_page"], serialize=FormSummaryOut().dump)


@bp.post("/forms")
@roles_required(*DESIGNERS)
@bp.input(FormIn, arg_name="body")
@bp.output(FormOut, status_code=201)
@bp.doc(summary="Create a form (201) or save a new version of it (200)", responses=[200, 201, 400, 403, 409])
def save_form(body):
    form, created = services.save_form(body["key"], body["name"], body["schema"], actor=current_user,
                                       base_version=body["base_version"],
                                       drop_fields_in_use=body["drop_fields_in_use"])
    db.session.commit()
    return form, 201 if created else 200


def _form_or_404(key, version=None) -> FormDefinition:
    form = services.get_form(key, version)
    if form is None:
        raise ApiError(404, "not_found", _("No such form."))
    return form


@bp.get("/forms/<key>")
@login_required
@bp.input(FormVersionQuery, location="query", arg_name="query")
@bp.output(FormOut)
@bp.doc(summary="A form definition (current version, or ?version=N)", responses=[404])
def get_form(key, query):
    return _form_or_404(key, query["version"])


@bp.get("/forms/<key>/versions")
@login_required
@bp.doc(summary="Every version of a form, newest first", responses=[404])
def list_versions(key):
    versions = services.form_versions(key)
    if not versions:
        raise ApiError(404, "not_found", _("No such form."))
    return {"items": [FormSummaryOut().dump(v) for v in versions], "total": len(versions)}


@bp.post("/forms/<key>/validate")
@login_required
@bp.input(ValidateIn, arg_name="body")
@bp.output(ValidateOut)
@bp.doc(summary="Check data against a form; per-field errors, nothing stored", responses=[404])
def validate(key, body):
    form = _form_or_404(key, body["version"])
    clean, errors = services.validate_submission(form.schema, body["data"])
    return {"valid": not errors, "data": clean, "errors": errors}


@bp.get("/forms/crm-fields")
@roles_required(*DESIGNERS)
@bp.doc(summary="CRM record fields a form field can be bound to (embedded fields)")
def crm_fields():
    return {"items": services.crm_field_catalogue()}


# --- embedded processes (嵌入式流程) -----------------------------------------------------------

@bp.get("/form-bindings")
@roles_required(*DESIGNERS)
@bp.input(BindingQuery, location="query", arg_name="query")
@bp.doc(summary="CRM actions bound to a process and a form (embedded processes); ?process_key= those starting it")
def list_bindings(query):
    return page_of(bindings.bindings_query(query["process_key"]), query["page"], query["per_page"],
                   serialize=lambda b: BindingOut().dump(bindings.binding_dict(b)))


@bp.get("/form-bindings/actions")
@roles_required(*DESIGNERS)
@bp.doc(summary="The CRM actions a binding can react to")
def binding_actions():
    return {"items": bindings.actions()}


@bp.post("/form-bindings")
@roles_required(*DESIGNERS)
@bp.input(BindingIn, arg_name="body")
@bp.output(BindingOut, status_code=201)
@bp.doc(summary="Bind a CRM action to a process and a form", responses=[400, 403])
def create_binding(body):
    binding = bindings.save_binding(body, actor=current_user)
    db.session.commit()
    return bindings.binding_dict(binding)


@bp.get("/form-bindings/<int:binding_id>")
@roles_required(*DESIGNERS)
@bp.output(BindingOut)
@bp.doc(responses=[404])
def get_binding(binding_id):
    binding = bindings.get_binding(binding_id)
    return bindings.binding_dict(binding), etag(binding)


@bp.get("/form-bindings/<int:binding_id>/start-data")
@roles_required(*DESIGNERS)
@bp.input(StartDataQuery, location="query", arg_name="query")
@bp.doc(summary="The start data the binding would give its process for a record (a test run with real data)",
        responses=[404, 409])
def binding_start_data(binding_id, query):
    return bindings.sample_start_data(bindings.get_binding(binding_id), query["record"], current_user)


@bp.patch("/form-bindings/<int:binding_id>")
@roles_required(*DESIGNERS)
@bp.input(BindingPatch, arg_name="body")
@bp.output(BindingOut)
@bp.doc(responses=[400, 404, 409])
def update_binding(binding_id, body):
    binding = bindings.get_binding(binding_id)
    version = expected_version(body.pop("version", None))
    bindings.save_binding(body, actor=current_user, binding=binding, version=version)
    db.session.commit()
    return bindings.binding_dict(binding), etag(binding)


@bp.delete("/form-bindings/<int:binding_id>")
@roles_required(*DESIGNERS)
@bp.output({}, status_code=204)
@bp.doc(summary="Delete a binding; a stale `If-Match` is 409", responses=[404, 409])
def delete_binding(binding_id):
    binding = bindings.get_binding(binding_id)
    refuse_stale(binding, expected_version(None))
    bindings.delete_binding(binding, actor=current_user)
    db.session.commit()
    return ""


@bp.get("/form-binding-runs")
@login_required
@bp.input(RunQuery, location="query", arg_name="query")
@bp.doc(summary="A record's log of embedded processes (started, skipped, failed)", responses=[404])
def binding_runs(query):
    from app.crm import services as crm

    if query["entity"] not in crm.MODELS:
        raise ApiError(404, "not_found", _("No such record."))
    crm.get_record(query["entity"], query["record_id"], current_user)  # 404 unless visible
    runs = bindings.runs_for_record(query["entity"], query["record_id"])
    return {"items": [bindings.run_dict(r) for r in runs], "total": len(runs)}


@bp.post("/records/<entity>/<int:record_id>/report-again")
@login_required
@bp.doc(summary="Submit a customer's report or a contract's approval again (after a rejection or a "
                "withdrawal): the bindings that keep its status start their process with the record as it is now",
        responses=[201, 403, 404, 409])
def report_again(entity, record_id):
    runs = bindings.report_again(entity, record_id, current_user)
    db.session.commit()
    return {"items": [bindings.run_dict(r) for r in runs], "total": len(runs)}, 201
