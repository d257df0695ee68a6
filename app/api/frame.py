"""Request handling shared by every API blueprint: bearer tokens, CSRF, body size, lists."""
from __future__ import annotations

import json
import re

from apiflask import Schema
from marshmallow import ValidationError, validates_schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Range
from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user

from app.access import is_api_request, not_signed_in_error
from app.api import idempotency
from app.api.errors import ApiError, too_large_message
from app.extensions import csrf, login_manager

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_PER_PAGE = 200
MAX_PAGE = 100_000
# Getting a token sends credentials and sets no cookie: nothing for CSRF to protect, and
# other systems (OA, finance) have no CSRF token to send.
CSRF_FREE_ENDPOINTS = frozenset({"auth_api.create_token"})


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def carries_a_diagram(view):
    """A route whose JSON body carries a whole diagram (up to the 5 MB a deploy takes): its body
    may be larger than other JSON bodies (1 MB). A diagram deployed through the API opened in
    the designer as one it could neither check, save nor deploy."""
    view.json_body_limit = "DIAGRAM_JSON_BYTES"
    return view


def _json_body_limit() -> int:
    view = current_app.view_functions.get(request.endpoint)
    return current_app.config[getattr(view, "json_body_limit", "API_MAX_JSON_BYTES")]


def _refuse_deep_json() -> None:
    """json.loads raises RecursionError on deeply nested input and a plain ValueError on an
    integer of thousands of digits, which the input parser would let through as 500s; refuse
    them here as bad input."""
    try:
        json.loads(request.get_data(cache=True) or b"null")
    except RecursionError:
        raise ApiError(400, "invalid_input", _("The JSON body is nested too deeply.")) from None
    except json.JSONDecodeError:
        pass  # malformed JSON: the route's own input parsing answers its usual 400
    except UnicodeDecodeError:  # a ValueError too: GBK from an ERP read as "a number too long"
        raise ApiError(400, "invalid_input", _("The JSON body must be UTF-8 text (RFC 8259).")) from None
    except ValueError:  # Python's limit on an integer's digits (4,300), which the input parser let through as a 500
        raise ApiError(400, "invalid_input", _("A number in the JSON body is too long.")) from None


def _refuse_a_body_that_is_not_json() -> None:
    """A route that takes JSON says so when the body came form-encoded or as text (``curl -d``
    sends form encoding), rather than calling every field of it missing."""
    spec = getattr(current_app.view_functions.get(request.endpoint), "_spec", None) or {}
    if spec.get("body") is None or (spec.get("content_type") or "application/json") != "application/json":
        return
    if request.mimetype != "application/json" and request.get_data(cache=True):
        raise ApiError(415, "unsupported_media_type",
                       _("Send the body as JSON, with the header Content-Type: application/json."))


def _complete_spec(spec: dict) -> dict:
    """The OpenAPI document as clients meet the API: every operation names its success (a route
    documented by its errors alone had none), the bearer token and the 401 without it (but for
    the public ones), the 415 of a JSON body sent as something else; the record inputs refuse
    fields they do not name; the server is the one the document was read from (the first
    caller's address was kept for everyone: Swagger's "Try it out" went to localhost)."""
    spec["security"] = [{"BearerAuth": []}]
    spec["servers"] = [{"url": "/"}]
    for name in RECORD_INPUTS:
        spec.get("components", {}).get("schemas", {}).get(name, {})["additionalProperties"] = False
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if not any(code.startswith("2") for code in responses):
                responses["200"] = {"description": "Successful response"}
            if (path, method) in PUBLIC_OPERATIONS:
                operation["security"] = []
                continue
            responses.setdefault("401", _error_response("Not signed in: no token, or one invalid, expired or revoked"))
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses.setdefault("415", _error_response("The body is not JSON (send Content-Type: application/json)"))
            if method.upper() in idempotency.METHODS:
                operation.setdefault("parameters", []).append(idempotency.OPENAPI_PARAMETER)
    imported = spec.get("paths", {}).get("/api/v1/customers/import", {}).get("post")
    if imported:  # a small file is imported within the request (201), a large one in the background (202)
        answer = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportOut"}}}}
        imported["responses"]["201"] = {"description": "Imported", **answer}
        imported["responses"]["202"] = {"description": "Importing in the background: poll the Location", **answer}
    return spec


# Their schemas let unknown keys through to the service, which refuses them with the other bad fields.
RECORD_INPUTS = ("CustomerIn", "ActivityIn", "OpportunityIn", "ContractIn")


def _error_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}}


PUBLIC_OPERATIONS = {("/api/v1/tokens", "post")}


def init_app(app: Flask) -> None:
    from app.auth.services import token_for

    app.spec_processor(_complete_spec)

    @login_manager.request_loader
    def load_user_from_bearer(req):
        raw = bearer_token()
        token = token_for(raw) if raw else None
        if token is None:
            return None
        g.api_token = token
        return token.user

    @app.before_request
    def guard_request():
        if is_api_request():
            if (request.method not in SAFE_METHODS and request.endpoint is not None
                    and request.endpoint not in CSRF_FREE_ENDPOINTS and not current_user.is_authenticated):
                # Nobody signed in: refused before its body is read (twelve anonymous megabytes of
                # JSON for the designer cost seconds and a gigabyte, to answer 401).
                if bearer_token() is not None:
                    raise ApiError(401, "invalid_token", _("The bearer token is invalid, expired or revoked."))
                raise not_signed_in_error()
            if request.mimetype == "application/json":
                # JSON bodies are small; uploads keep the larger application limit.
                request.max_content_length = _json_body_limit()
                if request.content_length and request.content_length > request.max_content_length:
                    raise ApiError(413, "too_large", too_large_message())
                _refuse_deep_json()
            elif request.method in ("POST", "PUT", "PATCH"):
                _refuse_a_body_that_is_not_json()
            _refuse_unstorable_text()
            _refuse_query_not_taken()
            raw = bearer_token()
            if raw is not None:
                if current_user.is_authenticated and getattr(g, "api_token", None) is None:
                    # A browser session and a token at once: trust neither blindly.
                    raise ApiError(400, "invalid_input", _("Send either a session cookie or a bearer token, not both."))
                if getattr(g, "api_token", None) is None:
                    raise ApiError(401, "invalid_token", _("The bearer token is invalid, expired or revoked."))
                return None  # token auth needs no CSRF token
            if not current_user.is_authenticated:
                return None  # no credential at all: the route answers 401 (CSRF guards sessions only)
        if (request.method not in SAFE_METHODS and current_app.config["WTF_CSRF_ENABLED"]
                and request.endpoint not in CSRF_FREE_ENDPOINTS):
            # Cookie-authenticated requests (pages, and the UI's own API calls) need the token.
            csrf.protect()
        return None

    @app.after_request
    def no_content_has_no_type(response):
        # Flask labels even an empty 204 text/html; a client that dispatches on the type
        # (or a proxy that compresses by it) should see no content at all.
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        return response

    idempotency.init_app(app)  # after the guard: keys only for requests that passed it


# Text that cannot be stored: NUL (PostgreSQL text and JSONB refuse it) and a UTF-16 surrogate
# left unpaired by a JSON "\ud800" escape (no character at all: it cannot be encoded as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_paths(value, path: str = "", depth: int = 0) -> list[str]:
    if isinstance(value, str):
        return [path or "body"] if _UNSTORABLE.search(value) else []
    if depth > 50:
        return []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    found = []
    for key, sub in items:
        if isinstance(key, str) and _UNSTORABLE.search(key):
            found.append(f"{path}.{key!r}" if path else repr(key))
        found += _unstorable_paths(sub, f"{path}.{key}" if path else str(key), depth + 1)
    return found


def _refuse_unstorable_text() -> None:
    """Refuse text no database can store up front, naming the fields, for every API call at once
    (else the insert fails deep inside: a 500)."""
    paths = [f"query.{k}" for k, v in request.args.items(multi=True) if _UNSTORABLE.search(k + v)]
    if request.mimetype == "application/json":
        paths += _unstorable_paths(request.get_json(silent=True))
    if paths:
        raise ApiError(400, "invalid_input", _("Text must not contain NUL characters or unpaired surrogates "
                                               "(\\ud800–\\udfff escapes)."),
                       [{"field": p, "message": _("Contains a character that cannot be stored.")} for p in paths[:20]])


def _refuse_query_not_taken() -> None:
    """A route that declares no query parameters refuses any, as the lists refuse the ones they
    do not take: ``POST /customers?dry_run=1`` created a real customer, and ``PATCH
    …?versoin=1`` skipped the version check without a word."""
    if not request.args:
        return
    view = current_app.view_functions.get(request.endpoint)
    if view is None:
        return  # no such route: its 404 or 405 follows
    if any(location == "query" for _schema, location in (getattr(view, "_spec", {}).get("args") or [])):
        return  # its QueryParameters schema refuses what it does not take
    said = _("This request takes no query parameters.")
    raise ApiError(400, "invalid_input", said, [{"field": f"query.{name}", "message": said} for name in request.args])


class QueryParameters(Schema):
    """The query parameters an API route takes. One it does not take is refused (400, naming
    it and the ones it takes), not ignored: a misspelt filter (``?stauts=failed``) or ``?q=``
    on a list that does not search would otherwise answer the whole list as if filtered."""

    @validates_schema(pass_original=True)
    def _refuse_unknown(self, data, original, **kwargs):
        taken = sorted(field.data_key or name for name, field in self.load_fields.items())
        unknown = sorted(set(original) - set(taken))
        if unknown:
            message = _("This parameter is not taken here; the ones taken: %(names)s.", names=", ".join(taken) or "—")
            raise ValidationError({name: [message] for name in unknown})


class PageQuery(QueryParameters):
    # Bounded so OFFSET never overflows the database's integer.
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=50, validate=Range(min=1, max=MAX_PER_PAGE))


class SearchQuery(PageQuery):
    """A list that searches its text: ``?q=`` (API.md: "full-text where it makes sense")."""
    q = String(load_default=None)


def page_schema(item, name: str) -> type[Schema]:
    """The envelope :func:`page_of` answers, for the OpenAPI document: a page of ``item``."""
    return type(name, (Schema,), {"items": List(Nested(item), required=True), "total": Integer(required=True),
                                  "page": Integer(required=True), "per_page": Integer(required=True)})


def page_of(select_stmt, page: int, per_page: int, serialize) -> dict:
    """Run ``select_stmt`` for one page and shape it as API.md's list envelope."""
    from sqlalchemy import func, select

    from app.extensions import db

    total = db.session.scalar(select(func.count()).select_from(select_stmt.order_by(None).subquery()))
    rows = db.session.scalars(select_stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [serialize(r) for r in rows], "total": total, "page": page, "per_page": per_page}
