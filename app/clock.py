"""The company's clock: rows store UTC; "today", day boundaries and the wall time people type
are the company's, in ``BABEL_DEFAULT_TIMEZONE`` (Asia/Shanghai unless configured).

Between 00:00 and 08:00 in Shanghai the UTC date is still yesterday, so nothing that means a
business day may use ``date.today()`` or the UTC date.
"""
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Asia/Shanghai"


def company_zone() -> ZoneInfo:
    # Outside an app (pure field checks, scripts) there is no configuration: the default applies.
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE", DEFAULT_ZONE) if has_app_context() else DEFAULT_ZONE
    return ZoneInfo(name)


def company_today() -> date:
    return datetime.now(timezone.utc).astimezone(company_zone()).date()


def day_start(day: date) -> datetime:
    """The UTC instant a company day begins (a filter "from day X" means the company's day X)."""
    return datetime.combine(day, time.min, tzinfo=company_zone()).astimezone(timezone.utc)
