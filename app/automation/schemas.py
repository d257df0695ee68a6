from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Raw, String
from apiflask.validators import Length, Range

from app.db import MAX_ID
from app.api.frame import PageQuery, SearchQuery



class RuleIn(Schema):
    name = String(required=True, validate=Length(max=200))
    description = String(load_default="")
    entity = String(required=True)
    event = String(required=True)
    event_options = Dict(load_default=dict)
    condition = Raw(load_default=None, allow_none=True)
    actions = List(Raw(), required=True)
    enabled = Boolean(load_default=True)
    blocking = Boolean(load_default=False)
    once_per_record = Boolean(load_default=False)
    position = Integer(load_default=0, validate=Range(min=0, max=100000))


class RulePatch(Schema):
    name = String(validate=Length(max=200))
    description = String()
    entity = String()
    event = String()
    event_options = Dict()
    condition = Raw(allow_none=True)
    actions = List(Raw())
    enabled = Boolean()
    blocking = Boolean()
    once_per_record = Boolean()
    position = Integer(validate=Range(min=0, max=100000))
    version = Integer()


class DryRunIn(Schema):
    record_id = Integer(load_default=None, allow_none=True, validate=Range(min=1, max=MAX_ID))
    record = Dict(load_default=None, allow_none=True)
    changes = Dict(load_default=None, allow_none=True)
    event = String(load_default=None, allow_none=True)
    # Try an edited, unsaved definition against the record (the editor's dry-run button).
    rule = Dict(load_default=None, allow_none=True)


class RuleQuery(SearchQuery):
    entity = String(load_default=None)
    event = String(load_default=None)


class TodoQuery(PageQuery):
    # false: the open ones whose start has come (the inbox); true: the completed, latest first.
    done = Boolean(load_default=False)
    # true: the open ones whose delayed start is still to come, the soonest first.
    scheduled = Boolean(load_default=False)


class RunQuery(PageQuery):
    rule_id = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))
    entity = String(load_default=None)
    record_id = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))
    outcome = String(load_default=None)


class AllowListIn(Schema):
    hosts = List(String(validate=Length(max=255)), required=True)
