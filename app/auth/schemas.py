from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Email, Integer, List, String
from apiflask.validators import Length, OneOf

from app.api.frame import SearchQuery
from app.auth.models import ROLES


class TokenIn(Schema):
    username = String(required=True, validate=Length(min=1, max=80))
    password = String(required=True, validate=Length(min=1, max=1000))


class TokenOut(Schema):
    token = String()
    expires_at = DateTime()


class UserOut(Schema):
    id = Integer()
    username = String()
    display_name = String()
    email = String(allow_none=True)
    active = Boolean()
    roles = List(String(), attribute="sorted_roles")
    groups = List(String(), attribute="sorted_groups")
    locale = String(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()
    version = Integer()


class UserIn(Schema):
    username = String(required=True, validate=Length(min=1, max=80))
    password = String(required=True, validate=Length(min=1, max=1000))
    display_name = String(load_default="", validate=Length(max=120))
    email = Email(load_default=None, allow_none=True)
    roles = List(String(validate=OneOf(ROLES)), load_default=list)
    groups = List(String(), load_default=list)
    locale = String(load_default=None, allow_none=True, validate=OneOf(["zh_CN", "en"]))


class UserPatch(Schema):
    display_name = String(validate=Length(max=120))
    email = Email(allow_none=True)
    roles = List(String(validate=OneOf(ROLES)))
    groups = List(String())
    active = Boolean()
    password = String(validate=Length(min=1, max=1000))
    locale = String(allow_none=True, validate=OneOf(["zh_CN", "en"]))
    version = Integer()


class GroupOut(Schema):
    id = Integer()
    name = String()
    display_name = String()
    description = String()
    manager = String(attribute="manager_username", allow_none=True)
    members = List(String(), attribute="member_usernames")
    created_at = DateTime()
    updated_at = DateTime()
    version = Integer()


class GroupIn(Schema):
    name = String(required=True, validate=Length(min=1, max=80))
    display_name = String(load_default="", validate=Length(max=120))
    description = String(load_default="", validate=Length(max=500))
    manager = String(load_default=None, allow_none=True)
    members = List(String(), load_default=list)
    parent = String(load_default=None, allow_none=True)


class GroupPatch(Schema):
    display_name = String(validate=Length(max=120))
    description = String(validate=Length(max=500))
    manager = String(allow_none=True)
    members = List(String())
    parent = String(allow_none=True)
    version = Integer()


class DirectoryQuery(SearchQuery):
    active = Boolean(load_default=None, allow_none=True)
