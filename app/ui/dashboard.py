"""The home page's figures (工作台): what needs doing, at a glance.

Each module adds the sections whose data it owns when it registers its pages, as it adds its
navigation entries: the UI shell imports no module, and a section appears exactly when its
module is installed. A loader computes its sections' figures with the module's own queries and
visibility rules, and returns no section for a user it has nothing to say to.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from flask import Flask, current_app


@dataclass(frozen=True)
class Figure:
    label: object  # a (lazy) translated string
    value: object  # a count, or an amount already formatted
    url: str  # the list that shows what the figure counts
    note: object | None = None  # a second line: a stage's amount, "overdue included"
    alert: bool = False  # something waits for the user (overdue, rejected, failed): shown in red


@dataclass(frozen=True)
class Section:
    key: str  # the page's element id; modules adding to one section use the same key
    title: object
    figures: list[Figure]


@dataclass(frozen=True)
class _Loader:
    load: Callable[[object], list[Section]]
    order: int


def add_home_sections(app: Flask, load: Callable[[object], list[Section]], order: int) -> None:
    """Show the sections ``load(user)`` returns on the home page, loaders in ``order``."""
    loaders = app.extensions.setdefault("crm_home_sections", [])
    loaders.append(_Loader(load, order))
    loaders.sort(key=lambda loader: loader.order)


def home_sections(user) -> list[Section]:
    """The sections ``user`` has figures in, in order. Sections of several modules with the
    same key are one (the administrator's jobs and failed rule runs: "System")."""
    sections: dict[str, Section] = {}
    for loader in current_app.extensions.get("crm_home_sections", []):
        for section in loader.load(user):
            known = sections.get(section.key)
            sections[section.key] = replace(known, figures=known.figures + section.figures) if known else section
    return list(sections.values())
