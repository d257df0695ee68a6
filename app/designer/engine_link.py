"""What the designer needs from the engine, through the engine's public services.

Kept in one place so the designer never reaches into SpiffWorkflow and follows the engine's
service API when it changes.
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.db import MAX_ID
from app.api.errors import ApiError
from app.auth.models import User
from app.engine import operations as ops
from app.engine import services as engine
from app.engine.models import ProcessInstance
from app.engine.xml import DiagramError
from app.extensions import db


def definitions() -> list[dict]:
    return [{"key": d.key, "name": d.name, "version": d.version}
            for d in engine.list_definitions(current_only=True)]


def current_version(key: str) -> int | None:
    try:
        return engine.get_definition(key).version
    except engine.NotFound:
        return None


def deployed_as(key: str, xml: str) -> int | None:
    """The current version of ``key`` when it is this very diagram (None otherwise)."""
    from app.engine.serialization import spec_hash

    try:
        current = engine.get_definition(key)
    except engine.NotFound:
        return None
    return current.version if current.spec_hash == spec_hash(xml) else None


def version_xml(key: str, version: int) -> str | None:
    if not 0 < version <= MAX_ID:
        return None
    try:
        return engine.get_definition(key, version).xml
    except engine.NotFound:
        return None


def waiting_at_removed_steps(key: str, xml: str) -> list[dict]:
    """Open tasks of ``key``'s instances at steps the diagram ``xml`` no longer has: those
    instances go on under their own version and cannot move to this one (``[{step, instances}]``)."""
    from app.engine.models import OPEN_STATUSES, TASK_OPEN, HumanTask
    from app.engine.xml import load_xml

    ids = {element.get("id") for element in load_xml(xml).iter() if isinstance(element.tag, str) and element.get("id")}
    rows = db.session.execute(
        select(HumanTask.bpmn_id, HumanTask.name, func.count(func.distinct(HumanTask.instance_id)))
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(ProcessInstance.process_key == key, ProcessInstance.status.in_(OPEN_STATUSES),
               HumanTask.status == TASK_OPEN)
        .group_by(HumanTask.bpmn_id, HumanTask.name).order_by(HumanTask.name))
    return [{"step": name or bpmn_id, "instances": count} for bpmn_id, name, count in rows if bpmn_id not in ids]


def running_count(key: str) -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_key == key, ProcessInstance.status == "running")) or 0


def versions(key: str) -> list[dict]:
    rows = [d for d in engine.list_definitions() if d.key == key]
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_({d.deployed_by_id for d in rows if d.deployed_by_id})))}
    counts = dict(db.session.execute(
        select(ProcessInstance.definition_id, func.count()).where(ProcessInstance.process_key == key)
        .group_by(ProcessInstance.definition_id)).all())
    return [{
        "version": d.version, "name": d.name, "is_current": d.is_current,
        "deployed_at": d.deployed_at.isoformat(),
        "deployed_by": users[d.deployed_by_id].username if d.deployed_by_id in users else None,
        "deployed_by_label": users[d.deployed_by_id].label if d.deployed_by_id in users else None,
        "instances": counts.get(d.id, 0),
    } for d in sorted(rows, key=lambda d: d.version, reverse=True)]


def deploy(xml: str, actor) -> int:
    """Deployed in the caller's transaction: with the draft's own update, so that two deploys
    of one draft at the same moment leave one version, not the loser's beside the winner's."""
    try:
        return engine.deploy(xml, actor=actor, commit=False).version
    except DiagramError as exc:
        db.session.rollback()
        raise ApiError(400, "invalid_diagram", _("The diagram has problems; fix them before deploying."),
                       exc.problems) from None
    except engine.Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None


def rollback(key: str, version: int, actor) -> None:
    if not 0 < version <= MAX_ID:
        raise ApiError(404, "not_found", _("No such version."))
    try:
        engine.make_current(key, version, actor=actor)
    except engine.NotFound:
        raise ApiError(404, "not_found", _("No such version.")) from None


def operations() -> list[dict]:
    out = []
    for name in ops.operation_names():
        op = ops.get_operation(name)
        out.append({"name": name, "description": str(op.description or ""), "required": list(op.required),
                    "optional": list(op.optional), "accepts_any": op.accepts_any,
                    "labels": {param: str(label) for param, label in op.labels.items()},
                    "suggestions": {param: [{"value": str(o["value"]), "label": str(o["label"])} for o in suggest()]
                                    for param, suggest in op.suggestions.items()}})
    return out
