"""Inbox latency as the data grows: GET /api/v1/tasks for the sales manager with 1,000 and
with 100,000 open tasks, both databases also holding 500,000 completed tasks.

Rows are bulk-inserted (SQLAlchemy Core, not the services; a block of 20,000 built in Python,
then copied with shifted ids by ``INSERT … SELECT``): open tasks are offered to the
manager's group (9 in 10) or assigned to the manager; each has its own waiting instance with a
real saved state (from an instance started through the engine); completed tasks are spread
over completed instances (20 each: long review loops) and, as in the product, have no offers
left (the inbox's commit hook deletes a task's offers when it closes).  The common part (500,000 completed) is built once and the
database copied.  Requests go through the app in-process (Flask test client, bearer token,
default page), alternating between the two databases so machine noise hits both alike.
"""
from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta

from .common import clone_database, make_app, percentile, result, scratch_database_url
from .cycle import ensure_prerequisites

COMPLETED = 500_000
COMPLETED_PER_INSTANCE = 20
SIZES = (1_000, 100_000)
CHUNK = 20_000
BLOCK = 20_000  # rows built in Python; the rest are copies made by the database
APPROVER = "manager"
GROUP = "sales-managers"


def _template(app):
    """A real waiting customer report: its saved state and task row, and a completed state."""
    from sqlalchemy import select

    from app.engine import services as engine
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db

    with app.test_request_context():
        ensure_prerequisites()
        definition = engine.get_definition("customer_report")
        data = {"customer_id": 1, "name": "广州恒通制造有限公司", "province": "广东", "industry": "制造",
                "reporter": "sales1", "owner": "sales1"}
        instance = engine.start_instance("customer_report", data)
        task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
        out = {"definition_id": definition.id, "waiting_state": instance.state, "data": instance.data,
               "bpmn_id": task.bpmn_id, "name": task.name, "form_key": task.form_key, "task_uuid": task.task_uuid}
        db.session.execute(db.delete(HumanTask))
        db.session.execute(db.delete(ProcessInstance))
        db.session.commit()
        return out


def _insert(app, t: dict, open_tasks: int, completed: int, start_id: int):
    """Bulk-insert ``open_tasks`` open and ``completed`` completed tasks with their instances."""
    from sqlalchemy import insert

    from app.db import utcnow
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db
    from app.inbox.models import TaskOffer

    now = utcnow()
    rnd = random.Random(start_id)
    instance_id, task_id = start_id, start_id
    with app.app_context():
        def flush(instances, tasks, offers):
            if instances:
                db.session.execute(insert(ProcessInstance), instances)
            if tasks:
                db.session.execute(insert(HumanTask), tasks)
            if offers:
                db.session.execute(insert(TaskOffer), offers)
            db.session.commit()

        def instance_row(status):
            return {"id": instance_id, "definition_id": t["definition_id"], "process_key": "customer_report",
                    "status": status, "state": t["waiting_state"], "data": t["data"], "version": 1,
                    "record_type": None, "record_id": None, "created_at": now, "updated_at": now,
                    "completed_at": now if status == "completed" else None}

        def task_row(status, assignee):
            # An open task is the waiting task of its (copied) state; the inbox reads its form data.
            task_uuid = t["task_uuid"] if status == "open" else str(uuid.UUID(int=task_id))
            return {"id": task_id, "instance_id": instance_id, "task_uuid": task_uuid,
                    "bpmn_id": t["bpmn_id"], "name": t["name"], "form_key": t["form_key"], "assignee": assignee,
                    "candidate_users": [], "candidate_groups": [] if assignee else [GROUP],
                    "due_at": now + timedelta(minutes=rnd.randint(-600, 6000)), "status": status,
                    "completed_by": APPROVER if status == "completed" else None,
                    "completed_at": now if status == "completed" else None,
                    "version": 1, "created_at": now, "updated_at": now}

        instances, tasks, offers = [], [], []
        for n in range(completed):
            if n % COMPLETED_PER_INSTANCE == 0:
                instance_id += 1
                instances.append(instance_row("completed"))
            task_id += 1
            tasks.append(task_row("completed", None))  # no offer: the inbox drops a task's offers when it closes
            if len(tasks) >= CHUNK:
                flush(instances, tasks, offers)
                instances, tasks, offers = [], [], []
        for n in range(open_tasks):
            instance_id += 1
            task_id += 1
            instances.append(instance_row("running"))
            assigned = n % 10 == 0
            tasks.append(task_row("open", APPROVER if assigned else None))
            if not assigned:  # as the inbox hooks write it: the task's due date, not held
                offers.append({"task_id": task_id, "principal": f"g:{GROUP}", "held": False,
                               "due_at": tasks[-1]["due_at"]})
            if len(tasks) >= CHUNK:
                flush(instances, tasks, offers)
                instances, tasks, offers = [], [], []
        flush(instances, tasks, offers)
    return max(instance_id, task_id) + 1


def _replicate(app, first: int, span: int, times: int) -> int:
    """Copy the rows with ids ``first .. first+span-1`` (instances, tasks, offers) ``times-1``
    more times, shifting every id by ``span``: fast, portable ``INSERT … SELECT``."""
    from sqlalchemy import insert, select

    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db
    from app.inbox.models import TaskOffer

    shifted = {ProcessInstance.__table__: ("id",), HumanTask.__table__: ("id", "instance_id"),
               TaskOffer.__table__: ("task_id",)}
    key = {ProcessInstance.__table__: "id", HumanTask.__table__: "id", TaskOffer.__table__: "task_id"}
    with app.app_context():
        for k in range(1, times):
            for table, columns in shifted.items():
                names = [c.name for c in table.columns]
                source = select(*[(table.c[n] + k * span).label(n) if n in columns else table.c[n] for n in names]
                                ).where(table.c[key[table]].between(first, first + span - 1))
                db.session.execute(insert(table).from_select(names, source))
            db.session.commit()
    return first + times * span


def _build(app, t: dict, open_tasks: int, completed: int, start_id: int) -> int:
    """``_insert`` one block of at most BLOCK tasks, then ``_replicate`` it; returns the next id."""
    total = open_tasks or completed
    block = min(total, BLOCK)
    if total % block:
        raise ValueError(f"{total} is not a multiple of the block size {block}")
    end = _insert(app, t, block if open_tasks else 0, 0 if open_tasks else block, start_id)
    return _replicate(app, start_id + 1, end - start_id - 1, total // block)


def _analyze(app):
    from app.extensions import db
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def _dispose(app):
    from app.extensions import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _requester(app):
    client = app.test_client()
    token = client.post("/api/v1/tokens", json={"username": APPROVER, "password": "demo1234"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def get() -> tuple[float, int]:
        t0 = time.perf_counter()
        response = client.get("/api/v1/tasks", headers=headers)
        took = time.perf_counter() - t0
        if response.status_code != 200:
            raise AssertionError(f"GET /api/v1/tasks → {response.status_code}: {response.get_data(as_text=True)[:300]}")
        return took, response.get_json()["total"]
    return get


def run(budget_s: float = 20.0) -> dict:
    started = time.perf_counter()
    base_url, drop_base = scratch_database_url("inbox")
    drops = [drop_base]
    try:
        base = make_app(base_url, demo=True)
        template = _template(base)
        t0 = time.perf_counter()
        next_id = _build(base, template, 0, COMPLETED, 0)
        _dispose(base)
        apps, build_s = {}, {"completed": round(time.perf_counter() - t0, 1)}
        for size in SIZES:
            url, drop = clone_database(base_url, f"inbox{size}")
            drops.append(drop)
            app = make_app(url, demo=True)
            t0 = time.perf_counter()
            _build(app, template, size, 0, next_id)
            _analyze(app)
            build_s[size] = round(time.perf_counter() - t0, 1)
            apps[size] = app
        getters = {size: _requester(app) for size, app in apps.items()}
        samples = {size: [] for size in SIZES}
        for size in SIZES:  # warm-up, and the count the approver sees
            for _ in range(3):
                _, total = getters[size]()
            if total != size:
                raise AssertionError(f"the approver sees {total} open tasks, expected {size}")
        t0 = time.perf_counter()
        while len(samples[SIZES[0]]) < 10 or (time.perf_counter() - t0 < budget_s and len(samples[SIZES[0]]) < 500):
            for size in SIZES:
                samples[size].append(getters[size]()[0])
        measured = time.perf_counter() - t0
        for app in apps.values():
            _dispose(app)
    finally:
        for drop in drops:
            drop()
    out = {}
    for size, label in zip(SIZES, ("1k", "100k")):
        out[f"inbox_p95_ms_{label}"] = result(
            round(percentile(samples[size], 95) * 1000, 1), "ms", samples[size], measured, scale=1000,
            note=f"{size:,} open + {COMPLETED:,} completed tasks; in-process test client; build {build_s}",
            total_seconds=round(time.perf_counter() - started, 1))
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(run(), ensure_ascii=False, indent=1))
