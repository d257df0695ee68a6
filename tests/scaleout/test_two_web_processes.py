"""Two web processes (two gunicorn servers) complete the same task at the same moment:
one succeeds, the other gets 409, and the process moves on exactly once."""
import threading

import requests
from sqlalchemy import func, select

from app.extensions import db
from bench.server import gunicorn

ROOT_BPMN = "bpmn/customer_report.bpmn"


def _token(base, username):
    response = requests.post(f"{base}/api/v1/tokens", json={"username": username, "password": "demo1234"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_same_task_completed_through_two_processes_at_once(app, ctx, demo_people, database_url, tmp_path):
    from pathlib import Path

    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.engine import services as engine
    from app.engine.models import HumanTask, ProcessHistory, ProcessInstance
    from app.engine.operations import get_operation

    if get_operation("notify.users") is None:  # registered by app.engine.init_app when the app calls it
        from app.engine.product_operations import register_product_operations
        register_product_operations()
    try:
        engine.get_definition("customer_report")
    except engine.NotFound:
        engine.deploy((Path(app.root_path).parent / ROOT_BPMN).read_bytes())
    sales1, manager = get_user("sales1"), get_user("manager")
    customer = crm.create("customer", {"name": "广州恒通制造有限公司", "province": "广东", "industry": "制造"}, sales1)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.record_type == "customer",
                                                               ProcessInstance.record_id == customer.id))
    if instance is None:  # no form binding started it on "customer created"
        instance = engine.start_instance("customer_report", {
            "customer_id": customer.id, "name": customer.name, "province": "广东", "industry": "制造",
            "reporter": "sales1", "owner": "sales1"}, actor=sales1, record={"type": "customer", "id": customer.id})
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open"))
    engine.claim(task.id, manager)
    task_id, instance_id, customer_id = task.id, instance.id, customer.id
    db.session.commit()

    with gunicorn(database_url, workers=1, log_path=str(tmp_path / "a.log")) as a, \
            gunicorn(database_url, workers=1, log_path=str(tmp_path / "b.log")) as b:
        tokens = {base: _token(base, "manager") for base in (a, b)}
        barrier = threading.Barrier(2)
        answers = {}

        def complete(base):
            barrier.wait()
            answers[base] = requests.post(f"{base}/api/v1/tasks/{task_id}/complete",
                                          json={"data": {"decision": "approve", "comment": base}},
                                          headers={"Authorization": f"Bearer {tokens[base]}"}, timeout=60)

        threads = [threading.Thread(target=complete, args=(base,)) for base in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    codes = sorted(r.status_code for r in answers.values())
    assert codes == [200, 409], {base: (r.status_code, r.text[:300]) for base, r in answers.items()}
    loser = next(r for r in answers.values() if r.status_code == 409)
    assert loser.json()["error"]["code"]
    db.session.expire_all()
    assert db.session.get(HumanTask, task_id).status == "completed"
    assert engine.get_instance(instance_id).status == "completed"
    assert db.session.get(Customer, customer_id).report_status == "approved"
    completions = db.session.scalar(select(func.count()).select_from(ProcessHistory).where(
        ProcessHistory.instance_id == instance_id, ProcessHistory.event == "completed_task"))
    assert completions == 1


def test_a_create_sent_to_two_processes_at_once_with_one_idempotency_key_creates_once(ctx, demo_people,
                                                                                      database_url, tmp_path):
    from app.crm.models import Customer

    with gunicorn(database_url, workers=1, log_path=str(tmp_path / "a.log")) as a, \
            gunicorn(database_url, workers=1, log_path=str(tmp_path / "b.log")) as b:
        headers = {"Authorization": f"Bearer {_token(a, 'sales1')}"}
        answers = []

        def create(base, key, barrier):
            barrier.wait()
            answers.append(requests.post(f"{base}/api/v1/customers", json={"name": f"重试客户 {key}"},
                                         headers={**headers, "Idempotency-Key": key}, timeout=60))

        for n in range(5):
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=create, args=(base, f"retry-{n}", barrier)) for base in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

    # Each pair: the first 201, the other its replay (201) or "still running" (409).
    for first, second in zip(answers[::2], answers[1::2]):
        assert sorted([first.status_code, second.status_code]) in ([201, 201], [201, 409]), (first.text, second.text)
        if second.status_code == first.status_code == 201:
            assert first.json()["id"] == second.json()["id"]
    names = list(db.session.scalars(select(Customer.name).where(Customer.name.startswith("重试客户"))))
    assert sorted(names) == [f"重试客户 retry-{n}" for n in range(5)]
