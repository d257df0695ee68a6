"""Settings from environment variables, with safe defaults.

Nothing secret lives in code: SECRET_KEY comes from the environment or is generated once
and kept in ``instance/secret_key`` so sessions survive restarts.
"""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        # O_EXCL so two processes starting together cannot write different keys.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return key_file.read_text().strip()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = None  # filled in by load()
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 16 * 1024 * 1024))
    # JSON API bodies are small; uploads (BPMN, CSV, attachments) have their own limits.
    API_MAX_JSON_BYTES = int(os.environ.get("API_MAX_JSON_BYTES", 1024 * 1024))
    # The designer's saves and checks carry a diagram of up to 5 MB, escaped in JSON.
    DIAGRAM_JSON_BYTES = 12 * 1024 * 1024
    # A salesperson's CSV import files a report per new customer: a file of 200,000 rows buried
    # the approvers and held the database for an hour. Administrators import any size.
    CUSTOMER_IMPORT_MAX_ROWS = int(os.environ.get("CUSTOMER_IMPORT_MAX_ROWS", 2000))
    # Where people reach the product (https://crm.example.com): the links in e-mails, which the
    # worker writes without a request to take the address from.
    BASE_URL = os.environ.get("BASE_URL", "")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # "auto": Secure exactly when the request came over HTTPS (see app.security).
    SESSION_COOKIE_SECURE_MODE = os.environ.get("SESSION_COOKIE_SECURE", "auto")
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    TRUST_PROXY = _flag("TRUST_PROXY")

    WTF_CSRF_ENABLED = True
    WTF_CSRF_CHECK_DEFAULT = False  # app.api.frame calls csrf.protect() itself
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead of a clock
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")

    # werkzeug's scrypt; tests use a cheaper method to keep the suite fast.
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")
    TOKEN_LIFETIME_HOURS = int(os.environ.get("TOKEN_LIFETIME_HOURS", 24 * 30))
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
    LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", 15 * 60))
    LOGIN_IP_MAX_FAILURES = int(os.environ.get("LOGIN_IP_MAX_FAILURES", 50))
    # LOGIN_MAX_FAILURES locks an account for the address the failures came from; from every
    # address together it takes this many. Five wrong passwords sent by anyone no longer lock the
    # administrator out of the office's own machines.
    LOGIN_ACCOUNT_MAX_FAILURES = int(os.environ.get("LOGIN_ACCOUNT_MAX_FAILURES", 25))

    # APIFlask / OpenAPI
    VALIDATION_ERROR_STATUS_CODE = 400
    AUTO_404_RESPONSE = True
    SYNC_LOCAL_SPEC = False
    INFO = {"description": (
        "CRM with BPMN workflow automation.\n\n"
        "**Authentication**: `POST /api/v1/tokens` with `{username, password}` answers a token; send it "
        "as `Authorization: Bearer <token>`. `DELETE /api/v1/tokens/current` revokes it; a password "
        "reset or deactivation revokes all of a user's tokens.\n\n"
        "**Errors**: every error is `{\"error\": {\"code\", \"message\", \"details\": [{\"field\", "
        "\"message\"}]}}`; messages are in the caller's chosen language (their profile's), else follow "
        "`Accept-Language` (zh-CN by default, en). 401 without or with "
        "a bad token, 403 not allowed, 404 not found or not visible to the caller, 409 a stale `version` "
        "or a state that no longer allows the action.\n\n"
        "**Records** carry `version`: send it back on PATCH (and `?version=` on DELETE) to be refused "
        "with 409 instead of overwriting someone else's change. Lists take `page` and `per_page` "
        "(at most 200) and answer `{items, total, page, per_page}`; a query parameter a route does not take is "
        "refused (400, naming it and the ones it takes).\n\n"
        "**Retries**: send `Idempotency-Key: <a unique string>` with a POST or PATCH and you may repeat it "
        "safely after a timeout: a repeat answers the first request's answer (header `Idempotent-Replayed: "
        "true`) instead of doing it twice. The same key with a different request is 422; while the first "
        "still runs, 409. Only successful answers are kept (a refused request may be corrected and sent again "
        "under its key); keys are kept IDEMPOTENCY_KEY_HOURS (24 by default).")}
    # The error body every error has (app/api/errors.py), documented as such.
    HTTP_ERROR_SCHEMA = VALIDATION_ERROR_SCHEMA = {
        "type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "details"], "properties": {
                "code": {"type": "string", "example": "invalid_input"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "message": {"type": "string"}}}}}}}}
    SECURITY_SCHEMES = {"BearerAuth": {"type": "http", "scheme": "bearer",
                                       "description": "A token from POST /api/v1/tokens"}}
    SWAGGER_UI_CSS = "/static/build/swagger-ui/swagger-ui.css"
    SWAGGER_UI_BUNDLE_JS = "/static/build/swagger-ui/swagger-ui-bundle.js"
    SWAGGER_UI_STANDALONE_PRESET_JS = "/static/build/swagger-ui/swagger-ui-standalone-preset.js"
    DOCS_FAVICON = "/static/favicon.svg"  # the product's own: the page may load nothing from elsewhere (CSP)

    SMTP_HOST = os.environ.get("SMTP_HOST")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", 25))
    SMTP_USER = os.environ.get("SMTP_USER")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD")
    SMTP_FROM = os.environ.get("SMTP_FROM", "crm@localhost")
    # Certificates webhook receivers must present over https: a PEM bundle of CAs (a company's
    # internal CA, say); unset: the public CAs of certifi.
    WEBHOOK_CA_BUNDLE = os.environ.get("WEBHOOK_CA_BUNDLE") or None
    # Automation run log and webhook attempts are deleted after this many days (0: never).
    AUTOMATION_RUN_RETENTION_DAYS = int(os.environ.get("AUTOMATION_RUN_RETENTION_DAYS", 365))
    # Background jobs that finished are deleted after this many days (0: never); failed ones stay.
    JOB_RETENTION_DAYS = int(os.environ.get("JOB_RETENTION_DAYS", 30))
    # API requests with an Idempotency-Key answer the same for at least this long.
    IDEMPOTENCY_KEY_HOURS = int(os.environ.get("IDEMPOTENCY_KEY_HOURS", 24))


def load(overrides: dict | None = None) -> dict:
    """The configuration as a dict, environment first, then ``overrides`` (tests)."""
    settings = {k: v for k, v in vars(Config).items() if k.isupper()}
    settings["SECRET_KEY"] = _secret_key()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'crm.sqlite3'}"
    settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    settings.update(overrides or {})
    return settings


def normalise_database_url(url: str) -> str:
    """Accept the common ``postgres://`` spellings and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
