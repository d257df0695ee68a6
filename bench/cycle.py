"""The customer-report cycle the service, HTTP and load benchmarks share: what the product
needs in place for it, and the customer data that routes it to the sales managers."""
from __future__ import annotations

import itertools
import os

from .common import CUSTOMER_REPORT

APPROVER = "manager"  # group sales-managers: customers outside Fujian and not 医疗
REPORTER = "sales1"
_serial = itertools.count(1)

DEMO_RULE = {"name": "大客户（注册资金 ≥ 1000 万）", "entity": "customer", "event": "created",
             "condition": {"and": [{"field": "registered_capital", "op": "ge", "value": 10_000_000}]},
             "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value", "value": "A"}]},
                         {"type": "notify", "users": ["manager"], "template": "大客户 {name}"}]}


def customer_data(tag: str = "") -> dict:
    n = next(_serial)
    return {"name": f"广州恒通制造有限公司 {tag}{os.getpid()}-{n}", "province": "广东", "city": "广州",
            "industry": "制造", "registered_capital": "20000000" if n % 2 else "3000000", "source": "展会"}


def ensure_prerequisites() -> list[str]:
    """Deploy the customer report and add the demo rule when ``flask demo`` did not (yet);
    returns notes saying what was added here.  Call inside an app context."""
    from sqlalchemy import select

    from app.auth.services import get_user
    from app.automation.models import Rule
    from app.automation.services import create_rule
    from app.engine import services as engine
    from app.extensions import db

    notes = []
    from app.engine.operations import get_operation
    if get_operation("notify.users") is None:
        # app.engine.init_app registers it; the app factory does not call it (yet).
        from app.engine.product_operations import register_product_operations
        register_product_operations()
        notes.append("notify.users registered by the bench: app.engine.init_app is not called by the app")
    try:
        engine.get_definition("customer_report")
    except engine.NotFound:
        engine.deploy(CUSTOMER_REPORT.read_bytes())
        notes.append("customer_report deployed by the bench (flask demo did not)")
    if db.session.scalar(select(Rule.id).where(Rule.entity == "customer", Rule.event == "created").limit(1)) is None:
        create_rule(dict(DEMO_RULE), get_user("admin"))
        notes.append("demo rule added by the bench (flask demo did not)")
    db.session.commit()
    return notes


def has_binding() -> bool:
    """Does a form binding start the customer report on "customer created"?"""
    try:
        from app.forms.models import FormBinding
    except ImportError:
        return False
    from sqlalchemy import select

    from app.extensions import db
    return db.session.scalar(select(FormBinding.id).where(FormBinding.entity == "customer",
                                                          FormBinding.event == "created",
                                                          FormBinding.enabled.is_(True)).limit(1)) is not None
