"""/api/v1/reports/...: process, people, sales and automation reports, their CSV tables, and the
time-saved settings of automation actions."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response
from flask_babel import gettext as _
from flask_login import current_user

from app.access import login_required, roles_required
from app.api.errors import ApiError

from . import sales, services
from .access import FULL, people_scope
from .schemas import PeopleReportQuery, PeriodQuery, ProcessReportQuery, RuleMinutesIn

bp = APIBlueprint("reports_api", __name__, url_prefix="/api/v1")


def call(func, *args, **kwargs):
    """Run a report service, turning its input errors into API errors."""
    try:
        return func(*args, **kwargs)
    except services.ReportError as exc:
        details = [{"field": exc.field, "message": str(exc)}] if exc.field else None
        raise ApiError(exc.status, exc.code, str(exc), details) from None


def period_of(query):
    return call(services.make_period, query["from_"], query["to"])


def csv_response(kind: str, table: str, report: dict, name: str) -> Response:
    if table not in services.CSV_TABLES[kind]:
        raise ApiError(404, "not_found", _("No such table."))
    body = services.to_csv(kind, table, report)
    # The period in the name: September's file and October's do not overwrite each other.
    period = report.get("period") or {}
    dated = f"-{period['from']}-{period['to']}" if period.get("from") else ""
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{table}{dated}.csv"'})


def people_for_current_user(query) -> dict:
    scope = people_scope(current_user)
    if scope is not None and not scope:
        raise ApiError(403, "forbidden", _("Only administrators, designers and group managers see this report."))
    return call(services.people_report, period_of(query), scope, query["process"], manager=current_user.username)


@bp.get("/reports/processes")
@roles_required(*FULL)
def process_list():
    return {"items": services.process_list()}


@bp.get("/reports/processes/<key>")
@roles_required(*FULL)
@bp.input(ProcessReportQuery, location="query", arg_name="query")
def process_report(key, query):
    return call(services.process_report, key, query["version"], period_of(query))


@bp.get("/reports/processes/<key>/csv/<table>")
@roles_required(*FULL)
@bp.input(ProcessReportQuery, location="query", arg_name="query")
def process_csv(key, table, query):
    report = call(services.process_report, key, query["version"], period_of(query))
    return csv_response("process", table, report, f"process-{key}")


@bp.get("/reports/people")
@login_required
@bp.input(PeopleReportQuery, location="query", arg_name="query")
def people_report(query):
    return people_for_current_user(query)


@bp.get("/reports/people/csv/<table>")
@login_required
@bp.input(PeopleReportQuery, location="query", arg_name="query")
def people_csv(table, query):
    return csv_response("people", table, people_for_current_user(query), "people")


def sales_for_current_user(query) -> dict:
    if not sales.can_see_sales(current_user):
        raise ApiError(403, "forbidden", _("Only sales, their managers and administrators see this report."))
    return call(sales.sales_report, current_user, period_of(query))


@bp.get("/reports/sales")
@login_required
@bp.input(PeriodQuery, location="query", arg_name="query")
@bp.doc(summary="The sales report: opportunities new, won and lost in the period, win rate, contracts signed, "
                "per salesperson, and the open pipeline per stage, over the records the caller may see")
def sales_report(query):
    return sales_for_current_user(query)


@bp.get("/reports/sales/csv/<table>")
@login_required
@bp.input(PeriodQuery, location="query", arg_name="query")
def sales_csv(table, query):
    return csv_response("sales", table, sales_for_current_user(query), "sales")


@bp.get("/reports/automation")
@roles_required(*FULL)
@bp.input(PeriodQuery, location="query", arg_name="query")
def automation_report(query):
    return call(services.automation_report, period_of(query))


@bp.get("/reports/automation/csv/<table>")
@roles_required(*FULL)
@bp.input(PeriodQuery, location="query", arg_name="query")
def automation_csv(table, query):
    return csv_response("automation", table, call(services.automation_report, period_of(query)), "automation")


@bp.put("/reports/automation/rules/<int:rule_id>/minutes")
@roles_required(*FULL)
@bp.input(RuleMinutesIn, arg_name="body")
def set_minutes(rule_id, body):
    return {"rule_id": rule_id, "actions": call(services.set_action_minutes, rule_id, body["settings"], current_user)}
