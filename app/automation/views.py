"""Pages: the rule list, the no-code rule editor and the run log."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from app.db import MAX_ID, utcnow
from app.access import admin_required, roles_required
from app.api.errors import ApiError
from app.automation import catalog as cat
from app.automation import services
from app.automation.models import Rule
from app.automation.wording import (ACTION_LABELS, EVENT_LABELS, builder_texts, evaluated_condition, plain,
                                    plan_in_words)
from app.extensions import db
from app.ui.dashboard import Figure, Section, add_home_sections
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("automation", __name__, url_prefix="/automation")
EDITORS = ("admin", "designer")
OUTCOMES = {"matched": _l("Matched, actions done"), "not_matched": _l("Conditions not met"),
            "failed": _l("Failed"), "stopped": _l("Loop stopped"),
            "already_done": _l("Already acted on this record once")}
# What became of each action in a run.
ACTION_STATUSES = {"done": _l("done"), "skipped": _l("skipped"), "failed": _l("failed"),
                   "rolled_back": _l("undone (a later action failed)"), "not_run": _l("not run (an earlier action failed)")}


@bp.context_processor
def _labels():
    try:
        from app.crm.services import ENTITY_LABELS
    except ImportError:
        ENTITY_LABELS = {}
    return {"entity_labels": ENTITY_LABELS}


@bp.get("/")
@roles_required(*EDITORS)
def rules():
    from app.automation.catalog import webhook_allowlist

    return _rules_page(webhook_allowlist())


def _rules_page(allowlist: list[str], status: int = 200):
    items = db.session.scalars(select(Rule).order_by(Rule.entity, Rule.event, Rule.position, Rule.id)).all()
    return render_template("automation/rules.html", rules=items, event_labels=EVENT_LABELS,
                           allowlist=allowlist), status


@bp.post("/settings/webhook-allowlist")
@admin_required
def save_allowlist():
    hosts = request.form.get("hosts", "").replace(",", "\n").splitlines()
    try:
        services.set_webhook_allowlist(hosts, current_user)
    except ApiError as error:
        db.session.rollback()
        flash(error.message, "danger")  # the saved list stays; the typed one is shown to correct
        return _rules_page([h.strip() for h in hosts if h.strip()], 400)
    else:
        flash(_("Webhook allow-list saved."), "success")
    return redirect(url_for("automation.rules"))


@bp.get("/rules/new")
@bp.get("/rules/<int:rule_id>")
@roles_required(*EDITORS)
def edit(rule_id=None):
    rule = services.rule_dict(services.get_rule(rule_id)) if rule_id else None
    return render_template("automation/editor.html", rule=rule, event_labels=plain(EVENT_LABELS),
                           action_labels=plain(ACTION_LABELS), condition_texts=builder_texts(),
                           directory=_directory())


def _directory() -> dict:
    """The active people and the groups, for the editor's pickers (a typo is refused at saving;
    offering the names avoids it)."""
    from app.auth.models import Group, User

    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))
    groups = db.session.scalars(select(Group).order_by(Group.name))
    return {"users": [{"value": u.username, "label": u.label} for u in users],
            "groups": [{"value": g.name, "label": g.label} for g in groups]}


def _small(number):
    """An id from the query string, or None when it cannot be one."""
    return number if number is not None and 0 < number <= MAX_ID else None


@bp.get("/runs")
@roles_required(*EDITORS)
def runs():
    args = request.args
    # The rule picker also lists deleted rules that left runs, as "deleted:<name>".
    picked = args.get("rule_id", "")
    deleted_rule = picked[len("deleted:"):][:200] if picked.startswith("deleted:") else None
    rule_id = None if deleted_rule else _small(args.get("rule_id", type=int))
    record_id = _small(args.get("record_id", type=int))
    outcome = args.get("outcome") if args.get("outcome") in OUTCOMES else None
    entity = args.get("entity") or None
    page = min(max(1, args.get("page", 1, type=int)), 100000)
    stmt = services.runs_query(rule_id, entity, record_id, outcome, deleted_rule)
    listing = services.page_of_runs(stmt, page)
    rules_all = db.session.scalars(select(Rule).order_by(Rule.name)).all()
    return render_template("automation/runs.html", listing=listing, outcomes=OUTCOMES, rules=rules_all,
                           deleted_rules=services.deleted_rule_names(),
                           filters={"rule_id": f"deleted:{deleted_rule}" if deleted_rule else rule_id,
                                    "record_id": record_id, "outcome": outcome, "entity": entity},
                           event_labels=EVENT_LABELS)


@bp.get("/runs/<int:run_id>")
@roles_required(*EDITORS)
def run_detail(run_id):
    from app.automation.models import RuleRun

    run = db.session.get(RuleRun, run_id) or abort(404)  # <int:> ids are bounded by the converter
    entities = cat.entity_specs()
    entity = entities.get(run.entity)
    conditions = [evaluated_condition(leaf, entity) for leaf in run.conditions or []]
    said = [plan_in_words(action["type"], action.get("plan"), entity, entities) for action in run.actions or []]
    return render_template("automation/run.html", run=services.run_dict(run), conditions=conditions, said=said,
                           outcomes=OUTCOMES, deliveries=services.deliveries_for_run(run.id),
                           webhook_jobs=services.webhook_jobs_of(run),
                           event_labels=EVENT_LABELS, action_labels=ACTION_LABELS, statuses=ACTION_STATUSES)


def _record_panel(record, user):
    """The automation log on a record's page (for the people who can read rules)."""
    if not user.has_role(*EDITORS):
        return None
    return {"runs": services.runs_for_record(record.entity, record.id, limit=20), "outcomes": OUTCOMES,
            "event_labels": EVENT_LABELS}


FAILED_RUNS_DAYS = 7  # the home page's window on failed rule runs


def _home_sections(user) -> list[Section]:
    """Rules that failed lately, for the people who read the run log (it lists failures newest first)."""
    if not user.has_role(*EDITORS):
        return []
    failed = services.failed_run_count(utcnow() - timedelta(days=FAILED_RUNS_DAYS))
    return [Section("system", _l("System"), [
        Figure(_l("Failed rule runs"), failed, url_for("automation.runs", outcome="failed"),
               note=_l("last %(days)d days", days=FAILED_RUNS_DAYS), alert=failed > 0)])]


def init_app(app) -> None:
    app.register_blueprint(bp)
    add_home_sections(app, _home_sections, order=80)
    add_nav_item(app, NavItem("automation.rules", _l("Automation"), 50, roles=EDITORS, menu="manage"))
    try:
        from app.crm.views import add_detail_panel
    except ImportError:  # no CRM pages installed
        return
    add_detail_panel(app, "automation/_record_panel.html", _record_panel, order=60,
                     entities=("customer", "activity", "opportunity", "contract"))
