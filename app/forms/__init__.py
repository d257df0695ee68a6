"""Forms: versioned form-js definitions, embedded CRM fields, server-side validation, and the
embedded processes (CRM action → process + form)."""


def init_app(app):
    from app.cli import add_demo_step
    from app.events import subscribe
    from app.forms import api, bindings, services, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    views.add_record_panel(app)
    add_demo_step(app, 20, services.load_shipped_forms, shipped_approvals=True)
    # After the engine deployed the shipped processes (50).
    add_demo_step(app, 60, bindings.bind_shipped_processes, shipped_approvals=True)
    add_demo_step(app, 61, bindings.demo_report)
    # After the automation rules (50), so a process starts from the record as the rules left it.
    subscribe(app, bindings.on_record_event, order=100)
