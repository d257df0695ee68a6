"""Login and logout pages."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import update
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app import select_locale
from app.access import login_required, public
from app.api.errors import ApiError
from app.auth import services
from app.auth.models import User
from app.extensions import db, login_manager
from app.security import is_local_path

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=1000)])
    remember = BooleanField("remember")


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("ui.home")
    return target if is_local_path(target) else url_for("ui.home")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.username.data, form.password.data, request.remote_addr or "")
        except services.LoginRefused as refused:
            flash(refused.message, "danger")
            status = 429 if refused.locked else 401
        else:
            _keep_language(user)
            services.open_login_session(user)
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


def _keep_language(user: User) -> None:
    """The language the login page was read in: the user's choice when they chose it there, and
    in any case the one the worker writes their notices and import errors in while they have
    chosen none (their browser's, not made a choice for good). Committed with the login."""
    reading = select_locale()  # nobody is logged in yet: the session's choice, else the browser's
    if session.pop("locale_chosen", False):
        user.locale = reading
    if user.reads_in != reading:
        # Not a change of the user an administrator edits: written past the version, or signing in
        # made the administrator's open page of them stale ("another administrator saved …").
        db.session.execute(update(User).where(User.id == user.id).values(reads_in=reading)
                           .execution_options(synchronize_session=False))


@bp.post("/logout")
@login_required
def logout():
    session["locale"] = select_locale()  # the login page goes on in the language the user chose
    services.end_login_session(current_user)
    db.session.commit()
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Every user's own password (an administrator only resets it)."""
    errors, status = {}, 400
    if request.method == "POST" and request.form.get("confirm", "") != request.form.get("password", ""):
        errors = {"confirm": _("The two new passwords differ: type the same one twice.")}  # a typo locks one out
    elif request.method == "POST":
        try:
            services.change_own_password(current_user, request.form.get("current", ""), request.form.get("password", ""),
                                         request.remote_addr or "")
        except ApiError as error:
            db.session.rollback()
            errors, status = error.by_field(), error.status
        else:
            user = current_user._get_current_object()
            services.open_login_session(user)  # this session goes on under the new password, the others end
            db.session.commit()
            login_user(user)
            flash(_("Your password was changed. Other sessions and API tokens have ended."), "success")
            return redirect(url_for("auth.change_password"))
    return render_template("auth/password.html", errors=errors), status if errors else 200


def init_app(app):
    app.register_blueprint(bp)
    login_manager.login_view = "auth.login"

    login_manager.user_loader(services.user_of_session)
