"""The company's clock: rows store UTC; "today", day boundaries and the wall time people type
are the company's, in ``BABEL_DEFAULT_TIMEZONE`` (Asia/Shanghai unless configured).

Between 00:00 and 08:00 in Shanghai the UTC date is still yesterday, so nothing that means a
business day may use ``date.today()`` or the UTC date.
"""
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from flask_babel import format_datetime

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


def datetimeformat(value: datetime | str, format: str = "medium") -> str:
    """A time as people read it, on the company's clock (the pages' ``datetimeformat`` filter):
    Flask-Babel's, except that 'short' is 2026-12-04 01:35 in both languages, as record pages
    and date fields write it (English's own 12/4/26 left the year to guess, month first;
    Chinese 2026/12/4 sat beside 2026-12-13 on one page). ``value`` may be an ISO 8601 text
    with its offset (what services hand to both the API and the pages)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if format == "short":
        format = "yyyy-MM-dd HH:mm"
    return format_datetime(value, format)
