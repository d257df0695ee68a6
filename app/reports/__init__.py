"""Workflow and automation efficiency reports (issue 10): services, API, pages."""


def init_app(app) -> None:
    from . import api, models, sql, views  # noqa: F401 - models: the migration and schema test need them

    sql.register_sqlite_functions()

    app.register_blueprint(api.bp)
    views.init_app(app)
