"""Translated messages that also work outside a request.

Forms are saved by ``flask demo`` and submissions are validated by the worker completing a
task; there the app's locale selector (which reads the request) cannot run, so the default
locale is used.
"""
from flask import current_app, has_app_context, has_request_context
from flask_babel import force_locale, gettext


def _(message: str, **params) -> str:
    if has_request_context() or not has_app_context():
        return gettext(message, **params)
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")):
        return gettext(message, **params)
