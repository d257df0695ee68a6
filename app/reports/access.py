"""Who may see which report: admins and designers everything; a manager (the manager of at
least one group) the people report of the groups they manage; nobody else any report."""
from __future__ import annotations

from . import services

FULL = ("admin", "designer")
NAV_ROLES = ("admin", "designer", "approver")  # approvers see the entry; only managers get in


def people_scope(user) -> list[str] | None:
    """None = every group; else the groups the user manages (empty: no access)."""
    return None if services.can_see_everything(user) else services.managed_groups(user)
