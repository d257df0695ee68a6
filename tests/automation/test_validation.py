"""Bad rule definitions are refused with messages that say what and where."""
import pytest

from app.automation.validation import validate_rule
from tests.automation.fieldset import catalog

SECRET = "signing-secret-0123456789"  # webhooks need a signing secret of 16+ characters

GOOD = {
    "name": "Big customers are class A", "entity": "customer", "event": "created",
    "condition": {"and": [{"field": "registered_capital", "op": "≥", "value": 10_000_000}]},
    "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value", "value": "A"}]},
                {"type": "notify", "users": ["manager"], "template": "大客户 {name}：注册资金 {registered_capital}"}],
}


def problems(**changes):
    rule = {**GOOD, **changes}
    return {p["field"]: p["message"] for p in validate_rule(rule, catalog())}


def test_a_good_rule_passes_and_its_operators_are_stored_canonically():
    rule = {**GOOD, "condition": {"and": [dict(GOOD["condition"]["and"][0])]}}
    assert validate_rule(rule, catalog()) == []
    assert rule["condition"]["and"][0]["op"] == "ge"


@pytest.mark.parametrize("changes,where,words", [
    ({"name": " "}, "name", "needs a name"),
    ({"entity": "invoice"}, "entity", "Unknown record type invoice"),
    ({"event": "won"}, "event", "Unknown event won for customer"),
    ({"condition": {"field": "capital", "op": "ge", "value": 1}}, "condition.field", "Unknown field capital"),
    ({"condition": {"field": "name", "op": "ge", "value": "x"}}, "condition.op", "not valid for name (a text field)"),
    ({"condition": {"field": "registered_capital", "op": "contains", "value": "1"}}, "condition.op",
     "not valid for registered_capital (a number field)"),
    ({"condition": {"field": "registered_capital", "op": "like", "value": 1}}, "condition.op", "Unknown operator like"),
    ({"condition": {"and": [{"field": "registered_capital", "op": "ge", "value": "ten million"}]}},
     "condition.and.0.value", "not a number"),
    ({"condition": {"field": "registered_capital", "op": "eq", "value": "1e309"}}, "condition.value", "too large"),
    ({"actions": [{"type": "set_fields", "values": [{"field": "registered_capital", "value": 1e300}]}]},
     "actions.0.values.0.value", "too large"),
    ({"condition": {"field": "customer_class", "op": "eq", "value": "D"}}, "condition.value", "not one of: A, B, C"),
    ({"condition": {"field": "founded_on", "op": "lt", "value": "yesterday"}}, "condition.value", "not a date"),
    ({"condition": {"field": "province", "op": "in", "value": "福建"}}, "condition.value", "a non-empty list"),
    ({"condition": {"or": "province"}}, "condition.or", "list of conditions"),
    ({"actions": []}, "actions", "at least one action"),
    ({"description": "说明" * 1001}, "description", "At most 2000 characters"),
    ({"actions": [{"type": "explode"}]}, "actions.0.type", "Unknown action"),
    ({"actions": [{"type": "set_fields", "values": [{"field": "customer_class", "value": "Z"}]}]},
     "actions.0.values.0.value", "not one of"),
    ({"actions": [{"type": "set_fields", "values": [{"field": "updated_at", "mode": "today"}]}]},
     "actions.0.values.0.field", "cannot be set by a rule"),
    ({"actions": [{"type": "set_fields", "values": [{"field": "province", "mode": "today"}]}]},
     "actions.0.values.0.mode", "only fits a date field"),
    ({"actions": [{"type": "set_fields", "values": [{"field": "registered_capital", "mode": "copy",
                                                      "from": "name"}]}]},
     "actions.0.values.0.from", "Cannot copy name (text) into registered_capital (number)"),
    ({"actions": [{"type": "notify", "users": ["ghost"], "template": "x"}]}, "actions.0.users", "Unknown user ghost"),
    ({"actions": [{"type": "notify", "users": ["manager"], "template": "{name.__class__}"}]},
     "actions.0.template", "Unknown placeholders: {name.__class__}"),
    ({"actions": [{"type": "notify", "template": "hello"}]}, "actions.0", "who gets the message"),
    ({"actions": [{"type": "assign_owner", "strategy": "round_robin", "group": "nobody"}]}, "actions.0.group",
     "Unknown group nobody"),
    ({"actions": [{"type": "assign_owner", "strategy": "field_map", "field": "province", "map": {"福建": "ghost"}}]},
     "actions.0.map.福建", "Unknown user ghost"),
    ({"actions": [{"type": "assign_owner", "strategy": "lottery"}]}, "actions.0.strategy", "how to assign"),
    ({"actions": [{"type": "create_record", "entity": "contract", "mapping": []}]}, "actions.0.mapping",
     "required fields of contract: title"),
    ({"actions": [{"type": "create_todo", "title": "Renew", "deadline": {"mode": "copy", "from": "name"}}]},
     "actions.0.deadline.from", "Cannot copy name"),
    ({"actions": [{"type": "webhook", "url": "ftp://example.com/x", "secret": SECRET}]}, "actions.0.url", "http:// or https://"),
    ({"actions": [{"type": "webhook", "url": "http://127.0.0.1:8080/hook", "secret": SECRET}]}, "actions.0.url",
     "loopback or private"),
    ({"actions": [{"type": "webhook", "url": "http://10.1.2.3/hook", "secret": SECRET}]}, "actions.0.url", "loopback or private"),
    ({"actions": [{"type": "webhook", "url": "http://localhost/hook", "secret": SECRET}]}, "actions.0.url", "loopback or private"),
    # The resolver's old shorthands of 127.0.0.1 are loopback too.
    *[({"actions": [{"type": "webhook", "url": f"http://{host}/hook", "secret": SECRET}]}, "actions.0.url",
       "loopback or private") for host in ("127.1", "2130706433", "0x7f.0.0.1")],
    ({"actions": [{"type": "webhook", "url": "https://example.com/hook", "secret": "short"}]}, "actions.0.secret",
     "at least 16 characters"),
    ({"actions": [{"type": "webhook", "url": "https://example.com/hook"}]}, "actions.0.secret", "at least 16 characters"),
    ({"actions": [{"type": "webhook", "url": "https://example.com", "secret": SECRET, "timeout": 600}]}, "actions.0.timeout",
     "timeout between"),
    ({"actions": [{"type": "start_workflow", "process_key": "nope"}]}, "actions.0.process_key",
     "Unknown process nope"),
    # Saved, the dry run said "would run" and every matching save failed on the required name.
    ({"actions": [{"type": "set_fields", "values": [{"field": "name", "mode": "value", "value": "  "}]}]},
     "actions.0.values.0.value", "cannot be empty"),
    ({"event": "date_before", "event_options": {"field": "name", "days": 30}}, "event_options.field",
     "Choose a date field"),
    ({"event": "date_before", "event_options": {"field": "founded_on", "days": -1}}, "event_options.days",
     "whole number of days"),
    ({"event": "deleted"}, "actions.0.type", "deleted record cannot be changed"),
    # A date-based rule changes nothing: saved, it never acted.
    ({"event": "date_before", "event_options": {"field": "founded_on", "days": 3},
      "condition": {"and": [{"field": "customer_class", "op": "changed_to", "value": "A"}]}},
     "condition.and.0.op", "“changed” never holds"),
    ({"event": "idle", "event_options": {"field": "custom.visit_on", "days": 1}}, "event_options.field",
     "not custom fields"),
    ({"entity": "contract", "event": "idle", "event_options": {"field": "last_activity", "days": 3},
      "condition": None, "actions": [{"type": "notify", "to_owner": True, "template": "x"}]}, "event_options.field",
     "Choose a date field"),
])
def test_bad_definitions_are_refused_with_clear_messages(changes, where, words):
    found = problems(**changes)
    assert where in found, found
    assert words in found[where], found[where]


def test_start_workflow_without_an_engine_says_so():
    rule = {**GOOD, "actions": [{"type": "start_workflow", "process_key": "customer_report"}]}
    found = validate_rule(rule, catalog(process_known=lambda key: None))
    assert found and "No workflow engine" in found[0]["message"]
    assert validate_rule(rule, catalog()) == []


def test_an_allow_listed_private_webhook_host_is_accepted():
    rule = {**GOOD, "actions": [{"type": "webhook", "url": "http://127.0.0.1:9000/hook", "secret": SECRET}]}
    assert validate_rule(rule, catalog(host_allowed=lambda host: host == "127.0.0.1")) == []


def test_a_misspelt_action_setting_is_refused_not_stored():
    """"timout" would be stored and the default timeout would apply without a word."""
    rule = {**GOOD, "actions": [{"type": "webhook", "url": "https://oa.example.com/hook", "secret": SECRET,
                                 "timout": 30, "max_attemps": 10}]}
    found = {p["field"]: p["message"] for p in validate_rule(rule, catalog())}
    assert set(found) == {"actions.0.timout", "actions.0.max_attemps"}
    assert "max_attempts, secret, timeout, url" in found["actions.0.timout"]
    # One level down too: "vaule" read as empty would clear the stage it was to set.
    rule = {**GOOD, "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value",
                                                                    "vaule": "A"}]},
                                {"type": "create_todo", "title": "回访", "deadline": {"mode": "today", "dyas": 3}}]}
    found = {p["field"] for p in validate_rule(rule, catalog())}
    assert {"actions.0.values.0.vaule", "actions.1.deadline.dyas"} <= found


def test_an_assignment_without_its_user_or_group_asks_for_one():
    for strategy, key in (("user", "user"), ("round_robin", "group")):
        rule = {**GOOD, "actions": [{"type": "assign_owner", "strategy": strategy}]}
        found = {p["field"]: p["message"] for p in validate_rule(rule, catalog())}
        assert found == {f"actions.0.{key}": f"Choose the {key}."}  # not "Unknown user None."


def test_a_to_do_due_before_it_starts_is_refused():
    def todo(start_days, deadline_days):
        return {**GOOD, "actions": [{"type": "create_todo", "title": "回访 {name}",
                                     "start": {"mode": "today", "days": start_days},
                                     "deadline": {"mode": "today", "days": deadline_days}}]}

    found = {p["field"]: p["message"] for p in validate_rule(todo(10, -5), catalog())}
    assert found == {"actions.0.deadline": "The deadline comes before the to-do starts."}
    assert validate_rule(todo(2, 2), catalog()) == [] and validate_rule(todo(0, 3), catalog()) == []


def test_time_events_need_a_date_field_and_days():
    rule = {**GOOD, "entity": "contract", "event": "date_before", "event_options": {"field": "expires_on", "days": 30},
            "condition": None, "actions": [{"type": "create_todo", "title": "续签 {title}",
                                            "deadline": {"mode": "copy", "from": "expires_on"}}]}
    assert validate_rule(rule, catalog()) == []


def test_a_literal_the_record_would_refuse_is_refused_when_the_rule_is_saved(ctx, demo_people):
    # Before, "set 金额 to -5" was saved and failed at every new opportunity (blocking every
    # salesperson's save when the rule blocks).
    from flask_babel import force_locale

    from app.automation.catalog import catalog
    from app.automation.validation import validate_rule

    def refused(entity, field, value):
        rule = {"name": "r", "entity": entity, "event": "created",
                "actions": [{"type": "set_fields", "values": [{"field": field, "value": value}]}]}
        return {p["field"]: p["message"] for p in validate_rule(rule, catalog())}

    with force_locale("en"):
        assert refused("opportunity", "amount", -5) == {"actions.0.values.0.value": "Amount: Must not be negative."}
        assert "11 digits" in refused("customer", "phone", "1380013800")["actions.0.values.0.value"]
        assert "Credit code" in refused("customer", "credit_code", "9144030071526726XH")["actions.0.values.0.value"]
        assert refused("opportunity", "amount", 5) == {}
        assert refused("customer", "phone", "0592-5551234") == {}


def test_a_number_condition_is_stored_as_numbers_however_it_was_typed(api_as, demo_people):
    """The editor sent "80" and ["5000000", "3000000"]: API readers got text for a number field."""
    made = api_as("admin").post("/api/v1/automation-rules", json={
        "name": "大客户", "entity": "customer", "event": "created",
        "condition": {"and": [{"field": "registered_capital", "op": "ge", "value": "5,000,000"},
                              {"field": "registered_capital", "op": "in", "value": ["5000000", "3000000.5"]}]},
        "actions": [{"type": "notify", "users": ["manager"], "template": "{name}"}]})
    assert made.status_code == 201, made.get_json()
    leaves = made.get_json()["condition"]["and"]
    assert leaves[0]["value"] == 5000000 and leaves[1]["value"] == [5000000, 3000000.5]
