"""CRM records: customers, activity records, opportunities (pipeline stages) and contracts.

Public functions for other modules are in ``app.crm.services`` (create/update/delete,
move_stage, mark_won/mark_lost, assign_owner, share, set_review_status, confirm_owner,
find_possible_duplicates, record_fields, visible_clause/get_record); record pages take extra
sections through ``app.crm.views.add_detail_panel``; ``app.crm.history`` keeps each record's
field changes (变更记录).
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli import add_demo_step
    from app.crm import api, demo, history, services, views
    from app.events import subscribe

    views.init_app(app)
    app.register_blueprint(api.bp)
    # Before the automation rules (50): a change is recorded before the changes its rules make
    # in reaction, so the history reads in the order things happened.
    subscribe(app, history.record_changes, order=10)
    services.register_jobs()
    _register_operations()
    add_demo_step(app, 20, demo.seed)


def _register_operations() -> None:
    """What a BPMN service task may do to CRM records (topics crm.*): only to the record its
    instance was started for. Ids in the process data come from whoever started it, and a
    process started by hand with another salesperson's customer id must not move that customer."""
    from flask_babel import gettext as _
    from flask_babel import lazy_gettext as _l

    from app.api.errors import ApiError
    from app.crm import services
    from app.engine.operations import register_operation
    from app.events import caused_by

    def actor_of(ctx):
        actor = getattr(ctx, "actor", None)
        if isinstance(actor, str):
            from app.auth.lookup import user_named

            actor = user_named(actor)
        return actor

    def own_record(ctx, entity: str | None = None, record_id=None) -> tuple[str, int]:
        bound = getattr(ctx, "record", None) or {}
        if not bound.get("type") or (entity and bound["type"] != entity):
            raise ApiError(409, "not_started_for_record", _(
                "This process was not started for a %(entity)s, so it cannot change one.",
                entity=services.ENTITY_LABELS.get(entity, entity) if entity else _("record")))
        if record_id is not None and str(record_id) != str(bound["id"]):
            raise ApiError(403, "other_record", _(
                "This process was started for record #%(own)s; it cannot change #%(other)s.",
                own=bound["id"], other=record_id))
        return bound["type"], int(bound["id"])

    def by_the_process(ctx):
        # The change history names the process besides the person whose step ran it.
        return caused_by(f"process:{getattr(ctx, 'instance_id', '')}")

    # The engine owns the transaction of the step that calls these: no commit here.
    def review_status_setter(entity: str):
        """crm.set_report_status (its record's ``customer_id``), crm.set_approval_status (``contract_id``)."""
        id_param = f"{entity}_id"

        def set_status(ctx, status, comment=None, **ids):
            _entity, own_id = own_record(ctx, entity, ids[id_param])
            with by_the_process(ctx):
                services.set_review_status(entity, own_id, status, comment=comment, actor=actor_of(ctx),
                                           commit=False)
            return status
        return set_status

    def confirm_owner(ctx, customer_id, username):
        _entity, own_id = own_record(ctx, "customer", customer_id)
        with by_the_process(ctx):
            services.confirm_owner(own_id, username, actor=actor_of(ctx), commit=False)
        return username

    def update_record(ctx, field, value):
        entity, own_id = own_record(ctx)
        record = services.record_by_id(entity, own_id)
        if record is None:
            raise ApiError(404, "not_found", _("The record this process was started for no longer exists."))
        with by_the_process(ctx):
            services.update(record, services.one_field_change(entity, field, value), actor_of(ctx), commit=False,
                            reason="process")
        return value

    def value_fits_the_field(written: dict) -> list[str]:
        """A value written in the diagram that its field refuses (批准了 for a choice of
        待审批/已通过/已驳回) deployed, and stopped each instance there."""
        field, value = str(written.get("field") or "").strip(), written.get("value")
        if not field or value is None or "${" in str(value):
            return []
        problem = services.diagram_value_problem(field, value)
        return [_("the value “%(value)s” does not fit the field: %(problem)s", value=value, problem=problem)] \
            if problem else []

    def record_fields():
        # As update_record takes them: custom ones as custom.<key>, the read-only ones left out.
        found = services.fields_of_every_type(lambda field: not field["read_only"])
        return [{"value": key, "label": f"{label} · {_(', ').join(types)}"} for key, (label, types) in found.items()]

    def statuses_of(field: str):
        return lambda: [{"value": value, "label": label} for value, label in services.CHOICE_LABELS[field].items()]

    customer_id = _l("Customer id")
    register_operation(services.REVIEW_OPERATIONS["customer"], review_status_setter("customer"), params=["customer_id", "status"],
                       optional=["comment"], description=_l("Set a customer's report status"), replace=True, acts_on_record=True,
                       labels={"customer_id": customer_id, "status": _l("Report status"),
                               "comment": _l("Approver's comment")}, suggestions={"status": statuses_of("report_status")})
    register_operation(services.REVIEW_OPERATIONS["contract"], review_status_setter("contract"), params=["contract_id", "status"],
                       optional=["comment"], description=_l("Set a contract's approval status"), replace=True, acts_on_record=True,
                       labels={"contract_id": _l("Contract id"), "status": _l("Approval status"),
                               "comment": _l("Approver's comment")},
                       suggestions={"status": statuses_of("approval_status")})
    register_operation("crm.confirm_owner", confirm_owner, params=["customer_id", "username"],
                       description=_l("Make a user the customer's owner (logged)"), replace=True, acts_on_record=True,
                       labels={"customer_id": customer_id, "username": _l("Owner's username")})
    register_operation("crm.update_record", update_record, params=["field", "value"],
                       description=_l("Set a field of the record the process was started for "
                                      "(e.g. a contract's status after its approval)"), replace=True, acts_on_record=True,
                       labels={"field": _l("Field"), "value": _l("Value")}, suggestions={"field": record_fields},
                       closed=["field"], check_values=value_fits_the_field)
