"""Idempotency-Key: a POST or PATCH repeated with the same key answers the first answer
instead of acting twice (app/api/idempotency.py)."""
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.api.idempotency import IdempotentRequest, prune_idempotency_keys
from app.crm.models import Customer
from app.db import utcnow
from app.extensions import db

BPMN = Path(__file__).resolve().parents[1] / "bpmn" / "customer_report.bpmn"


def _customers(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Customer))


def _create(api, key, name="幂等客户", **extra):
    return api.post("/api/v1/customers", json={"name": name, **extra}, headers={"Idempotency-Key": key})


def test_a_repeated_create_answers_the_first_answer_and_creates_once(app, api_as):
    first = _create(api_as("sales1"), "order-7f3a")
    again = _create(api_as("sales1"), "order-7f3a")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert _customers(app) == 1


def test_without_a_key_each_request_acts(app, api_as):
    for _ in range(2):
        assert api_as("sales1").post("/api/v1/customers", json={"name": "无钥客户"}).status_code == 201
    assert _customers(app) == 2


def test_the_same_body_written_differently_is_the_same_request(app, api_as):
    api = api_as("sales1")
    first = api.post("/api/v1/customers", data='{"name": "甲", "province": "福建"}',
                     content_type="application/json", headers={"Idempotency-Key": "k1"})
    again = api.post("/api/v1/customers", data='{"province":"福建","name":"甲"}',
                     content_type="application/json", headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _customers(app) == 1


def test_the_same_key_with_another_request_is_422(app, api_as):
    assert _create(api_as("sales1"), "k2", name="甲").status_code == 201
    other = _create(api_as("sales1"), "k2", name="乙")
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    elsewhere = api_as("sales1").post("/api/v1/activities", json={"customer_id": 1, "kind": "call"},
                                      headers={"Idempotency-Key": "k2"})
    assert elsewhere.status_code == 422
    assert _customers(app) == 1


def test_keys_belong_to_their_user(app, api_as):
    assert _create(api_as("sales1"), "shared-key").status_code == 201
    theirs = _create(api_as("sales2"), "shared-key")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert _customers(app) == 2


def test_a_refused_request_releases_its_key(app, api_as):
    api = api_as("sales1")
    refused = api.post("/api/v1/customers", json={"name": ""}, headers={"Idempotency-Key": "k3"})
    assert refused.status_code == 400
    corrected = _create(api, "k3", name="改正后的客户")
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected.headers
    assert _customers(app) == 1


def test_a_key_still_running_is_409_and_an_abandoned_one_is_taken_over(app, api_as):
    api = api_as("sales1")
    first = _create(api, "k4")
    with app.app_context():  # as if the first request were still running
        db.session.execute(update(IdempotentRequest).values(status_code=None, body=None))
        db.session.commit()
    busy = _create(api, "k4")
    assert busy.status_code == 409
    assert busy.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert busy.headers["Retry-After"] == "1"
    with app.app_context():  # ... or had died with its process long ago, before its work committed
        db.session.execute(update(IdempotentRequest).values(started_at=utcnow() - timedelta(minutes=6),
                                                            effect_committed_at=None))
        db.session.commit()
    retried = _create(api, "k4")
    assert retried.status_code == 201 and retried.get_json()["id"] != first.get_json()["id"]
    assert _create(api, "k4").get_json() == retried.get_json()


def _as_if_abandoned(app):
    with app.app_context():
        db.session.execute(update(IdempotentRequest).values(started_at=utcnow() - timedelta(minutes=6)))
        db.session.commit()


def test_work_committed_without_its_answer_kept_is_not_done_again(app, api_as):
    api = api_as("sales1")
    assert _create(api, "k-lost").status_code == 201
    with app.app_context():  # the process died after the route's commit, before keeping the answer
        db.session.execute(update(IdempotentRequest).values(status_code=None, body=None))
        db.session.commit()
    assert _create(api, "k-lost").get_json()["error"]["code"] == "idempotency_key_in_use"
    _as_if_abandoned(app)
    lost = _create(api, "k-lost")
    assert lost.status_code == 409
    assert lost.get_json()["error"]["code"] == "idempotency_outcome_lost"
    assert _customers(app) == 1


def test_a_request_that_died_before_its_work_committed_runs_again(app, api_as, monkeypatch):
    from app.crm import services

    api = api_as("sales1")
    real_create = services.create
    monkeypatch.setattr(services, "create", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        _create(api, "k-died")
    with app.app_context():
        row = db.session.scalars(select(IdempotentRequest)).one()
        assert row.status_code is None and row.effect_committed_at is None
    monkeypatch.setattr(services, "create", real_create)
    _as_if_abandoned(app)
    retried = _create(api, "k-died")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert _customers(app) == 1


def test_patch_with_a_key_is_applied_once(app, api_as):
    api = api_as("sales1")
    customer = api.post("/api/v1/customers", json={"name": "改两次"}).get_json()
    change = {"city": "厦门", "version": customer["version"]}
    first = api.patch(f"/api/v1/customers/{customer['id']}", json=change, headers={"Idempotency-Key": "p1"})
    again = api.patch(f"/api/v1/customers/{customer['id']}", json=change, headers={"Idempotency-Key": "p1"})
    assert first.status_code == again.status_code == 200  # without the key: 409 stale version
    assert again.get_json()["version"] == first.get_json()["version"] == customer["version"] + 1
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_repeated_upload_with_a_new_multipart_boundary_is_the_same_request(app, api_as):
    def deploy():
        return api_as("admin").post("/api/v1/processes", data={"file": (io.BytesIO(BPMN.read_bytes()), "report.bpmn")},
                                    content_type="multipart/form-data", headers={"Idempotency-Key": "deploy-1"})

    first, again = deploy(), deploy()
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() == {"key": first.get_json()["key"], "version": 1}
    assert api_as("admin").get("/api/v1/processes").get_json()["total"] == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "含中文"])
def test_a_malformed_key_is_400_naming_the_header(app, api_as, key):
    response = _create(api_as("sales1"), key)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "header.Idempotency-Key"
    assert _customers(app) == 0


def test_reads_and_unauthenticated_requests_ignore_the_key(app, api_as, client):
    assert api_as("sales1").get("/api/v1/customers", headers={"Idempotency-Key": "g"}).status_code == 200
    assert client.post("/api/v1/customers", json={"name": "x"}, headers={"Idempotency-Key": "g"}).status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotentRequest)) == 0


def test_old_keys_are_forgotten_by_the_hourly_job(app, api_as, monkeypatch):
    from app.jobs import Job, run_due_jobs
    from app.jobs import services as job_services

    api = api_as("sales1")
    _create(api, "old", name="旧")
    _create(api, "new", name="新")
    with app.app_context():
        db.session.execute(update(IdempotentRequest).where(IdempotentRequest.key == "old")
                           .values(started_at=utcnow() - timedelta(hours=25)))
        job_services.schedule_periodics()
        db.session.execute(update(Job).where(Job.kind == "api.prune_idempotency_keys").values(due_at=utcnow()))
        db.session.commit()
        run_due_jobs()
        assert list(db.session.scalars(select(IdempotentRequest.key))) == ["new"]
        assert prune_idempotency_keys(utcnow()) == 1
    assert _create(api, "old", name="旧").status_code == 201  # forgotten: acts again
    assert _customers(app) == 3


def test_the_openapi_document_declares_the_header(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    create = spec["paths"]["/api/v1/customers"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    assert not any(p.get("name") == "Idempotency-Key"
                   for p in spec["paths"]["/api/v1/customers"]["get"].get("parameters", []))
    assert "Idempotency-Key" in spec["info"]["description"]
