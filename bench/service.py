"""The product's service layer on a SQLite file, no HTTP, one cycle at a time:

1. sales1 creates a customer (``app.crm.services.create``, committed): automation rules run
   on the "created" event and the form binding starts the customer report, whose first user
   task row is written — all in that transaction;
2. the sales manager claims and approves the task (the inbox services the API calls, each
   step committed): the process runs to its end, the customer's ``report_status`` becomes
   "approved", history is written.

Until a binding starts the process, step 1 starts it with ``app.engine.services.start_instance``
right after the customer is created (and the result says so).
"""
from __future__ import annotations


from .common import app_on, median_ms, rate, result, sample, with_cpu_time
from .cycle import APPROVER, REPORTER, customer_data, ensure_prerequisites


def services():
    """(claim, complete) as the API calls them: the inbox's when present, else the engine's."""
    try:
        from app.inbox import services as inbox
        return inbox.claim, inbox.complete, "app.inbox.services"
    except ImportError:
        from app.engine import services as engine
        return engine.claim, engine.complete, "app.engine.services"


def make_cycle(notes: set):
    from flask import current_app
    from sqlalchemy import select

    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.engine import services as engine
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db

    claim, complete, where = services()
    notes.add(f"approval through {where}")
    app = current_app._get_current_object()

    def cycle():
        # A fresh app + request context per cycle, as each request has: per-request caches
        # (flask.g) and the session do not outlive it.
        with app.app_context(), app.test_request_context():
            one_cycle()

    def one_cycle():
        reporter, approver = get_user(REPORTER), get_user(APPROVER)
        data = customer_data("svc-")
        customer = crm.create("customer", data, reporter)
        customer_id = customer.id
        # What a client needs to go on is the open task's id (the API's ?record= filter).
        task_id = db.session.scalar(select(HumanTask.id).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                                    .where(ProcessInstance.record_type == "customer", ProcessInstance.record_id == customer_id,
                                           HumanTask.status == "open"))
        if task_id is None:
            notes.add("no binding started the process: started with engine.services.start_instance")
            instance = engine.start_instance(
                "customer_report", {"customer_id": customer.id, "name": customer.name, "province": data["province"],
                                    "industry": data["industry"], "reporter": reporter.username, "owner": reporter.username},
                actor=reporter, record={"type": "customer", "id": customer.id})
            task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                                   HumanTask.status == "open"))
        claim(task_id, approver)
        complete(task_id, approver, {"decision": "approve", "comment": "同意"})
        db.session.remove()  # the requests end here: nothing cached across cycles
        status = db.session.scalar(select(Customer.report_status).where(Customer.id == customer_id))
        if status != "approved":
            raise AssertionError(f"customer report_status is {status!r} after approval")
    return cycle


def run(budget_s: float = 10.0) -> dict:
    notes: set = set()
    with app_on("service", sqlite_only=True, demo=True) as app:
        with app.test_request_context():
            notes.update(ensure_prerequisites())
            cycle = make_cycle(notes)
            timed = with_cpu_time(cycle)
            samples, seconds = sample(timed, budget_s=budget_s, min_repeats=30, warmup=3)
    return {"service_per_s": result(rate(samples), "cycles/s", samples, seconds, scale=1000,
                                    note="; ".join(sorted(notes)) + "; median/p95 in ms per cycle; cpu_ms: median "
                                    "CPU time per cycle", cpu_ms=median_ms(timed.cpu[-len(samples):]))}


if __name__ == "__main__":
    import json
    print(json.dumps(run(), ensure_ascii=False, indent=1))
