from datetime import date, timezone
from http import HTTPStatus

from apiflask import Schema
from apiflask.fields import Boolean, Date as _Date, DateTime as _DateTime, Dict as _Dict, Integer, List, Nested, Raw, String as _String
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError

from app.db import MAX_ID
from app.api.frame import PageQuery, page_schema
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


# --- what the inbox answers (documented for generated clients; the routes build the dicts and
# tests/inbox/test_api_schemas.py holds real answers against these) ---------------------------

def _time(**kwargs):
    return _String(metadata={"format": "date-time"}, **kwargs)


class RecordRef(Schema):
    type = _String(metadata={"description": "customer, opportunity, contract or activity"})
    id = Integer()


class TaskOut(Schema):
    id = Integer()
    name = _String(allow_none=True)
    bpmn_id = _String()
    process_key = _String()
    process_version = Integer()
    instance_id = Integer()
    status = _String(metadata={"description": "open, completed or cancelled"})
    assignee = _String(allow_none=True)
    claimed_by = _String(allow_none=True)
    candidate_groups = List(_String())
    candidate_users = List(_String())
    due_at = _time(allow_none=True)
    created_at = _time()
    updated_at = _time(allow_none=True)
    completed_by = _String(allow_none=True)
    completed_at = _time(allow_none=True)
    version = Integer(metadata={"description": "send it back as expected_version where a change asks for one"})
    form_key = _String(allow_none=True)
    form_version = Integer(allow_none=True)
    record = Nested(RecordRef, allow_none=True)
    form = _Dict(allow_none=True, metadata={"description": "the form-js schema of the task's form (include_form)"})
    data = _Dict(metadata={"description": "the form's values: what the process holds, with the caller's draft"})


class TaskListItem(TaskOut):
    process_name = _String()
    record_label = _String(allow_none=True)
    started_by = _String(allow_none=True)
    overdue = Boolean()
    offered = Boolean(metadata={"description": "offered to a group or to several people, held by nobody yet"})


TaskPage = page_schema(TaskListItem, "TaskPage")


class HistoryEntry(Schema):
    at = _time()
    actor = _String(allow_none=True)
    event = _String()
    task = _String(allow_none=True)
    comment = _String(allow_none=True)
    data = Raw(allow_none=True)


class AttachmentOut(Schema):
    id = Integer()
    filename = _String()
    content_type = _String()
    size = Integer()
    sha256 = _String()
    uploaded_by = _String(allow_none=True)
    uploaded_at = _time()
    task_id = Integer(allow_none=True)
    comment = _String(allow_none=True)
    url = _String()


class RecordChange(Schema):
    field = _String()
    label = _String()
    then = Raw(allow_none=True)
    now = Raw(allow_none=True)


class TaskDetail(TaskOut):
    history = List(Nested(HistoryEntry))
    attachments = List(Nested(AttachmentOut))
    duplicates = List(_Dict(), metadata={"description": "customers that may be the record's company (撞单)"})
    record_changes = List(Nested(RecordChange), metadata={"description": "what the record changed since the task "
                                                                         "was sent"})
    can_act = Boolean()
    can_reassign = Boolean()


class DraftOut(Schema):
    task_id = Integer()
    data = _Dict()
    saved_at = _time()


class ActiveTask(Schema):
    id = Integer()
    name = _String(allow_none=True)
    bpmn_id = _String()
    holder = _String(allow_none=True)
    holder_label = _String(allow_none=True)
    candidate_groups = List(_String(), allow_none=True)
    due_at = _time(allow_none=True)


class SubmissionOut(Schema):
    id = Integer()
    process_key = _String()
    version = Integer()
    status = _String()
    record = Nested(RecordRef, allow_none=True)
    data = _Dict()
    created_at = _time()
    completed_at = _time(allow_none=True)
    error = Raw(allow_none=True)
    active_tasks = List(Nested(ActiveTask))
    can_withdraw = Boolean()


class SubmissionDetail(SubmissionOut):
    history = List(Nested(HistoryEntry))


SubmissionPage = page_schema(SubmissionOut, "SubmissionPage")


class OutOfOfficeOut(Schema):
    id = Integer()
    substitute = _String()
    starts_at = _time()
    ends_at = _time()
    starts_on = _String(metadata={"format": "date"})
    ends_on = _String(metadata={"format": "date"})
    note = _String()


class OutOfOfficeList(Schema):
    items = List(Nested(OutOfOfficeOut))
    total = Integer()


def _always_there(schema, *sometimes: str) -> None:
    """Every field of the answer is in it (``required``: a generated client types them so),
    except ``sometimes``."""
    for name, field in schema._declared_fields.items():
        field.required = name not in sometimes


for _answer in (RecordRef, HistoryEntry, AttachmentOut, RecordChange, DraftOut, ActiveTask, SubmissionDetail,
                OutOfOfficeOut, OutOfOfficeList, TaskDetail, TaskListItem):
    _always_there(_answer, "form", "data", "can_withdraw")  # the form: include_form; can_withdraw: not on withdraw
_always_there(SubmissionOut, "can_withdraw")
_always_there(TaskOut, "form", "data")


def answers(schema, status: int = 200, *others: int) -> dict:
    """``@bp.doc(responses=...)``: the success answer's schema, and the other statuses."""
    return {status: {"description": HTTPStatus(status).phrase, "content": {"application/json": {"schema": schema}}},
            **{code: HTTPStatus(code).phrase for code in others}}
