"""Users, groups, login throttling and API tokens: the functions routes and tests call."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from blinker import Namespace
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import bindparam, func, or_, select, text
from werkzeug.security import check_password_hash, generate_password_hash

from marshmallow import ValidationError
from marshmallow.validate import Email as EmailAddress

from app.api.errors import ApiError
from app.audit import audit, label_audit_events, label_audit_values
from app.database import is_postgresql
from app.auth.models import ROLES, ApiToken, Group, LoginAttempt, LoginSession, User, UserRole, group_members
from app.db import MAX_ID, delete_in_batches, transaction_memo, utcnow
from app.extensions import db
from app.jobs import periodic

MIN_PASSWORD_LENGTH = 8
# Passwords tried first by anyone guessing (they head every leaked-password list), compared
# without case; a name followed by digits (sales1234) counts as the name.
COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "passw0rd", "12345678", "123456789", "1234567890", "11111111",
    "88888888", "66666666", "00000000", "12341234", "qwertyui", "qwerty123", "1qaz2wsx", "abc12345", "abcd1234",
    "a1234567", "iloveyou", "admin123", "administrator", "welcome1", "letmein1", "changeme", "woaini1314",
    "5201314520", "aa123456", "asdfghjk", "zxcvbnm1", "p@ssw0rd"})

# A hash to compare against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class LoginRefused(Exception):
    """Wrong credentials (``locked`` False), a deactivated account's right password
    (``deactivated``), or throttled (``locked`` True, ``retry_after`` s; ``network``: because of
    the failures from the caller's address, not the account's)."""

    def __init__(self, locked: bool = False, retry_after: int = 0, network: bool = False,
                 deactivated: bool = False):
        super().__init__("locked" if locked else "invalid credentials")
        self.locked = locked
        self.retry_after = retry_after
        self.network = network
        self.deactivated = deactivated  # said only to whoever knows the password

    @property
    def message(self) -> str:
        if self.deactivated:
            return _("This account has been deactivated. Ask an administrator if you still need it.")
        if not self.locked:
            return _("Wrong username or password.")
        minutes = max(1, (self.retry_after + 59) // 60)
        if self.network:  # someone else's failures from the same address: say so, not "you failed"
            return ngettext("Too many failed logins from your network. Try again in %(num)d minute.",
                            "Too many failed logins from your network. Try again in %(num)d minutes.", minutes)
        return ngettext("Too many failed attempts for this account. Try again in %(num)d minute.",
                        "Too many failed attempts for this account. Try again in %(num)d minutes.", minutes)


# --- passwords -------------------------------------------------------------------------

def password_problems(password: str, username: str = "") -> list[str]:

    problems = []
    if len(password or "") < MIN_PASSWORD_LENGTH:
        problems.append(_("Password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    if username and password and password.lower().rstrip("0123456789") == username.lower().rstrip("0123456789"):
        problems.append(_("Password must not be the username."))
    elif password and password.lower() in COMMON_PASSWORDS:
        problems.append(_("This password is among the first anyone guessing tries; choose another."))
    if password and password.isdigit():
        problems.append(_("Password must not be only digits."))
    return problems


def set_password(user: User, password: str) -> None:
    problems = password_problems(password, user.username)
    if problems:
        raise ApiError(400, "invalid_input", problems[0], [{"field": "password", "message": p} for p in problems])
    user.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    if user.id is not None:  # every session opened under the old password ends (a new one may follow)
        db.session.execute(LoginSession.__table__.delete().where(LoginSession.user_id == user.id))


# --- browser sessions ------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_login_session(user: User) -> None:
    """A login's session on the server; ``user.get_id()`` names it from now on (the cookie)."""
    user.login_token = secrets.token_urlsafe(24)
    db.session.add(LoginSession(user_id=user.id, token_hash=_token_hash(user.login_token)))


def end_login_session(user: User) -> None:
    """The logout: this browser's session (and its remember-me cookie) no longer opens, wherever
    a copy of its cookie is."""
    if user.login_token:
        db.session.execute(LoginSession.__table__.delete().where(
            LoginSession.token_hash == _token_hash(user.login_token)))


_SESSION_USER = (select(User).join(LoginSession, LoginSession.user_id == User.id)
                 .where(User.id == bindparam("user_id"), LoginSession.token_hash == bindparam("token_hash")))


def user_of_session(session_id: str) -> User | None:
    """The active user a session cookie names, while its login lasts (not logged out, same
    password), else None (flask-login's user loader)."""
    user_id, key, token = (session_id.split(":") + ["", ""])[:3]
    if not user_id.isdigit() or int(user_id) > MAX_ID or not token:
        return None
    user = db.session.scalar(_SESSION_USER, {"user_id": int(user_id), "token_hash": _token_hash(token)})
    if user is None or not user.active or not hmac.compare_digest(user.session_key, key):
        return None  # logged out, deactivated, or the password changed since this session began
    user.login_token = token
    return user


@periodic("auth.prune_sessions", every_seconds=24 * 3600, label=_l("Old sessions clean-up"))
def prune_login_sessions_job(job) -> None:
    """Once a day: sessions opened longer ago than a remember-me cookie lasts, which no cookie
    can still name (most end by a closed browser, never by a logout)."""
    lasts = current_app.config.get("REMEMBER_COOKIE_DURATION") or timedelta(days=365)
    delete_in_batches(LoginSession, LoginSession.created_at < utcnow() - lasts)


# --- login and throttling --------------------------------------------------------------

def _lock_remaining(username: str, ip: str) -> tuple[int, bool]:
    """Seconds until ``username`` (or ``ip``) may try again, 0 when not locked; and whether the
    address's failures are what holds it. ``ip`` empty: the account as an administrator sees it,
    locked from some address or from all.

    A few failures lock the account for the address they came from, many from all addresses
    together: five wrong passwords sent by anyone locked the administrator out everywhere."""
    cfg = current_app.config
    now = utcnow()
    window_start = now - timedelta(seconds=cfg["LOGIN_LOCKOUT_SECONDS"])
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.username == username, LoginAttempt.success.is_(True))
    )
    since = max(window_start, last_success) if last_success else window_start
    per_address = db.session.execute(
        select(LoginAttempt.ip, func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(False), LoginAttempt.at > since
        ).group_by(LoginAttempt.ip)
    ).all()
    held_until = [last for address, count, last in per_address
                  if count >= cfg["LOGIN_MAX_FAILURES"] and (address == ip or not ip)]
    if sum(count for _address, count, _last in per_address) >= cfg["LOGIN_ACCOUNT_MAX_FAILURES"]:
        held_until.append(max(last for _address, _count, last in per_address))
    remaining, network = 0, False
    if held_until:
        remaining = int((max(held_until) + timedelta(seconds=cfg["LOGIN_LOCKOUT_SECONDS"]) - now).total_seconds()) + 1
    if ip:
        ip_failures = db.session.execute(
            select(func.count(), func.max(LoginAttempt.at)).where(
                LoginAttempt.ip == ip, LoginAttempt.success.is_(False), LoginAttempt.at > window_start
            )
        ).one()
        if ip_failures[0] >= cfg["LOGIN_IP_MAX_FAILURES"]:
            ip_remaining = int((ip_failures[1] + timedelta(seconds=cfg["LOGIN_LOCKOUT_SECONDS"]) - now).total_seconds()) + 1
            network = ip_remaining > remaining
            remaining = max(remaining, ip_remaining)
    return max(remaining, 0), network


label_audit_events({"login.success": _l("Signed in"), "login.failure": _l("Failed login"),
                    "login.locked": _l("Sign-in refused: locked after failures"),
                    "user.unlocked": _l("Sign-in lock lifted")})


def account_lock_remaining(user: User) -> int:
    """Seconds until ``user`` may sign in again after too many failures (0: not locked)."""
    return _lock_remaining(user.username, "")[0]


def unlock(user: User, actor: User | None) -> None:
    """Lift the lock after failed sign-ins (the person called the helpdesk). Written as a
    successful attempt: the lock counts the failures since the last one."""
    db.session.add(LoginAttempt(username=user.username, ip="", success=True))
    audit("user.unlocked", actor=actor, target=user.username)


def authenticate(username: str, password: str, ip: str = "") -> User:
    """The active user with these credentials, or LoginRefused. Records the attempt."""
    username = (username or "").strip()[:80]
    if is_postgresql():
        # One attempt at a time per name, until this one is written: twenty wrong passwords sent
        # at once all read "0 failures so far" and got eight guesses instead of five.
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"login:{username}"})
    remaining, network = _lock_remaining(username, ip)
    if remaining:
        audit("login.locked", actor_name=username, target=username, by="network" if network else "account")
        db.session.commit()
        raise LoginRefused(locked=True, retry_after=remaining, network=network)
    user = db.session.scalar(select(User).where(User.username == username))
    right_password = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    ok = right_password and user is not None and user.active
    db.session.add(LoginAttempt(username=username, ip=ip or "", success=ok))
    audit("login.success" if ok else "login.failure", actor=user if ok else None, actor_name=username, target=username)
    db.session.commit()
    if not ok:
        raise LoginRefused(deactivated=right_password and user is not None)
    return user


label_audit_events({"user.password_changed": _l("Own password changed")})
label_audit_values("password", {"changed": _l("changed")})
label_audit_values("by", {"network": _l("the network address"), "account": _l("the account")})


label_audit_values("via", {"password_change": _l("the password change form")})


def change_own_password(user: User, current: str, new: str, ip: str = "") -> None:
    """A user changes their own password: the current one first. Their other sessions and API
    tokens end with it, as after a reset (the caller starts this session again). A wrong
    current password counts as a failed sign-in (logged, audited, and toward the lock): anyone
    holding a session could otherwise try passwords here without limit."""
    remaining, _network = _lock_remaining(user.username, ip)
    if remaining:
        audit("login.locked", actor=user, actor_name=user.username, target=user.username, by="account",
              via="password_change")
        db.session.commit()  # kept whatever the caller does with the refusal
        minutes = max(1, (remaining + 59) // 60)
        message = ngettext("Too many wrong passwords. Try again in %(num)d minute.",
                           "Too many wrong passwords. Try again in %(num)d minutes.", minutes)
        raise ApiError(429, "locked", message, [{"field": "current", "message": message}],
                       headers={"Retry-After": str(remaining)})
    if not check_password_hash(user.password_hash, current or ""):
        db.session.add(LoginAttempt(username=user.username, ip=ip or "", success=False))
        audit("login.failure", actor=user, actor_name=user.username, target=user.username, via="password_change")
        db.session.commit()  # kept whatever the caller does with the refusal
        message = _("The current password is wrong.")
        raise ApiError(400, "invalid_input", message, [{"field": "current", "message": message}])
    if current == new:
        message = _("Choose a password other than the current one.")
        raise ApiError(400, "invalid_input", message, [{"field": "password", "message": message}])
    set_password(user, new)
    _revoke_tokens(user)
    audit("user.password_changed", actor=user, target=user.username)
    db.session.commit()


# --- API tokens ------------------------------------------------------------------------

def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


label_audit_events({"token.created": _l("API token issued"), "token.revoked": _l("API token revoked")})


def issue_token(user: User) -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=current_app.config["TOKEN_LIFETIME_HOURS"])
    token = ApiToken(user_id=user.id, token_hash=_hash_token(raw), expires_at=utcnow() + lifetime)
    db.session.add(token)
    audit("token.created", actor=user, target=user.username)
    db.session.commit()
    return raw, token


def token_for(raw: str) -> ApiToken | None:
    """The live token for ``raw`` (not expired, not revoked, its user active), or None."""
    if not raw:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(raw)))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now or not token.user.active:
        return None
    # Touch at most once a minute so reads do not turn into writes on every request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        db.session.commit()
    return token


def revoke_token(token: ApiToken, actor: User) -> None:
    token.revoked_at = utcnow()
    audit("token.revoked", actor=actor, target=token.user.username)
    db.session.commit()


# --- users and groups ------------------------------------------------------------------

def _check_roles(roles) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ApiError(400, "invalid_input", _("Unknown role: %(names)s", names=", ".join(unknown)),
                       [{"field": "roles", "message": _("Unknown role: %(names)s", names=r)} for r in unknown])
    return sorted(set(roles))


# Built once: building a statement and its cache key cost more than running it.
_USER_NAMED = select(User).where(User.username == bindparam("username"))


def get_user(username: str) -> User | None:
    return db.session.scalar(_USER_NAMED, {"username": username})


def get_group(name: str) -> Group | None:
    return db.session.scalar(select(Group).where(Group.name == name))


def _groups_named(names) -> list[Group]:
    names = sorted(set(names or []))
    groups = list(db.session.scalars(select(Group).where(Group.name.in_(names)))) if names else []
    missing = sorted(set(names) - {g.name for g in groups})
    if missing:
        raise ApiError(400, "invalid_input", _("Unknown group: %(names)s", names=", ".join(missing)),
                       [{"field": "groups", "message": _("Unknown group: %(names)s", names=n)} for n in missing])
    return groups


def _check_name(name: str, field: str, required: str) -> None:
    """User and group names are listed in diagrams (``candidateGroups="a,b"``) and rules,
    separated by commas or spaces, and name their pages (/admin/users/<name>): no space, comma
    or slash may be part of one, nor ``${`` (a diagram reads it as an expression), nor may it
    be "." or ".." (li/si could sign in, but its page was a 404: never deactivated)."""
    if not name:
        raise ApiError(400, "invalid_input", required, [{"field": field, "message": required}])
    if (any(c.isspace() or c in ",/\\" for c in name) or "${" in name or name in (".", "..")
            or not name.isprintable() or len(name) > 80):
        message = _("Use at most 80 characters, without spaces, commas, slashes or “${”.")
        raise ApiError(400, "invalid_input", message, [{"field": field, "message": message}])


label_audit_events({"user.created": _l("User created"), "user.changed": _l("User changed"),
                    "group.created": _l("Group created"), "group.changed": _l("Group changed")})


def create_user(*, username: str, password: str, actor: User | None = None, display_name: str = "",
                email: str | None = None, roles=(), groups=(), locale: str | None = None) -> User:
    username = (username or "").strip()
    _check_name(username, "username", _("Username is required."))
    # The exact name too: SQLite's lower() folds ASCII only, so "ÂÔ" would pass as its own lower case.
    taken = db.session.scalar(select(User.username).where(
        or_(User.username == username, func.lower(User.username) == username.lower())).limit(1))
    if taken:  # kbuser and KBUSER would be told apart by nobody who picks an approver
        raise ApiError(409, "conflict", _("User %(name)s already exists.", name=taken),
                       [{"field": "username", "message": _("This name is taken.")}])
    user = User(username=username, display_name=display_name or username, email=_checked_email(email), locale=locale)
    set_password(user, password)
    user.roles = [UserRole(role=r) for r in _check_roles(roles)]
    user.groups = _groups_named(groups)
    _touch(user.groups)  # their versions: a stale If-Match on one of them would drop the new member
    db.session.add(user)
    audit("user.created", actor=actor, target=username, roles=sorted(roles), groups=sorted(groups or []))
    db.session.commit()
    return user


def _checked_email(email: str | None) -> str | None:
    """An address notices can be sent to, as the API checks it (the user pages took zhou@example)."""
    email = (email or "").strip() or None
    if email is not None:
        try:
            EmailAddress()(email)
        except ValidationError:
            raise ApiError(400, "invalid_input", _("Not a valid e-mail address."),
                           [{"field": "email", "message": _("Not a valid e-mail address.")}]) from None
    return email


def update_user(user: User, *, actor: User | None, display_name=None, email=None, roles=None, groups=None,
                active=None, password=None, locale=None) -> User:
    changes: dict = {}
    takes_an_admin = False
    email = _checked_email(email) if email else email
    for field, value in (("display_name", display_name), ("email", email), ("locale", locale)):
        if value is None:
            continue  # not sent
        value = value if field == "display_name" else (value or None)  # an empty e-mail or locale clears it
        if getattr(user, field) != value:
            changes[field] = {"from": getattr(user, field), "to": value}  # an e-mail change redirects notices
            setattr(user, field, value)
    if roles is not None:
        new = _check_roles(roles)
        if "admin" in user.role_names and "admin" not in new:
            _keep_an_admin(user, "roles", _("This is the last active administrator: make someone else an "
                                            "administrator first."))
            takes_an_admin = True
        if sorted(user.role_names) != new:
            changes["roles"] = {"from": sorted(user.role_names), "to": new}
            keep = [r for r in user.roles if r.role in new]
            _touch([user])  # the roles live in their own table: the user's version moves too
            user.roles = keep + [UserRole(role=r) for r in new if r not in user.role_names]
    if groups is not None:
        new_groups = _groups_named(groups)
        if sorted(user.group_names) != sorted(g.name for g in new_groups):
            changes["groups"] = {"from": sorted(user.group_names), "to": sorted(g.name for g in new_groups)}
            left = set(user.group_names) - {g.name for g in new_groups}
            _touch([user, *{g for g in user.groups} ^ set(new_groups)])
            user.groups = new_groups
            if left:
                user_left_groups.send(user, groups=frozenset(left), actor=actor)
    if active is not None and active != user.active:
        if not active and actor is not None and actor.id == user.id:
            raise ApiError(400, "invalid_input", _("You cannot deactivate yourself."),
                           [{"field": "active", "message": _("You cannot deactivate yourself.")}])
        if not active and "admin" in user.role_names:
            _keep_an_admin(user, "active", _("This is the last active administrator: make someone else an "
                                             "administrator first."))
            takes_an_admin = True
        changes["active"] = {"from": user.active, "to": active}
        user.active = active
        if not active:
            _revoke_tokens(user)  # a deactivated user's tokens stop working at once
            user_deactivated.send(user, actor=actor)
        elif account_lock_remaining(user):
            # Their tries while deactivated locked the account: back at work means signing in now.
            unlock(user, actor)
    if password:
        set_password(user, password)  # which also ends the user's browser sessions (User.get_id)
        _revoke_tokens(user)  # a reset after a leak must lock the leaked token out too
        changes["password"] = "changed"
        if account_lock_remaining(user):
            unlock(user, actor)  # the new password is to be used now, not in 15 minutes
    if changes:
        audit("user.changed", actor=actor, target=user.username, **changes)
    if takes_an_admin:
        # Again after the change, in its transaction: a change another process made meanwhile
        # (SQLite has no row locks) is seen here once its commit let this one write.
        db.session.flush()
        if not db.session.scalars(_ACTIVE_ADMINS.limit(1)).first():
            said = _("This is the last active administrator: make someone else an administrator first.")
            raise ApiError(409, "last_admin", said, [{"field": "active", "message": said}])
    db.session.commit()
    return user


def groups_left_without_members(user: User) -> list[Group]:
    """The groups of ``user`` with no other active member: while ``user`` is inactive, tasks
    offered to them wait for nobody (until their due date escalates them)."""
    others = (select(func.count()).select_from(group_members).join(User, User.id == group_members.c.user_id)
              .where(group_members.c.group_id == Group.id, User.active.is_(True), User.id != user.id)
              .scalar_subquery())
    return list(db.session.scalars(select(Group).join(group_members, group_members.c.group_id == Group.id)
                                   .where(group_members.c.user_id == user.id, others == 0).order_by(Group.name)))


# Sent in the deactivation's transaction, before its commit, with the leaver and ``actor``:
# other modules let go of what the leaver holds (app.inbox: tasks they took from a group).
user_deactivated = Namespace().signal("user-deactivated")
# Sent, in the same way, with ``groups``: the names of the groups a user was taken out of
# (app.inbox: the tasks they took from those groups go back to them).
user_left_groups = Namespace().signal("user-left-groups")


_ACTIVE_ADMINS = (select(User.id).join(UserRole).where(UserRole.role == "admin", User.active.is_(True))
                  .order_by(User.id))


def _keep_an_admin(user: User, field: str, message: str) -> None:
    """Refuse a change that would leave nobody able to manage users, processes and rules
    (only a shell command could then restore an administrator). The active administrators'
    rows are locked (PostgreSQL), in one order: two of the last two deactivating each other at
    once both counted the other and left none; now the second waits and counts again."""
    admins = db.session.scalars(_ACTIVE_ADMINS.with_for_update(of=User)).all()
    if not [admin_id for admin_id in admins if admin_id != user.id]:
        raise ApiError(409, "last_admin", message, [{"field": field, "message": message}])


def _revoke_tokens(user: User) -> int:
    tokens = list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))))
    for token in tokens:
        token.revoked_at = utcnow()
    return len(tokens)


def live_tokens(user: User) -> list[ApiToken]:
    """``user``'s API tokens still valid (an integration's, or their own scripts'), newest first."""
    return list(db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())
        .order_by(ApiToken.id.desc())))


label_audit_events({"token.revoked_all": _l("API tokens revoked by an administrator")})


def revoke_all_tokens(user: User, actor: User) -> int:
    """An administrator ends every API token of ``user`` (a leaked one, an integration retired)."""
    count = _revoke_tokens(user)
    audit("token.revoked_all", actor=actor, target=user.username, count=count)
    db.session.commit()
    return count


def create_group(*, name: str, actor: User | None = None, display_name: str = "", description: str = "",
                 manager: str | None = None, members=(), parent: str | None = None) -> Group:
    name = (name or "").strip()
    _check_name(name, "name", _("Group name is required."))
    if get_group(name):
        raise ApiError(409, "conflict", _("Group %(name)s already exists.", name=name),
                       [{"field": "name", "message": _("This name is taken.")}])
    group = Group(name=name, display_name=display_name or name, description=description)
    db.session.add(group)
    _apply_group_fields(group, manager=manager, members=members, parent=parent)
    _touch(group.members)  # their versions: a stale If-Match on one of them would drop the new group
    audit("group.created", actor=actor, target=name, members=sorted(members or []), manager=manager,
          display_name=group.display_name, parent=parent or None)
    db.session.commit()
    return group


def update_group(group: Group, *, actor: User | None, display_name=None, description=None,
                 manager=..., members=None, parent=...) -> Group:
    before = _group_as_audited(group)
    if display_name is not None:
        group.display_name = display_name
    if description is not None:
        group.description = description
    _apply_group_fields(group, manager=manager, members=members, parent=parent)
    after = _group_as_audited(group)
    if before["members"] != after["members"]:
        _touch([group, *db.session.scalars(select(User).where(
            User.username.in_(set(before["members"]) ^ set(after["members"]))))])
    if before != after:
        # Only what changed: "who renamed it, who moved it under 华南" read nothing but the manager.
        changed = [key for key in after if before[key] != after[key]]
        audit("group.changed", actor=actor, target=group.name, before={k: before[k] for k in changed},
              after={k: after[k] for k in changed})
    for user in db.session.scalars(select(User).where(User.username.in_(set(before["members"]) - set(after["members"])))):
        user_left_groups.send(user, groups=frozenset({group.name}), actor=actor)
    db.session.commit()
    return group


def _touch(rows) -> None:
    """A membership lives in the link table: its change bumps the version (the ETag) of the
    group and of each person it changed, or a stale If-Match overwrote it unseen."""
    now = utcnow()
    for row in rows:
        row.updated_at = now


def _group_as_audited(group: Group) -> dict:
    parent = db.session.get(Group, group.parent_id) if group.parent_id else None
    return {"members": sorted(u.username for u in group.members),
            "manager": group.manager.username if group.manager else None,
            "display_name": group.display_name, "description": group.description,
            "parent": parent.name if parent else None}


def _apply_group_fields(group: Group, *, manager=..., members=None, parent=...) -> None:
    if manager is not ...:
        if manager:
            user = get_user(manager)
            if user is None:
                raise ApiError(400, "invalid_input", _("Unknown user: %(names)s", names=manager),
                               [{"field": "manager", "message": _("Unknown user: %(names)s", names=manager)}])
            if not user.active and user.id != group.manager_id:  # escalations would go to nobody
                message = _("%(name)s is deactivated and cannot manage a group.", name=user.label)
                raise ApiError(400, "invalid_input", message, [{"field": "manager", "message": message}])
            group.manager = user
        else:
            group.manager = None
    if members is not None:
        names = sorted(set(members))
        users = list(db.session.scalars(select(User).where(User.username.in_(names)))) if names else []
        missing = sorted(set(names) - {u.username for u in users})
        if missing:
            raise ApiError(400, "invalid_input", _("Unknown user: %(names)s", names=", ".join(missing)),
                           [{"field": "members", "message": _("Unknown user: %(names)s", names=m)} for m in missing])
        group.members = users
    if parent is not ...:
        if parent:
            parent_group = get_group(parent)
            if parent_group is None or parent_group is group:
                raise ApiError(400, "invalid_input", _("Unknown parent group: %(name)s", name=parent),
                               [{"field": "parent", "message": _("Unknown parent group: %(name)s", name=parent)}])
            if group.id is not None and group.id in _ancestor_ids(parent_group):
                message = _("%(parent)s is under %(group)s already: a group cannot sit below itself.",
                            parent=parent_group.label, group=group.label)
                raise ApiError(400, "invalid_input", message, [{"field": "parent", "message": message}])
            group.parent_id = parent_group.id
        else:
            group.parent_id = None


def _ancestor_ids(group: Group) -> set[int]:
    """``group`` and the groups above it (stops at a loop an older version may have saved)."""
    seen: set[int] = set()
    while group is not None and group.id not in seen:
        seen.add(group.id)
        group = db.session.get(Group, group.parent_id) if group.parent_id else None
    return seen


def managed_user_ids(user: User) -> set[int]:
    """Ids of the members of every group ``user`` manages (and of their sub-groups). Read once
    per transaction: every visibility clause asks (the home page's figures, five times)."""
    return set(transaction_memo(("auth.managed_user_ids", user.id), lambda: _walk_managed(user),
                                depends_on=(User, Group)))


def _walk_managed(user: User) -> frozenset[int]:
    managed = list(db.session.scalars(select(Group).where(Group.manager_id == user.id)))
    seen_groups = {g.id for g in managed}
    ids: set[int] = set()
    while managed:
        group = managed.pop()
        ids.update(m.id for m in group.members)
        for child in db.session.scalars(select(Group).where(Group.parent_id == group.id)):
            if child.id not in seen_groups:
                seen_groups.add(child.id)
                managed.append(child)
    return frozenset(ids)


def escalation_manager(group_name: str, passing_over: frozenset[str] = frozenset()) -> tuple[User, str] | None:
    """Who a task of ``group_name`` escalates to, and why: ``(user, reason)``.

    The group's manager; if it has none (or they are deactivated), the manager of the nearest
    parent group that has one; if no group up the chain has one, the first active
    administrator (lowest id), so an escalation never goes to nobody. ``passing_over``: people
    it must not go to (who decided the level below, whose request it is), passed over as a
    manager who is missing is. ``reason`` is ``"manager"``, ``"parent_manager"`` or
    ``"admin_fallback"``. None: unknown group, or nobody left.
    """
    group = get_group(group_name)
    if group is None:
        return None
    seen: set[int] = set()
    current, reason = group, "manager"
    while current is not None and current.id not in seen:  # parent links may form a cycle
        seen.add(current.id)
        manager = current.manager
        if manager is not None and manager.active and manager.username not in passing_over:
            return manager, reason
        current = db.session.get(Group, current.parent_id) if current.parent_id else None
        reason = "parent_manager"
    admin = db.session.scalar(select(User).join(UserRole).where(
        UserRole.role == "admin", User.active.is_(True), User.username.not_in(passing_over)).order_by(User.id).limit(1))
    return (admin, "admin_fallback") if admin is not None else None
