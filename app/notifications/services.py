from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Iterable

from flask import current_app, has_request_context, request
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import Session

from app.auth.lookup import users_named
from app.auth.models import User
from app.db import insert_row, utcnow
from app.extensions import db
from app.jobs import enqueue, job_handler
from app.notifications.models import Notification

NOTIFIED = "notified_user_ids"  # session.info: ids of the users notified in this transaction


def _users(targets: Iterable) -> list[User]:
    """Users from User objects, ids or usernames; inactive users are skipped."""
    ids, names, users = set(), set(), []
    for target in targets:
        if isinstance(target, User):
            users.append(target)
        elif isinstance(target, int):
            ids.add(target)
        elif isinstance(target, str):
            names.add(target)
    if ids:
        users += db.session.scalars(select(User).where(User.id.in_(ids)))
    if names:
        users += users_named(names).values()
    unique = {u.id: u for u in users if u.active}
    return list(unique.values())


class InLanguages:
    """A notice written in several languages (a diagram's ``message`` and ``message_en``): each
    recipient reads the one of their language, else the first."""

    def __init__(self, default: str, others: dict[str, str]):
        self.default, self.others = default, others

    def __str__(self) -> str:
        return self.others.get(str(get_locale() or "").split("_")[0], self.default)


def _in_language(text, user: User) -> str:
    """``text`` as ``user`` reads it: a lazy_gettext string is rendered in the recipient's
    language, not the writer's (a rule failing in a Chinese session alerts an English author
    in English; this also runs in the worker, outside any request)."""
    if isinstance(text, str):
        return text
    with force_locale(user.writes_in or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")):
        return str(text)


def notify(targets, text, link: str | None = None, kind: str = "info",
           email_subject: str | None = None, task_id: int | None = None,
           replaces_earlier: bool = False) -> list[Notification]:
    """Notify users in-app, in the caller's transaction; e-mail goes through the outbox.

    ``targets``: a User, id or username, or an iterable of them. ``text``: a plain string, or a
    lazy_gettext string rendered in each recipient's language. ``task_id``: the task the notice
    asks them to act on (see :func:`settle_task_notices`). ``replaces_earlier``: their unread
    notices of that task count as read (a task reassigned to a member of its group left them
    two unread notices for one thing to do).
    """
    if isinstance(targets, (User, int, str)):
        targets = [targets]
    rows = []
    smtp = bool(current_app.config.get("SMTP_HOST"))
    session = db.session()
    users = list(_users(targets))
    if replaces_earlier and task_id is not None and users:
        session.execute(_REPLACED, {"replaced_task": task_id, "user_ids": [u.id for u in users], "now": utcnow()})
    for user in users:
        text_read = _in_language(text, user)
        # One INSERT now, not an ORM object that costs a flush of the whole session (often
        # its own flush, at a commit): nothing reads notifications back as ORM objects in the
        # writer's transaction. The row is transient, with its id and defaults set.
        row = insert_row(Notification(user_id=user.id, text=text_read[:2000], link=link, kind=kind,
                                      task_id=task_id), session)
        session.info.setdefault(NOTIFIED, set()).add(user.id)
        rows.append(row)
        if smtp and user.email and user.email_notifications:
            enqueue("notifications.email", {"to": user.email, "subject": email_subject or _subject(text_read),
                                            "text": text_read, "link": _address(link)},
                    key=f"notification-email:{row.id}")
    return rows


def _subject(text: str) -> str:
    """The first line of the text, short enough for a subject, marked where it was cut."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 80 and line == text.strip() else line[:79] + "…"


def _address(link: str | None) -> str | None:
    """The link as a mail client can open it: the product's own paths (/tasks/7) with the
    address people reach it at, ``BASE_URL``, or else the one this request came to."""
    if not link or not link.startswith("/"):
        return link
    base = current_app.config.get("BASE_URL") or (request.host_url if has_request_context() else "")
    return base.rstrip("/") + link if base else link


def notified_user_ids(session) -> set[int]:
    """Ids of the users :func:`notify` wrote a notification for in the session's transaction
    (forgotten at its commit or at any rollback, a savepoint's too)."""
    return session.info.get(NOTIFIED, set())


def _forget(session, *args) -> None:
    session.info.pop(NOTIFIED, None)


event.listen(Session, "after_commit", _forget)
event.listen(Session, "after_rollback", _forget)


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.user_id == user.id,
                                                             Notification.read_at.is_(None))
    )


_REPLACED = (update(Notification).where(Notification.task_id == bindparam("replaced_task"),
                                        Notification.user_id.in_(bindparam("user_ids", expanding=True)),
                                        Notification.read_at.is_(None))
             .values(read_at=bindparam("now", type_=Notification.read_at.type)))
_SETTLE = (update(Notification).where(Notification.task_id.in_(bindparam("task_ids", expanding=True)),
                                      Notification.read_at.is_(None))
           .values(read_at=bindparam("now", type_=Notification.read_at.type)))
_SETTLE_BUT_HOLDER = (update(Notification).where(Notification.task_id == bindparam("settled_task"),
                                                 Notification.read_at.is_(None),
                                                 Notification.user_id != select(User.id).where(
                                                     User.username == bindparam("holder")).scalar_subquery())
                      .values(read_at=bindparam("now", type_=Notification.read_at.type)))


def settle_task_notices(connection, closed: list[int] = (), held: dict[int, str] | None = None) -> None:
    """Notices asking to act on a task read once there is nothing left to do for them: every
    one of a task that closed, and everyone's but its holder's of one taken (claimed, delegated,
    reassigned). Without this a group's members kept a notice for every task a colleague did."""
    now = utcnow()
    if closed:
        connection.execute(_SETTLE, {"task_ids": sorted(closed), "now": now})
    if held:
        connection.execute(_SETTLE_BUT_HOLDER, [{"settled_task": task_id, "holder": name, "now": now}
                                                for task_id, name in sorted(held.items())])


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, all) of the user's notifications read."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    result = db.session.execute(stmt.values(read_at=utcnow()))
    db.session.commit()
    return result.rowcount


@job_handler("notifications.email", max_attempts=6, label=_l("E-mail notification"))
def send_email(job) -> None:
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["SMTP_FROM"]
    message["To"] = job.payload["to"]
    message["Subject"] = job.payload["subject"]
    # Receivers can drop a duplicate delivery after a worker crash by this id.
    message["Message-ID"] = f"<job-{job.id}@{cfg['SMTP_FROM'].split('@')[-1]}>"
    body = job.payload["text"]
    if job.payload.get("link"):
        body += "\n\n" + job.payload["link"]
    message.set_content(body)
    with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=20) as smtp:
        if cfg.get("SMTP_USER"):
            smtp.starttls()
            smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
        smtp.send_message(message)
