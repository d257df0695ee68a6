import signal

import click
from flask import Flask


def init_app(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option("--poll", default=0.25, show_default=True, help="Seconds between polls when idle.")
    @click.option("--batch", default=20, show_default=True, help="Jobs claimed per round.")
    def worker_command(poll, batch):
        """Run background jobs: timers, outbox deliveries, periodic scans."""
        from app.jobs.services import run_worker

        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        run_worker(poll_seconds=poll, batch=batch, stop=lambda: bool(stopping))
