"""Cells of the product's CSV exports, which people open in Excel or WPS."""
from __future__ import annotations

# A leading tab or carriage return too: some spreadsheets drop it and read what follows (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value):
    """Text a spreadsheet would run as a formula (formula injection) gets a leading quote, so it
    shows as the text it is; other values pass unchanged."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value
