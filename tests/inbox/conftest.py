"""Fixtures for the inbox tests: the customer report deployed with its form, helpers that
create customers and start processes through the real services."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def flows(app, demo_people):
    """Deploys the customer report and the assigned-review fixture, loads the shipped forms,
    and offers ``customer(...)``, ``report(...)`` and ``assigned(...)`` to start instances."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.engine import services as engine
    from app.extensions import db
    from app.forms import services as forms

    from app.crm import _register_operations as register_crm_operations
    from app.engine.product_operations import register_product_operations

    # The engine's unit tests replace these operations with fakes and then unregister them.
    register_crm_operations()
    register_product_operations()
    with app.app_context():
        forms.load_shipped_forms()
        engine.deploy((ROOT / "bpmn" / "customer_report.bpmn").read_bytes())
        engine.deploy((FIXTURES / "assigned_review.bpmn").read_bytes())
        db.session.commit()
        db.session.remove()

    class Flows:
        def customer(self, owner="sales1", **fields):
            with app.app_context():
                record = crm.create("customer", {"name": "福州海峡贸易有限公司", "province": "福建", **fields},
                                    get_user(owner))
                record_id = record.id
                db.session.remove()
                return record_id

        def report(self, owner="sales1", **fields):
            """A customer and its customer-report process (as the CRM binding starts it)."""
            customer_id = self.customer(owner, **fields)
            with app.app_context():
                from app.crm.models import Customer

                customer = db.session.get(Customer, customer_id)
                crm.set_review_status("customer", customer.id, "pending", commit=False)
                data = {"customer_id": customer.id, "name": customer.name, "province": customer.province,
                        "industry": customer.industry, "reporter": owner, "owner": owner,
                        "credit_code": customer.credit_code, "phone": customer.phone}
                instance = engine.start_instance("customer_report", data, actor=get_user(owner),
                                                 record={"type": "customer", "id": customer.id})
                instance_id = instance.id
                db.session.remove()
            return instance_id

        def assigned(self, approver, confirmer="manager", starter="sales1", **data):
            with app.app_context():
                instance = engine.start_instance("assigned_review",
                                                 {"approver": approver, "confirmer": confirmer, **data},
                                                 actor=get_user(starter))
                instance_id = instance.id
                db.session.remove()
            return instance_id

        def open_task(self, instance_id):
            from sqlalchemy import select

            from app.engine.models import HumanTask

            with app.app_context():
                task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                                 HumanTask.status == "open"))
                out = None if task is None else {"id": task.id, "assignee": task.assignee, "name": task.name,
                                                 "claimed_by": task.claimed_by, "bpmn_id": task.bpmn_id,
                                                 "candidate_users": list(task.candidate_users)}
                db.session.remove()
                return out

        def history(self, instance_id):
            from app.engine.services import history

            with app.app_context():
                rows = [(h.event, h.actor, h.comment, h.data) for h in history(instance_id)]
                db.session.remove()
                return rows

    return Flows()
