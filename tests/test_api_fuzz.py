"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets generated valid and invalid inputs, as an administrator (who can reach
everything); no response may be a 500 and every response must match the documented schema.
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.cli import DEMO_PASSWORD

pytestmark = pytest.mark.slow

# Operations whose effect would end the run itself.
SKIP = {("DELETE", "/api/v1/tokens/current")}


def test_api_never_fails_and_matches_its_schema(app, client, demo_people):
    token = client.post("/api/v1/tokens", json={"username": "admin", "password": DEMO_PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Exception as error:  # collect every failing operation, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
