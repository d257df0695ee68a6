"""Who may see which report: admins and designers everything; a manager (the manager of at
least one group) the people report of the groups they manage; sales and their managers the
sales report of the records they see (``sales.can_see_sales``)."""
from __future__ import annotations

from . import services

FULL = ("admin", "designer")
# Approvers see the entry when they manage a group; sales for their sales report.
NAV_ROLES = ("admin", "designer", "approver", "sales")


def people_scope(user) -> list[str] | None:
    """None = every group; else the groups the user manages (empty: no access)."""
    return None if services.can_see_everything(user) else services.managed_groups(user)
