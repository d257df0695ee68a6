"""Security headers on every response, Content-Security-Policy first.

Only the product's own origin may provide scripts, styles, fonts and connections; pages must
not use inline scripts (pass data with data-* attributes or a JSON script tag). Inline
*styles* stay allowed because bpmn-js and form-js set style attributes in their markup.
"""
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


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        docs = request.endpoint == "openapi.docs"
        response.headers.setdefault("Content-Security-Policy", _CSP_DOCS if docs else CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
