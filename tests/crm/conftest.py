"""Fixtures for the CRM tests: pipeline stages, a collector of record events, helpers."""
import pytest


@pytest.fixture
def crm_stages(app, demo_people):
    """The demo pipeline stages (方案报价 needs amount; 商务谈判 amount and expected close)."""
    from app.crm.demo import seed_stages
    from app.extensions import db

    with app.app_context():
        seed_stages()
        db.session.remove()


@pytest.fixture
def events(app):
    """Every RecordEvent emitted during the test, as (entity, event, record id, changes, actor)."""
    from app.events import subscribe

    seen = []

    def collect(event):
        seen.append((event.entity, event.event, event.record.id, dict(event.changes),
                     getattr(event.actor, "username", None)))

    subscribe(app, collect, order=1)
    yield seen
    app.extensions["crm_event_handlers"][:] = [pair for pair in app.extensions["crm_event_handlers"]
                                               if pair[1] is not collect]


@pytest.fixture
def make_customer(api_as):
    def make(username="sales1", **fields):
        body = {"name": "测试客户", **fields}
        response = api_as(username).post("/api/v1/customers", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


class _English:
    """An ApiClient whose requests ask for English messages (so tests can compare them)."""

    def __init__(self, api):
        self.api = api

    def request(self, method, path, **kwargs):
        kwargs["headers"] = {"Accept-Language": "en", **(kwargs.get("headers") or {})}
        return self.api.request(method, path, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api_en(api_as):
    """Like ``api_as`` but with ``Accept-Language: en``."""
    return lambda username: _English(api_as(username))


@pytest.fixture
def many_customers(app, demo_people):
    """More customers than a form's select holds (views.CUSTOMER_CHOICES) for sales1, named so
    the last one sorts after all the others; returns the last one's id."""
    from app.auth.services import get_user
    from app.crm.models import Customer
    from app.crm.views import CUSTOMER_CHOICES
    from app.extensions import db

    with app.app_context():
        owner = get_user("sales1")
        customers = [Customer(name=f"批量客户{n:04d}", owner_id=owner.id) for n in range(CUSTOMER_CHOICES + 20)]
        customers.append(Customer(name="龙岩最后一家有限公司", owner_id=owner.id))
        db.session.add_all(customers)
        db.session.commit()
        last_id = customers[-1].id
        db.session.remove()
    return last_id
