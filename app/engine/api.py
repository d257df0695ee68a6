"""API: /processes and /process-instances (API.md "Workflows").

Thin: everything goes through :mod:`app.engine.services`; no SpiffWorkflow here.
"""
from __future__ import annotations

from contextlib import contextmanager

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, String
from apiflask.validators import Length, Range
from flask import Response, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.db import MAX_ID
from app.access import login_required, roles_required
from app.api.errors import ApiError
from app.api.frame import PageQuery, QueryParameters, page_of
from app.audit import audit
from app.extensions import db

from . import services
from .models import ProcessDefinition
from .xml import MAX_BYTES, DiagramError

bp = APIBlueprint("engine_api", __name__, url_prefix="/api/v1", tag="Workflows")


class ProcessQuery(PageQuery):
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))  # OFFSET must fit the DB
    key = String(load_default=None, validate=Length(max=120))
    current = Boolean(load_default=None)


class XmlQuery(QueryParameters):
    version = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))


class InstanceIn(Schema):
    process_key = String(required=True, validate=Length(min=1, max=120))
    data = Dict(load_default=dict)


class RetryIn(Schema):
    data = Dict(load_default=dict)


class MigrateIn(Schema):
    # The instance version the operator looked at: if it moved on since, 409 instead of
    # moving an instance in a state nobody checked.
    version = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))


class TerminateIn(Schema):
    comment = String(load_default=None, validate=Length(max=2000))


def _operated(event: str, instance, **details):
    """An operator action commits together with its audit row."""
    audit(event, actor=current_user, target=f"process_instance:{instance.id}", **details)
    db.session.commit()
    return services.instance_view(instance)


@contextmanager
def _service_errors():
    """Engine service errors in the API's error format (never a 500 for bad input)."""
    try:
        yield
    except services.MigrationRefused as exc:
        db.session.rollback()
        raise ApiError(exc.status, exc.code, str(exc),
                       [{"element_id": p["element_id"], "message": p["message"]} for p in exc.problems]) from None
    except services.InvalidData as exc:
        db.session.rollback()
        raise ApiError(400, exc.code, str(exc), [{"field": f, "message": "not accepted"} for f in exc.fields]) from None
    except services.EngineServiceError as exc:
        db.session.rollback()
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except DiagramError as exc:
        db.session.rollback()
        raise ApiError(400, "invalid_diagram", _("The diagram cannot be deployed."), exc.problems) from None


def _definition_out(d: ProcessDefinition) -> dict:
    return {"key": d.key, "name": d.name, "version": d.version, "is_current": d.is_current,
            "deployed_at": d.deployed_at.isoformat()}


@bp.get("/processes")
@login_required
@bp.input(ProcessQuery, location="query", arg_name="query")
@bp.doc(summary="Deployed process definitions (?key=, ?current=true)")
def list_processes(query):
    stmt = select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
    if query["key"]:
        stmt = stmt.where(ProcessDefinition.key == query["key"])
    if query["current"] is not None:
        stmt = stmt.where(ProcessDefinition.is_current.is_(query["current"]))
    return page_of(stmt, query["page"], query["per_page"], serialize=_definition_out)


def _uploaded_xml() -> bytes:
    too_large = _("The diagram is larger than %(mb)d MB.", mb=MAX_BYTES // (1024 * 1024))
    if request.content_length is not None and request.content_length > MAX_BYTES + 64 * 1024:
        raise ApiError(413, "too_large", too_large)
    upload = request.files.get("file")
    data = upload.read(MAX_BYTES + 1) if upload is not None else request.get_data(cache=False)
    if len(data) > MAX_BYTES:
        raise ApiError(413, "too_large", too_large)
    if not data.strip():
        raise ApiError(400, "invalid_diagram", _("Send the BPMN XML as the body (application/xml) or as file."),
                       [{"element_id": None, "message": _("diagram is empty")}])
    return data


@bp.post("/processes")
@roles_required("admin", "designer")
@bp.doc(summary="Deploy BPMN XML (body application/xml or multipart field 'file') as a new version; the "
                "current version's diagram again answers 200 with that version and deploys nothing",
        responses=[200, 201, 400, 403, 409, 413])
def deploy_process():
    data = _uploaded_xml()
    with _service_errors():
        definition = services.deploy(data, actor=current_user)
    # 200: this diagram is the current version already (nothing deployed), 201: a new version.
    return {"key": definition.key, "version": definition.version}, 201 if definition.deployed_now else 200


@bp.get("/processes/<key>/xml")
@login_required
@bp.input(XmlQuery, location="query", arg_name="query")
@bp.doc(summary="The stored XML of the current (or ?version=N) version", responses=[404])
def process_xml(key, query):
    with _service_errors():
        definition = services.get_definition(key, query["version"])
    return Response(definition.xml, mimetype="application/xml")


@bp.post("/processes/<key>/versions/<int:version>/current")
@roles_required("admin", "designer")
@bp.doc(summary="Make a version current again (rollback); running instances keep theirs", responses=[403, 404])
def make_version_current(key, version):
    with _service_errors():
        definition = services.make_current(key, version, actor=current_user)
    return _definition_out(definition)


@bp.post("/process-instances")
@login_required
@bp.input(InstanceIn, arg_name="body")
@bp.doc(summary="Start the current version of a process with data (400 for a process whose steps change the "
                "record it is started for: such a process starts from its record; 403 for someone the process "
                "does not name among its starters, camunda:candidateStarterUsers/Groups)", responses=[201, 400, 403, 404])
def start_instance(body):
    with _service_errors():
        instance = services.start_for_person(body["process_key"], body["data"], actor=current_user)
        return services.instance_view(instance), 201


@bp.get("/process-instances/<int:instance_id>")
@login_required
@bp.doc(summary="An instance with its open tasks and history (404 if the caller may not see it)", responses=[404])
def get_instance(instance_id):
    with _service_errors():
        instance = services.visible_instance(instance_id, current_user)
        return services.instance_view(instance)


@bp.post("/process-instances/<int:instance_id>/retry")
@roles_required("admin")
@bp.input(RetryIn, arg_name="body")
@bp.doc(summary="Retry the failed step of an instance in error, optionally with corrected data",
        responses=[400, 404, 409])
def retry_instance(instance_id, body):
    with _service_errors():
        instance = services.retry(instance_id, current_user, body["data"], commit=False)
        return _operated("process.retried", instance, fields=sorted(body["data"]))


@bp.post("/process-instances/<int:instance_id>/terminate")
@roles_required("admin")
@bp.input(TerminateIn, arg_name="body")
@bp.doc(summary="Terminate an instance: open tasks and timers are cancelled", responses=[404, 409])
def terminate_instance(instance_id, body):
    with _service_errors():
        instance = services.terminate(instance_id, current_user, body["comment"], commit=False)
        return _operated("process.terminated", instance, reason=body["comment"] or "")


@bp.post("/process-instances/<int:instance_id>/suspend")
@roles_required("admin")
@bp.input(TerminateIn, arg_name="body")
@bp.doc(summary="Suspend a running instance (tasks cannot be completed, timers wait)", responses=[404, 409])
def suspend_instance(instance_id, body):
    with _service_errors():
        instance = services.suspend(instance_id, current_user, body["comment"], commit=False)
        return _operated("process.suspended", instance, comment=body["comment"] or "")


@bp.post("/process-instances/<int:instance_id>/resume")
@roles_required("admin")
@bp.doc(summary="Resume a suspended instance; timers that came due meanwhile fire now", responses=[404, 409])
def resume_instance(instance_id):
    with _service_errors():
        instance = services.resume(instance_id, current_user, commit=False)
        return _operated("process.resumed", instance)


@bp.post("/process-instances/<int:instance_id>/migrate")
@roles_required("admin")
@bp.input(MigrateIn, arg_name="body")
@bp.doc(summary="Move an instance to the current version of its process; 409 with the reason (and the "
                "elements in the way in details) when it cannot follow the change, or when ?version is stale",
        responses=[403, 404, 409])
def migrate_instance(instance_id, body):
    with _service_errors():
        instance = services.migrate_instance(instance_id, current_user, commit=False,
                                             expected_version=body["version"])
        db.session.commit()  # the service wrote the audit row
        return services.instance_view(instance)
