"""Operations the engine itself offers to diagrams (the CRM registers its own)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.security import is_local_path

from .operations import OperationError, get_operation, register_operation


def _names(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def notify_users(ctx, message, users=None, groups=None, link=None, message_en=None):
    """In-app notification to users and to every member of groups (in the step's transaction);
    ``message_en`` is what readers of English get (a diagram's texts are in one language)."""
    from app.auth.models import Group
    from app.extensions import db
    from app.notifications.services import InLanguages, notify

    if link is not None and not is_local_path(str(link)):
        # Only a page of this product: a diagram must not send people elsewhere (or run script).
        raise OperationError(_("The link must be a page of this product, starting with /: %(link)s", link=link))
    from app.auth.models import User

    targets = set(_names(users))
    known = set(db.session.scalars(select(User.username).where(User.username.in_(targets)))) if targets else set()
    group_names = _names(groups)
    found_groups = list(db.session.scalars(select(Group).where(Group.name.in_(group_names)))) if group_names else []
    unknown = sorted(targets - known) + sorted(set(group_names) - {g.name for g in found_groups})
    if unknown:
        # A name from the data (${target}) that is nobody: stopped where an administrator sees it,
        # as an unknown group's escalation is, not a notice silently sent to no one.
        raise OperationError(_("no user or group named %(names)s", names=", ".join(unknown)), code="unknown_recipient")
    for group in found_groups:
        targets.update(group.member_usernames)
    targets |= _substitutes_of(targets)
    if targets:
        text = InLanguages(str(message), {"en": str(message_en)}) if message_en else str(message)
        notify(sorted(targets), text, link=link or (
            f"/process-instances/{ctx.instance_id}" if ctx.instance.get("instance_id") else None))
    return sorted(targets)


def _substitutes_of(names: set[str]) -> set[str]:
    """Whoever covers for the people away among ``names``: a reminder that a report waits went
    only to the head on holiday, while his substitute, who could act on it, heard nothing."""
    from app.inbox.services import substitutes_of_the_away

    return substitutes_of_the_away(names) if names else set()


def group_manager(ctx, group):
    """Username of the person a task of ``group`` escalates to (for ``camunda:assignee``):
    the group's manager, else the nearest parent group's manager, else the first active
    administrator (``app.auth.services.escalation_manager``) — never someone who decided an
    earlier step of this process or whose request it is: the sales managers' own manager
    approved a 600,000 contract's first level and was then given its second."""
    from app.auth.services import escalation_manager, get_group

    name = str(group or "").strip()
    # An unknown group is a modelling or directory error: the instance stops with it (the
    # operator console shows it; retry after fixing) rather than escalate to a guess.
    if not name or get_group(name) is None:
        raise OperationError(f"unknown group '{name}'", code="unknown_group")
    found = escalation_manager(name, _decided_or_asked(ctx))
    if found is None:
        raise OperationError(f"group '{name}' has no manager and no active administrator who has not decided "
                             f"or asked for this already", code="no_manager")
    return found[0].username


def _decided_or_asked(ctx) -> frozenset[str]:
    """Who completed a step of the calling instance (the step completing now too) and who
    started it or owns its record. Nobody in a designer's test run, which has no instance."""
    from app.engine.models import ProcessHistory, ProcessInstance
    from app.extensions import db
    from app.inbox.services import interested_parties

    people = {ctx.instance.get("actor")} - {None}
    instance = db.session.get(ProcessInstance, ctx.instance["instance_id"]) if ctx.instance.get("instance_id") else None
    if instance is not None:
        rows = list(db.session.scalars(select(ProcessHistory).where(
            ProcessHistory.instance_id == instance.id, ProcessHistory.event.in_(("completed_task", "out_of_office")))))
        # The step completing now is not flushed yet.
        rows += [row for row in db.session.new if isinstance(row, ProcessHistory) and row.instance_id == instance.id
                 and row.event in ("completed_task", "out_of_office")]
        decided = {(row.task, row.actor) for row in rows if row.event == "completed_task" and row.actor}
        people |= {actor for _step, actor in decided}
        # A substitute's decision counts as the absent person's too: with the sales managers' head
        # away, their substitute approved the first level and was then given the second for them.
        for row in rows:
            data = row.data or {}
            if row.event == "out_of_office" and ((row.task, data.get("to")) in decided
                                                 or data.get("to") == ctx.instance.get("actor")):
                people |= set(data.get("away") or ())
        people |= set(interested_parties(instance))
    return frozenset(people)


def register_product_operations() -> None:
    if get_operation("notify.users") is None:
        register_operation("notify.users", notify_users, params=["message"],
                           optional=["users", "groups", "link", "message_en"],
                           description=_l("Notify users and members of groups in the app"),
                           labels={"message": _l("Message"), "users": _l("Users"), "groups": _l("Groups"),
                                   "link": _l("Link in the notification"),
                                   "message_en": _l("Message for readers of English")},
                           one_of=[("users", "groups")])
    if get_operation("directory.group_manager") is None:
        register_operation("directory.group_manager", group_manager, params=["group"],
                           description=_l("The manager a group's tasks escalate to (parent group's manager, "
                                          "then the first administrator, when it has none)"),
                           labels={"group": _l("Group")})
