from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Dict, Integer, String
from apiflask.validators import Length, OneOf, Range

from app.api.frame import PageQuery
from app.inbox.services import OPERATOR_STATUSES, SORTS


class TaskQuery(PageQuery):
    scope = String(load_default="all", validate=OneOf(["all", "mine", "offered"]))
    process = String(load_default=None, validate=Length(max=120))
    record = String(load_default=None, validate=Length(max=200))
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
    version = Integer(load_default=None, validate=Range(min=1))
    status = String(load_default=None, validate=OneOf(list(OPERATOR_STATUSES)))
    started_by = String(load_default=None, validate=Length(max=80))
    record = String(load_default=None, validate=Length(max=200))
    started_from = DateTime(load_default=None)
    started_to = DateTime(load_default=None)


class SubmissionQuery(PageQuery):
    status = String(load_default=None, validate=OneOf(list(OPERATOR_STATUSES)))
    process = String(load_default=None, validate=Length(max=120))
