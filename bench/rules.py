"""Rules dispatch: one customer-created event with 10 and with 1,000 enabled rules, 5 of
them matching (customer/created, each notifying the manager); the others are on other
entities and events (customer updated, activity created, opportunity won, ...).

Timed: ``app.automation.execution.on_record_event`` (the dispatcher subscribed to record
events: rule lookup, conditions, the 5 rules' actions and their run-log rows, flushed).
Each call is rolled back afterwards, so every sample sees the same database.
"""
from __future__ import annotations

import time

from .common import app_on, percentile, result

MATCHING = 5
OTHERS = [("customer", "updated"), ("customer", "deleted"), ("activity", "created"), ("opportunity", "created"),
          ("opportunity", "won"), ("opportunity", "stage_changed"), ("contract", "created"),
          ("contract", "updated")]


def _definitions(total: int, checked) -> list[dict]:
    """``total`` valid rule definitions: 5 matching on customer/created, the rest elsewhere."""
    matching = checked({"name": "大客户提醒", "entity": "customer", "event": "created",
                        "condition": {"and": [{"field": "registered_capital", "op": "ge", "value": 1_000_000}]},
                        "actions": [{"type": "notify", "users": ["manager"], "template": "新客户 {name}"}]})
    others = [checked({"name": f"{entity} {event}", "entity": entity, "event": event,
                       "condition": {"and": [{"field": "id", "op": "gt", "value": 0}]},
                       "actions": [{"type": "notify", "users": ["manager"], "template": "{id}"}]})
              for entity, event in OTHERS]
    rows = [dict(matching, name=f"{matching['name']} {i}", position=i) for i in range(MATCHING)]
    rows += [dict(others[i % len(others)], name=f"{others[i % len(others)]['name']} {i}", position=i)
             for i in range(total - MATCHING)]
    return rows


def _prepare(app, total: int):
    """Put ``total`` rules and one customer in the app's database; returns a sampler."""
    from sqlalchemy import delete, func, insert, select

    from app.auth.services import get_user
    from app.automation.execution import on_record_event
    from app.automation.models import Rule, RuleRun
    from app.automation.services import checked_definition
    from app.crm import services as crm
    from app.events import RecordEvent
    from app.extensions import db

    with app.test_request_context():
        admin = get_user("admin")
        columns = ("name", "entity", "event", "condition", "actions", "position")
        rows = [{k: d.get(k) for k in columns}
                | {"created_by_id": admin.id, "event_options": {}, "description": "", "version": 1,
                   "enabled": True, "blocking": False}
                for d in _definitions(total, checked_definition)]
        db.session.execute(insert(Rule), rows)
        db.session.commit()
        customer = crm.create("customer", {"name": "厦门海沧医疗器械有限公司", "registered_capital": "12000000",
                                           "province": "福建", "industry": "医疗"}, get_user("sales1"))
        customer_id = customer.id
        db.session.execute(delete(RuleRun))
        db.session.commit()

    def one() -> float:
        with app.test_request_context():
            customer = crm.get_record("customer", customer_id, get_user("admin"))
            changes = {k: (None, v) for k, v in crm.snapshot(customer).items() if v not in (None, "", [], {})}
            actor = get_user("sales1")
            t0 = time.perf_counter()
            on_record_event(RecordEvent("customer", "created", customer, changes=changes, actor=actor))
            took = time.perf_counter() - t0
            matched = db.session.scalar(select(func.count()).select_from(RuleRun).where(RuleRun.outcome == "matched"))
            db.session.rollback()
            if matched != MATCHING:
                raise AssertionError(f"{matched} rules matched, expected {MATCHING}")
            return took
    return one


def run(budget_s: float = 12.0) -> dict:
    """Both databases are sampled alternately, so machine noise hits both sizes alike."""
    sizes = (10, 1000)
    with app_on("rules10") as small, app_on("rules1000") as large:
        samplers = {10: _prepare(small, 10), 1000: _prepare(large, 1000)}
        for total in sizes:
            samplers[total]()  # warm-up
        samples = {total: [] for total in sizes}
        started = time.perf_counter()
        while len(samples[10]) < 20 or (time.perf_counter() - started < budget_s and len(samples[10]) < 1000):
            for total in sizes:
                samples[total].append(samplers[total]())
        seconds = time.perf_counter() - started
    out = {}
    for total in sizes:
        median = sorted(samples[total])[len(samples[total]) // 2]
        out[f"rules_dispatch_us_{total}"] = result(
            round(median * 1e6, 1), "µs (median)", samples[total], seconds, scale=1e6,
            note=f"{total} enabled rules, {MATCHING} matching; sizes sampled alternately",
            p99=round(percentile(samples[total], 99) * 1e6, 1))
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(run(), ensure_ascii=False, indent=1))
