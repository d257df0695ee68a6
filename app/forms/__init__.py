"""Forms: versioned form-js definitions, embedded CRM fields, server-side validation."""


def init_app(app):
    from app.cli import add_demo_step
    from app.forms import api, services, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    add_demo_step(app, 20, services.load_shipped_forms)
