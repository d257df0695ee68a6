"""Validation of rule definitions, with a message per problem naming where it is.

Everything here works on a ``Catalog`` (field metadata plus look-ups for users, groups and
processes), so it is tested without a database and reused by the API, the editor and the
demo data alike.
"""
from __future__ import annotations

import ipaddress
import socket
import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from flask_babel import gettext as _

from app.automation.conditions import (CHANGE_OPERATORS, NO_VALUE, OPERATORS_BY_TYPE, as_stored, canonical_op,
                                       expected_value, is_group)
from app.automation.fields import DATE, DATETIME, NUMBER, TEXT, BadValue, EntitySpec, FieldSpec, coerce

MAX_DESCRIPTION = 2000  # shown whole on the rules list and in the audit log


RECORD_EVENTS = ("created", "updated", "deleted")
TIME_EVENTS = ("date_before", "date_after", "idle")
ALL_EVENTS = RECORD_EVENTS + ("stage_changed", "won", "lost") + TIME_EVENTS
ACTION_TYPES = ("set_fields", "create_record", "assign_owner", "share", "notify", "create_todo", "webhook",
                "start_workflow")
# What each action may say besides its type: anything else is a typo ("timout") that would be
# stored and silently not apply. A webhook's id (given at save) names it for its pending retries.
ACTION_KEYS = {
    "set_fields": {"values"},
    "create_record": {"entity", "mapping"},
    "assign_owner": {"strategy", "user", "group", "field", "map", "default"},
    "share": {"users", "groups"},
    "notify": {"users", "groups", "to_owner", "template"},
    "create_todo": {"assignee", "title", "description", "start", "deadline"},
    "webhook": {"id", "url", "secret", "timeout", "max_attempts"},
    "start_workflow": {"process_key", "mapping"},
}
CHANGES_RECORD = ("set_fields", "assign_owner", "share")
ASSIGN_STRATEGIES = ("user", "round_robin", "field_map", "fewest_open")
VALUE_MODES = ("value", "today", "copy", "template")
VALUE_SPEC_KEYS = frozenset({"mode", "value", "days", "from", "template"})  # any mode's (a switched mode leaves some)
MAX_DAYS = 3650
# "No activity for N days": measured from the newest activity record, not a field of the record.
IDLE_EXTRA = {"customer": ("last_activity",)}
MAX_CONDITION_DEPTH = 6
MAX_CONDITION_LEAVES = 100
MAX_ACTIONS = 20
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class Catalog:
    entities: dict[str, EntitySpec]
    user_exists: Callable[[str], bool] = lambda name: True
    group_exists: Callable[[str], bool] = lambda name: True
    # True/False when a workflow engine is installed, None when there is none to ask.
    process_known: Callable[[str], bool | None] = lambda key: None
    # (source entity, target entity) -> target fields filled automatically (links, owner).
    auto_links: Callable[[str, str], set] = lambda source, target: set()
    # Webhook hosts that may be called (loopback/private ones only when an admin allow-listed them).
    host_allowed: Callable[[str], bool] = lambda host: not private_host(host)


@dataclass
class Problems:
    items: list = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.items.append({"field": where, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)


def events_for(entity: EntitySpec) -> tuple:
    return RECORD_EVENTS + tuple(entity.extra_events) + TIME_EVENTS


def template_fields(template: str) -> list[str]:
    """Placeholder names in a ``{name}`` template (``{{`` and ``}}`` are literal braces)."""
    return _PLACEHOLDER.findall(template.replace("{{", "").replace("}}", ""))


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_rule(data: dict, catalog: Catalog) -> list[dict]:
    """Problems with a whole rule definition: ``[{"field", "message"}]``, empty when valid."""
    problems = Problems()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("name", _("A rule needs a name."))
    elif len(name) > 200:
        problems.add("name", _("The name is too long (at most 200 characters)."))
    if not isinstance(data.get("description", ""), str):
        problems.add("description", _("The description must be text."))
    elif len(data.get("description") or "") > MAX_DESCRIPTION:
        problems.add("description", _("At most %(n)d characters.", n=MAX_DESCRIPTION))
    entity = catalog.entities.get(data.get("entity"))
    if entity is None:
        problems.add("entity", _("Unknown record type %(name)s; choose one of: %(known)s.",
                                 name=data.get("entity"), known=", ".join(catalog.entities)))
        return problems.items
    event = data.get("event")
    if event not in events_for(entity):
        problems.add("event", _("Unknown event %(name)s for %(entity)s; choose one of: %(known)s.",
                                name=event, entity=entity.label, known=", ".join(events_for(entity))))
    else:
        _check_event_options(event, data.get("event_options") or {}, entity, problems)
    check_condition(data.get("condition"), entity, problems, without_changes=event in TIME_EVENTS)
    check_actions(data.get("actions"), entity, catalog, problems, event)
    return problems.items


def _check_event_options(event: str, options, entity: EntitySpec, problems: Problems) -> None:
    if event not in TIME_EVENTS:
        return
    if not isinstance(options, dict):
        problems.add("event_options", _("Event options must be an object."))
        return
    if not _int_in(options.get("days"), 0 if event != "idle" else 1, MAX_DAYS):
        problems.add("event_options.days", _("Give a whole number of days between %(low)d and %(high)d.",
                                             low=0 if event != "idle" else 1, high=MAX_DAYS))
    name = options.get("field", "updated_at" if event == "idle" else None)
    if event == "idle" and name in IDLE_EXTRA.get(entity.name, ()):
        return
    spec = entity.field(name) if name else None
    if event == "idle" and isinstance(name, str) and name.startswith("custom."):
        problems.add("event_options.field", _("Idle time counts from the record's own dates, not custom fields."))
    elif spec is None or spec.type not in (DATE, DATETIME):
        dates = ", ".join(f.name for f in entity.fields.values() if f.type in (DATE, DATETIME))
        problems.add("event_options.field", _("Choose a date field of %(entity)s: %(known)s.",
                                              entity=entity.label, known=dates))


def check_condition(condition, entity: EntitySpec, problems: Problems, where: str = "condition",
                    without_changes: bool = False) -> None:
    """``without_changes``: the event changes nothing (a date-based rule), so "changed" never holds."""
    if condition in (None, {}, []):
        return
    leaves = [0]

    def walk(node, path: str, depth: int) -> None:
        if depth > MAX_CONDITION_DEPTH:
            problems.add(path, _("Conditions are nested too deeply (at most %(n)d levels).", n=MAX_CONDITION_DEPTH))
            return
        if is_group(node):
            key = "and" if "and" in node else "or"
            children = node[key]
            if not isinstance(children, list):
                problems.add(f"{path}.{key}", _("A group holds a list of conditions."))
                return
            for index, child in enumerate(children):
                walk(child, f"{path}.{key}.{index}", depth + 1)
            return
        if not isinstance(node, dict) or "field" not in node:
            problems.add(path, _('A condition is {"field", "op", "value"} or an "and"/"or" group.'))
            return
        leaves[0] += 1
        check_leaf(node, entity, problems, path)
        if without_changes and canonical_op(node.get("op")) in CHANGE_OPERATORS:
            # Saved, such a rule never acted, without a word.
            problems.add(f"{path}.op", _("A date-based rule changes nothing: “changed” never holds. Compare the "
                                         "value itself (=, ≠, …)."))

    walk(condition, where, 1)
    if leaves[0] > MAX_CONDITION_LEAVES:
        problems.add(where, _("Too many conditions (at most %(n)d).", n=MAX_CONDITION_LEAVES))


def check_leaf(node: dict, entity: EntitySpec, problems: Problems, path: str) -> None:
    spec = entity.field(node.get("field"))
    if spec is None:
        problems.add(f"{path}.field", _("Unknown field %(name)s of %(entity)s.", name=node.get("field"),
                                        entity=entity.label))
        return
    op = canonical_op(node.get("op"))
    allowed = OPERATORS_BY_TYPE.get(spec.type, ())
    if op is None:
        problems.add(f"{path}.op", _("Unknown operator %(op)s.", op=node.get("op")))
        return
    if op not in allowed:
        problems.add(f"{path}.op", _("Operator %(op)s is not valid for %(field)s (a %(type)s field); use one of: "
                                     "%(known)s.", op=op, field=spec.said, type=spec.type_said, known=", ".join(allowed)))
        return
    node["op"] = op  # stored in canonical form
    if op in NO_VALUE:
        node.pop("value", None)
        return
    try:
        value = expected_value(spec, op, node.get("value"))
    except BadValue as error:
        problems.add(f"{path}.value", _("%(field)s: %(error)s.", field=spec.said, error=str(error)))
        return
    if spec.type == NUMBER:  # stored as numbers: the editor sends what was typed ("80", "5,000,000")
        node["value"] = [_json_number(v) for v in value] if isinstance(value, list) else _json_number(value)


def _json_number(number):
    return int(number) if number == number.to_integral_value() and abs(number) < 2 ** 53 else float(number)


def check_value_spec(spec_value, target: FieldSpec, source: EntitySpec, problems: Problems, path: str,
                     field_key: bool = False) -> None:
    """A value to write into ``target``: a literal, today ± N days, a copy of a source field, a
    template (``field_key``: the spec also names the field it sets)."""
    if not isinstance(spec_value, dict) or spec_value.get("mode", "value") not in VALUE_MODES:
        problems.add(path, _("A value is {\"mode\": one of %(modes)s, ...}.", modes=", ".join(VALUE_MODES)))
        return
    # "vaule" would be stored, and the value read as empty (a stage cleared instead of set).
    _refuse_unknown_settings(spec_value, VALUE_SPEC_KEYS | ({"field"} if field_key else set()), problems, path)
    mode = spec_value.get("mode", "value")
    days = spec_value.get("days", 0)
    if mode in ("today", "copy") and not _int_in(days, -MAX_DAYS, MAX_DAYS):
        problems.add(f"{path}.days", _("Give a whole number of days between %(low)d and %(high)d.",
                                       low=-MAX_DAYS, high=MAX_DAYS))
    if mode == "value":
        try:
            value = coerce(target, spec_value.get("value"))
        except BadValue as error:
            problems.add(f"{path}.value", _("%(field)s: %(error)s.", field=target.said, error=str(error)))
        else:
            if (value is None or (isinstance(value, str) and not value.strip())) and target.required:
                problems.add(f"{path}.value", _("%(field)s cannot be empty.", field=target.said))
            elif value is not None and target.check is not None:
                refused = target.check(value)
                if refused:
                    problems.add(f"{path}.value", _("%(field)s: %(error)s", field=target.said, error=refused))
    elif mode == "today":
        if target.type not in (DATE, DATETIME):
            problems.add(f"{path}.mode", _("Today ± days only fits a date field; %(field)s is a %(type)s field.",
                                           field=target.said, type=target.type_said))
    elif mode == "copy":
        origin = source.field(spec_value.get("from"))
        if origin is None:
            problems.add(f"{path}.from", _("Unknown field %(name)s of %(entity)s.", name=spec_value.get("from"),
                                           entity=source.label))
        elif not (origin.type == target.type or target.type == TEXT
                  or {origin.type, target.type} <= {DATE, DATETIME}):
            problems.add(f"{path}.from", _("Cannot copy %(origin)s (%(otype)s) into %(field)s (%(type)s).",
                                           origin=origin.said, otype=origin.type_said, field=target.said,
                                           type=target.type_said))
        elif days and origin.type not in (DATE, DATETIME):
            problems.add(f"{path}.days", _("Days can only be added to a date."))
    elif mode == "template":
        if target.type != TEXT:
            problems.add(f"{path}.mode", _("A template only fits a text field; %(field)s is a %(type)s field.",
                                           field=target.said, type=target.type_said))
        check_template(spec_value.get("template"), source, problems, f"{path}.template")


def check_template(template, entity: EntitySpec, problems: Problems, path: str, required: bool = True) -> None:
    if template is None or template == "":
        if required:
            problems.add(path, _("The text is required."))
        return
    if not isinstance(template, str) or len(template) > 5000:
        problems.add(path, _("The text must be at most 5000 characters."))
        return
    unknown = [name for name in template_fields(template) if entity.field(name) is None and name not in ("id", "link")]
    if unknown:
        problems.add(path, _("Unknown placeholders: %(names)s. Use {field} with a field name of %(entity)s.",
                             names=", ".join("{%s}" % n for n in unknown), entity=entity.label))


def check_actions(actions, entity: EntitySpec, catalog: Catalog, problems: Problems, event: str | None = None) -> None:
    if not isinstance(actions, list) or not actions:
        problems.add("actions", _("A rule needs at least one action."))
        return
    if len(actions) > MAX_ACTIONS:
        problems.add("actions", _("Too many actions (at most %(n)d).", n=MAX_ACTIONS))
        return
    for index, action in enumerate(actions):
        path = f"actions.{index}"
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            problems.add(f"{path}.type", _("Unknown action; choose one of: %(known)s.", known=", ".join(ACTION_TYPES)))
            continue
        if event == "deleted" and action["type"] in CHANGES_RECORD:
            problems.add(f"{path}.type", _("A deleted record cannot be changed; use a notification, a to-do, a "
                                           "webhook or a new record instead."))
            continue
        _refuse_unknown_settings(action, ACTION_KEYS[action["type"]] | {"type"}, problems, path,
                                 shown=ACTION_KEYS[action["type"]] - {"id"})
        CHECKS[action["type"]](action, entity, catalog, problems, path)


def _refuse_unknown_settings(given: dict, known, problems: Problems, path: str, shown=None) -> None:
    """A setting not among ``known`` is a typo ("timout") that would be stored and silently not
    apply; the message lists ``shown`` (default: ``known``), the ones to choose from."""
    for key in sorted(set(given) - set(known)):
        problems.add(f"{path}.{key}", _("Unknown setting %(key)s; it takes: %(known)s.", key=key,
                                        known=", ".join(sorted(shown if shown is not None else known))))


def _users_and_groups(action, catalog: Catalog, problems: Problems, path: str) -> None:
    for key, exists, message in (("users", catalog.user_exists, _("Unknown user %(name)s.")),
                                 ("groups", catalog.group_exists, _("Unknown group %(name)s."))):
        names = action.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.add(f"{path}.{key}", _("A list of names is expected."))
            continue
        for name in names:
            if not exists(name):
                problems.add(f"{path}.{key}", message % {"name": name})


def _check_set_fields(action, entity, catalog, problems, path):
    values = action.get("values")
    if not isinstance(values, list) or not values:
        problems.add(f"{path}.values", _("Choose at least one field to set."))
        return
    _check_assignments(values, entity, entity, problems, f"{path}.values")


def _check_assignments(values, target_entity: EntitySpec, source: EntitySpec, problems, path) -> set:
    seen = set()
    for index, item in enumerate(values):
        where = f"{path}.{index}"
        target = target_entity.field(item.get("field")) if isinstance(item, dict) else None
        if target is None:
            problems.add(f"{where}.field", _("Unknown field %(name)s of %(entity)s.",
                                             name=item.get("field") if isinstance(item, dict) else item,
                                             entity=target_entity.label))
            continue
        if not target.writable:
            problems.add(f"{where}.field", _("%(field)s cannot be set by a rule.", field=target.said))
            continue
        if target.name in seen:
            problems.add(f"{where}.field", _("%(field)s is set twice.", field=target.said))
        seen.add(target.name)
        check_value_spec(item, target, source, problems, where, field_key=True)
    return seen


def _check_create_record(action, entity, catalog, problems, path):
    target = catalog.entities.get(action.get("entity"))
    if target is None:
        problems.add(f"{path}.entity", _("Unknown record type %(name)s; choose one of: %(known)s.",
                                         name=action.get("entity"), known=", ".join(catalog.entities)))
        return
    mapping = action.get("mapping", [])
    if not isinstance(mapping, list):
        problems.add(f"{path}.mapping", _("The field mapping must be a list."))
        return
    mapped = _check_assignments(mapping, target, entity, problems, f"{path}.mapping")
    missing = [f.said for f in target.fields.values()
               if f.required and f.name not in mapped and f.name not in catalog.auto_links(entity.name, target.name)]
    if missing:
        problems.add(f"{path}.mapping", _("Map the required fields of %(entity)s: %(names)s.", entity=target.label,
                                          names=", ".join(missing)))


def _check_assign_owner(action, entity, catalog, problems, path):
    strategy = action.get("strategy")
    if strategy not in ASSIGN_STRATEGIES:
        problems.add(f"{path}.strategy", _("Choose how to assign: %(known)s.", known=", ".join(ASSIGN_STRATEGIES)))
        return
    if strategy == "user":
        if not action.get("user"):  # not "Unknown user None"
            problems.add(f"{path}.user", _("Choose the user."))
        elif not isinstance(action["user"], str) or not catalog.user_exists(action["user"]):
            problems.add(f"{path}.user", _("Unknown user %(name)s.", name=action.get("user")))
    elif strategy in ("round_robin", "fewest_open"):
        if not action.get("group"):
            problems.add(f"{path}.group", _("Choose the group."))
        elif not isinstance(action["group"], str) or not catalog.group_exists(action["group"]):
            problems.add(f"{path}.group", _("Unknown group %(name)s.", name=action.get("group")))
    else:
        spec = entity.field(action.get("field"))
        if spec is None:
            problems.add(f"{path}.field", _("Unknown field %(name)s of %(entity)s.", name=action.get("field"),
                                            entity=entity.label))
        mapping = action.get("map")
        if not isinstance(mapping, dict) or not mapping:
            problems.add(f"{path}.map", _("Map at least one value to a user."))
        else:
            for value, username in mapping.items():
                if not isinstance(username, str) or not catalog.user_exists(username):
                    problems.add(f"{path}.map.{value}", _("Unknown user %(name)s.", name=username))
            if spec is not None:
                _map_as_stored(action, spec, problems, path)
        default = action.get("default")
        if default not in (None, "") and (not isinstance(default, str) or not catalog.user_exists(default)):
            problems.add(f"{path}.default", _("Unknown user %(name)s.", name=default))


def _map_as_stored(action: dict, spec: FieldSpec, problems: Problems, path: str) -> None:
    """The map's values as the field stores them: 浙江省 or Zhejiang typed, 浙江 stored, and the
    customer went to the default person instead."""
    stored: dict[str, str] = {}
    for value, username in action["map"].items():
        key = str(as_stored(spec, value))
        if key in stored and stored[key] != username:
            problems.add(f"{path}.map.{value}", _("%(value)s is the same %(field)s as another value mapped to "
                                                 "someone else.", value=value, field=spec.said))
        stored[key] = username
    action["map"] = stored


def _check_share(action, entity, catalog, problems, path):
    _users_and_groups(action, catalog, problems, path)
    if not action.get("users") and not action.get("groups"):
        problems.add(path, _("Choose at least one user or group."))


def _check_notify(action, entity, catalog, problems, path):
    _users_and_groups(action, catalog, problems, path)
    if not action.get("users") and not action.get("groups") and not action.get("to_owner"):
        problems.add(path, _("Choose who gets the message: users, groups or the record's owner."))
    check_template(action.get("template"), entity, problems, f"{path}.template")


def _check_create_todo(action, entity, catalog, problems, path):
    assignee = action.get("assignee", "owner")
    if assignee != "owner" and (not isinstance(assignee, str) or not catalog.user_exists(assignee)):
        problems.add(f"{path}.assignee", _("Unknown user %(name)s.", name=assignee))
    check_template(action.get("title"), entity, problems, f"{path}.title")
    check_template(action.get("description"), entity, problems, f"{path}.description", required=False)
    stamp = FieldSpec("deadline", DATE)
    for key in ("deadline", "start"):
        if action.get(key) not in (None, {}):
            check_value_spec(action[key], stamp, entity, problems, f"{path}.{key}")
    start, deadline = action.get("start"), action.get("deadline")
    # Both counted from the day the rule runs: a deadline before the start is known to be wrong now.
    if all(isinstance(v, dict) and v.get("mode") == "today" and _int_in(v.get("days", 0), -MAX_DAYS, MAX_DAYS)
           for v in (start, deadline)) and int(deadline.get("days", 0)) < int(start.get("days", 0)):
        problems.add(f"{path}.deadline", _("The deadline comes before the to-do starts."))


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and so is any IPv4 address the IPv6 one carries (mapped ::ffff:a.b.c.d, the old
    compatible ::a.b.c.d, 6to4, Teredo, NAT64): Python calls ``[::a9fe:a9fe]`` or
    ``[64:ff9b::a9fe:a9fe]`` global, and a gateway delivers them to 169.254.169.254."""
    if not address.is_global:
        return False
    if address.version == 4:
        return True
    carried = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if int(address) >> 32 == 0 or any(address in network for network in _NAT64):
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(inner.is_global for inner in carried if inner is not None)


def private_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:  # the old shorthands the resolver still takes: 127.1, 2130706433, 0x7f.0.0.1
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    return not public_address(address)


def _check_webhook(action, entity, catalog, problems, path):
    url = action.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        problems.add(f"{path}.url", _("Give an http:// or https:// address."))
    elif parts.username or parts.password:
        problems.add(f"{path}.url", _("Put no credentials in the address; use the signing secret."))
    elif not catalog.host_allowed(parts.hostname):
        problems.add(f"{path}.url", _("%(host)s is a loopback or private address; an administrator must allow-list "
                                      "it first.", host=parts.hostname))
    secret = action.get("secret", "")
    if not isinstance(secret, str):
        problems.add(f"{path}.secret", _("The secret must be text."))
    elif len(secret) < 16:  # unsigned (or guessably signed) calls could be forged by anyone
        problems.add(f"{path}.secret", _("Give a signing secret of at least 16 characters: the receiver checks "
                                         "each call's signature with it."))
    if not _int_in(action.get("timeout", 10), 1, 60):
        problems.add(f"{path}.timeout", _("Give a timeout between %(low)d and %(high)d seconds.", low=1, high=60))
    if not _int_in(action.get("max_attempts", 5), 1, 10):
        problems.add(f"{path}.max_attempts", _("Give between %(low)d and %(high)d attempts.", low=1, high=10))


def _check_start_workflow(action, entity, catalog, problems, path):
    key = action.get("process_key")
    if not isinstance(key, str) or not key.strip():
        problems.add(f"{path}.process_key", _("Choose the process to start."))
        return
    known = catalog.process_known(key)
    if known is False:
        problems.add(f"{path}.process_key", _("Unknown process %(key)s: deploy it first.", key=key))
    elif known is None:
        problems.add(f"{path}.process_key", _("No workflow engine is installed, so process %(key)s cannot be "
                                              "started.", key=key))
    mapping = action.get("mapping", {})
    if not isinstance(mapping, dict):
        problems.add(f"{path}.mapping", _("The field mapping must be an object of form field → record field."))
        return
    for form_field, record_field in mapping.items():
        if entity.field(record_field) is None:
            problems.add(f"{path}.mapping.{form_field}", _("Unknown field %(name)s of %(entity)s.", name=record_field,
                                                          entity=entity.label))


CHECKS = {
    "set_fields": _check_set_fields,
    "create_record": _check_create_record,
    "assign_owner": _check_assign_owner,
    "share": _check_share,
    "notify": _check_notify,
    "create_todo": _check_create_todo,
    "webhook": _check_webhook,
    "start_workflow": _check_start_workflow,
}

__all__ = ["ALL_EVENTS", "ACTION_TYPES", "Catalog", "TIME_EVENTS", "events_for", "private_host", "template_fields",
           "validate_rule"]
