"""Administration API: the audit log, read-only (admins; there is deliberately no write route:
rows are only ever added by the actions they describe, and PostgreSQL refuses edits, see
migration 0014), handing a leaver's work over, and the background jobs (what waits, what
failed, trying a failed one again)."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Integer, String
from apiflask.validators import Length, OneOf, Range, Regexp
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import validates_schema, ValidationError

from app.access import admin_required
from app.admin import handover
from app.api.errors import ApiError
from app.api.frame import PageQuery, page_of
from app.audit import AuditEvent, audit_query, event_label
from app.jobs import services as jobs
from app.jobs.models import Job

bp = APIBlueprint("admin_api", __name__, url_prefix="/api/v1", tag="Administration")


NO_NUL = Regexp(r"^[^\x00]*$", error="Must not contain NUL characters.")  # PostgreSQL text cannot hold NUL


class AuditQuery(PageQuery):
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))  # OFFSET must fit the DB
    event = String(load_default=None, validate=[Length(max=64), NO_NUL])
    actor = String(load_default=None, validate=[Length(max=80), NO_NUL])
    target = String(load_default=None, validate=[Length(max=200), NO_NUL])
    since = AwareDateTime(load_default=None, default_timezone=None)
    until = AwareDateTime(load_default=None, default_timezone=None)

    @validates_schema
    def _range(self, data, **kwargs):
        for name in ("since", "until"):
            value = data.get(name)
            if value is not None and not 2000 <= value.year <= 2199:
                raise ValidationError("Dates must lie between 2000 and 2199.", name)


def event_out(row: AuditEvent) -> dict:
    return {"id": row.id, "at": row.at.isoformat(), "actor": row.actor_name or None, "event": row.event,
            "event_label": event_label(row.event), "target": row.target, "ip": row.ip, "details": row.details}


@bp.get("/audit-events")
@admin_required
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.doc(summary="The audit log, newest first (admins). ?event= prefix, ?actor= user name, ?target= what was "
                "acted on (a user or group name, task:5), ?since=/&until= ISO 8601 times with offset",
        description="Each item's `event` is the stable code (`login.failure`), `event_label` its name in "
                    "the caller's language (the code itself for a code without one).",
        responses=[400, 401, 403])
def list_audit_events(query):
    stmt = audit_query(query["event"], query["actor"], query["since"], query["until"], query["target"])
    return page_of(stmt, query["page"], query["per_page"], serialize=event_out)


class HandOverIn(Schema):
    to = String(required=True, validate=[Length(min=1, max=80), NO_NUL])


@bp.post("/users/<username>/hand-over")
@admin_required
@bp.input(HandOverIn, arg_name="body")
@bp.doc(summary="Give everything a user holds (owned records, open tasks, groups managed) to another "
                "active user, e.g. when they leave; answers what moved", responses=[400, 401, 403, 404])
def hand_over(username, body):
    from app.auth.services import get_user

    user = get_user(username) if "\x00" not in username else None
    if user is None:
        raise ApiError(404, "not_found", _("No such user."))
    return {"moved": handover.hand_over(user, body["to"], current_user)}


class JobsQuery(PageQuery):
    status = String(load_default="failed", validate=OneOf(["failed", "pending", "running"]))
    kind = String(load_default=None, validate=[Length(max=80), NO_NUL])


def job_out(job: Job) -> dict:
    return {"id": job.id, "kind": job.kind, "status": job.status, "attempts": job.attempts,
            "max_attempts": job.max_attempts, "due_at": job.due_at.isoformat(), "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None, "payload": job.payload,
            "error": jobs.error_summary(job.last_error), "last_error": job.last_error,
            # a running job: the worker holding it (host:pid) and until when before another takes it over
            "locked_by": job.locked_by if job.status == "running" else None,
            "locked_until": job.locked_until.isoformat() if job.status == "running" and job.locked_until else None}


@bp.get("/jobs")
@admin_required
@bp.input(JobsQuery, location="query", arg_name="query")
@bp.doc(summary="Background jobs of one status, newest first (admins; default: failed). `error` is the "
                "last error's final line, `last_error` its traceback", responses=[400, 401, 403])
def list_jobs(query):
    return page_of(jobs.jobs_query(query["status"], query["kind"]), query["page"], query["per_page"],
                   serialize=job_out)


@bp.get("/jobs/backlog")
@admin_required
@bp.doc(summary="Open and failed jobs by kind, and how long the oldest due job has waited (admins). "
                "`worker_late_seconds` is set when due work waits longer than a running worker allows; "
                "`worker_seen` is false when no worker scheduled its periodic jobs lately",
        responses=[401, 403])
def job_backlog():
    backlog = jobs.backlog()
    late = backlog.worker_late
    return {"kinds": backlog.counts,
            "oldest_due_at": backlog.oldest_due_at.isoformat() if backlog.oldest_due_at else None,
            "worker_late_seconds": int(late.total_seconds()) if late else None, "worker_seen": backlog.worker_seen}


@bp.post("/jobs/<int:job_id>/retry")
@admin_required
@bp.doc(summary="Try a failed job again with a fresh set of attempts, due now (admins); 409 when it is "
                "not failed", responses=[401, 403, 404, 409])
def retry_job(job_id):
    return job_out(jobs.retry(job_id, current_user))
