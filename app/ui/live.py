"""Live counters for navigation badges (inbox, messages), polled by the base layout's JS."""
from __future__ import annotations

from typing import Callable

from apiflask import APIBlueprint
from flask import Flask, current_app
from flask_login import current_user

from app.access import login_required

bp = APIBlueprint("live_api", __name__, url_prefix="/api/v1", tag="UI")


def add_live_counter(app: Flask, name: str, count: Callable) -> None:
    app.extensions.setdefault("crm_live_counters", {})[name] = count


@bp.get("/live-counts")
@login_required
@bp.doc(summary="Badge counts for the navigation (e.g. open tasks, unread messages)")
def live_counts():
    counters = current_app.extensions.get("crm_live_counters", {})
    return {name: count(current_user) for name, count in counters.items()}
