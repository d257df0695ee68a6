"""Designer pages: the process list, the modeler, versions (read-only view and compare)."""
from __future__ import annotations

import difflib
from datetime import datetime

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.access import roles_required
from app.designer import api, engine_link, services
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("designer", __name__, url_prefix="/designer")
designer_only = roles_required("designer", "admin")


def _urls(key=None) -> dict:
    """Endpoints the page script calls, passed as data-* attributes (no inline script: CSP)."""
    urls = {
        "processes": url_for("designer_api.list_processes"),
        "drafts": url_for("designer_api.create_draft"),
        "templates": url_for("designer_api.list_templates"),
        "check": url_for("designer_api.check"),
        "operations": url_for("designer_api.operations"),
        "users": "/api/v1/users",
        "groups": "/api/v1/groups",
        "forms": "/api/v1/forms",
        "bindings": "/api/v1/form-bindings",
        # Where the test run looks up a record to take its start data from, by record type.
        "records": {"customer": "/api/v1/customers", "activity": "/api/v1/activities",
                    "opportunity": "/api/v1/opportunities", "contract": "/api/v1/contracts"},
        "modeler": url_for("designer.modeler", key="__KEY__"),
    }
    if key:
        urls.update({
            "draft": url_for("designer_api.get_draft", key=key),
            "deploy": url_for("designer_api.deploy", key=key),
            "testRuns": url_for("designer_api.start_test_run", key=key),
            "testRunBase": url_for("designer_api.get_test_run", run_id=0)[:-1],
            "versions": url_for("designer_api.versions", key=key),
            "versionsPage": url_for("designer.versions", key=key),
            "export": url_for("designer.export", key=key),
            "list": url_for("designer.index"),
        })
    return urls


@bp.get("/")
@designer_only
def index():
    return render_template("designer/index.html", rows=services.process_rows(),
                           templates=services.template_titles(), urls=_urls())


@bp.get("/<key>")
@designer_only
def modeler(key):
    draft = services.open_draft(key, current_user) if _exists(key) else abort(404)
    return render_template("designer/modeler.html", draft=draft, urls=_urls(key), fields=condition_fields(key))


@bp.get("/<key>/versions")
@designer_only
def versions(key):
    # The page shows times in the reader's zone, as every other page does; the API keeps ISO text.
    rows = [{**row, "deployed_at": datetime.fromisoformat(row["deployed_at"])} for row in engine_link.versions(key)]
    if not rows:
        abort(404)
    a = request.args.get("a", type=int)
    b = request.args.get("b", type=int)
    diff = None
    if a and b:
        left, right = engine_link.version_xml(key, a), engine_link.version_xml(key, b)
        if left is None or right is None:
            abort(404)
        diff = list(difflib.unified_diff(left.splitlines(), right.splitlines(),
                                         f"v{a}", f"v{b}", lineterm="", n=2))
    # Titled by the current version's name (客户报备), as the process list shows it.
    title = next((row["name"] for row in rows if row["is_current"] and row["name"]), key)
    return render_template("designer/versions.html", key=key, title=title, rows=rows, a=a, b=b, diff=diff,
                           urls=_urls(key))


@bp.post("/<key>/versions/<int:version>/rollback")
@designer_only
def rollback(key, version):
    engine_link.rollback(key, version, current_user)
    flash(_("Version %(version)s is now current; new instances start on it.", version=version), "success")
    return redirect(url_for("designer.versions", key=key))


@bp.get("/<key>/versions/<int:version>")
@designer_only
def view_version(key, version):
    xml = engine_link.version_xml(key, version)
    if xml is None:
        abort(404)
    return render_template("designer/viewer.html", key=key, version=version, xml=xml, urls=_urls(key))


@bp.get("/<key>/export")
@designer_only
def export(key):
    version = request.args.get("version", type=int)
    xml = engine_link.version_xml(key, version) if version else services.current_xml(key)
    if xml is None:
        abort(404)
    suffix = f"_v{version}" if version else ""
    return Response(xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{key}{suffix}.bpmn"'})


def condition_fields(process_key: str | None = None) -> list[dict]:
    """What a flow's condition may test: the variables every embedded process starts with, an
    approval's decision, and the fields of the record types the process is started from (of
    every type, each with the types it belongs to, when no binding starts it): a customer
    report offered deals' and contracts' fields (amount, stage, invoice …)."""
    from app.crm import services as crm
    from app.forms.bindings import bound_entities

    bound = bound_entities(process_key) if process_key else []
    fields = {"owner": _("Owner"), "reporter": _("Submitter"), "decision": _("Decision"),
              "record_type": _("Record type")}
    for key, (label, types) in crm.fields_of_every_type(lambda field: field["type"] != "users",
                                                        entities=bound or None).items():
        # An embedded form field is named after the record's field, a custom one without "custom.".
        fields.setdefault(key.removeprefix("custom."), label if len(bound) == 1 else _(
            "%(field)s (%(types)s)", field=label, types=_(", ").join(types)))
    return [{"name": name, "label": str(label)} for name, label in fields.items()]


def _exists(key) -> bool:
    return services.get_draft(key) is not None or engine_link.current_version(key) is not None


def init_app(app):
    app.register_blueprint(bp)
    app.register_blueprint(api.bp)
    add_nav_item(app, NavItem("designer.index", _l("Process modeler"), 30, roles=("designer", "admin"), menu="manage"))
