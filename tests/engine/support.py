"""Helpers shared by the engine tests."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CUSTOMER_REPORT = ROOT / "bpmn" / "customer_report.bpmn"


class FakeOperations:
    """Records calls to the operations the shipped diagrams use."""

    def __init__(self):
        self.calls = []
        self.fail_status = False

    def set_report_status(self, ctx, customer_id, status, comment=None):
        if self.fail_status:
            raise RuntimeError("CRM unavailable")
        self.calls.append(("crm.set_report_status", {"customer_id": customer_id, "status": status,
                                                     "comment": comment, "element": ctx.element_id}))
        return {"customer_id": customer_id, "report_status": status}

    def confirm_owner(self, ctx, customer_id, username):
        self.calls.append(("crm.confirm_owner", {"customer_id": customer_id, "username": username}))

    def notify(self, ctx, message, users=None, groups=None, link=None, message_en=None):
        self.calls.append(("notify.users", {"message": message, "users": users, "groups": groups}))

    # The engine's pure tests have no directory: a fixed group → manager table stands in for it
    # (the real lookup is tested against the database in test_escalation.py).
    managers = {"fujian-heads": "fj_boss", "medical-reviewers": "med_boss", "sales-managers": "sales_director"}

    def group_manager(self, ctx, group):
        self.calls.append(("directory.group_manager", {"group": group}))
        return self.managers[group]

    def of(self, name):
        return [c[1] for c in self.calls if c[0] == name]


def make_timer_due(workflow, bpmn_id):
    """Time travel: move a waiting timer's due time into the past."""
    for task in workflow.event_manager.tasks.values():
        if task.task_spec.bpmn_id == bpmn_id:
            past = datetime.now(timezone.utc) - timedelta(seconds=1)
            task._set_internal_data(event_value=past.isoformat())
            return task
    raise AssertionError(f"no waiting timer {bpmn_id}")
