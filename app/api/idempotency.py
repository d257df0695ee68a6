"""Idempotency keys: a client that sends ``Idempotency-Key`` with a POST or PATCH may send the
same request again — after a timeout or a dropped connection, not knowing whether the first
arrived — and get the first answer back instead of a second customer or a second completion.

As in the IETF draft "The Idempotency-Key HTTP Header Field": the key is the client's own,
scoped to the authenticated user. The same key with a different request answers 422; while
the first request with it is still running, 409. Only successful (2xx) answers are kept: a
refused request changed nothing (its transaction rolled back), so the client may correct it
and send it again under the same key. Keys are kept at least IDEMPOTENCY_KEY_HOURS.

The answer is kept after the route's own commit, so a process that dies between the two
leaves a key without an answer. The route's first commit therefore also marks the key
(``effect_committed_at``, in the same transaction): a retry after such a death runs the
request again only if it had changed nothing; otherwise it is told the outcome was lost
rather than acting twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, bindparam, delete, event, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.access import is_api_request
from app.api.errors import ApiError
from app.db import JSONType, UTCDateTime, delete_in_batches, utcnow
from app.extensions import db
from app.jobs import periodic

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
METHODS = frozenset({"POST", "PATCH"})
MAX_KEY_LENGTH = 255
# A first request still "running" after this long died with its process (a web request is
# long over by then): its key may be taken by the retry.
ABANDONED_AFTER = timedelta(minutes=5)
# What a replay repeats besides the status and body.
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
OPENAPI_PARAMETER = {
    "name": HEADER, "in": "header", "required": False, "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
    "description": "Any unique string of yours (a UUID): a repeat of the request with the same key answers the "
                   "first answer again (`Idempotent-Replayed: true`) instead of doing it twice."}


class IdempotentRequest(db.Model):
    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_api_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), nullable=False)
    # The request's method, path, query and body, hashed: the same key must come with the same request.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # Set by the first commit of the request's own work: from then on it must not run again.
    effect_committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None while the first request runs; then its answer.
    status_code: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict | None] = mapped_column(JSONType)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


# One statement on SQLite (3.35+) and PostgreSQL: two retries racing get one reservation.
_RESERVE = text(
    "INSERT INTO api_idempotency_keys (user_id, key, fingerprint, started_at) "
    "VALUES (:user_id, :key, :fingerprint, :started_at) ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
).bindparams(bindparam("started_at", type_=UTCDateTime()))


def _valid_key(raw: str) -> str:
    if not 0 < len(raw) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in raw):
        raise ApiError(400, "invalid_input", _("The Idempotency-Key header must be 1 to 255 printable ASCII characters."),
                       [{"field": f"header.{HEADER}", "message": _("Not a valid key.")}])
    return raw


def _fingerprint() -> str:
    """The request as its meaning, not its bytes: a retried multipart upload has a new
    boundary, a re-encoded JSON body other spacing or key order."""
    digest = hashlib.sha256(f"{request.method} {request.path}?{request.query_string.decode('latin-1')}\n".encode())
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        digest.update(json.dumps(body, sort_keys=True, ensure_ascii=False).encode() if body is not None
                      else request.get_data(cache=True))
    elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        digest.update(json.dumps(sorted(request.form.items(multi=True)), ensure_ascii=False).encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            content = upload.stream.read()
            upload.stream.seek(0)  # the route reads it again
            digest.update(f"\n{name}:{upload.filename}:".encode() + hashlib.sha256(content).digest())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(row) -> Response:
    response = Response(row.body, status=row.status_code, headers=row.headers or {})
    response.headers["Idempotent-Replayed"] = "true"
    return response


def reserve_key():
    """Before the route: the first request with a key reserves it (committed at once, so a
    concurrent retry sees it); a repeat gets the kept answer, or 409/422."""
    raw = request.headers.get(HEADER)
    if raw is None or request.method not in METHODS or not is_api_request() or not current_user.is_authenticated:
        return None  # without a user the route answers 401; the key is the user's
    key, fingerprint, now = _valid_key(raw), _fingerprint(), utcnow()
    values = {"user_id": current_user.id, "key": key, "fingerprint": fingerprint, "started_at": now}
    reserved = db.session.scalar(_RESERVE, values)
    if reserved is None:
        first = db.session.execute(select(IdempotentRequest.id, IdempotentRequest.fingerprint,
                                          IdempotentRequest.started_at, IdempotentRequest.effect_committed_at,
                                          IdempotentRequest.status_code,
                                          IdempotentRequest.headers, IdempotentRequest.body)
                                   .where(IdempotentRequest.user_id == current_user.id,
                                          IdempotentRequest.key == key)).one()
        if first.fingerprint != fingerprint:
            db.session.rollback()
            raise ApiError(422, "idempotency_key_reused",
                           _("This Idempotency-Key was used for a different request; use a new key for a new request."))
        if first.status_code is not None:
            db.session.rollback()
            return _replay(first)
        abandoned = first.started_at < now - ABANDONED_AFTER
        if abandoned and first.effect_committed_at is not None:
            db.session.rollback()
            raise ApiError(409, "idempotency_outcome_lost",
                           _("The first request with this Idempotency-Key was carried out, but its answer was lost. "
                             "Look up the result instead of repeating the request."))
        # Compare-and-set on the start time: of two retries after an abandoned first, one wins.
        taken = abandoned and db.session.execute(
            update(IdempotentRequest).where(IdempotentRequest.id == first.id,
                                            IdempotentRequest.status_code.is_(None),
                                            IdempotentRequest.started_at == first.started_at)
            .values(started_at=now), execution_options={"synchronize_session": False}).rowcount == 1
        if not taken:
            db.session.rollback()
            raise ApiError(409, "idempotency_key_in_use",
                           _("A request with this Idempotency-Key is still being processed; try again shortly."),
                           headers={"Retry-After": "1"})
        reserved = first.id
    db.session.commit()
    g.idempotency_reservation = reserved
    return None


_MARK_EFFECT = (update(IdempotentRequest)
                .where(IdempotentRequest.id == bindparam("reserved"), IdempotentRequest.effect_committed_at.is_(None))
                .values(effect_committed_at=bindparam("now"))
                .execution_options(synchronize_session=False))


def _mark_effect(session: Session) -> None:
    """Before the route's first commit: the mark commits with its work, or not at all."""
    if not has_request_context() or session is not db.session() or g.get("idempotency_effect_marked"):
        return
    reserved = g.get("idempotency_reservation")
    if reserved is not None:
        session.execute(_MARK_EFFECT, {"reserved": reserved, "now": utcnow()})
        g.idempotency_effect_marked = True


event.listen(Session, "before_commit", _mark_effect)


def keep_answer(response: Response) -> Response:
    """After the route: keep a successful answer for repeats; release the key otherwise."""
    reserved = g.pop("idempotency_reservation", None)
    if reserved is None:
        return response
    try:
        db.session.rollback()  # anything the route left uncommitted is not part of its answer
        if 200 <= response.status_code < 300 and not response.is_streamed:
            headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            db.session.execute(update(IdempotentRequest).where(IdempotentRequest.id == reserved).values(
                status_code=response.status_code, headers=headers, body=response.get_data()))
        else:
            db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == reserved))
        db.session.commit()
    except SQLAlchemyError:
        # The client has its answer; the key stays reserved, and its effect mark keeps a
        # repeat after ABANDONED_AFTER from acting again.
        db.session.rollback()
        log.exception("could not keep the answer for idempotency key #%s", reserved)
    return response


# A page's new-record form carries a token of its own (crm.views), claimed here like a key:
# the same form sent twice — two tabs, a proxy's retry, a second session — saves once.
FORM_KEY_PREFIX = "form:"
FORM_FINGERPRINT = hashlib.sha256(b"new-record form").hexdigest()
# How long a second sending waits for the first, still saving, to say where it led.
FORM_WAIT_SECONDS = 5.0


def claim_form(user_id: int, token: str) -> tuple[int | None, str | None]:
    """The first sending of a form's ``token`` claims it: (its claim, None). A repeat gets
    (None, where the first save led), or (None, None) while that one is still saving."""
    key = FORM_KEY_PREFIX + token[:MAX_KEY_LENGTH - len(FORM_KEY_PREFIX)]
    values = {"user_id": user_id, "key": key, "fingerprint": FORM_FINGERPRINT, "started_at": utcnow()}
    reserved = db.session.scalar(_RESERVE, values)
    db.session.commit()
    if reserved is not None:
        return reserved, None
    waited = 0.0
    while True:
        first = db.session.execute(select(IdempotentRequest.headers, IdempotentRequest.status_code)
                                   .where(IdempotentRequest.user_id == user_id, IdempotentRequest.key == key)
                                   ).one_or_none()
        db.session.rollback()  # the next look sees the first sending's commit
        if first is None:  # the first was refused and gave the token back: this sending is the first now
            return claim_form(user_id, token)
        if first.status_code is not None or waited >= FORM_WAIT_SECONDS:
            return None, (first.headers or {}).get("Location")
        time.sleep(0.2)
        waited += 0.2


def answer_form(claim: int, location: str | None) -> None:
    """The form's first save is done: a repeat goes to ``location``; None gives the token back
    (the save was refused, so the corrected form saves under it)."""
    if location is None:
        db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == claim))
    else:
        db.session.execute(update(IdempotentRequest).where(IdempotentRequest.id == claim)
                           .values(status_code=303, headers={"Location": location}))
    db.session.commit()


@periodic("api.prune_idempotency_keys", every_seconds=3600, label=_l("Idempotency keys clean-up"))
def prune_idempotency_keys_job(job) -> None:
    prune_idempotency_keys(utcnow() - timedelta(hours=current_app.config["IDEMPOTENCY_KEY_HOURS"]))


def prune_idempotency_keys(before: datetime) -> int:
    """Forget keys first used before ``before``; returns how many went."""
    return delete_in_batches(IdempotentRequest, IdempotentRequest.started_at < before)


def init_app(app: Flask) -> None:
    """Registered after the frame's guard, so a key is only looked at for an authenticated
    request that passed its token and CSRF checks."""
    app.before_request(reserve_key)
    app.after_request(keep_answer)

