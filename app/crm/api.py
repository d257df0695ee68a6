"""API: /customers, /activities, /opportunities, /contracts (API.md "CRM records"),
CSV export/import of customers, pipeline stage moves, records' change history and the field
catalogue."""

from apiflask import APIBlueprint
from flask import Response, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from app.access import login_required
from app.api.errors import ApiError
from app.api.frame import PageQuery, page_of
from app.api.versions import etag, expected_version, refuse_stale
from app.crm import history, services
from app.crm.models import ENTITIES, CustomerImport
from app.crm.schemas import (ActivityIn, ActivityOut, ActivityQuery, ContractIn, ContractOut, ContractQuery,
                             CustomerExportQuery, CustomerIn, CustomerOut, CustomerQuery, ImportOut, LostIn,
                             OpportunityIn, OpportunityOut, OpportunityQuery, RecordChangeOut, StageMove, StagesOut,
                             VersionQuery, WonIn)
from app.extensions import db

bp = APIBlueprint("crm_api", __name__, url_prefix="/api/v1", tag="CRM records")

RESOURCES = {
    "customer": ("customers", CustomerIn, CustomerOut, CustomerQuery),
    "activity": ("activities", ActivityIn, ActivityOut, ActivityQuery),
    "opportunity": ("opportunities", OpportunityIn, OpportunityOut, OpportunityQuery),
    "contract": ("contracts", ContractIn, ContractOut, ContractQuery),
}
PAGING = ("page", "per_page", "q", "sort")


def split_query(query: dict) -> tuple[str | None, dict, str | None]:
    filters = {k: v for k, v in query.items() if k not in PAGING}
    return query.get("q"), filters, query.get("sort")


def _register(entity: str, path: str, schema_in, schema_out, schema_query) -> None:
    dump = schema_out().dump
    a = f"an {entity}" if entity[0] in "aeiou" else f"a {entity}"  # the OpenAPI summaries' article

    @bp.get(f"/{path}", endpoint=f"list_{path}")
    @login_required
    @bp.input(schema_query, location="query", arg_name="query")
    @bp.doc(summary=f"List {path} the caller may see (q, filters, sort=field or -field)")
    def list_records(query):
        q, filters, sort = split_query(query)
        stmt = services.list_query(entity, current_user, q, filters, sort)
        return page_of(stmt, query["page"], query["per_page"], serialize=dump)

    @bp.post(f"/{path}", endpoint=f"create_{entity}")
    @login_required
    @bp.input(schema_in, arg_name="body")
    @bp.output(schema_out, status_code=201)
    @bp.doc(summary=f"Create {a}", responses=[400, 403])
    def create_record(body):
        body.pop("version", None)
        record = services.create(entity, body, current_user)
        if entity == "customer":  # a program hears what the page warns a salesperson of
            record.possible_duplicates = services.find_possible_duplicates(record, limit=3)
        return record, {"Location": url_for(f"crm_api.get_{entity}", record_id=record.id), **etag(record)}

    @bp.get(f"/{path}/<int:record_id>", endpoint=f"get_{entity}")
    @login_required
    @bp.output(schema_out)
    @bp.doc(summary=f"One {entity} (404 when the caller may not see it); its `ETag` is its version",
            responses=[404])
    def get_record(record_id):
        record = services.get_record(entity, record_id, current_user)
        return record, etag(record)

    @bp.patch(f"/{path}/<int:record_id>", endpoint=f"update_{entity}")
    @login_required
    @bp.input(schema_in, arg_name="body")
    @bp.output(schema_out)
    @bp.doc(summary=f"Change {a}; a stale `version` (in the body, or as `If-Match` with the ETag) is 409",
            responses=[400, 403, 404, 409])
    def update_record(record_id, body):
        version = expected_version(body.pop("version", None))
        for last_try in (False, True):
            record = services.get_record(entity, record_id, current_user)
            try:
                record = services.update(record, dict(body), current_user, version=version)
            except StaleDataError:
                # Saved by someone else (a workflow step) while this one was applied. Without a
                # version the client asked for its change whatever the record holds: once more,
                # on the record as it is now.
                if version is not None or last_try:
                    raise
                db.session.rollback()
                continue
            return record, etag(record)

    @bp.delete(f"/{path}/<int:record_id>", endpoint=f"delete_{entity}")
    @login_required
    @bp.input(VersionQuery, location="query", arg_name="query")
    @bp.output({}, status_code=204)
    @bp.doc(summary=f"Delete {a}; a stale `version` (query, or `If-Match`) is 409",
            responses=[403, 404, 409])
    def delete_record(record_id, query):
        record = services.get_record(entity, record_id, current_user)
        services.delete(record, current_user, version=expected_version(query["version"]))
        return ""


for _entity, (_path, _in, _out, _query) in RESOURCES.items():
    _register(_entity, _path, _in, _out, _query)


@bp.get("/customers/export.csv")
@login_required
@bp.input(CustomerExportQuery, location="query", arg_name="query")
@bp.doc(summary="CSV of all the customers the caller may see (same q, filters and sort as the list; no pages)",
        description="`headers=labels` names the columns as people read them, in the caller's language "
                    "(the list page's export); the import takes either.")
def export_customers(query):
    labels = query.pop("headers") == "labels"
    q, filters, sort = split_query(query)
    lines = services.export_customers_csv(current_user._get_current_object(), q, filters, sort, labels=labels)
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=customers.csv"})


@bp.post("/customers/import")
@login_required
@bp.doc(summary="Import customers from a CSV file (multipart field `file`); large files run in the "
                "background: poll the returned import",
        description="The header row names the columns by key, by label in Chinese or English, or by a name other "
                    "exports use (客户名称, 手机号码, 统一社会信用代码 …; an unknown, ambiguous or repeated column: 400, "
                    "nothing imported). "
                    "A row with an `id` updates that customer (an exported file re-imported); a row without "
                    "one creates a customer, refused when its credit code is already taken. Multipart field "
                    "`automate=false` (administrators only) loads existing data without running rules and "
                    "workflows; `leave_out_unknown_columns=true` imports the file without the columns that "
                    "name no customer field (listed in the answer's `left_out_columns`).", responses=[202, 400, 403])
def import_customers():
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, "invalid_input", _("Send the CSV file as the multipart field “file”."),
                       [{"field": "file", "message": _("Required.")}])
    job = services.start_customer_import(upload.read(), upload.filename or "", current_user._get_current_object(),
                                         automate=_form_flag("automate", True),
                                         leave_out_unknown=_form_flag("leave_out_unknown_columns", False))
    status = 201 if job.status == "done" else 202
    return ImportOut().dump(job), status, {"Location": url_for("crm_api.get_import", import_id=job.id)}


def _form_flag(name: str, default: bool) -> bool:
    value = request.form.get(name, "").strip().lower()
    if value not in ("", "true", "false", "1", "0"):
        raise ApiError(400, "invalid_input", _("“%(name)s” is true or false.", name=name),
                       [{"field": name, "message": _("Use true or false.")}])
    return default if value == "" else value in ("true", "1")


@bp.get("/customers/imports/<int:import_id>")
@login_required
@bp.output(ImportOut)
@bp.doc(summary="Progress and per-row errors of a customer import", responses=[404])
def get_import(import_id):
    job = db.session.get(CustomerImport, import_id) if import_id <= services.MAX_ID else None
    if job is None or not services.import_visible_to(job, current_user):
        raise ApiError(404, "not_found", _("No such import."))
    return job


def _opportunity(record_id):
    return services.get_record("opportunity", record_id, current_user)


@bp.post("/opportunities/<int:record_id>/stage")
@login_required
@bp.input(StageMove, arg_name="body")
@bp.output(OpportunityOut)
@bp.doc(summary="Move to a pipeline stage; refused (400 stage_requirements_missing) while the stage's "
                "required fields are empty", responses=[400, 404, 409])
def move_stage(record_id, body):
    return services.move_stage(_opportunity(record_id), body["stage"], current_user,
                               version=expected_version(body.get("version")))


@bp.post("/opportunities/<int:record_id>/won")
@login_required
@bp.input(WonIn, arg_name="body")
@bp.output(OpportunityOut)
@bp.doc(summary="Mark an opportunity won (赢单); a stale `version` (or `If-Match`) is 409", responses=[404, 409])
def mark_won(record_id, body):
    record = _opportunity(record_id)
    refuse_stale(record, expected_version(body.get("version")))
    return services.mark_won(record, current_user, closed_at=body.get("closed_at"))


@bp.post("/opportunities/<int:record_id>/lost")
@login_required
@bp.input(LostIn, arg_name="body")
@bp.output(OpportunityOut)
@bp.doc(summary="Mark an opportunity lost (输单), with a reason; a stale `version` (or `If-Match`) is 409",
        responses=[404, 409])
def mark_lost(record_id, body):
    record = _opportunity(record_id)
    refuse_stale(record, expected_version(body.get("version")))
    return services.mark_lost(record, current_user, body.get("reason"), closed_at=body.get("closed_at"))


@bp.get("/records/<entity>/<int:record_id>/history")
@login_required
@bp.input(PageQuery, location="query", arg_name="query")
@bp.doc(summary="A record's change history (变更记录), newest first: who changed which fields from what to what; "
                "404 when the caller may not see the record", responses=[404])
def record_history(entity, record_id, query):
    if entity not in ENTITIES:
        raise ApiError(404, "not_found", _("Unknown record type."))
    services.get_record(entity, record_id, current_user)  # 404 unless visible
    dump = RecordChangeOut().dump
    return page_of(history.history_query(entity, record_id), query["page"], query["per_page"],
                   serialize=lambda row: dump(history.history_entry(row)))


@bp.get("/pipeline-stages")
@login_required
@bp.output(StagesOut)
@bp.doc(summary="Opportunity pipeline stages in order, with their required fields")
def list_stages():
    return {"items": services.stages()}


@bp.get("/record-fields/<entity>")
@login_required
@bp.doc(summary="Fields of a record type (custom fields as custom.<key>) with labels and types")
def record_fields(entity):
    if entity not in ENTITIES:
        raise ApiError(404, "not_found", _("Unknown record type."))
    return {"entity": entity, "fields": services.record_fields(entity)}
