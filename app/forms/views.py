"""Pages: the form list, the designer (form-js editor) and the preview (form-js viewer)."""
from flask import Blueprint, abort, render_template, request
from flask_babel import lazy_gettext as _l

from app.access import roles_required
from app.forms import services
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("forms", __name__, url_prefix="/forms")

DESIGNERS = ("designer", "admin")

# What the preview fills embedded fields with, so the designer sees the layout with data.
SAMPLE_RECORDS = {
    "customer": {"name": "厦门示例科技有限公司", "province": "福建", "city": "厦门", "industry": "医疗",
                 "registered_capital": 12000000, "customer_class": "A", "source": "展会", "phone": "0592-5550123",
                 "credit_code": "91350200MA2XXXXX0X", "owner": "sales1", "report_status": "pending"},
    "activity": {"kind": "visit", "content": "上门拜访，客户有采购意向", "happened_at": "2026-11-20T10:00",
                 "next_follow_up": "2026-11-27", "owner": "sales1"},
    "opportunity": {"title": "影像设备采购", "amount": 560000, "stage": "方案报价", "expected_close": "2026-12-31",
                    "status": "open", "owner": "sales1"},
    "contract": {"title": "影像设备采购合同", "amount": 550000, "signed_on": "2026-12-01", "expires_on": "2027-11-30",
                 "status": "active", "owner": "sales1"},
}


@bp.record_once
def _nav(state):
    add_nav_item(state.app, NavItem("forms.index", _l("Forms"), 40, roles=DESIGNERS))


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
    return render_template("forms/designer.html", form=None, catalogue=services.crm_field_catalogue())


@bp.get("/<key>/design")
@roles_required(*DESIGNERS)
def design(key):
    form = services.get_form(key, request.args.get("version", type=int)) or abort(404)
    return render_template("forms/designer.html", form=form, current=services.get_form(key),
                           catalogue=services.crm_field_catalogue())


@bp.get("/<key>/preview")
@roles_required(*DESIGNERS)
def preview(key):
    form = services.get_form(key, request.args.get("version", type=int)) or abort(404)
    return render_template("forms/preview.html", form=form, data=sample_data(form.schema),
                           versions=services.form_versions(key))
