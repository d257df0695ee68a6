from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.access import login_required, public
from app.clock import datetimeformat
from app.database import health
from app.extensions import db
from app.security import is_local_path
from app.ui.dashboard import home_sections
from app.ui.nav import NavItem, add_nav_item, nav_items_for

bp = Blueprint("ui", __name__)


@bp.get("/")
@login_required
def home():
    return render_template("ui/home.html", sections=home_sections(current_user))


@bp.post("/language")
@public
def set_language():
    """Switch the UI language; saved on the user when logged in, in the session otherwise."""
    from app import LOCALES

    locale = request.form.get("locale")
    if locale in LOCALES:
        session["locale"] = locale
        if current_user.is_authenticated:
            current_user.locale = locale
            db.session.commit()
        else:
            session["locale_chosen"] = True  # chosen on the login page: the login saves it on the user
    target = request.form.get("next") or ""
    # Only local paths: never an open redirect.
    if not is_local_path(target):
        target = url_for("ui.home")
    return redirect(target)


@bp.get("/healthz")
@public
def healthz():
    status = health()
    ok = status["database"] == "ok" and status["migrations"] == "ok"
    return jsonify({"status": "ok" if ok else "unhealthy", **status}), 200 if ok else 503


def row_action(action: str, what: str) -> str:
    """A row button's name for a screen reader: "认领：福建区域负责人审批（厦门星辰）", not the
    tenth "认领" in a list that does not say which row it acts on."""
    return _("%(action)s: %(what)s", action=action, what=what)


def init_app(app):
    app.register_blueprint(bp)
    add_nav_item(app, NavItem("ui.home", _l("Home"), 0))
    app.jinja_env.filters["datetimeformat"] = datetimeformat  # in place of Flask-Babel's
    app.jinja_env.globals["row_action"] = row_action

    @app.context_processor
    def layout_context():
        from flask_babel import get_locale

        items = nav_items_for(current_app, current_user) if current_user.is_authenticated else []
        # A form saved on the request before (app.crm.views._saved): its draft can go. Looked at
        # first: a pop marks the session changed, and every page would rewrite the cookie.
        saved_form = session.pop("saved_form", None) if "saved_form" in session else None
        return {"nav_items": items, "current_locale": str(get_locale()), "saved_form": saved_form}
