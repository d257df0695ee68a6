"""Helpers for the automation integration tests: CRM records made through the CRM services,
rules made through the automation services (so both are validated for real)."""
import pytest
from sqlalchemy import func, select

from app.extensions import db


@pytest.fixture
def crm(ctx, demo_people):
    from app.crm import demo, services

    demo.seed_stages()
    db.session.commit()
    return services


@pytest.fixture
def user():
    from app.auth.services import get_user

    return get_user


@pytest.fixture
def make_rule(ctx, demo_people):
    from app.auth.services import get_user
    from app.automation.services import create_rule

    def make(**data):
        data.setdefault("name", "rule")
        return create_rule(data, get_user("admin"))

    return make


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def within(app, demo_people):
    """Run ``func`` in its own application context and return its result: API tests must not
    keep a context pushed, or the test client's requests would share its ``g`` (and user)."""
    from app.crm import demo

    def run(func):
        with app.test_request_context():
            try:
                demo.seed_stages()
                db.session.commit()
                return func()
            finally:
                db.session.remove()

    return run
