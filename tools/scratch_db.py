"""A throw-away PostgreSQL database for a test or benchmark run (created, then dropped)."""
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import normalise_database_url


def scratch_postgres_database(base_url: str, prefix: str):
    """``(url, drop)``: a new database on the server of ``base_url``, and how to drop it."""
    url = make_url(normalise_database_url(base_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop
