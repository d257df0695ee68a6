"""The approver's inbox, task actions, out-of-office, tracking and the operator console."""


def init_app(app):
    from flask_babel import lazy_gettext as _l

    from app.ui.dashboard import add_home_sections
    from app.ui.live import add_live_counter
    from app.ui.nav import NavItem, add_nav_item

    from . import api, hooks, models, services, views  # noqa: F401  (models: migrations; hooks: job handler)

    hooks.install()
    from app.engine.services import add_instance_reader

    add_instance_reader(services.can_view_instance)  # the API's instances as the pages show them
    from app.auth.services import user_deactivated, user_left_groups

    user_deactivated.connect(services.release_tasks_of_leaver)  # once, however many apps are made
    user_left_groups.connect(services.release_tasks_of_groups_left)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    add_nav_item(app, NavItem("inbox.index", _l("Inbox"), 10, badge="inbox"))
    add_nav_item(app, NavItem("inbox.my_submissions", _l("My submissions"), 12))
    add_nav_item(app, NavItem("inbox.operator", _l("Process console"), 90, roles=("admin",), menu="manage"))
    add_live_counter(app, "inbox", services.open_task_count)
    add_home_sections(app, views.home_sections, order=10)
    add_home_sections(app, views.process_error_sections, order=85)  # "System", after failed rule runs
