"""The CRM application factory."""
from __future__ import annotations

import logging

from apiflask import APIFlask
from flask import has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

import config as settings
from app import extensions as ext
from app.db import MAX_ID

LOCALES = ("zh_CN", "en")


class _RecordIdConverter(IntegerConverter):
    """``<int:...>`` in every route: ids beyond the INTEGER columns' range cannot exist, so
    they are a 404 rather than an overflow in the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class _SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure exactly when the request came over HTTPS (mode "auto")."""

    def get_cookie_secure(self, app):
        mode = str(app.config.get("SESSION_COOKIE_SECURE_MODE", "auto")).lower()
        if mode == "auto":
            return request.is_secure
        return mode in {"1", "true", "yes", "on"}


def select_locale() -> str:
    """User setting, then an explicit choice in this session, then the browser, then Chinese.

    Outside a request (the worker, ``flask demo``) texts are in ``BABEL_DEFAULT_LOCALE``.
    """
    if not has_request_context():
        return None  # Flask-Babel falls back to the configured default
    try:
        chosen = current_user.locale if current_user and current_user.is_authenticated else None
    except SQLAlchemyError:  # the database is down (a 503 to word) or this transaction failed
        chosen = None
    if chosen:
        return chosen
    if session.get("locale") in LOCALES:
        return session["locale"]
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"])
    return "en" if best == "en" else "zh_CN"


def create_app(overrides: dict | None = None) -> APIFlask:
    app = APIFlask(
        __name__,
        title="CRM workflow API",
        version="v1",
        spec_path="/api/v1/openapi.json",
        docs_path="/api/v1/docs",
        json_errors=False,
        instance_path=str(settings.INSTANCE_DIR),
    )
    app.config.from_mapping(settings.load(overrides))
    app.session_interface = _SessionInterface()
    app.url_map.converters["int"] = _RecordIdConverter
    app.url_map.strict_slashes = False  # /inbox/ is /inbox, as people type it
    app.json.ensure_ascii = False  # Chinese text unescaped (API.md)
    if app.config["TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO (16,000 lines in four minutes of load,
    # "State changed to ERROR" among them for races the product answers 409): its warnings only.
    logging.getLogger("spiff").setLevel(logging.WARNING)

    # Note: ``app.db`` is the module of column types, so the extension is reached via ``ext``.
    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(settings.BASE_DIR / "migrations"), render_as_batch=True, compare_type=True)
    ext.csrf.init_app(app)
    ext.login_manager.init_app(app)
    ext.babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")

    from app import database

    database.init_app(app)
    _register_modules(app)
    return app


def _register_modules(app: APIFlask) -> None:
    """Wire every module into the app. Order matters only where noted."""
    from app import automation, cli, crm, engine, forms, inbox, reports, security
    from app.admin import api as admin_api
    from app.admin import views as admin_views
    from app.api import errors, frame
    from app.auth import api as auth_api
    from app.auth import views as auth_views
    from app.designer import views as designer_views
    from app.jobs import cli as jobs_cli
    from app.notifications import views as notification_views
    from app.ui import live
    from app.ui import views as ui_views

    # The request frame first: security headers, error format, bearer tokens and CSRF.
    security.init_app(app)
    errors.init_app(app)
    frame.init_app(app)
    auth_views.init_app(app)
    ui_views.init_app(app)
    app.register_blueprint(auth_api.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(live.bp)
    notification_views.init_app(app)
    # Product modules; record-event subscribers are ordered by their own ``order`` argument.
    forms.init_app(app)
    designer_views.init_app(app)
    automation.init_app(app)
    crm.init_app(app)
    inbox.init_app(app)
    reports.init_app(app)
    engine.init_app(app)
    jobs_cli.init_app(app)
    cli.init_app(app)
