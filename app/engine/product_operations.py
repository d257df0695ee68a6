"""Operations the engine itself offers to diagrams (the CRM registers its own)."""
from __future__ import annotations

from sqlalchemy import select

from .operations import get_operation, register_operation


def _names(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def notify_users(ctx, message, users=None, groups=None, link=None):
    """In-app notification to users and to every member of groups (in the step's transaction)."""
    from app.auth.models import Group
    from app.extensions import db
    from app.notifications.services import notify

    targets = set(_names(users))
    group_names = _names(groups)
    if group_names:
        for group in db.session.scalars(select(Group).where(Group.name.in_(group_names))):
            targets.update(group.member_usernames)
    if targets:
        notify(sorted(targets), str(message), link=link or (
            f"/process-instances/{ctx.instance_id}" if ctx.instance.get("instance_id") else None))
    return sorted(targets)


def register_product_operations() -> None:
    if get_operation("notify.users") is None:
        register_operation("notify.users", notify_users, params=["message"],
                           optional=["users", "groups", "link"],
                           description="Notify users and members of groups in the app")
