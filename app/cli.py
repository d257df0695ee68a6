"""Command-line entry points: ``flask demo``, ``flask install-approvals`` and ``flask create-admin``.

Modules add their own demo data with ``add_demo_step``; ``flask demo`` runs the people
first and then every step in order. Each step must be idempotent.
"""
from __future__ import annotations

from typing import Callable

import click
from flask import Flask, current_app
from flask_babel import gettext as _

from app.auth import services
from app.extensions import db

DEMO_PASSWORD = "demo1234"

# username, display name, roles, groups
DEMO_USERS = [
    ("admin", "系统管理员 Admin", ("admin", "designer"), ()),
    ("sales1", "销售一 Sales One", ("sales",), ("sales",)),
    ("sales2", "销售二 Sales Two", ("sales",), ("sales",)),
    ("fj_head", "福建大区负责人 Fujian Head", ("approver",), ("fujian-heads",)),
    ("med_reviewer", "医疗行业审核 Medical Reviewer", ("approver",), ("medical-reviewers",)),
    ("manager", "销售经理 Sales Manager", ("approver",), ("sales-managers",)),
]

# name, display name, manager
DEMO_GROUPS = [
    ("sales", "销售部 Sales department", "manager"),
    ("fujian-heads", "福建大区 Fujian division heads", "manager"),
    ("medical-reviewers", "医疗行业审核 Medical reviewers", "manager"),
    ("sales-managers", "销售经理 Sales managers", "admin"),
]


# The groups the shipped approvals route to (bpmn/): a company installing them gets them empty.
SHIPPED_GROUPS = [(name, display) for name, display, _manager in DEMO_GROUPS if name != "sales"]


def add_demo_step(app: Flask, order: int, step: Callable[[], None], shipped_approvals: bool = False) -> None:
    """``shipped_approvals``: the step is also part of ``flask install-approvals`` (the shipped
    forms, processes and their bindings, without demo people or records)."""
    for registry in ("crm_demo_steps",) + (("crm_approval_steps",) if shipped_approvals else ()):
        steps = app.extensions.setdefault(registry, [])
        steps.append((order, step))
        steps.sort(key=lambda s: s[0])


def seed_people() -> None:
    for name, display, _manager in DEMO_GROUPS:
        if services.get_group(name) is None:
            services.create_group(name=name, display_name=display)
    for username, display, roles, groups in DEMO_USERS:
        if services.get_user(username) is None:
            services.create_user(username=username, password=DEMO_PASSWORD, display_name=display,
                                 roles=roles, groups=groups)
    for name, _display, manager in DEMO_GROUPS:
        group = services.get_group(name)
        if group.manager is None:
            services.update_group(group, actor=None, manager=manager)


def run_demo() -> None:
    seed_people()
    for _order, step in current_app.extensions.get("crm_demo_steps", []):
        step()
    db.session.commit()


def _migrated() -> None:
    """Refuse plainly on a database without the product's tables: create-admin on a freshly made
    PostgreSQL database ended in an 88-line traceback about relation "users"."""
    from sqlalchemy import inspect

    if not inspect(db.engine).has_table("users"):
        raise click.ClickException(_("The database has no tables yet: run “flask db upgrade” first (with the same "
                                     "DATABASE_URL)."))


def init_app(app: Flask) -> None:
    @app.cli.command("demo")
    def demo_command():
        """Create the demo users, groups, processes, forms and rules (idempotent)."""
        run_demo()
        click.echo("Demo data ready. Logins (password %s): %s" % (
            DEMO_PASSWORD, ", ".join(u[0] for u in DEMO_USERS)))

    @app.cli.command("install-approvals")
    def install_approvals_command():
        """Install the shipped customer report (客户报备) and contract approval (合同审批) on a
        company's own data: their forms, processes, bindings and (empty) approver groups."""
        _migrated()
        made = []
        for name, display in SHIPPED_GROUPS:
            if services.get_group(name) is None:
                services.create_group(name=name, display_name=display)
                made.append(name)
        for _order, step in current_app.extensions.get("crm_approval_steps", []):
            step()
        db.session.commit()
        click.echo(_("The customer report and the contract approval are installed: a new customer or contract goes "
                     "to approval."))
        empty = [name for name, _display in SHIPPED_GROUPS if not services.get_group(name).members]
        unmanaged = [name for name, _display in SHIPPED_GROUPS if services.get_group(name).manager is None]
        if unmanaged:  # else a late report's escalation and a large contract's 总经理审批 reach the IT administrator
            click.echo(_("Give these groups their manager (who approves above them and gets their late tasks; without "
                         "one, the first administrator does): %(groups)s.", groups=_(", ").join(unmanaged)))
        if empty:
            click.echo(_("Their approvers are the members of these groups, which have nobody yet: %(groups)s. Add "
                         "people to them (System administration → Groups and departments); until then their tasks wait, counted on the "
                         "administrator's home page.", groups=_(", ").join(empty)))

    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password", help="The password (asked for when not given).")
    def create_admin(username, password):
        """Create an administrator (for a fresh production install)."""
        from app.api.errors import ApiError

        _migrated()
        if password is None:  # asked in the company's language, as its refusals are written
            password = click.prompt(_("Password"), hide_input=True,
                                    confirmation_prompt=_("Repeat the password"))
        try:
            services.create_user(username=username, password=password, roles=("admin", "designer"))
        except ApiError as refused:  # a weak password, a name taken: said plainly, exit status 1
            db.session.rollback()
            # Bad input: what is wrong with each field; otherwise the refusal says it whole
            # ("用户 itadmin 已存在。 该名称已被占用。" said it twice).
            problems = [d["message"] for d in refused.details] if refused.code == "invalid_input" else []
            problems = problems or [refused.message]
            raise click.ClickException(" ".join(dict.fromkeys(problems))) from None
        # In the language its refusals are written in (the company's default), not English alone.
        click.echo(_("Administrator %(name)s created.", name=username))
        from app.crm.demo import STAGES, seed_stages
        from app.crm.services import stages

        if not stages():  # a fresh install: opportunities need a pipeline to start in
            seed_stages()
            click.echo(_("The pipeline had no stages: added %(stages)s (change them on the pipeline page: Configure "
                         "stages).", stages=_(", ").join(name for _key, name, _req in STAGES)))
