"""The migrations build exactly the models' schema; both translation catalogs are complete."""
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

ROOT = Path(__file__).resolve().parent.parent


def test_migrations_match_the_models(app):
    from app.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def _migrations():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def test_migrations_have_one_head():
    heads = _migrations().get_heads()
    assert len(heads) == 1, f"several migration heads, chain them: {heads}"


def test_revision_ids_fit_the_version_table():
    # alembic_version.version_num is VARCHAR(32): PostgreSQL refuses a longer id at upgrade
    # time, SQLite does not notice.
    too_long = [script.revision for script in _migrations().walk_revisions() if len(script.revision) > 32]
    assert too_long == [], f"shorten these revision ids to 32 characters: {too_long}"


def test_translation_catalogs_are_complete():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "i18n.py"), "check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, "untranslated strings (run `make i18n` and translate):\n" + result.stdout


def _database_at(tmp_path, revision: str):
    """An app on a SQLite file migrated to ``revision``, its engine, and a user (id 7) to own rows."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text

    from app import create_app

    url = f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade(revision=revision)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id, username, password_hash, display_name, active, created_at, "
                                "updated_at, version) VALUES (7, 'sales7', 'x', '', 1, '2026-01-01', '2026-01-01', 1)"))
    return app, engine


def _add_customer(connection, customer_id: int, name: str = "x", name_key: str = "x", city: str | None = None):
    """A customer row as an older revision's table holds it, owned by user 7."""
    from sqlalchemy import text

    connection.execute(text("INSERT INTO customers (id, name, name_key, owner_id, report_status, custom, city, "
                            "created_at, updated_at, version) VALUES (:id, :name, :key, 7, 'none', '{}', :city, "
                            "'2026-01-01', '2026-01-01', 1)"),
                       {"id": customer_id, "name": name, "key": name_key, "city": city})


def test_contracts_signed_before_0037_are_credited_to_their_owner_and_ids_stay_unreused(tmp_path):
    """The sales report now credits who signed a contract; the rebuilt table keeps SQLite's
    AUTOINCREMENT (a deleted contract's id is never given to another, 0033)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    app, engine = _database_at(tmp_path, "0036_notification_task")
    with engine.begin() as connection:
        _add_customer(connection, 1, "甲", "甲")
        for contract_id, status in ((1, "signed"), (2, "expired"), (3, "draft")):
            connection.execute(text("INSERT INTO contracts (id, customer_id, title, status, approval_status, owner_id, "
                                    "custom, created_at, updated_at, version) VALUES (:id, 1, 't', :status, 'none', 7, "
                                    "'{}', '2026-01-01', '2026-01-01', 1)"), {"id": contract_id, "status": status})
    with app.app_context():
        upgrade()
    with engine.connect() as connection:
        credited = dict(connection.execute(text("SELECT id, signed_by_id FROM contracts")).all())
        table_sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'contracts'")).scalar()
    engine.dispose()
    assert credited == {1: 7, 2: 7, 3: None}
    assert "AUTOINCREMENT" in table_sql


def test_names_keyed_before_0038_with_full_width_letters_meet_their_half_width_twins(tmp_path):
    from flask_migrate import upgrade
    from sqlalchemy import text

    app, engine = _database_at(tmp_path, "0037_contract_signed_by")
    with engine.begin() as connection:
        for customer_id, name, key in ((1, "福州ＴＣＬ电子有限公司", "福州ｔｃｌ电子"), (2, "厦门海鑫", "厦门海鑫")):
            _add_customer(connection, customer_id, name, key)
    with app.app_context():
        upgrade()
        from app.crm.services import normalise_name

        assert normalise_name("福州TCL电子有限公司") == "福州tcl电子"
    with engine.connect() as connection:
        keys = dict(connection.execute(text("SELECT id, name_key FROM customers")).all())
    engine.dispose()
    assert keys == {1: "福州tcl电子", 2: "厦门海鑫"}


def test_cities_stored_before_0039_with_their_shi_meet_the_import_check_and_filter(tmp_path):
    from flask_migrate import upgrade
    from sqlalchemy import text

    app, engine = _database_at(tmp_path, "0038_name_key_full_width")
    with engine.begin() as connection:
        for customer_id, city in ((1, "厦门市"), (2, "沙市"), (3, None), (4, " 福州 ")):
            _add_customer(connection, customer_id, city=city)
    with app.app_context():
        upgrade()
    with engine.connect() as connection:
        cities = dict(connection.execute(text("SELECT id, city FROM customers")).all())
    engine.dispose()
    assert cities == {1: "厦门", 2: "沙市", 3: None, 4: "福州"}  # 沙市 is a city's whole name


def test_unread_task_notices_from_before_0036_name_their_task_and_those_done_are_read(tmp_path):
    """After the upgrade approvers kept an unread "新待办" for every task done before it."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    app, engine = _database_at(tmp_path, "0035_province_abbreviations")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO process_definitions (id, key, name, version, is_current, xml, spec_hash, "
                                "deployed_at, created_at, updated_at) VALUES (1, 'p', 'p', 1, 1, '<x/>', 'h', "
                                "'2026-01-01', '2026-01-01', '2026-01-01')"))
        connection.execute(text("INSERT INTO process_instances (id, definition_id, process_key, status, state, data, "
                                "version, created_at, updated_at) VALUES (1, 1, 'p', 'running', '{}', '{}', 1, "
                                "'2026-01-01', '2026-01-01')"))
        for task_id, status in ((1, "open"), (2, "completed")):
            connection.execute(text(
                "INSERT INTO human_tasks (id, instance_id, task_uuid, bpmn_id, name, candidate_users, "
                "candidate_groups, status, version, created_at, updated_at) VALUES (:id, 1, :uuid, 'Task_x', '审批', "
                "'[]', '[]', :status, 1, '2026-01-01', '2026-01-01')"), {"id": task_id, "uuid": f"u{task_id}",
                                                                         "status": status})
        for notice_id, link, read in ((1, "/tasks/1", None), (2, "/tasks/2", None), (3, "/tasks/99", None),
                                      (4, "/customers/5", None), (5, "/tasks/2", "2026-02-01 00:00:00")):
            connection.execute(text("INSERT INTO notifications (id, user_id, at, text, link, kind, read_at) VALUES "
                                    "(:id, 7, '2026-01-01', '新待办', :link, 'info', :read)"),
                               {"id": notice_id, "link": link, "read": read})
    with app.app_context():
        upgrade()
    with engine.connect() as connection:
        rows = {row.id: (row.task_id, row.read_at is not None) for row in connection.execute(
            text("SELECT id, task_id, read_at FROM notifications"))}
    engine.dispose()
    # Open: names its task, unread. Done: read. A task that is gone, or another link: as it was.
    assert rows == {1: (1, False), 2: (2, True), 3: (None, False), 4: (None, False), 5: (None, True)}
