"""An embedded process that fails the moment it starts is undone (no process stopped by an error
shows it): the designers' home page counts such starts, the bindings page lists them, and the
record's page tells the salesperson the administrators know, without the technical reason."""
from datetime import timedelta

from app.cli import DEMO_PASSWORD


def _page(app, username, path):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD},
                       headers={"Accept-Language": "en"}).status_code == 302
    response = client.get(path, headers={"Accept-Language": "en"})
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_a_start_that_failed_is_counted_listed_and_told_in_words_each_reader_can_use(app, api_as, demo_flow,
                                                                                    monkeypatch):
    from app.auth.services import get_user
    from app.db import utcnow
    from app.engine import services as engine
    from app.extensions import db
    from app.forms.models import BindingRun
    from app.ui.dashboard import home_sections

    def unavailable(*args, **kwargs):
        raise RuntimeError("NameError: name 'manager_group_name' is not defined")

    monkeypatch.setattr(engine, "start_instance", unavailable)
    customer = api_as("sales1").post("/api/v1/customers", json={"name": "长沙湘江食品有限公司"}).get_json()
    assert customer["report_status"] == "none"
    with app.app_context():  # one of last week, one older than the home page's window
        db.session.add_all([BindingRun(binding_name="old", entity="customer", record_id=customer["id"], event="created",
                                       outcome="failed", process_key="customer_report", at=utcnow() - timedelta(days=d))
                            for d in (6.9, 7.1)])
        db.session.commit()
    with app.test_request_context():
        system = {s.key: s for s in home_sections(get_user("admin"))}["system"]
        [figure] = [f for f in system.figures if str(f.label) == "未能启动的嵌入式流程"]
        assert (figure.value, figure.alert, figure.url) == (2, True, "/forms/bindings?outcome=failed")
        assert "system" not in {s.key for s in home_sections(get_user("sales1"))}
    listed = _page(app, "admin", "/forms/bindings?outcome=failed")
    assert "Starts that failed" in listed and listed.count("table-danger") == 3
    salesperson = _page(app, "sales1", f"/crm/customer/{customer['id']}")
    assert "The administrators have been told." in salesperson and "manager_group_name" not in salesperson
    assert "manager_group_name" in _page(app, "admin", f"/crm/customer/{customer['id']}")
