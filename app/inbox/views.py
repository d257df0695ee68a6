"""Pages: the inbox, a task, my submissions, an instance, out-of-office, the operator console."""
from __future__ import annotations

import copy
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_login import current_user
from sqlalchemy import select

from app.access import admin_required, login_required
from app.api.errors import ApiError
from app.auth.models import User
from app.clock import day_start
from app.db import MAX_ID, utcnow
from app.extensions import db
from app.forms.embedded import CRM_FIELD_PROPERTY, choice_options, iter_components, reference_label
from app.forms.languages import in_reader_language
from app.crm import services as crm_services
from app.engine import services as engine
from app.inbox import attachments, services
from app.ui.dashboard import Figure, Section

bp = Blueprint("inbox", __name__)

PER_PAGE = 25

def event_label(event: str) -> str:
    labels = {
        "started": _("started"), "task_created": _("task created"), "claimed": _("claimed"),
        "unclaimed": _("released"), "completed_task": _("completed"), "commented": _("commented"),
        "delegated": _("delegated"), "delegation_returned": _("answered the delegation"),
        "reassigned": _("reassigned"), "out_of_office": _("out of office: routed to substitute"),
        "out_of_office_kept": _("out of office, but the substitute is a party to this process: the task stays"),
        "out_of_office_ended": _("back from out of office: the task went back"),
        "attachment_added": _("attached a file"), "task_cancelled": _("task cancelled"),
        "task_closed": _("task closed by the process"),
        "timer_fired": _("timer fired"), "completed": _("process completed"), "error": _("error"),
        "retried": _("retried"), "terminated": _("terminated"), "withdrawn": _("withdrawn"),
        "suspended": _("suspended"), "resumed": _("resumed"), "migrated": _("moved to a new version"),
        "owner_followed": _("owner changed with the record"),
    }
    return labels.get(event, event)


def status_label(status: str) -> str:
    return {"running": pgettext("status", "Running"), "completed": pgettext("status", "Completed"),
            "error": pgettext("status", "Error"), "terminated": pgettext("status", "Terminated"),
            "suspended": pgettext("status", "Suspended"), "open": pgettext("status", "Open"),
            "cancelled": pgettext("status", "Cancelled"), "withdrawn": _("Withdrawn")}.get(status, status)


def decision_label(value, instance=None) -> str | None:
    """A decision's badge: approved / rejected, another choice (rework) by its form's label (返工),
    as the data panel reads it, not its stored value."""
    known = {"approve": _("approved"), "reject": _("rejected")}.get(value)
    if known is not None or instance is None:
        return known
    return str(services.data_as_read(instance, {"decision": value})[0]["text"])


@bp.app_context_processor
def _helpers():
    return {"inbox_event_label": event_label, "inbox_status_label": status_label,
            "inbox_decision_label": decision_label, "inbox_user_label": _user_label,
            "duplicate_reason": crm_services.duplicate_reason, "inbox_status_class": status_class,
            "report_status_label": report_status_label, "inbox_group_labels": group_labels,
            "inbox_submitted": submitted_rows,
            "inbox_own_decision": lambda task: services.own_decision(task, current_user)}


def submitted_rows(instance, data) -> list[dict]:
    """What a step's form submitted besides its decision (shown as a badge), as people read it:
    an operator retrying after a failed step sees the values the approver gave."""
    return services.data_as_read(instance, {k: v for k, v in (data or {}).items() if k != "decision"})


def group_labels(names) -> str:
    from app.auth.models import Group

    names = list(names or [])
    labels = {g.name: g.label for g in db.session.scalars(select(Group).where(Group.name.in_(names)))} if names else {}
    return ", ".join(labels.get(n, n) for n in names)


def status_class(status: str) -> str:
    return {"running": "text-bg-primary", "completed": "text-bg-success", "error": "text-bg-danger",
            "terminated": "text-bg-secondary", "suspended": "text-bg-warning"}.get(status, "text-bg-light")


def report_status_label(value) -> str:
    from app.crm import services as crm

    return crm.choice_label("customer", "report_status", value) if value else ""


def _user_label(username):
    if not username:
        return _("System")
    user = db.session.scalar(select(User).where(User.username == username))
    return user.label if user else username


def _arg(name):
    """A text filter from the query string (NUL removed: PostgreSQL text cannot hold it)."""
    return (request.args.get(name) or "").replace("\x00", "") or None


def _date_arg(name):
    value = request.args.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        return None
    return day_start(day)


def _page_arg(name="page"):
    return max(request.args.get(name, 1, type=int) or 1, 1)


# ------------------------------------------------------------------ inbox

@bp.get("/inbox")
@login_required
def index():
    sort = request.args.get("sort", "due")
    filters = {"process": _arg("process"), "record": _arg("record"),
               "due": request.args.get("due") if request.args.get("due") in ("overdue", "today", "week", "none") else None,
               "created_from": _date_arg("from"), "created_to": _date_arg("to"),
               "sort": sort if sort in services.SORTS else "due"}
    mine = services.task_page(current_user, _page_arg("page"), PER_PAGE, scope="mine", **filters)
    offered = services.task_page(current_user, _page_arg("opage"), PER_PAGE, scope="offered", **filters)
    for name, section in (("page", mine), ("opage", offered)):
        last = max(1, -(-section["total"] // PER_PAGE))
        if section["page"] > last:  # its last row just taken or done: the page before, not an empty one
            return redirect(url_for("inbox.index", **{**request.args.to_dict(), name: last}))
    todos, scheduled = services.open_todos(current_user), services.scheduled_todos(current_user)
    done = services.completed_by(request.args.get("completed", type=int), current_user)
    if done is not None and done.instance.status == "error":  # the decision stands; a later step failed
        flash(_("Done: %(task)s. The process then stopped at an error in a later step; the administrators "
                "have been told and can retry it.", task=services.about(done)), "warning")
    elif done is not None:  # the task page sends the approver here after completing
        flash(_("Done: %(task)s", task=services.about(done)), "success")  # which of many alike
    elif answered := services.answer_sent_back(request.args.get("completed", type=int), current_user):
        flash(_("Your answer went back to %(who)s, who delegated it to you: %(task)s",
                who=_user_label(answered[1]), task=services.about(answered[0])), "success")
    return render_template("inbox/index.html", mine=mine, offered=offered, todos=todos, scheduled=scheduled,
                           filters=filters,
                           processes=services.process_choices(), args=request.args, now_utc=utcnow())


def home_sections(user) -> list[Section]:
    """Everyone has an inbox: open tasks (the badge's number) and what is due, linking to the
    inbox filtered the same way."""
    work = services.workload(user)
    return [Section("tasks", _l("My tasks"), [
        Figure(_l("Open tasks"), work.open, url_for("inbox.index"), note=_l("approvals and to-dos")),
        Figure(_l("Overdue"), work.overdue, url_for("inbox.index", due="overdue"), alert=work.overdue > 0),
        Figure(_l("Due today"), work.due_today, url_for("inbox.index", due="today"), note=_l("overdue included")),
    ])]


def process_error_sections(user) -> list[Section]:
    """Processes stopped at an error wait for an administrator's retry (nothing moves them on)."""
    if not user.is_admin:
        return []
    stopped, unattended = services.instances_in_error(), services.unattended_task_count()
    return [Section("system", _l("System"), [
        Figure(_l("Processes stopped by an error"), stopped, url_for("inbox.operator", status="error"),
               note=_l("retry them in the process console"), alert=stopped > 0),
        Figure(_l("Tasks nobody can take"), unattended, url_for("inbox.operator", unattended=1),
               note=_l("their group has no active member: reassign them"), alert=unattended > 0)])]


# ------------------------------------------------------------------ task page

def readonly_schema(schema: dict | None, read_only_all: bool, values: dict | None = None) -> dict | None:
    """The form as the approver sees it: embedded fields read-only (always), and those that
    store codes (a stage's key, a status) or references (a customer's id, a username) shown
    by their names."""
    if schema is None:
        return None
    out = copy.deepcopy(schema)
    for component in iter_components(out.get("components")):
        path = (component.get("properties") or {}).get(CRM_FIELD_PROPERTY)
        if path or read_only_all:
            component["readonly"] = True
        options = choice_options(path) if path else None
        if options:
            component.update(type="select", values=[{"value": o["value"], "label": str(o["label"])} for o in options])
        elif path and values and component.get("key") in values:
            value = values[component["key"]]
            name = reference_label(path, value)
            if name is None and component.get("type") == "textfield" and isinstance(value, str):
                record_type, _dot, key = path.partition(".")
                shown = crm_services.display_value(record_type, key, value) if record_type in crm_services.FIELDS \
                    else value
                name = shown if shown != value else None  # 福建 read as Fujian in English
            if name is not None:
                component.update(type="select", values=[{"value": value, "label": name}])
    return out


def _form_context(task, can_act: bool, changes: list[dict]):
    form = services.form_of(task)
    values = services.task_form_values(task, current_user)
    return {"schema": readonly_schema(in_reader_language(form.schema if form else None), not can_act, values),
            "data": values,
            "diffs": {c["field"]: [c["then"], c["now"]] for c in changes},
            "readOnly": not can_act}


def _hand_over_candidates(instance):
    """Whom a task of ``instance`` may be handed to: never an interested party (who started it,
    whose record it decides)."""
    parties = services.interested_parties(instance)
    return [u for u in _users_for_picker() if u.username not in parties]


def _users_for_picker():
    return list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)))


@bp.get("/tasks/<int:task_id>")
@login_required
def task(task_id):
    task = services.get_task_for(task_id, current_user)
    instance = task.instance
    can_act = services.can_act(task, current_user)
    changes = services.record_changes(task, current_user)
    form = _form_context(task, can_act, changes)
    offered = services.can_claim(task) and engine.can_see(task, current_user)
    own_decision = offered and services.own_decision(task, current_user)
    page = render_template(
        "inbox/task.html", task=task, instance=instance, can_act=can_act,
        # One it is offered to, unless it decides their own request or record.
        can_claim=offered and not own_decision, own_decision=own_decision,
        can_unclaim=task.status == "open" and task.claimed_by == current_user.username,
        can_reassign=task.status == "open" and services.can_reassign(task, current_user),
        delegation=services.active_delegation(task), delegates_answer=services.delegates_answer(task, current_user),
        form=form, record_changes=changes, record=services.record_of(instance),
        earlier_rounds=services.earlier_rounds(instance),
        duplicates=services.duplicates_for(instance), history=services.timeline(instance),
        attachments=attachments.attachments_of(instance.id), markers=services.diagram_markers(instance),
        users=_hand_over_candidates(instance),
        holder_label=services.holder_label(task),
        max_upload=attachments.max_bytes(), now_utc=utcnow())
    # Never from the browser's cache: "back" after completing must show the task as done.
    return page, 200, {"Cache-Control": "no-store"}


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download_attachment(attachment_id):
    return attachments.download(attachments.get_attachment_for(attachment_id, current_user))


# ------------------------------------------------------------------ tracking

@bp.get("/my-submissions")
@login_required
def my_submissions():
    status = request.args.get("status") if request.args.get("status") in services.SUBMISSION_STATUSES else None
    stmt = services.submissions_query(current_user, status, _arg("process"))
    page = _page_arg()
    rows = db.session.execute(stmt.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)).all()
    instances = [r[0] for r in rows[:PER_PAGE]]
    open_tasks = services.open_tasks_of([i.id for i in instances])
    return render_template("inbox/submissions.html", rows=rows[:PER_PAGE], open_tasks=open_tasks, page=page,
                           has_next=len(rows) > PER_PAGE, status=status, processes=services.process_choices(),
                           statuses=services.SUBMISSION_STATUSES,
                           can_withdraw={i.id: services.can_withdraw(i, current_user) for i in instances},
                           holder_label=services.holder_label, standing=engine.how_they_stand(i.id for i in instances),
                           records={i.id: services.record_of(i) for i in instances})


def _data_rows_for(instance, user) -> list[dict]:
    """The instance's data as read on its page: a designer's own variables (approver_group),
    which no form or binding names, only for those who design processes."""
    rows = services.data_as_read(instance)
    if user.has_role("designer", "admin"):
        return rows
    return [row for row in rows if row["label"] != row["key"]]


@bp.get("/process-instances/<int:instance_id>")
@login_required
def instance(instance_id):
    instance = services.get_instance_for(instance_id, current_user)
    open_tasks = services.open_tasks_of([instance.id]).get(instance.id, [])
    return render_template("inbox/instance.html", instance=instance, open_tasks=open_tasks,
                           standing=engine.how_they_stand([instance.id]).get(instance.id, {}),
                           data_rows=_data_rows_for(instance, current_user),
                           history=services.timeline(instance), record=services.record_of(instance),
                           markers=services.diagram_markers(instance), holder_label=services.holder_label,
                           attachments=attachments.attachments_of(instance.id),
                           can_withdraw=services.can_withdraw(instance, current_user),
                           users=_hand_over_candidates(instance) if current_user.is_admin else [],
                           migrate_to=services.migration_target(instance) if current_user.is_admin else None)


@bp.post("/process-instances/<int:instance_id>/migrate")
@admin_required
def migrate_instance(instance_id):
    """The console's "Move to current version": done, or the reason it cannot be, as a message."""
    version = request.form.get("version", type=int)
    try:
        instance = services.migrate(instance_id, current_user, version if version and 0 < version <= MAX_ID else None)
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message, "danger")
    else:
        flash(_("The instance now runs on version %(version)d of the process.", version=instance.definition.version),
              "success")
    return redirect(url_for("inbox.instance", instance_id=instance_id))


# ------------------------------------------------------------------ out of office

@bp.route("/out-of-office", methods=["GET", "POST"])
@login_required
def out_of_office():
    """One's own periods; an administrator's for someone else (?user=, off sick and unable to)."""
    errors = {}
    who = current_user._get_current_object()
    if request.args.get("user") and request.args["user"] != who.username:
        if not current_user.is_admin:
            abort(403)
        who = db.session.scalar(select(User).where(User.username == request.args["user"])) or abort(404)
    back = url_for("inbox.out_of_office", **({"user": who.username} if who.id != current_user.id else {}))
    if request.method == "POST":
        if request.form.get("delete"):
            try:
                services.delete_out_of_office(who, int(request.form["delete"]), actor=current_user)
            except (ApiError, ValueError):
                abort(404)
            flash(_("The out-of-office period was removed."), "success")
            return redirect(back)

        def day(name):
            try:
                return date.fromisoformat(request.form.get(name, ""))
            except ValueError:
                return None

        try:
            services.set_out_of_office(who, request.form.get("substitute", ""), day("starts_on"),
                                       day("ends_on"), request.form.get("note", ""), actor=current_user)
        except ApiError as exc:
            errors = exc.by_field()
        else:
            flash(_("Saved: new tasks for you go to your substitute during this period.") if who.id == current_user.id
                  else _("Saved: new tasks for %(name)s go to the substitute during this period.", name=who.label),
                  "success")
            return redirect(back)
    users = [u for u in _users_for_picker() if u.id != who.id and services.may_substitute(u, who)]
    return render_template("inbox/out_of_office.html", periods=services.out_of_office_periods(who), who=who,
                           users=users, errors=errors, form=request.form), 400 if errors else 200


# ------------------------------------------------------------------ operator console

@bp.get("/operator")
@admin_required
def operator():
    args = request.args
    filters = {
        "process": _arg("process"), "version": v if 0 < (v := args.get("version", 0, type=int) or 0) <= MAX_ID else None,
        "status": args.get("status") if args.get("status") in services.OPERATOR_STATUSES else None,
        "started_by": _arg("started_by"), "record": _arg("record"),
        "started_from": _date_arg("from"), "started_to": _date_arg("to"),
        "unattended": args.get("unattended") == "1",
    }
    stmt = services.instance_list_query(**filters)
    counts = services.status_counts(services.instance_list_query(**{**filters, "status": None}))
    page = _page_arg()
    rows = db.session.execute(stmt.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)).all()
    open_tasks = services.open_tasks_of([r[0].id for r in rows[:PER_PAGE]])
    return render_template("inbox/operator.html", rows=rows[:PER_PAGE], page=page, has_next=len(rows) > PER_PAGE,
                           counts=counts, filters=filters, args=args, processes=services.process_choices(),
                           open_tasks=open_tasks, holder_label=services.holder_label,
                           statuses=services.OPERATOR_STATUSES, current_versions=services.current_versions(),
                           # by name as the list shows them, leavers too (they started processes)
                           starters=db.session.scalars(select(User).order_by(User.username)).all())

