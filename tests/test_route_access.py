"""Every route declares who may call it (app/access.py)."""
from app.access import LIBRARY_PUBLIC_ENDPOINTS


def test_every_route_declares_its_access(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in LIBRARY_PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "access", None):
            undeclared.append(f"{rule.rule} ({rule.endpoint})")
    assert not undeclared, "routes without an access declaration: " + ", ".join(undeclared)


def test_public_routes_are_few_and_known(app):
    public = sorted(
        rule.endpoint for rule in app.url_map.iter_rules()
        if rule.endpoint not in LIBRARY_PUBLIC_ENDPOINTS
        and app.view_functions[rule.endpoint].access == ("public",)
    )
    assert public == ["auth.login", "auth_api.create_token", "ui.healthz", "ui.set_language"]
