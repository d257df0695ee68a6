"""API: the inbox (/api/v1/tasks), tracking (/api/v1/my-submissions), out-of-office and the
operator console (/api/v1/operator/instances)."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import request
from flask_login import current_user

from app.access import admin_required, login_required
from app.api.frame import page_of
from app.forms.languages import in_reader_language
from app.inbox import attachments, schemas, services

bp = APIBlueprint("inbox_api", __name__, url_prefix="/api/v1", tag="Inbox")


def _iso(value):
    return value.isoformat() if value is not None else None


def _record(instance):
    return {"type": instance.record_type, "id": instance.record_id} if instance.record_type else None


def form_schema_for(task):
    form = services.form_of(task)
    return in_reader_language(form.schema) if form is not None else None


def task_out(task, extra: dict | None = None, include_form: bool = True, user=None) -> dict:
    instance = task.instance
    out = {
        "id": task.id, "name": task.name, "bpmn_id": task.bpmn_id, "process_key": instance.process_key,
        "process_version": instance.definition.version, "instance_id": instance.id,
        "status": task.status, "assignee": task.assignee, "claimed_by": task.claimed_by,
        "candidate_groups": list(task.candidate_groups or []), "candidate_users": list(task.candidate_users or []),
        "due_at": _iso(task.due_at), "created_at": _iso(task.created_at), "updated_at": _iso(task.updated_at),
        "completed_by": task.completed_by, "completed_at": _iso(task.completed_at), "version": task.version,
        "form_key": task.form_key, "form_version": task.form_version, "record": _record(instance),
    }
    if include_form:
        out["form"] = form_schema_for(task)
        out["data"] = services.task_form_values(task, user)
    if extra:
        out.update(extra)
    return out


def _row_out(row: dict, include_form: bool) -> dict:
    return task_out(row["task"], {
        "process_name": row["process_name"], "record_label": row["record_label"], "started_by": row["starter"],
        "overdue": row["overdue"],
        "offered": not (row["task"].assignee or row["task"].claimed_by),
    }, include_form=include_form, user=current_user)


def history_out(row) -> dict:
    return {"at": _iso(row.at), "actor": row.actor, "event": row.event, "task": row.task, "comment": row.comment,
            "data": row.data}


def attachment_out(row) -> dict:
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "sha256": row.sha256, "uploaded_by": row.uploaded_by, "uploaded_at": _iso(row.uploaded_at),
            "task_id": row.task_id, "comment": row.comment, "url": f"/api/v1/attachments/{row.id}"}


# ------------------------------------------------------------------ inbox

@bp.get("/tasks")
@login_required
@bp.input(schemas.TaskQuery, location="query", arg_name="query")
@bp.doc(summary="Open tasks the caller can act on: assigned or claimed, and unclaimed ones offered to them",
        responses=schemas.answers(schemas.TaskPage))
def list_tasks(query):
    filters = {k: query[k] for k in ("scope", "process", "record", "due", "created_from", "created_to", "sort")}
    result = services.task_page(current_user, query["page"], query["per_page"], **filters)
    result["items"] = [_row_out(r, query["include_form"]) for r in result["items"]]
    return result


@bp.get("/tasks/<int:task_id>")
@login_required
@bp.doc(summary="A task with its form, data, history, attachments, duplicate warnings and what its record "
                "changed since it was sent (record_changes)", responses=schemas.answers(schemas.TaskDetail, 200, 404))
def get_task(task_id):
    task = services.get_task_for(task_id, current_user)
    instance = task.instance
    return task_out(task, {
        "history": [history_out(h) for h in services.timeline(instance)],
        "attachments": [attachment_out(a) for a in attachments.attachments_of(instance.id)],
        "duplicates": services.duplicates_for(instance),
        # what the approver's page shows above the form: the record changed since it was sent
        "record_changes": services.record_changes(task, current_user),
        "can_act": services.can_act(task, current_user),
        "can_reassign": services.can_reassign(task, current_user),
    }, user=current_user)


@bp.post("/tasks/<int:task_id>/claim")
@login_required
@bp.doc(summary="Take a task offered to one of your groups", responses=schemas.answers(schemas.TaskOut, 200, 403, 404, 409))
def claim(task_id):
    return task_out(services.claim(task_id, current_user), include_form=False)


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
@bp.doc(summary="Give a claimed task back to its groups", responses=schemas.answers(schemas.TaskOut, 200, 403, 404, 409))
def unclaim(task_id):
    return task_out(services.unclaim(task_id, current_user), include_form=False)


@bp.post("/tasks/<int:task_id>/complete")
@login_required
@bp.input(schemas.CompleteIn, arg_name="body")
@bp.doc(summary="Complete a task with its form's values (approve/reject with a comment)",
        responses=schemas.answers(schemas.TaskOut, 200, 400, 403, 404, 409))
def complete(task_id, body):
    task = services.complete(task_id, current_user, body["data"])
    return task_out(task, include_form=False)


@bp.post("/tasks/<int:task_id>/draft")
@login_required
@bp.input(schemas.DraftIn, arg_name="body")
@bp.doc(summary="Save the form's values without completing",
        responses=schemas.answers(schemas.DraftOut, 200, 400, 403, 404, 409))
def save_draft(task_id, body):
    draft = services.save_draft(task_id, current_user, body["data"])
    return {"task_id": task_id, "data": draft.data, "saved_at": _iso(draft.saved_at)}


@bp.post("/tasks/<int:task_id>/comments")
@login_required
@bp.input(schemas.CommentIn, arg_name="body")
@bp.doc(summary="Comment on a task without completing it", responses=schemas.answers(schemas.HistoryEntry, 201, 400, 404))
def comment(task_id, body):
    return history_out(services.add_comment(task_id, current_user, body["comment"])), 201


@bp.post("/tasks/<int:task_id>/delegate")
@login_required
@bp.input(schemas.DelegateIn, arg_name="body")
@bp.doc(summary="Hand the task to another user (optionally it comes back to you after their answer)",
        responses=schemas.answers(schemas.TaskOut, 200, 400, 403, 404, 409))
def delegate(task_id, body):
    task = services.delegate(task_id, current_user, body["to"], body["comment"], body["return_to_delegator"])
    return task_out(task, include_form=False)


@bp.post("/tasks/<int:task_id>/reassign")
@login_required
@bp.input(schemas.ReassignIn, arg_name="body")
@bp.doc(summary="Give the task to another user (managers of its groups, administrators)",
        responses=schemas.answers(schemas.TaskOut, 200, 400, 403, 404, 409))
def reassign(task_id, body):
    return task_out(services.reassign(task_id, current_user, body["to"], body["comment"]), include_form=False)


@bp.post("/tasks/<int:task_id>/attachments")
@login_required
@bp.doc(summary="Attach a file (multipart field `file`, optional `comment`)",
        responses=schemas.answers(schemas.AttachmentOut, 201, 400, 404, 413, 415))
def add_attachment(task_id):
    row = attachments.add_attachment(task_id, current_user, request.files.get("file"), request.form.get("comment"))
    return attachment_out(row), 201


@bp.get("/attachments/<int:attachment_id>")
@login_required
@bp.doc(summary="Download an attachment", responses=[404])
def download_attachment(attachment_id):
    return attachments.download(attachments.get_attachment_for(attachment_id, current_user))


# ------------------------------------------------------------------ out of office

def ooo_out(row) -> dict:
    return {"id": row.id, "substitute": row.substitute.username, "starts_at": _iso(row.starts_at),
            "ends_at": _iso(row.ends_at), "starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat(),
            "note": row.note}


@bp.get("/out-of-office")
@login_required
@bp.doc(summary="The caller's current and planned out-of-office periods", responses=schemas.answers(schemas.OutOfOfficeList))
def list_out_of_office():
    rows = services.out_of_office_periods(current_user)
    return {"items": [ooo_out(r) for r in rows], "total": len(rows)}


@bp.post("/out-of-office")
@login_required
@bp.input(schemas.OutOfOfficeIn, arg_name="body")
@bp.doc(summary="Be away: new tasks assigned to you go to the substitute",
        responses=schemas.answers(schemas.OutOfOfficeOut, 201, 400))
def set_out_of_office(body):
    row = services.set_out_of_office(current_user, body["substitute"], body["starts_on"], body["ends_on"], body["note"])
    return ooo_out(row), 201


@bp.delete("/out-of-office/<int:period_id>")
@login_required
@bp.output({}, status_code=204)
@bp.doc(responses=[404])
def delete_out_of_office(period_id):
    services.delete_out_of_office(current_user, period_id)
    return ""


# ------------------------------------------------------------------ tracking

def instance_out(instance, extra: dict | None = None) -> dict:
    open_tasks = services.open_tasks_of([instance.id]).get(instance.id, [])
    out = {
        "id": instance.id, "process_key": instance.process_key, "version": instance.definition.version,
        "status": instance.status, "record": _record(instance), "data": instance.data,
        "created_at": _iso(instance.created_at), "completed_at": _iso(instance.completed_at),
        "error": instance.error,
        "active_tasks": [{"id": t.id, "name": t.name, "bpmn_id": t.bpmn_id, "holder": services.holder(t),
                          "holder_label": services.holder_label(t), "candidate_groups": t.candidate_groups,
                          "due_at": _iso(t.due_at)} for t in open_tasks],
    }
    if extra:
        out.update(extra)
    return out


@bp.get("/my-submissions")
@login_required
@bp.input(schemas.SubmissionQuery, location="query", arg_name="query")
@bp.doc(summary="Processes the caller started (e.g. customer reports): status, current step, holder",
        responses=schemas.answers(schemas.SubmissionPage))
def my_submissions(query):
    stmt = services.submissions_query(current_user, query["status"], query["process"])
    result = page_of(stmt, query["page"], query["per_page"], lambda instance: instance)
    result["items"] = [instance_out(i, {"can_withdraw": services.can_withdraw(i, current_user)})
                       for i in result["items"]]
    return result


@bp.get("/my-submissions/<int:instance_id>")
@login_required
@bp.doc(summary="One of the caller's processes with its history", responses=schemas.answers(schemas.SubmissionDetail, 200, 404))
def my_submission(instance_id):
    instance = services.get_instance_for(instance_id, current_user)
    return instance_out(instance, {"history": [history_out(h) for h in services.timeline(instance)],
                                   "can_withdraw": services.can_withdraw(instance, current_user)})


@bp.post("/my-submissions/<int:instance_id>/withdraw")
@login_required
@bp.input(schemas.OptionalCommentIn, arg_name="body")
@bp.doc(summary="Withdraw a submission nobody has acted on yet",
        responses=schemas.answers(schemas.SubmissionOut, 200, 403, 404, 409))
def withdraw(instance_id, body):
    return instance_out(services.withdraw(instance_id, current_user, body["comment"]))


# ------------------------------------------------------------------ operator console

@bp.get("/operator/instances")
@admin_required
@bp.input(schemas.InstanceQuery, location="query", arg_name="query")
@bp.doc(summary="All process instances with filters, and counts per status")
def operator_instances(query):
    filters = {k: query[k] for k in ("process", "version", "status", "started_by", "record", "started_from",
                                     "started_to")}
    stmt = services.instance_list_query(**filters)
    counts = services.status_counts(services.instance_list_query(**{**filters, "status": None}))
    result = page_of(stmt, query["page"], query["per_page"], lambda instance: instance)
    result["items"] = [instance_out(i) for i in result["items"]]
    result["counts"] = counts
    return result


@bp.post("/operator/instances/<int:instance_id>/suspend")
@admin_required
@bp.input(schemas.OptionalCommentIn, arg_name="body")
@bp.doc(responses=[403, 404, 409])
def suspend(instance_id, body):
    return instance_out(services.suspend(instance_id, current_user, body["comment"]))


@bp.post("/operator/instances/<int:instance_id>/resume")
@admin_required
@bp.input(schemas.OptionalCommentIn, arg_name="body")
@bp.doc(responses=[403, 404, 409])
def resume(instance_id, body):
    return instance_out(services.resume(instance_id, current_user, body["comment"]))


@bp.post("/operator/instances/<int:instance_id>/terminate")
@admin_required
@bp.input(schemas.ReasonIn, arg_name="body")
@bp.doc(responses=[400, 403, 404, 409])
def terminate(instance_id, body):
    return instance_out(services.terminate(instance_id, current_user, body["reason"]))


@bp.post("/operator/instances/<int:instance_id>/retry")
@admin_required
@bp.input(schemas.RetryIn, arg_name="body")
@bp.doc(summary="Run the failed step again, after merging corrected data", responses=[400, 403, 404, 409])
def retry(instance_id, body):
    return instance_out(services.retry(instance_id, current_user, body["data"]))

