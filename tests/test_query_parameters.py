"""API routes refuse query parameters they do not take (a misspelt filter, ``?q=`` on a list
that does not search) instead of answering the whole list as if filtered."""
import pytest

from app.api.frame import QueryParameters


@pytest.mark.parametrize("path, parameter", [
    ("/api/v1/customers?stauts=approved", "stauts"),
    ("/api/v1/tasks?q=福州", "q"),
    ("/api/v1/notifications?status=unread", "status"),
    ("/api/v1/todos?q=x", "q"),
    ("/api/v1/my-submissions?q=x", "q"),
])
def test_a_parameter_the_route_does_not_take_is_400_naming_it(api_as, path, parameter):
    response = api_as("sales1").get(path, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    detail = next(d for d in error["details"] if d["field"] == parameter)
    assert "page, per_page" in detail["message"]  # names what the route does take


def test_a_route_without_query_parameters_refuses_any(api_as):
    """Ignored, ``?dry_run=1`` on a POST created a real customer and a misspelt ``?versoin=``
    skipped the version check."""
    api = api_as("sales1")
    dry = api.post("/api/v1/customers?dry_run=1", json={"name": "只是试试"})
    assert dry.status_code == 400 and dry.get_json()["error"]["details"][0]["field"] == "query.dry_run"
    assert api.get("/api/v1/customers?q=只是试试").get_json()["total"] == 0  # nothing made
    customer = api.post("/api/v1/customers", json={"name": "真的客户"}).get_json()
    path = f"/api/v1/customers/{customer['id']}"
    assert api.patch(f"{path}?versoin=1", json={"city": "南京"}).status_code == 400
    assert api.get(f"{path}?foo=1").status_code == 400
    assert api.get(path).get_json()["city"] is None
    assert api.delete(f"{path}?version={customer['version']}").status_code == 204  # a declared one still works


def test_lists_that_search_take_q_and_filter_by_it(api_as):
    api = api_as("sales1")
    api.post("/api/v1/customers", json={"name": "福州查找有限公司"})
    api.post("/api/v1/customers", json={"name": "厦门别的公司"})
    found = api.get("/api/v1/customers?q=福州").get_json()
    assert [c["name"] for c in found["items"]] == ["福州查找有限公司"]
    for path in ("/api/v1/users?q=sales", "/api/v1/groups?q=fujian", "/api/v1/forms?q=report"):
        assert api_as("admin").get(path).status_code == 200, path
    assert api_as("admin").get("/api/v1/automation-rules?q=资本").status_code == 200


def test_todos_is_a_real_page(app, api_as):
    from app.auth.services import get_user
    from app.automation.models import Todo
    from app.extensions import db

    api = api_as("sales1")
    with app.app_context():
        sales1 = get_user("sales1")
        db.session.add_all(Todo(user_id=sales1.id, title=f"回访 {n}") for n in range(3))
        db.session.commit()
    page = api.get("/api/v1/todos?per_page=2&page=2").get_json()
    assert (page["total"], page["page"], page["per_page"], len(page["items"])) == (3, 2, 2, 1)
    # The completed ones are listed apart, the latest first.
    first = api.get("/api/v1/todos").get_json()["items"][0]
    assert api.post(f"/api/v1/todos/{first['id']}/complete").get_json()["done_at"]
    done = api.get("/api/v1/todos?done=true").get_json()
    assert [t["id"] for t in done["items"]] == [first["id"]] and done["items"][0]["done"] is True
    assert api.get("/api/v1/todos").get_json()["total"] == 2
    assert api.get("/api/v1/todos?done=maybe").status_code == 400


def test_every_routes_query_schema_refuses_unknown_parameters(app):
    """A new route's query schema must derive from QueryParameters (or the check above is
    silently off for it)."""
    loose = [name for name, view in app.view_functions.items()
             for schema, location in (getattr(view, "_spec", {}) or {}).get("args", []) or []
             if location == "query" and not isinstance(schema, QueryParameters)
             and not (isinstance(schema, type) and issubclass(schema, QueryParameters))]
    assert loose == []
    checked = sum(1 for view in app.view_functions.values()
                  for _schema, location in (getattr(view, "_spec", {}) or {}).get("args", []) or []
                  if location == "query")
    assert checked > 20
