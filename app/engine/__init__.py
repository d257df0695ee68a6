"""The process engine: the only package of the app that imports SpiffWorkflow.

Pure core (no Flask): xml, parser, expressions, validation, serialization, runtime,
operations.  Persistence and services (Flask-SQLAlchemy): models, services.
See README.md in this folder for the public functions and measured numbers.
"""


def init_app(app) -> None:
    """Register the engine with the Flask app: models, timer job, notify operation, CLI."""
    import click

    from . import models, services  # noqa: F401  (models for migrations; services: job handler)
    from .product_operations import register_product_operations

    register_product_operations()

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
        click.echo(f"deployed {definition.key} version {definition.version}")
