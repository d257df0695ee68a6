from datetime import date, timezone

from apiflask import Schema
from apiflask.fields import Boolean, Date as _Date, DateTime as _DateTime, Dict as _Dict, Integer, String as _String
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError

from app.db import MAX_ID
from app.api.frame import PageQuery
from app.inbox.services import OPERATOR_STATUSES, SORTS, SUBMISSION_STATUSES


def _no_nul(value):
    """PostgreSQL text and JSONB cannot hold NUL characters: refuse them as bad input."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)


class String(_String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        _no_nul(text)
        return text


class Dict(_Dict):
    def _deserialize(self, value, attr, data, **kwargs):
        out = super()._deserialize(value, attr, data, **kwargs)
        _no_nul(out)
        return out


class DateTime(_DateTime):
    """A time without an offset is taken as UTC (the columns refuse naive datetimes)."""

    def _deserialize(self, value, attr, data, **kwargs):
        out = super()._deserialize(value, attr, data, **kwargs)
        return out.replace(tzinfo=timezone.utc) if out.tzinfo is None else out


class Date(_Date):
    """Dates a calendar can hold in every time zone (out-of-office periods)."""

    def _deserialize(self, value, attr, data, **kwargs):
        out = super()._deserialize(value, attr, data, **kwargs)
        if not date(2000, 1, 1) <= out <= date(2999, 12, 31):
            raise ValidationError("Must be between 2000-01-01 and 2999-12-31.")
        return out


class TaskQuery(PageQuery):
    scope = String(load_default="all", validate=OneOf(["all", "mine", "offered"]))
    process = String(load_default=None, validate=Length(max=120))
    record = String(load_default=None, validate=Length(max=200), metadata={
        "description": "Part of the record's name or of its customer's, #13 for its id, or the record itself as type:id (contract:13)"})
    due = String(load_default=None, validate=OneOf(["overdue", "today", "week", "none"]))
    created_from = DateTime(load_default=None)
    created_to = DateTime(load_default=None)
    sort = String(load_default="due", validate=OneOf(list(SORTS)))
    include_form = Boolean(load_default=True)


class CompleteIn(Schema):
    data = Dict(load_default=dict)


class DraftIn(Schema):
    data = Dict(required=True)


class CommentIn(Schema):
    comment = String(required=True, validate=Length(min=1, max=4000))


class DelegateIn(Schema):
    to = String(required=True, validate=Length(min=1, max=80))
    comment = String(load_default=None, validate=Length(max=4000))
    return_to_delegator = Boolean(load_default=False)


class ReassignIn(Schema):
    to = String(required=True, validate=Length(min=1, max=80))
    comment = String(load_default=None, validate=Length(max=4000))


class ReasonIn(Schema):
    reason = String(required=True, validate=Length(min=1, max=4000))


class OptionalCommentIn(Schema):
    comment = String(load_default=None, validate=Length(max=4000))


class RetryIn(Schema):
    data = Dict(load_default=None, allow_none=True)


class OutOfOfficeIn(Schema):
    substitute = String(required=True, validate=Length(min=1, max=80))
    starts_on = Date(required=True)
    ends_on = Date(required=True)
    note = String(load_default="", validate=Length(max=200))


class InstanceQuery(PageQuery):
    process = String(load_default=None, validate=Length(max=120))
    version = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))
    status = String(load_default=None, validate=OneOf(list(OPERATOR_STATUSES)))
    started_by = String(load_default=None, validate=Length(max=80))
    record = String(load_default=None, validate=Length(max=200))
    started_from = DateTime(load_default=None)
    started_to = DateTime(load_default=None)


class SubmissionQuery(PageQuery):
    status = String(load_default=None, validate=OneOf(list(SUBMISSION_STATUSES)))
    process = String(load_default=None, validate=Length(max=120))
