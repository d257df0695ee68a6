"""Automation rules: event + condition + actions on CRM records (DOMAIN.md, issue 4).

``init_app`` subscribes the rule dispatcher to record events, registers the worker's jobs
(webhook deliveries, the time-event scan), the API and the editor pages.
"""


def init_app(app) -> None:
    from app.automation import api, demo, execution, jobs, views  # noqa: F401 - jobs registers handlers
    from app.automation.services import todos_follow_owner
    from app.cli import add_demo_step
    from app.events import subscribe

    execution.init_app(app)
    subscribe(app, todos_follow_owner, order=60)  # after the rules: a round robin's owner change too
    app.register_blueprint(api.bp)
    views.init_app(app)
    # After the CRM's demo records (20): the rules act on what is added from then on.
    add_demo_step(app, 50, demo.seed)
