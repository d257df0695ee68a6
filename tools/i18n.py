"""Keep the translation catalogs in step with the code.

``python tools/i18n.py update`` extracts every marked string, updates the zh_CN and en
catalogs, and fills the English catalog (the source language) with the msgids themselves,
so both catalogs are complete. ``compile`` writes the .mo files. ``check`` lists strings that lack a translation
(or are fuzzy) and exits 1 when there are any; the test suite runs it.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"
LOCALES = ("zh_Hans_CN", "en")  # babel reads "zh_CN" as zh_Hans_CN


def extract(pot: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
         "-k", "_l", "--no-location", "--sort-output", "-o", str(pot), str(ROOT / "app")],
        check=True, capture_output=True, cwd=ROOT,
    )


def catalog_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def update() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        extract(pot)
        with pot.open("rb") as fh:
            template = read_po(fh)
    for locale in LOCALES:
        path = catalog_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
        else:
            from babel.messages.catalog import Catalog

            catalog = Catalog(locale=locale, project="crm")
        catalog.update(template, no_fuzzy_matching=True)
        if locale == "en":
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
        catalog.obsolete.clear()
        with path.open("wb") as fh:
            write_po(fh, catalog, width=0, omit_header=False, sort_output=True, no_location=True)


def missing() -> dict[str, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        extract(pot)
        with pot.open("rb") as fh:
            template = read_po(fh)
    problems: dict[str, list[str]] = {}
    for locale in LOCALES:
        path = catalog_path(locale)
        catalog = read_po(path.open("rb"), locale=locale) if path.exists() else None
        lacking = []
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id, message.context) if catalog else None
            strings = found.string if found else None
            empty = not strings or (isinstance(strings, tuple) and not all(strings))
            if found is None or empty or found.fuzzy:
                lacking.append(message.id if isinstance(message.id, str) else message.id[0])
        if lacking:
            problems[locale] = lacking
    return problems


def compile_catalogs() -> None:
    """Write the .mo files the app reads (they are build output, not committed)."""
    from babel.messages.mofile import write_mo

    for locale in LOCALES:
        path = catalog_path(locale)
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        with path.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "compile":
        compile_catalogs()
    elif command == "update":
        update()
        problems = missing()
        for locale, ids in problems.items():
            print(f"{locale}: {len(ids)} untranslated")
    else:
        problems = missing()
        for locale, ids in problems.items():
            print(f"{locale}: {len(ids)} untranslated:")
            for msgid in ids:
                print(f"  {msgid}")
        sys.exit(1 if problems else 0)
