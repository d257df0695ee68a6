"""Automation rules: event + condition + actions on CRM records (DOMAIN.md, issue 4).

``init_app`` subscribes the rule dispatcher to record events, registers the worker's jobs
(webhook deliveries, the time-event scan), the API and the editor pages.
"""


def init_app(app) -> None:
    from app.automation import api, execution, jobs, views  # noqa: F401 - jobs registers handlers

    execution.init_app(app)
    app.register_blueprint(api.bp)
    views.init_app(app)
