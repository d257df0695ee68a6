"""CRM pages: lists, detail pages, forms, the pipeline board, CSV import and the admin pages
for stages and custom fields. Visibility is the services'; an invisible record is a 404."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable

from flask import (Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from app.access import admin_required, login_required
from app.api import idempotency
from app.api.errors import ApiError
from app.auth.models import User
from app.auth.services import managed_user_ids
from app.clock import company_today, company_zone
from app.crm import history, services
from app.crm.models import (ENTITIES, MODELS, OPPORTUNITY_STATUSES, Activity, Contract, Customer,
                            CustomerImport, CustomFieldDef, Opportunity)
from app.crm.regions import IN_ENGLISH
from app.extensions import db
from app.security import is_local_path
from app.ui.dashboard import Figure, Section, add_home_sections
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("crm", __name__)

PER_PAGE = 25
PLURAL = {"customer": "customers", "activity": "activities", "opportunity": "opportunities",
          "contract": "contracts"}
LIST_TITLES = {"customer": _l("Customers"), "activity": _l("Activity records"),
               "opportunity": _l("Opportunities"), "contract": _l("Contracts")}
# Columns of each list page.
LIST_COLUMNS = {
    "customer": ("name", "province", "city", "industry", "customer_class", "owner", "report_status"),
    "activity": ("happened_at", "customer_id", "kind", "content", "next_follow_up", "owner"),
    "opportunity": ("title", "customer_id", "amount", "stage", "expected_close", "status", "owner"),
    "contract": ("title", "customer_id", "amount", "signed_on", "expires_on", "status", "approval_status", "owner"),
}
# Filter selects of each list page.
LIST_FILTERS = {
    "customer": ("customer_class", "report_status"),
    "activity": ("kind",),
    "opportunity": ("stage", "status"),
    "contract": ("status", "approval_status"),
}
TEXT_FILTERS = {"customer": ("province", "industry")}
# Date filters of each list page: list_query's "<field>_after" / "<field>_before" include the day.
DATE_FILTERS = {
    "activity": {"happened_at_after": _l("Logged from"), "happened_at_before": _l("Logged until"),
                 "next_follow_up_before": _l("Next follow-up by")},
    "opportunity": {"expected_close_after": _l("Expected close from"),
                    "expected_close_before": _l("Expected close by"),
                    "closed_at_after": _l("Closed from"), "closed_at_before": _l("Closed until")},
    "contract": {"signed_on_after": _l("Signed from"), "signed_on_before": _l("Signed until"),
                 "expires_on_after": _l("Expires from"), "expires_on_before": _l("Expires by")},
}


# --- the detail-panel registry: other modules add sections to a record's page -------------

@dataclass(frozen=True)
class DetailPanel:
    template: str
    loader: Callable  # loader(record, user) -> dict for the template, or None to hide the panel
    order: int
    entities: tuple[str, ...]


def add_detail_panel(app: Flask, template_name: str, loader: Callable, order: int = 100,
                     entities: tuple[str, ...] = ("customer",)) -> None:
    """Show ``template_name`` on the detail page of ``entities`` (section "workflow history
    and automation log"); it is rendered with ``record`` and whatever ``loader`` returns."""
    panels = app.extensions.setdefault("crm_detail_panels", [])
    panels.append(DetailPanel(template_name, loader, order, tuple(entities)))
    panels.sort(key=lambda p: p.order)


def _panels(record) -> list[tuple[str, dict]]:
    out = []
    for panel in current_app.extensions.get("crm_detail_panels", []):
        if record.entity in panel.entities:
            context = panel.loader(record, current_user)
            if context is not None:
                out.append((panel.template, context))
    return out


# Reasons the CRM itself writes to the assignment log; a rule writes "rule:<name>" (rows from
# before that keep the text they were written in).
_ASSIGNMENT_REASONS = {"created": _l("created"), "demo data": _l("demo data"), "customer report": _l("customer report"),
                       services.BY_USER: _l("changed by user"), "hand-over": _l("handed over by an administrator"),
                       "import": _l("CSV import"), services.FOLLOWS_CUSTOMER: _l("moved with its customer")}


def _assignment_reason(reason: str) -> str:
    known = _ASSIGNMENT_REASONS.get(reason)
    return str(known) if known is not None else history.cause_text(reason) or reason


def _assignment_panel(record, user):
    return {"rows": services.assignment_log(record.entity, record.id), "reason": _assignment_reason}


HISTORY_ROWS = 50  # the page shows the latest ones; the API pages through all
_HISTORY_EVENTS = {"created": _l("Created"), "updated": _l("Edited"), "deleted": _l("Deleted")}


def _history_panel(record, user):
    entries = history.record_history(record.entity, record.id, limit=HISTORY_ROWS + 1)
    return {"entries": entries[:HISTORY_ROWS], "more": len(entries) > HISTORY_ROWS, "events": _HISTORY_EVENTS}


# --- template helpers ---------------------------------------------------------------------

def _local_input(value) -> str:
    """A UTC datetime as the value of a datetime-local input, in the company's time zone."""
    if not isinstance(value, datetime):
        return value or ""
    return value.astimezone(company_zone()).strftime("%Y-%m-%dT%H:%M")


def _display(record, key):
    """A field's value for reading: labels for choices, names for relations (from the record's
    loaded relations, no look-up)."""
    value = services._value(record, key)
    if value is None or value == []:
        return ""
    if key == "customer_id":
        return record.customer.name
    if key == "opportunity_id":
        return record.opportunity.title if record.opportunity else ""
    if key == "owner":
        return record.owner.label
    if key == "shared_with":
        return ", ".join(u.label for u in record.shared_with)
    return services.display_value(record.entity, key, value)


def _url(record, action="detail"):
    return url_for(f"crm.{action}", entity=record.entity, record_id=record.id)


@bp.app_template_global()
def crm_record_url(record, action="detail"):
    return _url(record, action)


def _visible(model, user):
    return select(model).where(services.visible_clause(model, user))


CUSTOMER_CHOICES = 200  # more than this and the form searches customers as the user types


def _form_options(entity, record, values) -> dict:
    """Choices for the relation selects of a form. Beyond CUSTOMER_CHOICES customers the select
    holds the first ones by name plus the chosen one, and the page searches the rest (a list cut
    at a fixed length must never drop the customer the record belongs to)."""
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
    customers = db.session.scalars(_visible(Customer, current_user).order_by(Customer.name)
                                   .limit(CUSTOMER_CHOICES + 1)).all()
    # The owner select offers whom this user may give the record to (and whoever holds it now).
    owners = [u for u in users if (record is not None and u.id == record.owner_id)
              or services.may_assign(current_user, u, record)]
    options = {"users": users, "owners": owners, "stages": services.stages(),
               "customers_searched": len(customers) > CUSTOMER_CHOICES}
    customers = customers[:CUSTOMER_CHOICES]
    chosen = str(values.get("customer_id") or "")
    if chosen.isdigit() and all(str(c.id) != chosen for c in customers):
        found = db.session.scalar(_visible(Customer, current_user).where(Customer.id == int(chosen)))
        # The record's own customer stays on offer even when this user may not open it (a deal
        # handed out by a rule), and so does the customer of the deal a new contract is for:
        # else the select reads "—" and every save is refused.
        if found is None and record is not None and str(getattr(record, "customer_id", "")) == chosen:
            found = record.customer
        if found is None and record is None and str(services.customer_of_visible_deal(
                values.get("opportunity_id"), current_user)) == chosen:
            found = db.session.get(Customer, int(chosen))
        if found is not None:
            customers.insert(0, found)
    options["customers"] = customers
    if entity == "contract":
        opportunities = _visible(Opportunity, current_user).order_by(Opportunity.title)
        if chosen.isdigit():  # the chosen customer's opportunities, not everyone's
            opportunities = opportunities.where(Opportunity.customer_id == int(chosen))
        options["opportunities"] = db.session.scalars(opportunities.limit(1000)).all()
        own = record.opportunity if record is not None else None
        if own is not None and own not in options["opportunities"]:
            options["opportunities"].insert(0, own)
    return options


def _form_data(entity, record=None) -> dict:
    data = {}
    for spec in services.FIELDS[entity]:
        if spec.read_only:
            continue
        if spec.type == "users":
            data[spec.key] = [v for v in request.form.getlist(spec.key) if v]
        elif spec.key in request.form:
            data[spec.key] = request.form.get(spec.key)
            if spec.type == "datetime" and record is not None and data[spec.key] == _local_input(
                    getattr(record, spec.key)):
                del data[spec.key]  # shown to the minute and sent back untouched: not changed to the minute
    custom = {d.key: request.form.get(f"custom.{d.key}") for d in services.custom_field_defs(entity)
              if f"custom.{d.key}" in request.form}
    if custom:
        data["custom"] = custom
    return data


def _entity_or_404(entity: str) -> str:
    if entity not in ENTITIES:
        abort(404)
    return entity


def _record_or_404(entity, record_id):
    try:
        return services.get_record(_entity_or_404(entity), record_id, current_user)
    except ApiError:
        abort(404)


@bp.app_context_processor
def _crm_template_helpers():
    return {"crm_display": _display, "crm_value": services.display_value, "crm_local_input": _local_input,
            "crm_choice_label": services.choice_label, "crm_review_status": services.review_status,
            "crm_review_label": services.review_label,
            "crm_field_label": services.field_label, "crm_entity_label": services.ENTITY_LABELS,
            "crm_list_titles": LIST_TITLES, "crm_plural": PLURAL,
            "crm_can_see": lambda record: services.can_see(record, current_user), "crm_provinces": IN_ENGLISH}


# --- lists --------------------------------------------------------------------------------

def _filter_choices(entity) -> dict[str, list[dict]]:
    """Each filter select's options: stages as configured, codes by their labels."""
    return {key: services.choice_options(entity, key)
            or [{"value": value, "label": value} for value in services.field_spec(entity, key).choices]
            for key in LIST_FILTERS[entity]}


def _list_filters(entity) -> dict:
    filters = {}
    for key in (*LIST_FILTERS[entity], *TEXT_FILTERS.get(entity, ())):
        value = request.args.get(key, "").strip()
        if value:
            filters[key] = value
    for key, label in DATE_FILTERS.get(entity, {}).items():
        given = request.args.get(key, "").strip()
        if not given:
            continue
        try:
            filters[key] = date.fromisoformat(given)
        except ValueError:  # a hand-made link: said, not silently a list of everything
            flash(_("%(filter)s: “%(value)s” is not a date (YYYY-MM-DD); the list is not filtered by it.",
                    filter=label, value=given[:40]), "warning")
    if request.args.get("owner"):
        filters["owner"] = request.args["owner"]
    if entity == "activity" and request.args.get("follow_up_open"):  # the home page's "follow-ups due"
        filters["follow_up_open"] = True
    if entity != "customer" and request.args.get("customer_id", type=int):
        filters["customer_id"] = request.args.get("customer_id", type=int)
    return filters


def _owner_choices(chosen: str | None) -> list[User]:
    """The owner filter offers the people whose records this user sees as theirs or their
    team's, the team's leavers after them (their won deals stay theirs: a manager reviews them),
    and a deactivated one chosen by a link, so the select says whose records the list shows."""
    people = [u for u in db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))
              if services.may_assign(current_user, u, None)]
    leavers = select(User).where(User.active.is_(False))
    if not current_user.is_admin:
        leavers = leavers.where(or_(User.id.in_(managed_user_ids(current_user)), User.username == (chosen or "")))
    return people + list(db.session.scalars(leavers.order_by(User.username)))


@bp.get("/crm/<entity>")
@login_required
def records(entity):
    entity = _entity_or_404(entity)
    q = request.args.get("q", "").strip()
    filters = _list_filters(entity)
    page = max(request.args.get("page", 1, type=int), 1)
    sort = request.args.get("sort", "")
    if not services.can_sort(entity, sort.removeprefix("-")):
        sort = "-" + services.DEFAULT_SORT.get(entity, "updated_at")  # none, or a stale link: the usual order
    stmt = services.list_query(entity, current_user, q, filters, sort)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    owners = _owner_choices(filters.get("owner"))
    # The filter form sends its unchosen selects empty: left out of the links (the export refused them).
    args = {k: v for k, v in request.args.items() if k != "page" and v.strip()}

    def page_url(number):
        return url_for(request.endpoint, **(request.view_args or {}), **args, page=number)

    last = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    if page > last:  # a page beyond the end (the list shrank, a hand-made link): its last page
        return redirect(page_url(last))

    def sort_url(key):
        """Ascending first, descending on a second click; back to the first page."""
        return url_for(request.endpoint, **(request.view_args or {}), **dict(args, sort="-" + key if sort == key else key))

    return render_template("crm/list.html", entity=entity, rows=rows, total=total, page=page, per_page=PER_PAGE,
                           q=q, filters=filters, columns=LIST_COLUMNS[entity], filter_choices=_filter_choices(entity),
                           text_filters=TEXT_FILTERS.get(entity, ()), date_filters=DATE_FILTERS.get(entity, {}), owners=owners, args=args,
                           page_url=page_url, sort=sort, sort_url=sort_url,
                           can_sort=lambda key: services.can_sort(entity, key))


@bp.get("/customers")
@login_required
def customers():
    return records("customer")


@bp.get("/contracts")
@login_required
def contracts():
    return records("contract")


@bp.get("/activities")
@login_required
def activities():
    return records("activity")


# --- detail and forms ---------------------------------------------------------------------

RELATED_SHOWN = 20  # per kind on a record's page; all of them in the list it links to


def _related_rows(model, belongs):
    """The latest related records of ``model`` this user may see (activities by when they
    happened, as their list reads), and how many there are in all."""
    visible = _visible(model, current_user).where(belongs)
    order = model.happened_at.desc() if model is Activity else model.updated_at.desc()
    rows = db.session.scalars(visible.order_by(order, model.id.desc()).limit(RELATED_SHOWN)).all()
    total = len(rows) if len(rows) < RELATED_SHOWN else db.session.scalar(
        select(func.count()).select_from(visible.order_by(None).subquery()))
    return rows, total


@bp.get("/crm/<entity>/<int:record_id>")
@login_required
def detail(entity, record_id):
    record = _record_or_404(entity, record_id)
    related, totals = {}, {}
    if isinstance(record, Customer):
        for model in (Activity, Opportunity, Contract):
            related[model.entity], totals[model.entity] = _related_rows(model, model.customer_id == record.id)
    elif isinstance(record, Opportunity):  # the contracts it led to (a won deal's, made by a rule or by hand)
        related["contract"], totals["contract"] = _related_rows(Contract, Contract.opportunity_id == record.id)
    return render_template("crm/detail.html", entity=record.entity, record=record, related=related, totals=totals,
                           fields=services.FIELDS[record.entity], defs=services.custom_field_defs(record.entity),
                           panels=_panels(record), can_manage=services.can_manage(record, current_user),
                           stages=services.stages() if isinstance(record, Opportunity) else [])


def _input_value(spec, value):
    if value is None:
        return [] if spec.type == "users" else ""
    if spec.type == "datetime":
        return _local_input(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _form_values(entity, record) -> dict:
    """What each input shows: the posted text after an error, else the record's values,
    else defaults (and ?customer_id= from a customer's page)."""
    if request.method == "POST":
        return _posted_values(entity)
    if record is not None:
        return _record_values(entity, record)
    values = {}
    for spec in services.FIELDS[entity]:
        default = {"owner": current_user.username, "kind": "call", "shared_with": []}.get(spec.key, "")
        if spec.key == "status":
            default = "open" if entity == "opportunity" else "draft"
        values[spec.key] = request.args.getlist(spec.key) if spec.type == "users" and spec.key in request.args \
            else request.args.get(spec.key, default)
    for d in services.custom_field_defs(entity):
        values[f"custom.{d.key}"] = ""
    return values


def _posted_values(entity) -> dict:
    values = {spec.key: request.form.getlist(spec.key) if spec.type == "users" else request.form.get(spec.key, "")
              for spec in services.FIELDS[entity]}
    values.update({f"custom.{d.key}": request.form.get(f"custom.{d.key}", "") for d in services.custom_field_defs(entity)})
    return values


def _record_values(entity, record) -> dict:
    values = {spec.key: _input_value(spec, services._value(record, spec.key)) for spec in services.FIELDS[entity]}
    values.update({f"custom.{d.key}": (record.custom or {}).get(d.key, "") for d in services.custom_field_defs(entity)})
    return values


def _as_text(value):
    """A value as its input holds it (what a form sends back), to compare values."""
    if isinstance(value, (list, tuple)):
        return sorted(str(v) for v in value)
    return "" if value is None else str(value)


def _draft_key() -> str:
    """Names what the form page keeps of the typing in the browser (static/crm: drafts): this
    user, this form (a new activity for customer 1 is not one for customer 2)."""
    query = request.query_string.decode()
    return f"{current_user.id}:{request.path}{'?' + query if query else ''}"


def _saved() -> None:
    """The form's answers are saved: the page after the redirect tells the browser to drop
    the draft (base.html's saved-form meta)."""
    session["saved_form"] = _draft_key()


def _render_form(entity, record, errors, status=200, values=None):
    values = _form_values(entity, record) if values is None else values
    # The edit form carries the values it started from: after someone else's save, the next
    # save merges instead of writing this page's stale copy over their changes.
    base = {k: _as_text(v) for k, v in _record_values(entity, record).items()} if record is not None else None
    form_token = None if record is not None else request.form.get("form_token") or secrets.token_urlsafe(16)
    return render_template("crm/form.html", entity=entity, record=record, errors=errors, values=values, base=base,
                           form_token=form_token,
                           draft_key=_draft_key(), approval_notice=services.approval_notice(record),
                           locked_fields=services.fields_locked_by_approval(record),
                           fields=[f for f in services.FIELDS[entity] if not f.read_only],
                           defs=services.custom_field_defs(entity), **_form_options(entity, record, values)), status


def _merge_after_conflict(entity, record) -> tuple[dict, dict]:
    """This page's answers merged with what someone else saved since the page was loaded:
    fields only they changed take their value, fields only this page changed keep the
    answer, and fields both changed keep the answer, marked with the other value."""
    try:
        base = json.loads(request.form.get("base") or "{}")
    except ValueError:
        base = {}
    base = base if isinstance(base, dict) else {}
    current, mine = _record_values(entity, record), _posted_values(entity)
    merged, clashes = {}, {}
    for key, answer in mine.items():
        theirs = current.get(key, "")
        if key not in request.form and not isinstance(answer, list):
            merged[key] = theirs  # not on the page to change (disabled while awaiting approval)
            continue
        started = base.get(key)
        if started is not None and _as_text(answer) == started:
            merged[key] = theirs  # not touched here
            continue
        merged[key] = answer
        if (started is None or _as_text(theirs) != started) and _as_text(theirs) != _as_text(answer):
            shown = ", ".join(theirs) if isinstance(theirs, list) else theirs
            clashes[key] = _("Someone else changed this meanwhile to “%(value)s”; yours is kept here.",
                             value=shown if shown != "" else "—")
    return merged, clashes


@bp.route("/crm/<entity>/new", methods=["GET", "POST"])
@login_required
def new(entity):
    entity = _entity_or_404(entity)
    errors = {}
    if request.method == "POST":
        earlier = _saved_by_this_form(entity)
        if earlier is not None:
            return earlier
        claim, led_to = idempotency.claim_form(current_user.id, request.form.get("form_token") or secrets.token_urlsafe(16))
        if claim is None:
            return _sent_again(entity, led_to)
        try:
            record = services.create(entity, _form_data(entity), current_user)
        except ApiError as error:
            db.session.rollback()
            idempotency.answer_form(claim, None)
            errors = error.by_field()
            flash(error.message, "danger")
        else:
            _saved()
            _remember_saved_form(record)
            if not services.can_see(record, current_user):
                # An automation rule handed it to someone else: its page would be a 404.
                flash(_("Saved. %(record)s now belongs to %(owner)s, so it is not in your list.",
                        record=record.label, owner=record.owner.label), "success")
                _warn_of_duplicates(record)
                return _led_to(claim, url_for("crm.records", entity=entity))
            chosen = request.form.get("owner") or current_user.username
            if record.owner is not None and record.owner.username != chosen:  # a rule handed it out (round robin)
                flash(_("Saved. An automation rule gave it to %(owner)s.", owner=record.owner.label), "success")
            else:
                flash(_("Saved."), "success")
            _warn_of_duplicates(record)
            return _led_to(claim, _url(record))
    return _render_form(entity, None, errors, 400 if errors else 200)


def _led_to(claim: int, location: str):
    idempotency.answer_form(claim, location)
    return redirect(location)


def _sent_again(entity, led_to: str | None):
    if led_to is None:
        flash(_("This form is being saved already (it was sent twice). Look for the record in the list "
                "before entering it again."), "info")
        return redirect(url_for("crm.records", entity=entity))
    flash(_("This form was saved already; nothing was saved again."), "info")
    return redirect(led_to)


# A new-record form carries a token of its own (claimed in app.api.idempotency): sent again —
# the browser's Back then Save, two tabs, a proxy's retry — it leads to what it saved instead of
# a second customer and a second report.
# A browser that reloads the page on Back (no back/forward cache) renders a new token but fills
# in what was typed: a customer of the same name sent again within minutes from the same session
# is the same form too (a second one would start a second report), and so is a deal or contract of
# the same title for the same customer (a second contract, a second approval). Not for activities:
# two calls logged "未接通" are two.
SAVED_FORMS_KEPT, RESENT_WITHIN_SECONDS = 20, 600
_SAME_FORM_FIELDS = {"customer": ("name",), "opportunity": ("title", "customer_id"),
                     "contract": ("title", "customer_id")}


def _fingerprint(entity) -> str:
    fields = _SAME_FORM_FIELDS.get(entity)
    if not fields:
        return ""
    return "|".join([entity] + [(request.form.get(field) or "").strip() for field in fields])


def _saved_by_this_form(entity):
    fingerprint = _fingerprint(entity)
    if not fingerprint:
        return None
    now = time.time()
    saved = next((s for s in reversed(session.get("saved_form_fingerprints", []))
                  if s[2] == fingerprint and now - s[3] < RESENT_WITHIN_SECONDS), None)
    if saved is None:
        return None
    record = db.session.get(MODELS[entity], saved[1])
    flash(_("This form was saved already; nothing was saved again."), "info")
    if record is None or not services.can_see(record, current_user):
        return redirect(url_for("crm.records", entity=entity))
    return redirect(_url(record))


def _remember_saved_form(record) -> None:
    if request.form.get("form_token") and _fingerprint(record.entity):
        kept = session.get("saved_form_fingerprints", [])[-(SAVED_FORMS_KEPT - 1):]
        session["saved_form_fingerprints"] = kept + [[record.entity, record.id, _fingerprint(record.entity),
                                                      time.time()]]


def _warn_of_duplicates(record) -> None:
    """防撞单 from the start: the salesperson hears at once that the company may already be
    a customer (someone else's, or their own entered before), not only when the approver says so."""
    if not isinstance(record, Customer):
        return
    found = services.find_possible_duplicates(record, limit=3)
    if found:
        flash(_("This company may already be on record: %(matches)s. The approver of its report sees this too.",
                matches=_("; ").join(f"{d['name']} ({d['owner_name'] or d['owner']}: "
                                     f"{_(', ').join(services.duplicate_reason(r) for r in d['reasons'])})"
                                     for d in found)),
              "warning")


@bp.route("/crm/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit(entity, record_id):
    record = _record_or_404(entity, record_id)
    errors = {}
    if request.method == "POST":
        approved = services.review_status(record) == "approved"
        try:
            services.update(record, _form_data(record.entity, record), current_user,
                            version=request.form.get("version", type=int))
        except (ApiError, StaleDataError) as error:
            db.session.rollback()
            record = _record_or_404(entity, record_id)
            # StaleDataError: another save of the same version committed at the same moment.
            if isinstance(error, StaleDataError) or error.code == "stale_version":
                values, clashes = _merge_after_conflict(record.entity, record)
                flash(_("Someone else saved this record meanwhile: their changes are filled in below. "
                        "Check the marked fields and save again.") if clashes else
                      _("Someone else saved this record meanwhile: their changes are filled in below. Save again "
                        "to add yours."), "warning")
                return _render_form(record.entity, record, clashes, 409, values)
            errors = error.by_field()
            flash(error.message, "danger")
            return _render_form(record.entity, record, errors, error.status if error.status in (400, 403, 409) else 400)
        if not services.can_see(record, current_user):
            # Handed to someone else (by this save, or a rule it set off): its page would be a 404.
            _saved()
            flash(_("Saved. %(record)s now belongs to %(owner)s, so it is not in your list.",
                    record=record.label, owner=record.owner.label), "success")
            return redirect(url_for("crm.records", entity=record.entity))
        flash(_("Saved."), "success")
        if approved and services.review_status(record) == "none":
            flash(_("Its approved terms changed, so it needs approval again: submit it for approval on this page."),
                  "warning")
        _saved()
        return redirect(_url(record))
    values = None
    if isinstance(record, Opportunity) and services.stage_by_key(request.args.get("stage", "")):
        # Sent here by a refused move (the pipeline): the stage asked for, what it still needs marked.
        values = {**_record_values(entity, record), "stage": request.args["stage"]}
        refusal = services.refusal_to_enter(record, request.args["stage"])
        if refusal is not None:
            flash(refusal.message, "warning")
            errors = refusal.by_field()
    return _render_form(record.entity, record, errors, values=values)


@bp.post("/crm/<entity>/<int:record_id>/delete")
@login_required
def delete(entity, record_id):
    record = _record_or_404(entity, record_id)
    back = url_for("crm.records", entity=record.entity)
    if isinstance(record, (Activity, Opportunity, Contract)):
        back = url_for("crm.detail", entity="customer", record_id=record.customer_id) \
            if services.can_see(record.customer, current_user) else back
    try:
        services.delete(record, current_user)
    except ApiError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(_url(record))
    flash(_("Deleted."), "success")
    return redirect(back)


# --- the pipeline board -------------------------------------------------------------------

@bp.get("/pipeline")
@login_required
def pipeline():
    status = request.args.get("status", "open")
    if status not in OPPORTUNITY_STATUSES:
        status = "open"
    q = request.args.get("q", "").strip()
    owner = request.args.get("owner", "").strip()
    deals = services.list_query("opportunity", current_user, q, {"status": status, "owner": owner}, "-updated_at")
    # Each column counts and sums all its deals, and shows the latest CARDS_PER_COLUMN of them
    # (the rest are a link away): thousands of cards made a page of megabytes that took seconds.
    figures = services.pipeline_figures(deals)
    columns = []
    for stage in services.stages():
        count, total = figures.get(stage.key, (0, None))
        cards = db.session.scalars(deals.where(Opportunity.stage == stage.key).limit(CARDS_PER_COLUMN)).all()
        columns.append({"stage": stage, "count": count, "total": total, "cards": cards})
    known = {stage.key for stage in services.stages()}
    orphans = db.session.scalars(deals.where(Opportunity.stage.not_in(known)).limit(CARDS_PER_COLUMN)).all()
    return render_template("crm/pipeline.html", columns=columns, orphans=orphans, status=status, q=q, owner=owner,
                           owners=_owner_choices(owner), stages=services.stages(), statuses=OPPORTUNITY_STATUSES)


CARDS_PER_COLUMN = 50


@bp.post("/crm/opportunity/<int:record_id>/stage")
@login_required
def move_stage(record_id):
    record = _record_or_404("opportunity", record_id)
    try:
        services.move_stage(record, request.form.get("stage", ""), current_user,
                            version=request.form.get("version", type=int))
    except ApiError as error:
        db.session.rollback()
        if error.code == "stage_requirements_missing":
            # The deal's form with that stage chosen and the missing fields marked: fill them, save, moved.
            return redirect(url_for("crm.edit", entity="opportunity", record_id=record_id,
                                    stage=request.form.get("stage")))
        flash(error.message, "danger")
    else:
        flash(_("“%(title)s” moved to %(stage)s.", title=record.title,
                stage=services.stage_by_key(record.stage).name), "success")
    back = request.form["next"] if is_local_path(request.form.get("next")) else url_for("crm.pipeline")
    # Back at the card, in its new column: on a phone the board showed its first column again.
    return redirect(f"{back.split('#')[0]}#deal-{record_id}" if back.split("?")[0] == url_for("crm.pipeline") else back)


@bp.post("/crm/opportunity/<int:record_id>/close")
@login_required
def close_opportunity(record_id):
    record = _record_or_404("opportunity", record_id)
    outcome = request.form.get("outcome")
    try:
        if outcome == "won":
            services.mark_won(record, current_user)
        elif outcome == "lost":
            services.mark_lost(record, current_user, request.form.get("reason") or None)
        elif outcome == "open":
            services.update(record, {"status": "open"}, current_user)
        else:
            abort(400)
    except ApiError as error:
        db.session.rollback()
        flash(error.message, "danger")
    else:
        flash({"won": _("Marked as won."), "lost": _("Marked as lost."), "open": _("Reopened.")}[outcome], "success")
    return redirect(_url(record))


# --- CSV import ---------------------------------------------------------------------------

@bp.route("/customers/import", methods=["GET", "POST"])
@login_required
def import_customers():
    error_message = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error_message = _("Choose a CSV file.")
        else:
            raw = upload.read()
            try:
                job = services.start_customer_import(raw, upload.filename, current_user._get_current_object(),
                                                     automate=request.form.get("automate", "yes") != "no",
                                                     leave_out_unknown=request.form.get("leave_out_unknown") == "y")
            except ApiError as error:
                db.session.rollback()
                error_message = services.join_sentences([error.message] + [
                    d["message"] for d in error.details if d.get("message") not in error.message][:5])
            else:
                passed_over = services.columns_the_product_sets(raw)
                if passed_over:  # said, not dropped without a word
                    flash(_("Not imported, as the product sets them: %(columns)s (the customers are dated the day "
                            "they are imported).", columns=_(", ").join(passed_over)), "info")
                return redirect(url_for("crm.import_status", import_id=job.id))
        flash(error_message, "danger")
    fields = services.record_fields("customer")
    return render_template("crm/import.html", fields=[f for f in fields if not f["read_only"]],
                           id_label=services.csv_column_label("id")), \
        400 if error_message else 200


@bp.get("/customers/import/template.csv")
@login_required
def import_template():
    return current_app.response_class(services.import_template_csv(), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=customers-template.csv"})


@bp.get("/customers/imports/<int:import_id>")
@login_required
def import_status(import_id):
    job = db.session.get(CustomerImport, import_id) if import_id <= services.MAX_ID else None
    if job is None or not services.import_visible_to(job, current_user):
        abort(404)
    return render_template("crm/import_status.html", job=job)


@bp.get("/customers/imports/<int:import_id>/failed-rows.csv")
@login_required
def import_failed_rows(import_id):
    job = db.session.get(CustomerImport, import_id) if import_id <= services.MAX_ID else None
    if job is None or not services.import_visible_to(job, current_user) or not job.failed_rows_file:
        abort(404)
    return current_app.response_class(services.failed_rows_csv(job), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=customer-import-{job.id}-failed-rows.csv"})


# --- admin: stages and custom fields ------------------------------------------------------

@bp.get("/admin/crm/stages")
@admin_required
def admin_stages():
    return render_template("crm/admin_stages.html", stages=services.stages(),
                           requirable=_requirable(), errors={}, form={})


def _requirable() -> list[tuple[str, str]]:
    keys = list(services.OPPORTUNITY_REQUIRABLE) + [f"custom.{d.key}" for d in services.custom_field_defs("opportunity")]
    return [(k, services.field_label("opportunity", k)) for k in keys]


@bp.post("/admin/crm/stages")
@bp.post("/admin/crm/stages/<key>")
@admin_required
def admin_save_stage(key=None):
    stage = None
    if key is not None:
        stage = services.stage_by_key(key) or abort(404)
    if request.form.get("action") == "delete" and stage is not None:
        try:
            services.delete_stage(stage, current_user)
        except ApiError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            flash(_("Deleted."), "success")
        return redirect(url_for("crm.admin_stages"))
    try:
        services.save_stage(stage, key=request.form.get("key", key or ""), name=request.form.get("name", ""),
                            position=request.form.get("position", 0, type=int) or 0,
                            required_fields=request.form.getlist("required_fields"), actor=current_user)
    except ApiError as error:
        db.session.rollback()
        # A new stage's form marks its fields; a row of the table has no room: the flash says why
        # (and the new stage's form stays empty: the row's answers are not a new stage).
        flash(_("Please correct the marked fields.") if stage is None else " ".join(error.by_field().values()), "danger")
        return render_template("crm/admin_stages.html", stages=services.stages(), requirable=_requirable(),
                               errors=error.by_field() if stage is None else {},
                               form=request.form if stage is None else {}), 400
    flash(_("Saved."), "success")
    return redirect(url_for("crm.admin_stages"))


@bp.get("/admin/crm/fields")
@admin_required
def admin_fields():
    defs = db.session.scalars(select(CustomFieldDef).order_by(CustomFieldDef.entity, CustomFieldDef.position,
                                                              CustomFieldDef.id)).all()
    return render_template("crm/admin_fields.html", defs=defs, types=services.CUSTOM_FIELD_TYPE_LABELS, entities=ENTITIES,
                           errors={}, form={})


@bp.post("/admin/crm/fields")
@bp.post("/admin/crm/fields/<int:field_id>")
@admin_required
def admin_save_field(field_id=None):
    definition = None
    if field_id is not None:
        definition = (db.session.get(CustomFieldDef, field_id) if field_id <= services.MAX_ID else None) or abort(404)
    if request.form.get("action") == "delete" and definition is not None:
        try:
            services.delete_custom_field(definition, current_user)
        except ApiError as error:
            flash(error.message, "danger")
        else:
            flash(_("Deleted."), "success")
        return redirect(url_for("crm.admin_fields"))
    try:
        services.save_custom_field(
            definition, entity=request.form.get("entity", ""), key=request.form.get("key", ""),
            label=request.form.get("label", ""), type=request.form.get("type", "text"),
            choices=request.form.get("choices", "").replace("，", ",").split(","),
            required=request.form.get("required") == "y", position=request.form.get("position", 0, type=int) or 0,
            automated=request.form.get("automated") == "y", actor=current_user)
    except ApiError as error:
        db.session.rollback()
        flash(error.message, "danger")
        defs = db.session.scalars(select(CustomFieldDef).order_by(CustomFieldDef.entity, CustomFieldDef.position,
                                                                  CustomFieldDef.id)).all()
        return render_template("crm/admin_fields.html", defs=defs, types=services.CUSTOM_FIELD_TYPE_LABELS, entities=ENTITIES,
                               # A refused change of a listed field is said above; the new-field form stays empty.
                               errors=error.by_field() if definition is None else {},
                               form=request.form if definition is None else {}), 400
    flash(_("Saved."), "success")
    return redirect(url_for("crm.admin_fields"))


# --- the home page's figures ---------------------------------------------------------------

def _home_sections(user) -> list[Section]:
    """Reports, customers, follow-ups, expiring contracts and the pipeline, each linking to the
    list filtered to what it counts. Shown to sales, and to anyone who sees customers (their
    managers see their department's, admins everyone's)."""
    summary = services.sales_summary(user)
    if not summary.customers and not user.has_role("sales"):
        return []
    first, last = services.expiry_window(company_today())
    sales = [
        Figure(_l("Customers"), summary.customers, url_for("crm.customers")),
        Figure(_l("Reports pending"), summary.reports_pending, url_for("crm.customers", report_status="pending")),
        Figure(_l("Reports rejected"), summary.reports_rejected, url_for("crm.customers", report_status="rejected"),
               note=_l("to fix and submit again"), alert=summary.reports_rejected > 0),
        Figure(_l("Follow-ups due"), summary.follow_ups_due,
               url_for("crm.activities", next_follow_up_before=first.isoformat(), follow_up_open=1),
               note=_l("today or earlier, nothing logged since"),
               alert=summary.follow_ups_due > 0),
        Figure(_l("Contracts expiring"), summary.contracts_expiring,
               url_for("crm.contracts", status="signed", expires_on_after=first.isoformat(),
                       expires_on_before=last.isoformat()),
               note=_l("within %(days)d days", days=services.EXPIRY_WINDOW_DAYS)),
    ]
    # Only where contracts go to approval (a company without one is not shown two zeros).
    if summary.contracts_pending or summary.contracts_rejected:
        sales += [
            Figure(_l("Contracts awaiting approval"), summary.contracts_pending,
                   url_for("crm.contracts", approval_status="pending")),
            Figure(_l("Contracts rejected"), summary.contracts_rejected,
                   url_for("crm.contracts", approval_status="rejected"), note=_l("to fix and submit again"),
                   alert=summary.contracts_rejected > 0)]
    total = sum(stage.amount for stage in summary.pipeline)
    pipeline = [Figure(_l("All stages"), sum(stage.count for stage in summary.pipeline),
                       url_for("crm.records", entity="opportunity", status="open"),
                       note=services.display_value("opportunity", "amount", total))]
    pipeline += [Figure(stage.name, stage.count, url_for("crm.records", entity="opportunity", status="open",
                                                         stage=stage.key),
                        note=services.display_value("opportunity", "amount", stage.amount))
                 for stage in summary.pipeline]
    return [Section("sales", _l("Sales"), sales), Section("pipeline", _l("Open opportunities by stage"), pipeline)]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_home_sections(app, _home_sections, order=20)
    add_nav_item(app, NavItem("crm.customers", _l("Customers"), 20))
    add_nav_item(app, NavItem("crm.pipeline", _l("Opportunities"), 22))
    add_nav_item(app, NavItem("crm.contracts", _l("Contracts"), 24))
    add_nav_item(app, NavItem("crm.admin_stages", _l("CRM settings"), 88, roles=("admin",), menu="manage"))
    add_detail_panel(app, "crm/_assignment_panel.html", _assignment_panel, order=900,
                     entities=("customer", "opportunity", "contract", "activity"))
    add_detail_panel(app, "crm/_history_panel.html", _history_panel, order=950,
                     entities=("customer", "opportunity", "contract", "activity"))
