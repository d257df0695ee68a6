"""Navigation entries. Each module adds its own when it registers its pages.

The base layout shows the entries whose endpoint exists and whose roles the user has, in
``order``; so a module's link appears exactly when the module is installed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import Flask


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # a lazy_gettext string
    order: int
    roles: tuple[str, ...] = field(default=())  # empty: every logged-in user
    badge: str | None = None  # id of a live counter (e.g. the inbox count)
    # "main" entries stand in the bar; "manage" ones (designers' and admins' tools) share a menu.
    menu: str = "main"
    # A finer check than roles, e.g. "manages a group"; called with the user.
    visible: Callable[[object], bool] | None = None


def add_nav_item(app: Flask, item: NavItem) -> None:
    items = app.extensions.setdefault("crm_nav", [])
    items.append(item)
    items.sort(key=lambda i: i.order)


def nav_items_for(app: Flask, user) -> list[NavItem]:
    visible = []
    for item in app.extensions.get("crm_nav", []):
        if item.endpoint not in app.view_functions:
            continue
        if item.roles and not user.has_role(*item.roles):
            continue
        if item.visible is not None and not item.visible(user):
            continue
        visible.append(item)
    return visible
