from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Integer, String
from apiflask.validators import Length, Range


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
    base_version = Integer(load_default=None, allow_none=True, validate=Range(min=1))


class FormVersionQuery(Schema):
    version = Integer(load_default=None, validate=Range(min=1))


class ValidateIn(Schema):
    data = Dict(required=True)
    version = Integer(load_default=None, validate=Range(min=1))


class ValidateOut(Schema):
    valid = Boolean()
    data = Dict()
    errors = Dict()
