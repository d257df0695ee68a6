"""Pages: the form list, the designer (form-js editor) and the preview (form-js viewer)."""
import json
import secrets
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from app.access import login_required, roles_required
from app.api import idempotency
from app.api.errors import ApiError
from app.extensions import db
from app.forms import bindings, embedded, services
from app.forms.models import BindingRun, FormBinding
from app.db import utcnow
from app.ui.dashboard import Figure, Section, add_home_sections
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("forms", __name__, url_prefix="/forms")

DESIGNERS = ("designer", "admin")

# What the preview fills embedded fields with, so the designer sees the layout with data.
SAMPLE_RECORDS = {
    "customer": {"name": "厦门示例科技有限公司", "province": "福建", "city": "厦门", "industry": "医疗",
                 "registered_capital": 12000000, "customer_class": "A", "source": "展会", "phone": "0592-5550123",
                 "credit_code": "91350200MA2XXXXX0M", "owner": "sales1", "report_status": "pending"},
    "activity": {"kind": "visit", "content": "上门拜访，客户有采购意向", "happened_at": "2026-11-20T10:00",
                 "next_follow_up": "2026-11-27", "owner": "sales1"},
    "opportunity": {"title": "影像设备采购", "amount": 560000, "stage": "方案报价", "expected_close": "2026-12-31",
                    "status": "open", "owner": "sales1"},
    "contract": {"title": "影像设备采购合同", "amount": 550000, "signed_on": "2026-12-01", "expires_on": "2027-11-30",
                 "status": "active", "owner": "sales1"},
}


FAILED_STARTS_DAYS = 7  # the home page's window on embedded processes that did not start


@bp.record_once
def _nav(state):
    add_nav_item(state.app, NavItem("forms.index", _l("Forms"), 40, roles=DESIGNERS, menu="manage"))
    add_home_sections(state.app, _home_sections, order=85)


def _home_sections(user) -> list[Section]:
    """Embedded processes that failed to start lately: undone at once, so no process stopped by
    an error shows them; the record stays as if nothing had been started (e.g. not reported)."""
    if not user.has_role(*DESIGNERS):
        return []
    failed = bindings.failed_start_count(utcnow() - timedelta(days=FAILED_STARTS_DAYS))
    return [Section("system", _l("System"), [
        Figure(_l("Embedded processes that did not start"), failed, url_for("forms.bindings_index", outcome="failed"),
               note=_l("last %(days)d days", days=FAILED_STARTS_DAYS), alert=failed > 0)])]


def sample_data(schema: dict) -> dict:
    data = {}
    for key, path in services.embedded_fields(schema).items():
        record_type = path.partition(".")[0]
        data[key] = services.record_value(SAMPLE_RECORDS.get(record_type, {}), path, record_type)
    return data


@bp.get("/")
@roles_required(*DESIGNERS)
def index():
    forms = services.list_current_forms()
    counts = {f.key: len(services.embedded_fields(f.schema)) for f in forms}
    return render_template("forms/index.html", forms=forms, embedded_counts=counts)


@bp.get("/new")
@roles_required(*DESIGNERS)
def new():
    return _designer(None, None)


@bp.get("/<key>/design")
@roles_required(*DESIGNERS)
def design(key):
    form = services.get_form(key, request.args.get("version", type=int)) or abort(404)
    return _designer(form, services.get_form(key))


def _designer(form, current):
    return render_template("forms/designer.html", form=form, current=current, catalogue=services.crm_field_catalogue(),
                           field_types=services.DESIGNABLE_TYPES)


@bp.get("/<key>/preview")
@roles_required(*DESIGNERS)
def preview(key):
    form = services.get_form(key, request.args.get("version", type=int)) or abort(404)
    return render_template("forms/preview.html", form=form, data=sample_data(form.schema),
                           versions=services.form_versions(key))


# --- embedded processes (嵌入式流程) -----------------------------------------------------------

def _binding_form_data(form) -> dict:
    """The binding as the page submitted it (a half-filled mapping row is kept, for the check to
    name it); the condition is parsed by :func:`_condition`."""
    entity, _sep, event = (form.get("action") or "").partition(".")
    mapping = [{"field": f, "to": t.strip()} for f, t in zip(form.getlist("map_field"), form.getlist("map_to"))
               if f or t.strip()]
    return {"name": form.get("name", ""), "entity": entity, "event": event,
            "process_key": form.get("process_key", ""), "form_key": form.get("form_key") or None,
            "mapping": mapping, "enabled": form.get("enabled") == "y", "condition": None,
            "skip_if_running": form.get("skip_if_running") == "y", "report_pending": form.get("report_pending") == "y"}


def _condition(text: str | None):
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(400, "invalid_binding", _("The binding cannot be saved."),
                       details=[{"field": "condition", "message": _("The condition is not valid JSON.")}]) from None


def _mapping_place(path: str) -> str:
    """``mapping.2.field`` as the designer counts the table: "Mapping row 3 · Record field"."""
    parts = path.split(".")
    row = _("Mapping row %(n)d", n=int(parts[1]) + 1) if len(parts) > 1 and parts[1].isdigit() else _("Field mapping")
    part = {"field": _("Record field"), "to": _("Process variable / form field")}.get(parts[-1])
    return f"{row} · {part}" if part else row


def _binding_page(binding, errors=None, values=None, status=200, condition_text=None):
    engine = bindings._engine()
    processes = engine.list_definitions(current_only=True) if engine else []
    entity = (values or {}).get("entity") or (binding.entity if binding else None)
    entities = [entity] if entity else [a for a in dict.fromkeys(a["entity"] for a in bindings.actions())]
    fields = {e: {"label": embedded.record_type_label(e), "fields": embedded.record_fields(e)} for e in entities}
    current = values or (bindings.binding_dict(binding) if binding else
                         # A binding of "customer created" is most often the report itself: left
                         # unticked, a running report showed the customer as 未报备.
                         {"enabled": True, "skip_if_running": True, "report_pending": True, "mapping": [],
                          "condition": None})
    runs = list(db.session.scalars(select(BindingRun).where(BindingRun.binding_id == binding.id)
                                   .order_by(BindingRun.id.desc()).limit(20))) if binding else []
    wording = bindings.automation_wording()
    if condition_text is None:
        condition_text = json.dumps(current["condition"], ensure_ascii=False) if current.get("condition") else ""
    # A new binding's page carries a token of its own: Save double-clicked made two bindings, and
    # each new customer then started its report twice.
    form_token = None if binding else request.form.get("form_token") or secrets.token_urlsafe(16)
    return render_template("forms/binding_form.html", binding=binding, current=current, errors=errors or [],
                           form_token=form_token,
                           actions=bindings.actions(), processes=processes, forms=services.list_current_forms(),
                           fields=fields, runs=runs, condition_text=condition_text,
                           report_pending_entities=bindings.report_pending_entities(),
                           condition_words=bindings.condition_words(current.get("condition"), entity),
                           condition_texts=wording.builder_texts() if wording else None,
                           condition_place=wording.condition_place if wording else None, mapping_place=_mapping_place,
                           # The builder marks the rows these name ("condition.and.1.value" → "and.1.value").
                           condition_refused=[e["field"][len("condition."):] for e in errors or []
                                              if (e.get("field") or "").startswith("condition.")]), status


@bp.get("/bindings")
@roles_required(*DESIGNERS)
def bindings_index():
    items = db.session.scalars(bindings.bindings_query()).all()
    labels = {a["action"]: a["label"] for a in bindings.actions()}
    failed_only = request.args.get("outcome") == "failed"
    recent = select(BindingRun).order_by(BindingRun.id.desc()).limit(50 if failed_only else 20)
    recent = list(db.session.scalars(recent.where(BindingRun.outcome == "failed") if failed_only else recent))
    conditions = {b.id: bindings.condition_words(b.condition, b.entity) for b in items}
    return render_template("forms/bindings.html", bindings=items, labels=labels, runs=recent, conditions=conditions,
                           failed_only=failed_only)


@bp.route("/bindings/new", methods=["GET", "POST"])
@roles_required(*DESIGNERS)
def binding_new():
    if request.method == "GET":
        return _binding_page(None)
    return _save_binding_page(None)


@bp.route("/bindings/<int:binding_id>", methods=["GET", "POST"])
@roles_required(*DESIGNERS)
def binding_edit(binding_id):
    binding = db.session.get(FormBinding, binding_id) or abort(404)
    if request.method == "GET":
        return _binding_page(binding)
    if request.form.get("delete") == "y":
        bindings.delete_binding(binding, actor=current_user)
        db.session.commit()
        flash(_("Binding deleted."), "success")
        return redirect(url_for("forms.bindings_index"))
    return _save_binding_page(binding)


def _save_binding_page(binding):
    data = _binding_form_data(request.form)
    claim = None
    if binding is None:
        claim, led_to = idempotency.claim_form(current_user.id, request.form.get("form_token")
                                               or secrets.token_urlsafe(16))
        if claim is None:  # sent twice: the first sending saves it
            flash(_("This form was saved already; nothing was saved again."), "info")
            return redirect(url_for("forms.bindings_index"))
    try:
        data["condition"] = _condition(request.form.get("condition"))
        saved = bindings.save_binding(data, actor=current_user, binding=binding,
                                      version=request.form.get("version", type=int))
    except ApiError as error:
        db.session.rollback()
        if claim is not None:
            idempotency.answer_form(claim, None)
        flash(error.message, "danger")
        # Everything typed comes back, the condition as it was written.
        return _binding_page(binding, errors=error.details or [{"field": "", "message": error.message}],
                             values=data, status=error.status, condition_text=request.form.get("condition", ""))
    db.session.commit()
    if claim is not None:
        idempotency.answer_form(claim, url_for("forms.bindings_index"))
    flash(_("Binding %(name)s saved.", name=saved.name), "success")
    return redirect(url_for("forms.bindings_index"))


def _record_panel(record, user):
    """The record page's log of embedded processes (what started, what failed and why)."""
    from flask import current_app

    from app.crm.services import can_manage

    from app.engine.services import how_they_stand

    runs = bindings.runs_for_record(record.entity, record.id, limit=20)
    again = can_manage(record, user) and bindings.can_report_again(record)
    if not runs and not again:
        return None
    endpoint = "inbox.instance" if "inbox.instance" in current_app.view_functions else None
    rejected = bindings.review_status(record) == "rejected"
    processes = how_they_stand(run.instance_id for run in runs)
    return {"runs": runs, "outcomes": _RUN_OUTCOMES, "instance_endpoint": endpoint, "report_again": again,
            # Why a start failed is for the people who can fix the process; others read that they were told.
            "technical": user.has_role(*DESIGNERS),
            "reported_before": any(run.outcome == "started" for run in runs),
            "rejected": rejected, "processes": processes,
            "banner": _rejection_banner(runs, processes, again) if rejected else None}


def _rejection_banner(runs, processes, again: bool) -> dict:
    """At the top of a rejected record's page: why (the approver's last comment) and the way to
    submit again, which sat far below in the log of processes (1,500 px down on a phone)."""
    comment = next((processes[run.instance_id]["comment"] for run in runs  # newest first
                    if run.instance_id in processes and processes[run.instance_id]["comment"]), None)
    return {"text": _("Rejected: %(comment)s", comment=comment) if comment else _("Rejected."),
            "link": "#report-again" if again else None, "link_label": _("Fix the record, then submit again below")}


_RUN_OUTCOMES = {"started": _l("Started"), "not_matched": _l("Condition not met"), "skipped": _l("Skipped"),
                 "failed": _l("Failed")}


@bp.post("/records/<entity>/<int:record_id>/report-again")
@login_required
def report_again(entity, record_id):
    """The owner (or a manager) submits the record's report again after fixing what the
    approver rejected."""
    try:
        runs = bindings.report_again(entity, record_id, current_user)
    except ApiError as error:
        db.session.rollback()
        if error.status in (403, 404):
            abort(error.status)
        flash(error.message, "danger")
    else:
        db.session.commit()
        started = [run for run in runs if run.outcome == "started"]
        if started:
            flash(_("Submitted: process #%(id)s.", id=started[0].instance_id), "success")  # the first time too
        else:
            flash(_("The process did not start: %(reason)s", reason=_("; ").join(
                run.message or str(_RUN_OUTCOMES.get(run.outcome, run.outcome)) for run in runs)), "danger")
    return redirect(url_for("crm.detail", entity=entity, record_id=record_id))


def add_record_panel(app) -> None:
    try:
        from app.crm.views import add_detail_panel
    except ImportError:  # no CRM pages installed
        return
    add_detail_panel(app, "forms/_record_panel.html", _record_panel, order=55,
                     entities=("customer", "activity", "opportunity", "contract"))
