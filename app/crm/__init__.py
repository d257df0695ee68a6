"""CRM records: customers, activity records, opportunities (pipeline stages) and contracts.

Public functions for other modules are in ``app.crm.services`` (create/update/delete,
move_stage, mark_won/mark_lost, assign_owner, share, set_report_status, confirm_owner,
find_possible_duplicates, record_fields, visible_clause/get_record); record pages take extra
sections through ``app.crm.views.add_detail_panel``.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli import add_demo_step
    from app.crm import api, demo, services, views

    views.init_app(app)
    app.register_blueprint(api.bp)
    services.register_jobs()
    _register_operations()
    add_demo_step(app, 20, demo.seed)


def _register_operations() -> None:
    """What a BPMN service task may do to CRM records (topics crm.*)."""
    from app.crm import services
    from app.engine.operations import register_operation

    def actor_of(ctx):
        actor = getattr(ctx, "actor", None)
        if isinstance(actor, str):
            from app.auth.lookup import user_named

            actor = user_named(actor)
        return actor

    # The engine owns the transaction of the step that calls these: no commit here.
    def set_report_status(ctx, customer_id, status, comment=None):
        services.set_report_status(customer_id, status, comment=comment, actor=actor_of(ctx), commit=False)
        return status

    def confirm_owner(ctx, customer_id, username):
        services.confirm_owner(customer_id, username, actor=actor_of(ctx), commit=False)
        return username

    register_operation("crm.set_report_status", set_report_status, params=["customer_id", "status"],
                       optional=["comment"], description="Set a customer's report status", replace=True)
    register_operation("crm.confirm_owner", confirm_owner, params=["customer_id", "username"],
                       description="Make a user the customer's owner (logged)", replace=True)
