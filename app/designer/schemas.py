from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, String
from apiflask.validators import Length, Range

from app.designer.services import KEY_PATTERN
from apiflask.validators import Regexp

MAX_XML = 5 * 1024 * 1024
MAX_INT = 2**31 - 1  # integer columns are 32-bit on PostgreSQL (and bigger ones overflow SQLite)


class DraftCreate(Schema):
    key = String(load_default=None, validate=Regexp(KEY_PATTERN))
    name = String(load_default=None, validate=Length(max=200))
    xml = String(load_default=None, validate=Length(max=MAX_XML))
    template = String(load_default=None, validate=Length(max=120))
    copy_of = String(load_default=None, validate=Length(max=120))


class DraftSave(Schema):
    xml = String(required=True, validate=Length(min=1, max=MAX_XML))
    version = Integer(required=True, validate=Range(min=1, max=MAX_INT))
    autosave = Boolean(load_default=False)


class DraftDeploy(Schema):
    version = Integer(load_default=None, validate=Range(min=1, max=MAX_INT))


class XmlCheck(Schema):
    xml = String(required=True, validate=Length(min=1, max=MAX_XML))


class Rollback(Schema):
    version = Integer(required=True, validate=Range(min=1, max=MAX_INT))


class TestRunStart(Schema):
    data = Dict(load_default=dict)


class TaskComplete(Schema):
    data = Dict(load_default=dict)
