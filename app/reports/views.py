"""Pages: the process report (with charts and the diagram heat overlay), the people report, the
sales report and the automation report. The figures come from :mod:`app.reports.services`; the charts are drawn
by the ``reports`` bundle from the same JSON the API returns (embedded in the page)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.access import login_required, roles_required
from app.automation.wording import ACTION_LABELS
from app.ui.nav import NavItem, add_nav_item

from . import sales, services
from .access import FULL, NAV_ROLES, people_scope

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.context_processor
def _access():
    return {"full_access": services.can_see_everything(current_user),
            "people_access": bool(people_scope(current_user)), "sales_access": sales.can_see_sales(current_user)}


@bp.app_template_filter("report_duration")
def report_duration(seconds) -> str:
    """Seconds as the unit that reads best: seconds, minutes, hours or days."""
    if seconds is None:
        return "–"
    if seconds < 60:  # half a minute read "0 min" beside a p90 of 7 min
        return _("%(n)s s", n=f"{seconds:.0f}")
    if seconds < 3600:
        return _("%(n)s min", n=f"{seconds / 60:.0f}")
    if seconds < 2 * 86400:
        return _("%(n)s h", n=f"{seconds / 3600:.1f}")
    return _("%(n)s d", n=f"{seconds / 86400:.1f}")


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None  # a bad date falls back to the default period


def _period():
    try:
        return services.make_period(_date_arg("from"), _date_arg("to"))
    except services.ReportError as error:
        period = services.make_period()
        flash(_("%(problem)s The report shows %(first)s to %(last)s instead.", problem=str(error),
                first=period.first.isoformat(), last=period.last.isoformat()), "warning")
        return period


@bp.get("/")
@login_required
def index():
    if services.can_see_everything(current_user):
        return redirect(url_for("reports.processes"))
    if people_scope(current_user):
        return redirect(url_for("reports.people"))
    if sales.can_see_sales(current_user):
        return redirect(url_for("reports.sales_page"))
    abort(403)


@bp.get("/processes")
@roles_required(*FULL)
def processes():
    period = _period()
    items = services.process_list()
    key = request.args.get("process") or services.default_process(items)
    version = request.args.get("version", type=int)
    if version not in next((p["versions"] for p in items if p["key"] == key), ()):
        version = None  # another process chosen, its version filter kept: all of its versions, not a 404
    report = xml = None
    if key:
        try:
            report = services.process_report(key, version, period)
            xml = services.diagram(key, version).xml
        except services.ReportError:
            abort(404)
    query = {"from": period.first.isoformat(), "to": period.last.isoformat(),
             **({"version": version} if version else {})}
    return render_template("reports/process.html", active="processes", period=period, processes=items,
                           key=key, version=version, report=report, xml=xml, query=query,
                           min_bottleneck_samples=services.MIN_BOTTLENECK_SAMPLES)


@bp.get("/people")
@login_required
def people():
    scope = people_scope(current_user)
    if scope is not None and not scope:
        abort(403)
    period = _period()
    process = request.args.get("process") or None
    report = services.people_report(period, scope, process, manager=current_user.username)
    query = {"from": period.first.isoformat(), "to": period.last.isoformat(), **({"process": process} if process else {})}
    return render_template("reports/people.html", active="people", period=period, report=report, query=query,
                           processes=services.process_list(), process=process, scope=scope,
                           scope_labels=_group_labels(scope or []))


@bp.get("/sales")
@login_required
def sales_page():
    if not sales.can_see_sales(current_user):
        abort(403)
    period = _period()
    report = sales.sales_report(current_user, period)
    query = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    return render_template("reports/sales.html", active="sales", period=period, report=report, query=query)


@bp.get("/automation")
@roles_required(*FULL)
def automation():
    period = _period()
    report = services.automation_report(period)
    query = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    return render_template("reports/automation.html", active="automation", period=period, report=report,
                           query=query, action_labels=ACTION_LABELS)


def init_app(app) -> None:
    app.register_blueprint(bp)
    add_nav_item(app, NavItem("reports.index", _l("Reports"), 70, roles=NAV_ROLES,
                              visible=lambda user: services.can_see_people(user) or sales.can_see_sales(user)))


def _group_labels(names: list[str]) -> list[str]:
    """The groups as people know them (福建大区负责人), not their keys (fujian-heads)."""
    from sqlalchemy import select

    from app.auth.models import Group
    from app.extensions import db

    labels = {g.name: g.label for g in db.session.scalars(select(Group).where(Group.name.in_(names)))} if names else {}
    return [labels.get(name, name) for name in names]
