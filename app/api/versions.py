"""Optimistic concurrency for every API resource that carries a ``version``: its ``ETag`` is the
version, and a write names the version it expects as ``version`` (body or query) and/or as
``If-Match`` (one ETag; ``*`` or no header: any version)."""
import re

from flask import request
from flask_babel import gettext as _

from app.api.errors import ApiError


def etag(obj) -> dict:
    """The headers giving ``obj``'s version as its entity tag, what a client sends back as ``If-Match``."""
    return {"ETag": f'"{obj.version}"'}


def expected_version(version: int | None) -> int | None:
    """The version a write expects: ``version`` and/or ``If-Match``. Both given, they must
    agree: a stale If-Match was ignored beside a current ``version``."""
    tags = [tag.strip() for tag in request.headers.get("If-Match", "").split(",") if tag.strip()]
    if not tags or "*" in tags:
        return version
    if len(tags) > 1 or not re.fullmatch(r'"\d{1,10}"', tags[0]):
        raise ApiError(400, "invalid_input", _("If-Match takes one ETag of this record, as GET gave it."),
                       [{"field": "If-Match", "message": _("Not an ETag of this record.")}])
    tagged = int(tags[0].strip('"'))
    if version is not None and version != tagged:
        raise ApiError(400, "invalid_input", _("If-Match and version name different versions of the record; send one."),
                       [{"field": "If-Match", "message": _("Not the version given as version.")}])
    return tagged


def refuse_stale(obj, version: int | None, message: str | None = None) -> None:
    """409 when the client names a version of ``obj`` that is not the current one (``message``:
    a page's own words, said beside its ``version`` field)."""
    if version is not None and version != obj.version:
        if message is None:
            raise ApiError(409, "stale_version", _("The record was changed by someone else; reload it and try again."))
        raise ApiError(409, "stale_version", message, [{"field": "version", "message": message}])
