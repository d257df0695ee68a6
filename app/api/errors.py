"""Every API error as ``{"error": {"code", "message", "details"}}`` with the right status."""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from apiflask import HTTPError
from flask_wtf.csrf import CSRFError
from flask import Flask, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app.access import is_api_request, session_ended_message
from app.extensions import db

log = logging.getLogger(__name__)

_CODES = {
    400: "invalid_input",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


# PostgreSQL's deadlock_detected and serialization_failure.
_CROSSED = frozenset({"40P01", "40001"})


class ApiError(Exception):
    """Raised by services and routes; rendered in the API error format."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def by_field(self) -> dict[str, str]:
        """What a form shows next to each field: every message about it (a password may be short
        and the username too), the message alone under "" when no field is named."""
        out: dict[str, str] = {}
        for detail in self.details:
            field, said = detail.get("field") or "", str(detail.get("message"))
            out[field] = f"{out[field]} {said}" if field in out and said not in out[field] else out.get(field, said)
        return out or {"": str(self.message)}

    def __str__(self) -> str:
        """The message and what each detail says: where no form marks the fields (a failed
        process step, a rule's run log, a log line) "Invalid input: Stage" alone hides why."""
        if not self.details:
            return str(self.message)
        said = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in self.details if isinstance(d, dict))
        return f"{self.message} ({said})" if said else str(self.message)


def error_response(status: int, code: str, message: str, details=None, headers=None):
    body = {"error": {"code": code, "message": str(message), "details": details or []}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'  # how to authenticate (RFC 6750)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# Werkzeug's own texts for HTTP errors, in the reader's language.
_HTTP_MESSAGES = {
    400: _l("The request could not be read (is the JSON well-formed?)."),
    401: _l("Authentication required: send a bearer token."),
    403: _l("You are not allowed to do this."),
    404: _l("Not found."),
    405: _l("This method is not allowed here."),
    413: _l("The request body is too large."),
    415: _l("Unsupported content type."),
    429: _l("Too many requests; try again later."),
}


def too_large_message(what_to_do: str = "") -> str:
    """413's text with the limit that applied (a JSON body's, or the upload limit)."""
    limit = request.max_content_length or current_app.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        return " ".join(filter(None, [str(_HTTP_MESSAGES[413]), what_to_do]))
    size = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} KB"
    return " ".join(filter(None, [_("The request is larger than the %(size)s allowed.", size=size), what_to_do]))


# The same, where a person reads it on a page rather than a program in a response.
_PAGE_MESSAGES = {
    400: _l("The page sent something the server could not read. Go back and try again."),
    405: _l("This address cannot be used that way (perhaps a form was sent to a page that only shows)."),
}


# marshmallow's own messages (field types, lengths, ranges), in the reader's language.
_SCHEMA_MESSAGES = {
    "Missing data for required field.": _l("This field is required."),
    "Field may not be null.": _l("This field is required."),
    "Invalid value.": _l("Invalid value."),
    "Not a valid string.": _l("Must be text."),
    "Not a valid integer.": _l("Must be a whole number."),
    "Not a valid number.": _l("Must be a number."),
    "Number too large.": _l("The number is too large."),
    "Not a valid boolean.": _l("Must be true or false."),
    "Not a valid date.": _l("Must be a date (YYYY-MM-DD)."),
    "Not a valid datetime.": _l("Must be a date and time (ISO 8601)."),
    "Not a valid aware datetime.": _l("Must be a date and time with its offset (e.g. 2026-12-06T10:00:00+08:00)."),
    "Special numeric values (nan or infinity) are not permitted.": _l("Must be a number."),
    "Not a valid mapping type.": _l("Must be an object ({...})."),
    "Not a valid list.": _l("Must be a list ([...])."),
    "Invalid type.": _l("Invalid type."),
    "Invalid input type.": _l("Invalid type."),
    "Unknown field.": _l("Unknown field."),
    "Not a valid email address.": _l("Not a valid e-mail address."),
    "Not a valid URL.": _l("Not a valid URL."),
}
_SCHEMA_PATTERNS = (
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"),
     lambda m: _("Use %(min)s to %(max)s characters.", min=m[1], max=m[2])),
    (re.compile(r"^Longer than maximum length (\d+)\.$"), lambda m: _("At most %(n)s characters.", n=m[1])),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), lambda m: _("At least %(n)s characters.", n=m[1])),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
     lambda m: _("Must be from %(min)s to %(max)s.", min=m[1], max=m[2])),
    (re.compile(r"^Must be greater than or equal to (\S+)\.$"), lambda m: _("Must be at least %(min)s.", min=m[1])),
    (re.compile(r"^Must be less than or equal to (\S+)\.$"), lambda m: _("Must be at most %(max)s.", max=m[1])),
    (re.compile(r"^Must be one of: (.+)\.$"), lambda m: _("Must be one of: %(choices)s.", choices=m[1])),
)


def _schema_message(message: str) -> str:
    known = _SCHEMA_MESSAGES.get(message)
    if known is not None:
        return str(known)
    for pattern, say in _SCHEMA_PATTERNS:
        match = pattern.match(message)
        if match:
            return say(match)
    return message  # the product's own validators speak the reader's language already


def _validation_details(detail) -> list[dict]:
    """Flatten webargs/marshmallow messages into ``[{"field", "message"}]``."""
    out: list[dict] = []

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                # marshmallow's "_schema" is the body as a whole (a list sent for an object).
                name = "body" if key == "_schema" and not prefix else str(key)
                walk(f"{prefix}.{name}" if prefix else name, sub)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            for message in value:
                out.append({"field": prefix, "message": _schema_message(message)})
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}", sub)
        else:
            out.append({"field": prefix, "message": _schema_message(str(value))})

    for location, fields in (detail or {}).items():
        if location in ("json", "query", "form", "files", "headers", "json_or_form", "path"):
            walk("", fields)
        else:
            walk(location, fields)
    return out


def _form_from_an_ended_session():
    """A form sent from a page whose session ended (the browser restarted, the cookie expired):
    back to that page, through the login when needed, where what was typed waits to be
    restored (static/crm: drafts), instead of a bare 400 that loses it."""
    referrer = urlsplit(request.referrer or "")
    back = referrer.path + (f"?{referrer.query}" if referrer.query else "") \
        if referrer.netloc == request.host and referrer.path.startswith("/") else url_for("ui.home")
    if current_user.is_authenticated:
        flash(_("The page had expired, so nothing was saved. What you typed can be restored in the form: send it "
                "again."), "warning")
        return redirect(back, 303)
    flash(session_ended_message(), "warning")
    return redirect(url_for("auth.login", next=back), 303)


def _page_error(status: int, message: str):
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.error_processor
    def apiflask_errors(error: HTTPError):
        # Validation errors from @input arrive here with status VALIDATION_ERROR_STATUS_CODE.
        details = _validation_details(error.detail) if error.detail else []
        code = _CODES.get(error.status_code, "error")
        message = error.message or "Error"
        if error.status_code == 400 and details:
            message = _("Invalid input: %(fields)s", fields=", ".join(sorted({d["field"] or "body" for d in details})))
        if not is_api_request():
            return _page_error(error.status_code, message)
        return error_response(error.status_code, code, message, details, error.headers)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        if not is_api_request():
            return _page_error(error.status, error.message)
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if not is_api_request():
            if error.code and error.code < 400:
                return error
            if isinstance(error, CSRFError):
                return _form_from_an_ended_session()
            message = error.description or error.name
            if error.code == 413:
                message = too_large_message(_("Go back and choose a smaller file."))
            elif message == type(error).description:  # Werkzeug's English text, not a view's own
                message = _PAGE_MESSAGES.get(error.code, _HTTP_MESSAGES.get(error.code, message))
            return _page_error(error.code or 500, message)
        code = "csrf_failed" if isinstance(error, CSRFError) else _CODES.get(error.code or 500, "error")
        message = error.description or error.name
        if isinstance(error, CSRFError):
            message = _("The page's security token is missing or expired; reload the page and try again.")
        elif error.code == 413:
            message = too_large_message()
        elif message == type(error).description:  # Werkzeug's generic text, not a route's own
            message = _HTTP_MESSAGES.get(error.code, message)
        headers = {}
        if error.code == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        return error_response(error.code or 500, code, message, headers=headers)

    @app.errorhandler(StaleDataError)
    def stale(error):
        db.session.rollback()
        message = _("The record was changed by someone else; reload it and try again.")
        if not is_api_request():
            return _page_error(409, message)
        return error_response(409, "stale_version", message)

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def data_error(error):
        # The database refused a value (a number out of range, malformed text): bad input.
        db.session.rollback()
        # SQLite's driver raises a plain OverflowError for integers beyond 64 bits.
        log.info("value refused on %s %s: %s", request.method, request.path, getattr(error, "orig", error))
        message = _("A value is out of range or malformed.")
        if not is_api_request():
            return _page_error(400, message)
        return error_response(400, "invalid_input", message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_error(error):
        db.session.rollback()
        if getattr(error.orig, "sqlstate", None) in _CROSSED:
            # Two requests changed the same rows at the same moment (a withdrawal racing the
            # approval) and PostgreSQL undid this one: nothing is down, it lost a race.
            log.warning("%s on %s %s", type(error.orig).__name__, request.method, request.path)
            message = _("Someone changed the same records at the same moment; nothing was saved. Reload and try again.")
            if not is_api_request():
                return _page_error(409, message)
            return error_response(409, "conflict", message)
        # A lost connection is a 503 the client may retry; anything else is a bug (500).
        unavailable = isinstance(error, OperationalError) or getattr(error, "connection_invalidated", False)
        log.exception("database error on %s %s", request.method, request.path)
        status = 503 if unavailable else 500
        message = _("The database is unavailable; try again shortly.") if unavailable else _("Internal error.")
        if not is_api_request():
            return _page_error(status, message)
        return error_response(status, _CODES[status], message, headers={"Retry-After": "5"} if unavailable else None)

    @app.errorhandler(Exception)
    def unexpected(error):
        if isinstance(error, HTTPException):
            return http_error(error)
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not is_api_request():
            return _page_error(500, "")  # error.html says it in the reader's language
        return error_response(500, "internal_error", _("Internal error; it has been logged."))
