"""The process engine: the only package of the app that imports SpiffWorkflow.

Pure core (no Flask): xml, parser, expressions, validation, serialization, runtime,
operations.  Persistence and services (Flask-SQLAlchemy): models, services.
See README.md in this folder for the public functions and measured numbers.
"""


def init_app(app) -> None:
    """Register the engine with the Flask app: models, timer job, notify operation, CLI."""
    import click

    from . import models, services  # noqa: F401  (models for migrations; services: job handler)
    from .api import bp
    from .product_operations import register_product_operations

    register_product_operations()
    app.register_blueprint(bp)
    _add_demo_step(app)

    @app.cli.group("process")
    def process_cli():
        """Deploy and inspect BPMN processes."""

    @process_cli.command("deploy")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def deploy_command(path):
        """Deploy a BPMN file as a new version of its process."""
        from .xml import DiagramError
        with open(path, "rb") as fh:
            xml = fh.read()
        try:
            definition = services.deploy(xml)
        except DiagramError as exc:
            for p in exc.problems:
                click.echo(f"{p['element_id'] or '-'}: {p['message']}", err=True)
            raise SystemExit(1)
        click.echo(f"deployed {definition.key} version {definition.version}" if definition.deployed_now else
                   f"{definition.key} version {definition.version} is this diagram already: nothing deployed")

    @process_cli.command("list")
    def list_command():
        """List deployed processes and their versions (* = current)."""
        for d in services.list_definitions():
            click.echo(f"{'*' if d.is_current else ' '} {d.key} v{d.version}  {d.name}  {d.deployed_at:%Y-%m-%d %H:%M}")

    @process_cli.command("rollback")
    @click.argument("key")
    @click.argument("version", type=int)
    def rollback_command(key, version):
        """Make VERSION of KEY current again; running instances keep their version."""
        try:
            services.make_current(key, version)
        except services.NotFound as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{key} version {version} is current")


def _add_demo_step(app) -> None:
    """``flask demo`` and ``flask install-approvals`` deploy the shipped diagrams from ``bpmn/`` (once
    per XML version)."""
    from pathlib import Path

    from app.cli import add_demo_step

    def deploy_shipped():
        import logging

        from sqlalchemy import select

        from app.extensions import db

        from . import services
        from .models import ProcessDefinition
        from .serialization import spec_hash
        from .xml import DiagramError

        folder = Path(app.root_path).parent / "bpmn"
        for path in sorted(folder.glob("*.bpmn")):
            xml = path.read_bytes()
            if db.session.scalar(select(ProcessDefinition.id).where(
                    ProcessDefinition.spec_hash == spec_hash(xml.decode("utf-8")))) is not None:
                continue
            try:
                services.deploy(xml, commit=False)
            except DiagramError as exc:  # e.g. the CRM operations are not registered
                logging.getLogger(__name__).warning("%s not deployed: %s", path.name, exc)

    add_demo_step(app, 50, deploy_shipped, shipped_approvals=True)
