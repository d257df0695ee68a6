"""Cells of the product's CSV exports, which people open in Excel or WPS."""
from __future__ import annotations

import re

# A leading tab or carriage return too: some spreadsheets drop it and read what follows (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Twelve digits and more Excel turns into a number shown as 9.13502E+17, and keeps 15 of them:
# an all-digit credit code (914403001922038216) saved back lost its last three.
_LONG_DIGITS = re.compile(r"\d{12,}")


def formula_safe(value):
    """Text a spreadsheet would run as a formula (formula injection), or read as a long number,
    gets a leading quote, so it shows as the text it is; other values pass unchanged."""
    if isinstance(value, str) and (value[:1] in FORMULA_STARTS or _LONG_DIGITS.fullmatch(value)):
        return "'" + value
    return value


def as_exported(cell: str) -> str:
    """A cell of an exported file read back: without the quote :func:`formula_safe` added."""
    if cell[:1] == "'" and (cell[1:2] in FORMULA_STARTS or _LONG_DIGITS.fullmatch(cell[1:])):
        return cell[1:]
    return cell
