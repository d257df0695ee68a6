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
