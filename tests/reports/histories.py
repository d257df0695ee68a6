"""A fixture of known histories, inserted straight into the engine's and the automation's
tables (as the engine and the rules would have left them), with the figures worked out by hand.

Times are UTC; the period is 2026-01-05 .. 2026-02-01 in Asia/Shanghai (four weeks).
T0 = Tuesday 2026-01-06 02:00 UTC (10:00 in Shanghai, in the week of Monday 2026-01-05).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from app.auth.models import User
from app.automation.models import Rule, RuleRun
from app.engine.models import HumanTask, ProcessDefinition, ProcessHistory, ProcessInstance
from app.extensions import db

XML = (Path(__file__).resolve().parents[2] / "bpmn" / "customer_report.bpmn").read_text("utf-8")
T0 = datetime(2026, 1, 6, 2, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=14)
FIRST, LAST = date(2026, 1, 5), date(2026, 2, 1)
H, D = timedelta(hours=1), timedelta(days=1)

MANAGER = ("Task_manager_review", "销售经理审批", ["sales-managers"])
FUJIAN = ("Task_fujian_review", "福建区域负责人审批", ["fujian-heads"])
MEDICAL = ("Task_medical_review", "医疗行业审核", ["medical-reviewers"])
ESCALATED = ("Task_escalated_review", "超时升级审批", ["sales-managers"])


class Builder:
    def __init__(self):
        self.definition = ProcessDefinition(key="customer_report", name="客户报备", version=1, is_current=True,
                                            xml=XML, spec_hash="reports-test", deployed_at=T0 - 30 * D)
        db.session.add(self.definition)
        db.session.flush()

    def instance(self, start, status="running", end=None, key="customer_report", definition=None, decision=None):
        # the engine keeps the process data (with the form's decision) on the instance row
        inst = ProcessInstance(definition_id=(definition or self.definition).id, process_key=key, status=status,
                               state="", data={"decision": decision} if decision else {"name": "x"},
                               created_at=start, updated_at=end or start, completed_at=end)
        db.session.add(inst)
        db.session.flush()
        self.history(inst, start, "started", data={"version": 1})
        if status == "completed":  # the end it reached, as the engine records it
            self.history(inst, end, "completed", task={"approve": "报备通过", "reject": "报备驳回"}.get(decision))
        return inst

    def task(self, inst, step, created, claimed=None, claimed_by=None, completed=None, completed_by=None,
             status=None, due=timedelta(days=3), decision=None):
        bpmn_id, name, groups = step
        status = status or ("completed" if completed else "open")
        task = HumanTask(instance_id=inst.id, task_uuid=f"{inst.id}-{bpmn_id}-{created.timestamp()}",
                         bpmn_id=bpmn_id, name=name, candidate_groups=groups, candidate_users=[],
                         due_at=created + due if due else None, status=status, claimed_at=claimed,
                         claimed_by=claimed_by, completed_at=completed, completed_by=completed_by,
                         created_at=created, updated_at=completed or created)
        db.session.add(task)
        self.history(inst, created, "task_created", task=name, data={"candidate_groups": groups})
        if claimed:
            self.history(inst, claimed, "claimed", claimed_by, task=name)
        if completed:
            self.history(inst, completed, "completed_task", completed_by, task=name,
                         data={"decision": decision} if decision else {})
        return task

    def history(self, inst, at, event, actor=None, task=None, data=None):
        db.session.add(ProcessHistory(instance_id=inst.id, at=at, actor=actor, event=event, task=task, data=data))


def build_histories() -> None:
    b = Builder()
    # A: approved by the manager; waited 1 h, handled 2 h; 3 h in all
    a = b.instance(T0, "completed", T0 + 3 * H, decision="approve")
    b.task(a, MANAGER, T0, T0 + H, "manager", T0 + 3 * H, "manager", decision="approve")
    # B: rejected; waited 2 h, handled 4 h
    t = T0 + D
    bb = b.instance(t, "completed", t + 6 * H, decision="reject")
    b.task(bb, MANAGER, t, t + 2 * H, "manager", t + 6 * H, "manager", decision="reject")
    # C: Fujian: waited 30 min, handled 1 h (the manager step is skipped)
    t = T0 + 2 * D
    c = b.instance(t, "completed", t + 90 * 60 * timedelta(seconds=1), decision="approve")
    b.task(c, FUJIAN, t, t + timedelta(minutes=30), "fj_head", t + timedelta(minutes=90), "fj_head",
           decision="approve")
    # D (week 2): delegated after a day, interrupted by the 3-day escalation, approved by admin
    t = T0 + 7 * D
    d = b.instance(t, "completed", t + 3 * D + 2 * H, decision="approve")
    b.task(d, MANAGER, t, status="cancelled")
    b.history(d, t + D, "delegated", "manager", task=MANAGER[1], data={"from": "manager", "to": "sales1"})
    b.history(d, t + 3 * D, "timer_fired", data={"task_id": "x"})
    b.history(d, t + 3 * D, "task_cancelled", task=MANAGER[1])
    b.task(d, ESCALATED, t + 3 * D, t + 3 * D + H, "admin", t + 3 * D + 2 * H, "admin", due=D,
           decision="approve")
    # E: medical review, claimed after 1 h, still open past its due date (overdue)
    t = T0 + 8 * D
    e = b.instance(t)
    b.task(e, MEDICAL, t, t + H, "med_reviewer")
    # F: withdrawn by the starter (terminated + withdrawn; the engine writes no task_cancelled)
    f = b.instance(t, "terminated", t + H)
    b.task(f, MANAGER, t, status="cancelled")
    b.history(f, t + H, "terminated", "sales1")
    b.history(f, t + H, "withdrawn", "sales1")
    # G: terminated by an admin
    t = T0 + 9 * D
    g = b.instance(t, "terminated", t + 2 * H)
    b.task(g, MANAGER, t, status="cancelled")
    b.history(g, t + 2 * H, "terminated", "admin")
    # H: in error, its manager task open, unclaimed and overdue
    h = b.instance(t, "error")
    b.task(h, MANAGER, t)
    # I: approved late: waited 4 days (overdue), handled 1 h
    i = b.instance(t, "completed", t + 4 * D + H, decision="approve")
    b.task(i, MANAGER, t, t + 4 * D, "manager", t + 4 * D + H, "manager", decision="approve")
    # outside the report: started before the period; another process
    x = b.instance(T0 - 10 * D, "completed", T0 - 9 * D, decision="reject")
    b.task(x, MANAGER, T0 - 10 * D, T0 - 10 * D + H, "manager", T0 - 9 * D, "manager", decision="reject")
    other = ProcessDefinition(key="other", name="其他", version=1, is_current=True, xml=XML, spec_hash="other")
    db.session.add(other)
    db.session.flush()
    y = b.instance(T0, "completed", T0 + H, key="other", definition=other, decision="reject")
    b.task(y, MANAGER, T0, T0 + H, "manager", T0 + H, "manager", decision="reject")
    db.session.commit()


def build_runs() -> dict[str, int]:
    """Three rules and their run log; returns the rule ids by name."""
    admin = db.session.query(User).filter_by(username="admin").one()
    r1 = Rule(name="A类客户", entity="customer", event="created", actions=[{"type": "set_field"}, {"type": "notify"}],
              created_by_id=admin.id)
    r2 = Rule(name="赢单建合同", entity="opportunity", event="won", actions=[{"type": "create_record"}])
    r3 = Rule(name="提醒", entity="customer", event="updated", actions=[{"type": "notify"}])
    db.session.add_all([r1, r2, r3])
    db.session.flush()

    def run(rule, at, outcome, actions=(), error=None):
        db.session.add(RuleRun(rule_id=rule.id, rule_name=rule.name, entity=rule.entity, record_id=1,
                               event=rule.event, outcome=outcome, at=at, error=error,
                               actions=[{"index": i, "type": t, "status": s} for i, t, s in actions]))

    both_done = [(0, "set_field", "done"), (1, "notify", "done")]
    for k in range(3):
        run(r1, T0 + k * D, "matched", both_done)
    run(r1, T0 + 4 * D, "not_matched")
    run(r1, T0 + 5 * D, "failed", [(0, "set_field", "rolled_back"), (1, "notify", "failed")], "old error")
    run(r1, T0 + 6 * D, "failed", [(0, "set_field", "rolled_back"), (1, "notify", "failed")], "boom")
    run(r1, T0 - 30 * D, "failed", [(0, "set_field", "rolled_back")], "before the period")
    run(r2, T0 + 7 * D, "matched", [(0, "create_record", "done")])
    run(r2, T0 + 8 * D, "matched", [(0, "create_record", "done")])
    run(r2, T0 + 8 * D, "matched", [(0, "create_record", "skipped")])
    run(r3, T0 + 8 * D, "matched", [(0, "notify", "done")])
    db.session.commit()
    return {"r1": r1.id, "r2": r2.id, "r3": r3.id}
