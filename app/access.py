"""Who may call a route. Every view declares it with one of these decorators.

``tests/test_route_access.py`` walks the URL map and fails for any endpoint without a
declaration, so a new route cannot ship unguarded. API routes answer 401/403 in the JSON
error format; pages redirect to the login page or show a 403 page.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

# Endpoints provided by libraries, not by our views: static files and the OpenAPI document.
LIBRARY_PUBLIC_ENDPOINTS = frozenset({"static", "openapi.spec", "openapi.docs", "openapi.swagger_ui_oauth_redirect"})


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def not_signed_in_error():
    """The API's 401 for a call without credentials; the UI's own calls (crmFetch sends the page's
    CSRF token) come from a person whose session ended with their work still on the page."""
    from app.api.errors import ApiError

    if request.headers.get("X-CSRFToken") is not None:
        return ApiError(401, "not_authenticated", _(
            "Your session has ended, so this was not saved. Sign in again in another tab (what you entered on "
            "this page stays here), then try again."))
    return ApiError(401, "not_authenticated", _("Authentication required: send a bearer token."))


def _deny_anonymous():
    if is_api_request():
        raise not_signed_in_error()
    if request.method == "POST" and request.endpoint != "auth.logout":
        flash(session_ended_message(), "warning")  # a form sent after logging out in another tab
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path),
                    303 if request.method == "POST" else 302)


def session_ended_message() -> str:
    return _("Your session had ended, so nothing was saved. Log in again: what you typed can be restored in the form.")


def _deny_forbidden():
    if is_api_request():
        from app.api.errors import ApiError

        raise ApiError(403, "forbidden", _("You are not allowed to do this."))
    abort(403)


def _declare(view, access):
    view.access = access
    return view


def public(view):
    """Anyone, logged in or not."""
    return _declare(view, ("public",))


def login_required(view):
    """Any active, logged-in user."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return _deny_anonymous()
        return view(*args, **kwargs)

    return _declare(wrapper, ("authenticated",))


def roles_required(*roles: str):
    """Users holding at least one of ``roles``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return _deny_anonymous()
            if not current_user.has_role(*roles):
                return _deny_forbidden()
            return view(*args, **kwargs)

        return _declare(wrapper, ("roles", *roles))

    return decorator


admin_required = roles_required("admin")
