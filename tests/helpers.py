"""Small helpers shared by tests."""
from contextlib import contextmanager
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def login_in_browser(page, username: str, password: str = "demo1234"):
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def logout_in_browser(page):
    page.locator("#current-user").click()  # Log out sits in the user's menu
    page.locator("#mainnav form[action$='/logout'] button").click()
    page.wait_for_url(lambda url: "/login" in url)


def screenshot(page, name: str) -> Path:
    """Save a screenshot under test-artifacts/ for a person to review."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def database_at(tmp_path, revision: str):
    """An app context on a new SQLite file migrated up to ``revision``: for a migration's data
    step, rows are written in the old schema, then the test upgrades."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite3'}",
                      "SECRET_KEY": "test"})
    with app.app_context():
        upgrade(revision=revision)
        try:
            yield app
        finally:
            db.engine.dispose()


def write_old_customers(rows: list[dict]) -> None:
    """A user and their customers written by SQL in a migration test's old schema (the models
    describe the new one): each row gives ``id`` and the columns the migration is about."""
    from sqlalchemy import text

    from app.extensions import db

    now = "2026-12-01 08:00:00.000000"
    with db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (id, username, display_name, password_hash, active, version, created_at, "
            "updated_at) VALUES (1, 'sales1', 'S', 'x', 1, 1, :now, :now)"), {"now": now})
        for row in rows:
            columns = ", ".join(row)
            values = ", ".join(f":{column}" for column in row)
            connection.execute(text(
                f"INSERT INTO customers ({columns}, name, name_key, report_status, owner_id, custom, version, "
                f"created_at, updated_at) VALUES ({values}, 'c', 'c', 'none', 1, '{{}}', 1, :now, :now)"),
                {**row, "now": now})
