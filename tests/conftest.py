"""Test fixtures: a migrated database per test run (SQLite, or PostgreSQL when
``TEST_DATABASE_URL`` is set), emptied after every test, and helpers to call the app."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from tools.scratch_db import scratch_postgres_database


def _make_database(tmp_root: Path):
    """A fresh database URL for this run and a function that drops it afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        path = tmp_root / "test.sqlite3"
        return f"sqlite:///{path}", lambda: None
    return scratch_postgres_database(base, "crm_test")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url, drop = _make_database(tmp_path_factory.mktemp("db"))
    yield url
    drop()


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    os.environ.setdefault("INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    from flask_migrate import upgrade

    from app import create_app
    from tools.i18n import compile_catalogs

    compile_catalogs()

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SECRET_KEY": "test-secret",
    })
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _clean_database(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t for t in db.metadata.sorted_tables]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(tables):
                    connection.execute(table.delete())


@pytest.fixture(autouse=True)
def written_audit_codes(monkeypatch):
    """The audit codes the test's actions write; the test fails when one of them has no label
    (``label_audit_events`` next to where it is written), so no code reaches the page raw."""
    import app.audit as audit_module

    written: list[str] = []
    insert_row = audit_module.insert_row

    def recording_insert(row, *args, **kwargs):
        written.append(row.event)
        return insert_row(row, *args, **kwargs)

    monkeypatch.setattr(audit_module, "insert_row", recording_insert)
    yield written
    unlabelled = sorted(set(written) - audit_module.labelled_events())
    if unlabelled:
        pytest.fail(f"audit codes without a label (label_audit_events): {unlabelled}")


@pytest.fixture
def ctx(app):
    """An application context with a clean session, for calling services directly."""
    from app.extensions import db

    with app.test_request_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo_people(app):
    from app.cli import seed_people
    from app.extensions import db

    with app.app_context():
        seed_people()
        db.session.remove()


class ApiClient:
    """Calls the API as one user with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, headers=None):
        out = dict(headers or {})
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def request(self, method, path, **kwargs):
        kwargs["headers"] = self._headers(kwargs.get("headers"))
        return self.client.open(path, method=method, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def demo_flow(app, demo_people):
    """The shipped process, form and binding, as ``flask demo`` makes them."""
    from app.engine import services as engine
    from app.engine.product_operations import register_product_operations
    from app.extensions import db
    from app.forms import bindings, services as forms

    with app.app_context():
        register_product_operations()
        engine.deploy((Path(__file__).resolve().parents[1] / "bpmn" / "customer_report.bpmn").read_bytes())
        forms.load_shipped_forms()
        bindings.bind_shipped_processes()
        db.session.commit()


@pytest.fixture
def api_as(client, demo_people):
    """``api_as("sales1")`` → an ApiClient authenticated as that demo user."""
    from app.cli import DEMO_PASSWORD

    cache: dict[str, ApiClient] = {}

    def login(username: str) -> ApiClient:
        if username not in cache:
            response = client.post("/api/v1/tokens", json={"username": username, "password": DEMO_PASSWORD})
            assert response.status_code == 201, response.get_json()
            cache[username] = ApiClient(client, response.get_json()["token"])
        return cache[username]

    return login


# --- a live server and a browser, for the browser tests ----------------------------------

@pytest.fixture(scope="session")
def live_server(app):
    """The app served over HTTP on a free loopback port, CSRF on, in a thread."""
    from werkzeug.serving import make_server

    from app import create_app

    live = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SECRET_KEY": "test-secret",
    })
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test`, which installs it")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser page (zh-CN) that fails the test on any request leaving 127.0.0.1."""
    context = browser.new_context(locale="zh-CN", base_url=live_server)
    outside: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(30000)  # the shared 2-core box can stall a step for seconds under load
    csp_violations: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_violations.append(message.text))
    yield page
    context.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert not csp_violations, f"the page broke the Content-Security-Policy (no inline scripts): {csp_violations}"
