"""API: form definitions (/api/v1/forms)."""
from apiflask import APIBlueprint
from flask_babel import gettext as _
from flask_login import current_user

from app.access import login_required, roles_required
from app.api.errors import ApiError
from app.api.frame import PageQuery, page_of
from app.extensions import db
from app.forms import services
from app.forms.models import FormDefinition
from app.forms.schemas import FormIn, FormOut, FormSummaryOut, FormVersionQuery, ValidateIn, ValidateOut

bp = APIBlueprint("forms_api", __name__, url_prefix="/api/v1", tag="Forms")

DESIGNERS = ("designer", "admin")


@bp.get("/forms")
@login_required
@bp.input(PageQuery, location="query", arg_name="query")
@bp.doc(summary="Form definitions, current versions")
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
@bp.doc(summary="Create a form or save a new version of it", responses=[200, 400, 403, 409])
def save_form(body):
    form, created = services.save_form(body["key"], body["name"], body["schema"], actor=current_user,
                                       base_version=body["base_version"])
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
