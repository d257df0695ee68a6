"""API: tokens (API.md "Auth"), the caller, and the user/group directory."""
from apiflask import APIBlueprint
from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.access import admin_required, login_required, public
from app.api.errors import ApiError
from app.api.frame import page_of
from app.api.versions import etag, expected_version, refuse_stale
from app.auth import services
from app.auth.models import Group, User
from app.auth.schemas import (DirectoryQuery, GroupIn, GroupOut, GroupPatch, TokenIn, TokenOut, UserIn, UserOut,
                              UserPatch)

bp = APIBlueprint("auth_api", __name__, url_prefix="/api/v1", tag="Auth and directory")


@bp.post("/tokens")
@public
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut, status_code=201)
@bp.doc(summary="Log in and get a bearer token", responses=[400, 401, 429])
def create_token(body):
    try:
        user = services.authenticate(body["username"], body["password"], request.remote_addr or "")
    except services.LoginRefused as refused:
        if refused.locked:
            raise ApiError(429, "too_many_requests", refused.message, headers={"Retry-After": str(refused.retry_after)})
        raise ApiError(401, "invalid_credentials", refused.message)
    raw, token = services.issue_token(user)
    return {"token": raw, "expires_at": token.expires_at}


@bp.delete("/tokens/current")
@login_required
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke the token used for this call")
def revoke_current_token():
    from flask import g

    token = getattr(g, "api_token", None)
    if token is None:
        raise ApiError(400, "invalid_input", "This call must be made with a bearer token.")
    services.revoke_token(token, current_user)
    return ""


@bp.get("/session/csrf-token")
@login_required
@bp.doc(summary="A CSRF token for this browser session (the UI's editors, after signing in again elsewhere)",
        hide=True)
def session_csrf_token():
    from flask_wtf.csrf import generate_csrf

    return {"csrf_token": generate_csrf()}


@bp.get("/me")
@login_required
@bp.output(UserOut)
@bp.doc(summary="The calling user")
def me():
    return current_user


@bp.get("/users")
@login_required
@bp.input(DirectoryQuery, location="query", arg_name="query")
@bp.doc(summary="Users (for pickers: search with q)")
def list_users(query):
    stmt = select(User).options(selectinload(User.roles), selectinload(User.groups)).order_by(User.username)
    if query["q"]:
        like = f"%{query['q']}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    if query["active"] is not None:
        stmt = stmt.where(User.active.is_(query["active"]))
    return page_of(stmt, query["page"], query["per_page"], serialize=UserOut().dump)


@bp.post("/users")
@admin_required
@bp.input(UserIn, arg_name="body")
@bp.output(UserOut, status_code=201)
def create_user(body):
    return services.create_user(actor=current_user, **body)


def _user_or_404(username: str) -> User:
    user = services.get_user(username)
    if user is None:
        raise ApiError(404, "not_found", _("No user %(name)s.", name=username))
    return user


@bp.get("/users/<username>")
@login_required
@bp.output(UserOut)
def get_user(username):
    user = _user_or_404(username)
    return user, etag(user)


def _check_version(obj, body):
    """The ``version`` in the body and/or ``If-Match``, as on every record."""
    refuse_stale(obj, expected_version(body.pop("version", None)))


@bp.patch("/users/<username>")
@admin_required
@bp.input(UserPatch, arg_name="body")
@bp.output(UserOut)
def update_user(username, body):
    user = _user_or_404(username)
    _check_version(user, body)
    user = services.update_user(user, actor=current_user, **body)
    return user, etag(user)


@bp.get("/groups")
@login_required
@bp.input(DirectoryQuery, location="query", arg_name="query")
@bp.doc(summary="Groups and departments (for pickers: search with q)")
def list_groups(query):
    stmt = select(Group).options(selectinload(Group.members)).order_by(Group.name)
    if query["q"]:
        like = f"%{query['q']}%"
        stmt = stmt.where(or_(Group.name.ilike(like), Group.display_name.ilike(like)))
    return page_of(stmt, query["page"], query["per_page"], serialize=GroupOut().dump)


@bp.post("/groups")
@admin_required
@bp.input(GroupIn, arg_name="body")
@bp.output(GroupOut, status_code=201)
def create_group(body):
    return services.create_group(actor=current_user, **body)


def _group_or_404(name: str) -> Group:
    group = services.get_group(name)
    if group is None:
        raise ApiError(404, "not_found", _("No group %(name)s.", name=name))
    return group


@bp.get("/groups/<name>")
@login_required
@bp.output(GroupOut)
def get_group(name):
    group = _group_or_404(name)
    return group, etag(group)


@bp.patch("/groups/<name>")
@admin_required
@bp.input(GroupPatch, arg_name="body")
@bp.output(GroupOut)
def update_group(name, body):
    group = _group_or_404(name)
    _check_version(group, body)
    group = services.update_group(group, actor=current_user, **body)
    return group, etag(group)
