from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Integer, List, String
from apiflask.validators import Length, Range

from app.api.frame import PageQuery, QueryParameters
from app.db import MAX_ID


class FormSummaryOut(Schema):
    id = Integer()
    key = String()
    name = String()
    version = Integer()
    is_current = Boolean()
    created_by = String(attribute="created_by_username", allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()


class FormOut(FormSummaryOut):
    schema = Dict()


class FormIn(Schema):
    key = String(required=True, validate=Length(min=1, max=64))
    name = String(required=True, validate=Length(min=1, max=200))
    schema = Dict(required=True)
    base_version = Integer(load_default=None, allow_none=True, validate=Range(min=0))  # 0: a new form
    # Save although a removed field is read by a deployed process (409 fields_in_use otherwise).
    drop_fields_in_use = Boolean(load_default=False)


class FormVersionQuery(QueryParameters):
    version = Integer(load_default=None, validate=Range(min=1))


class ValidateIn(Schema):
    data = Dict(required=True)
    version = Integer(load_default=None, validate=Range(min=1))


class ValidateOut(Schema):
    valid = Boolean()
    data = Dict()
    errors = Dict()


class BindingIn(Schema):
    name = String(required=True, validate=Length(min=1, max=200))
    entity = String(required=True, validate=Length(min=1, max=40))
    event = String(required=True, validate=Length(min=1, max=40))
    process_key = String(required=True, validate=Length(min=1, max=120))
    form_key = String(load_default=None, allow_none=True, validate=Length(max=80))
    mapping = List(Dict(), load_default=list)
    condition = Dict(load_default=None, allow_none=True)
    enabled = Boolean(load_default=True)
    skip_if_running = Boolean(load_default=True)
    report_pending = Boolean(load_default=False)


class BindingPatch(Schema):
    name = String(validate=Length(min=1, max=200))
    entity = String(validate=Length(min=1, max=40))
    event = String(validate=Length(min=1, max=40))
    process_key = String(validate=Length(min=1, max=120))
    form_key = String(allow_none=True, validate=Length(max=80))
    mapping = List(Dict())
    condition = Dict(allow_none=True)
    enabled = Boolean()
    skip_if_running = Boolean()
    report_pending = Boolean()
    version = Integer()


class BindingOut(Schema):
    id = Integer()
    name = String()
    entity = String()
    event = String()
    action = String()
    process_key = String()
    form_key = String(allow_none=True)
    mapping = List(Dict())
    condition = Dict(allow_none=True)
    enabled = Boolean()
    skip_if_running = Boolean()
    report_pending = Boolean()
    created_by = String(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()
    version = Integer()


class BindingQuery(PageQuery):
    process_key = String(load_default=None, validate=Length(min=1, max=64))


class StartDataQuery(QueryParameters):
    record = Integer(required=True, validate=Range(min=1, max=MAX_ID))


class RunQuery(QueryParameters):
    entity = String(required=True, validate=Length(min=1, max=40))
    record_id = Integer(required=True, validate=Range(min=1, max=MAX_ID))
