"""Fixtures for the engine's pure tests (no Flask, no database)."""
import pytest

from app.engine import operations
from app.engine.serialization import SpecCache

from .support import CUSTOMER_REPORT, FakeOperations



@pytest.fixture
def fake_ops():
    fake = FakeOperations()
    saved = operations.registry_snapshot()  # the app's real operations come back afterwards
    operations.register_operation("crm.set_report_status", fake.set_report_status,
                                  params=["customer_id", "status"], optional=["comment"], replace=True)
    operations.register_operation("crm.confirm_owner", fake.confirm_owner,
                                  params=["customer_id", "username"], replace=True)
    operations.register_operation("notify.users", fake.notify, params=["message"],
                                  optional=["users", "groups", "link", "message_en"], replace=True)
    operations.register_operation("directory.group_manager", fake.group_manager, params=["group"], replace=True)
    yield fake
    operations.restore_registry(saved)


@pytest.fixture
def cache():
    return SpecCache()


@pytest.fixture
def customer_report_xml():
    return CUSTOMER_REPORT.read_bytes()


@pytest.fixture
def no_ops():
    """An empty operation registry (whatever the app registered comes back afterwards)."""
    saved = operations.registry_snapshot()
    operations.restore_registry({})
    yield
    operations.restore_registry(saved)
