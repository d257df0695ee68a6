"""Scale-out proofs: several real processes on one PostgreSQL database (skipped on SQLite,
where a single writer is the design)."""
import os

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _postgresql_only(database_url):
    if not os.environ.get("TEST_DATABASE_URL") or not database_url.startswith("postgresql"):
        pytest.skip("scale-out tests need PostgreSQL (set TEST_DATABASE_URL)")
