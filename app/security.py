"""Security headers on every response, Content-Security-Policy first.

Only the product's own origin may provide scripts, styles, fonts and connections; pages must
not use inline scripts (pass data with data-* attributes or a JSON script tag). Inline
*styles* stay allowed because bpmn-js and form-js set style attributes in their markup.
"""
import re
from urllib.parse import urlsplit

from flask import Flask, request

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

# APIFlask's Swagger UI page boots itself with an inline script; it shows no user data.
_CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")


def is_local_path(target) -> bool:
    """A path of this site as a browser reads it: one leading "/", where browsers, which read a
    backslash as a slash, do not see "//" (another site); no control characters (browsers drop
    tabs and line breaks, and no redirect header may hold them)."""
    if not isinstance(target, str) or not target.startswith("/"):
        return False
    if re.search(r"[\x00-\x1f\x7f]", target):
        return False  # no header may carry it: the redirect was a 500
    read = target.replace("\\", "/")
    parts = urlsplit(read)
    return not read.startswith("//") and not parts.scheme and not parts.netloc


def init_app(app: Flask) -> None:
    app.jinja_env.tests["local_path"] = is_local_path  # {% if link is local_path %}: stored links too

    @app.after_request
    def security_headers(response):
        docs = request.endpoint == "openapi.docs"
        response.headers.setdefault("Content-Security-Policy", _CSP_DOCS if docs else CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
