from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.access import admin_required
from app.admin import handover
from app.api.errors import ApiError
from app.api.versions import refuse_stale
from app.audit import (AREAS, audit, audit_query, csv_lines, details_json, event_choices, event_label,
                       label_audit_events, label_audit_values, labelled_events, readable_details,
                       readable_target)
from app.clock import company_today, day_start
from app.auth import services
from app.auth.models import ROLES, Group, User
from app.extensions import db
from app.jobs import services as jobs
from app.ui.dashboard import Figure, Section, add_home_sections
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {"admin": _l("Administrator"), "designer": _l("Process designer"),
               "approver": _l("Approver"), "sales": _l("Sales")}
label_audit_values("roles", ROLE_LABELS)
# What each role grants, said on the user form: records follow their owner and tasks their
# groups, so taking 销售 or 审批人 away alone stops nobody working on them.
ROLE_HINTS = {"admin": _l("Everything: people, settings, every record, task and report."),
              "designer": _l("Process modeler, forms and automation rules; every report."),
              "approver": _l("Reports for the groups they manage; may stand in for another approver. The tasks "
                             "they get come from their groups."),
              "sales": _l("Sales reports; may stand in for another salesperson. The customers they work on are "
                          "the ones they own.")}


@bp.record_once
def _nav(state):
    add_nav_item(state.app, NavItem("admin.users", _l("Admin"), 92, roles=("admin",), menu="manage"))
    add_home_sections(state.app, _home_sections, order=90)


def _home_sections(user) -> list[Section]:
    """The administrator's background jobs: what failed, and whether a worker takes the due ones."""
    if not user.is_admin:
        return []
    backlog = jobs.backlog()
    late = backlog.worker_late
    stopped = late is not None or not backlog.worker_seen
    worker = (_l("%(minutes)d min late", minutes=late.total_seconds() // 60) if late
              else _l("not running") if stopped else _l("on time"))
    return [Section("system", _l("System"), [
        Figure(_l("Failed background jobs"), backlog.failed, url_for("admin.jobs_page", status="failed"),
               alert=backlog.failed > 0),
        Figure(_l("Background worker"), worker, url_for("admin.jobs_page", status="pending"),
               note=_l("no worker seems to be running") if stopped else None, alert=stopped),
    ])]


def _all_groups():
    return db.session.scalars(select(Group).options(selectinload(Group.members)).order_by(Group.name)).all()


def _all_users():
    return db.session.scalars(select(User).options(selectinload(User.roles), selectinload(User.groups))
                              .order_by(User.username)).all()


def _form_list(name):
    return [v for v in request.form.getlist(name) if v]


@bp.get("/users")
@admin_required
def users():
    return render_template("admin/users.html", users=_all_users(), role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    errors = {}
    if request.method == "POST":
        try:
            user = services.create_user(
                actor=current_user, username=request.form.get("username", ""),
                password=request.form.get("password", ""), display_name=request.form.get("display_name", ""),
                email=request.form.get("email") or None, roles=_form_list("roles"), groups=_form_list("groups"),
                locale=_form_locale(),
            )
        except ApiError as error:
            db.session.rollback()
            errors = error.by_field()
            flash(error.message, "danger")
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", user=None, roles=ROLES, role_labels=ROLE_LABELS, role_hints=ROLE_HINTS,
                           groups=_all_groups(), errors=errors, form=request.form), 400 if errors else 200


def _refuse_a_stale_page(target, what: str) -> None:
    """Another administrator saved ``target`` since this page was loaded: written back whole, the
    page undid their save (a deactivated user active again, removed roles back). 409, the page
    shown again as it was filled in, now with the current version: saving again applies it."""
    refuse_stale(target, request.form.get("version", type=int), _(
        "Another administrator saved this %(what)s while you were editing it; saved as it stood, your page would have "
        "undone their changes. Your form is below as you filled it, not saved yet: check it against theirs (the audit "
        "log shows what they changed) and save again.", what=what))


def _form_locale() -> str:
    """The user's language ("": not chosen): chosen by an administrator, a new colleague's first
    notices and e-mails, sent before they ever sign in, come in it."""
    from app import LOCALES

    chosen = request.form.get("locale", "")
    return chosen if chosen in LOCALES else ""


@bp.route("/users/<username>", methods=["GET", "POST"])
@admin_required
def edit_user(username):
    user = services.get_user(username) or abort(404)
    errors = {}
    if request.method == "POST":
        try:
            _refuse_a_stale_page(user, _("user"))
            services.update_user(
                user, actor=current_user, display_name=request.form.get("display_name", ""),
                email=request.form.get("email", ""), roles=_form_list("roles"), groups=_form_list("groups"),
                active=request.form.get("active") == "y", password=request.form.get("password") or None,
                locale=_form_locale(),
            )
        except ApiError as error:
            db.session.rollback()
            errors = error.by_field()
            flash(error.message, "danger")
        else:
            flash(_("User %(name)s saved.", name=user.username), "success")
            if user.active:
                return redirect(url_for("admin.users"))
            # Deactivated: the page says what is left to hand over, and which groups now have nobody.
            empty = services.groups_left_without_members(user)
            if empty:
                flash(_("%(name)s was the last active member of %(groups)s: tasks offered to them can no longer be "
                        "claimed. Add someone to these groups.", name=user.label,
                        groups=_(", ").join(group.label for group in empty)), "warning")
            from app.automation.services import rules_naming_person

            naming = rules_naming_person(user.username)
            if naming:
                flash(_("The automation rules %(rules)s name %(name)s: their notices and to-dos reach nobody now. "
                        "Change them.", name=user.label, rules=_(", ").join(f"“{rule.name}”" for rule in naming)),
                      "warning")
            return redirect(url_for("admin.edit_user", username=user.username))
    return _user_page(user, errors)


def _user_page(user, errors):
    successors = [u for u in _all_users() if u.active and u.id != user.id]
    groups = _all_groups()
    return render_template("admin/user_form.html", user=user, roles=ROLES, role_labels=ROLE_LABELS, role_hints=ROLE_HINTS,
                           groups=groups, group_labels={g.name: g.label for g in groups},
                           user_labels={u.username: u.label for u in successors},
                           errors=errors, form=request.form, holdings=handover.holdings(user),
                           successors=successors, locked_for=services.account_lock_remaining(user),
                           tokens=services.live_tokens(user)), 400 if errors else 200


@bp.post("/users/<username>/revoke-tokens")
@admin_required
def revoke_tokens(username):
    user = services.get_user(username) or abort(404)
    count = services.revoke_all_tokens(user, current_user)
    flash(ngettext("%(num)d API token of %(name)s was revoked.", "%(num)d API tokens of %(name)s were revoked.",
                   count, name=user.label), "success")
    return redirect(url_for("admin.edit_user", username=user.username))


@bp.post("/users/<username>/unlock")
@admin_required
def unlock_user(username):
    user = services.get_user(username) or abort(404)
    services.unlock(user, current_user)
    db.session.commit()
    flash(_("%(name)s may sign in again.", name=user.label), "success")
    return redirect(url_for("admin.edit_user", username=user.username))


@bp.post("/users/<username>/hand-over")
@admin_required
def hand_over(username):
    user = services.get_user(username) or abort(404)
    try:
        moved = handover.hand_over(user, request.form.get("to", ""), current_user)
    except ApiError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _user_page(user, {}), 400
    # What moved, not what did not ("0 个待办、0 个待办事项"): approvals and a rule's to-dos by their own words.
    counted = ((moved["tasks"], ngettext("%(num)d approval task", "%(num)d approval tasks", moved["tasks"])),
               (moved["todos"], ngettext("%(num)d to-do", "%(num)d to-dos", moved["todos"])),
               (sum(moved["records"].values()),
                ngettext("%(num)d record", "%(num)d records", sum(moved["records"].values()))))
    what = [text for number, text in counted if number]
    if moved["groups"]:  # by the names people know them by (福州小组, not fuzhou-team)
        labels = {g.name: g.label for g in db.session.scalars(select(Group).where(Group.name.in_(moved["groups"])))}
        what.append(_("manager of %(groups)s", groups=_(", ").join(labels.get(n, n) for n in moved["groups"])))
    if moved["substituting"]:
        away = {u.username: u.label for u in db.session.scalars(select(User).where(User.username.in_(moved["substituting"])))}
        what.append(_("out-of-office substitute for %(people)s",
                      people=_(", ").join(away.get(n, n) for n in moved["substituting"])))
    flash(_("The work of %(name)s was handed over: %(what)s.", name=user.label, what=_(", ").join(what))
          if what else _("%(name)s held nothing to hand over.", name=user.label), "success")
    if moved.get("tasks_kept"):
        flash(ngettext("%(num)d task stays: the successor decided an earlier step of its process. Reassign it to "
                       "someone else.", "%(num)d tasks stay: the successor decided an earlier step of their process. "
                       "Reassign them to someone else.", len(moved["tasks_kept"])), "warning")
    return redirect(url_for("admin.edit_user", username=user.username))


@bp.get("/groups")
@admin_required
def groups():
    return render_template("admin/groups.html", groups=_all_groups())


@bp.route("/groups/new", methods=["GET", "POST"])
@bp.route("/groups/<name>", methods=["GET", "POST"])
@admin_required
def edit_group(name=None):
    group = None
    if name is not None:
        group = services.get_group(name) or abort(404)
    errors = {}
    if request.method == "POST":
        fields = dict(display_name=request.form.get("display_name", ""),
                      description=request.form.get("description", ""),
                      manager=request.form.get("manager") or None, members=_form_list("members"),
                      parent=request.form.get("parent") or None)
        had_members = group is not None and any(member.active for member in group.members)
        try:
            if group is None:
                group = services.create_group(actor=current_user, name=request.form.get("name", ""), **fields)
            else:
                _refuse_a_stale_page(group, _("group"))
                services.update_group(group, actor=current_user, **fields)
        except ApiError as error:
            db.session.rollback()
            errors = error.by_field()
            flash(error.message, "danger")
        else:
            flash(_("Group %(name)s saved.", name=group.name), "success")
            if had_members and not any(member.active for member in group.members):
                # As when its last member is deactivated: its tasks now wait for nobody.
                flash(_("%(group)s has no active member any more: tasks offered to it can no longer be claimed. "
                        "Add someone to it.", group=group.label), "warning")
                return redirect(url_for("admin.edit_group", name=group.name))
            return redirect(url_for("admin.groups"))
    return render_template("admin/group_form.html", group=group, users=_all_users(), groups=_all_groups(),
                           errors=errors, form=request.form), 400 if errors else 200


def _audit_filters():
    """The audit log's filters from the query string, as the page and its export apply them:
    the query and the filter values to show (and pass on)."""
    # PostgreSQL text cannot hold NUL: such a filter matches nothing anyway.
    event = (request.args.get("event") or "").replace("\x00", "").strip()[:64]
    actor = (request.args.get("actor") or "").replace("\x00", "").strip()[:80]
    target = (request.args.get("target") or "").replace("\x00", "").strip()[:200]
    since, until = _day(request.args.get("since")), _day(request.args.get("until"))
    # The date fields are whole company days, as the list shows its times; "until" includes its day.
    stmt = audit_query(event or None, actor or None, day_start(since) if since else None,
                       day_start(until + timedelta(days=1)) if until else None, target or None)
    filters = {"event": event, "actor": actor, "target": target, "since": since.isoformat() if since else "",
               "until": until.isoformat() if until else ""}
    return stmt, filters


@bp.get("/audit")
@admin_required
def audit_log():
    page = min(max(request.args.get("page", 1, type=int), 1), 1_000_000)
    stmt, filters = _audit_filters()
    rows = db.session.scalars(stmt.limit(101).offset((page - 1) * 100)).all()
    # A prefix typed into the URL (``?event=login.fail``) stays selected as it is.
    event = filters["event"]
    typed_event = "" if event in AREAS or event in labelled_events() else event
    return render_template("admin/audit.html", rows=rows[:100], has_next=len(rows) > 100, page=page,
                           filters=filters, event_choices=event_choices(), typed_event=typed_event,
                           event_label=event_label, readable_details=readable_details, details_json=details_json,
                           readable_target=readable_target,
                           **filters)


label_audit_events({"audit.exported": _l("Audit log exported")})


@bp.get("/audit/export.csv")
@admin_required
def audit_export():
    """The filtered log as CSV, all of it: a cut-off file would hand an auditor an incomplete
    record without saying so, and the rows stream in batches, so size costs time, not memory."""
    stmt, filters = _audit_filters()
    # Committed before the rows stream: the export is on record even if the download breaks off.
    audit("audit.exported", actor=current_user, filters={key: value for key, value in filters.items() if value})
    db.session.commit()
    return Response(stream_with_context(csv_lines(stmt)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audit-log-{company_today()}.csv"'})


JOB_STATUSES = {"failed": _l("Failed"), "pending": _l("Waiting"), "running": _l("Running")}


@bp.get("/jobs")
@admin_required
def jobs_page():
    kinds = jobs.kind_labels()
    status = request.args.get("status") if request.args.get("status") in JOB_STATUSES else "failed"
    kind = request.args.get("kind") if request.args.get("kind") in kinds else None
    rows = db.session.scalars(jobs.jobs_query(status, kind).limit(100)).all()
    return render_template("admin/jobs.html", backlog=jobs.backlog(), rows=rows, status=status, kind=kind,
                           kinds=kinds, statuses=JOB_STATUSES, error_summary=jobs.error_summary,
                           payload_summary=jobs.payload_summary)


@bp.post("/jobs/<int:job_id>/retry")
@admin_required
def retry_job(job_id):
    try:
        job = jobs.retry(job_id, current_user)
    except ApiError as error:
        if error.status == 404:
            abort(404)
        flash(error.message, "warning")
    else:
        flash(_("Job #%(id)s will be tried again by the worker.", id=job.id), "success")
    return redirect(url_for("admin.jobs_page", status="failed"))


def _day(value: str | None) -> date | None:
    """A YYYY-MM-DD filter value; anything else is no filter (the field shows empty)."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2199 else None
