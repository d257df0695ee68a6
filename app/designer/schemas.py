from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, String
from apiflask.validators import Length, Range

from app.api.frame import QueryParameters
from app.db import MAX_ID
from app.designer.services import KEY_PATTERN
from apiflask.validators import Regexp

MAX_XML = 5 * 1024 * 1024


class DraftCreate(Schema):
    key = String(load_default=None, validate=Regexp(KEY_PATTERN))
    name = String(load_default=None, validate=Length(max=200))
    xml = String(load_default=None, validate=Length(max=MAX_XML))
    template = String(load_default=None, validate=Length(max=120))
    copy_of = String(load_default=None, validate=Length(max=120))
    # With xml: when a process with the file's key exists, the file becomes its draft (its next
    # version once deployed) instead of a 409.
    as_next_version = Boolean(load_default=False)


class DraftSave(Schema):
    xml = String(required=True, validate=Length(min=1, max=MAX_XML))
    version = Integer(required=True, validate=Range(min=1, max=MAX_ID))
    autosave = Boolean(load_default=False)


class DraftDeploy(Schema):
    version = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))


class CheckQuery(QueryParameters):
    key = String(load_default=None, validate=Length(max=120))  # the process the diagram is a draft of


class XmlCheck(Schema):
    xml = String(required=True, validate=Length(min=1, max=MAX_XML))


class Rollback(Schema):
    version = Integer(required=True, validate=Range(min=1, max=MAX_ID))


class TestRunStart(Schema):
    data = Dict(load_default=dict)


class TaskComplete(Schema):
    data = Dict(load_default=dict)
