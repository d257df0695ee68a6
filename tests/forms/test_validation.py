"""validate_submission and check_schema, rule by rule (pure functions, English messages)."""
import pytest

from app.forms.validation import check_schema, normalise_schema, validate_submission


def form(*components):
    return {"type": "default", "components": list(components)}


TEXT = {"type": "textfield", "key": "t", "label": "T"}
NUMBER = {"type": "number", "key": "n", "label": "N"}
CHOICES = [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]


@pytest.mark.parametrize("field, value, ok, cleaned", [
    # required
    (dict(TEXT, validate={"required": True}), "x", True, "x"),
    (dict(TEXT, validate={"required": True}), "", False, None),
    (dict(TEXT, validate={"required": True}), None, False, None),
    ({"type": "checkbox", "key": "c", "validate": {"required": True}}, False, False, None),
    ({"type": "checkbox", "key": "c", "validate": {"required": True}}, True, True, True),
    ({"type": "checklist", "key": "c", "values": CHOICES, "validate": {"required": True}}, [], False, None),
    # text types and lengths (trimmed, like form-js)
    (TEXT, 12, False, None),
    (TEXT, ["a"], False, None),
    (dict(TEXT, validate={"minLength": 3}), "ab ", False, None),
    (dict(TEXT, validate={"minLength": 3}), "abc", True, "abc"),
    (dict(TEXT, validate={"maxLength": 3}), "abcd", False, None),
    (dict(TEXT, validate={"maxLength": 3}), "abc", True, "abc"),
    (TEXT, "x" * 20001, False, None),
    # pattern: searched like JavaScript's RegExp.test
    (dict(TEXT, validate={"pattern": "^[0-9A-Z]{18}$"}), "91350200MA2XXXXX0X", True, "91350200MA2XXXXX0X"),
    (dict(TEXT, validate={"pattern": "^[0-9A-Z]{18}$"}), "9135", False, None),
    (dict(TEXT, validate={"pattern": "[0-9]"}), "abc1", True, "abc1"),
    (dict(TEXT, validate={"validationType": "email"}), "a@example.com", True, "a@example.com"),
    (dict(TEXT, validate={"validationType": "email"}), "a@", False, None),
    (dict(TEXT, validate={"validationType": "phone"}), "+8613800138000", True, "+8613800138000"),
    (dict(TEXT, validate={"validationType": "phone"}), "138-0013", False, None),
    # numbers: type, range, decimals, increment; numeric strings become numbers
    (NUMBER, 5, True, 5),
    (NUMBER, "5.50", True, 5.5),
    (NUMBER, "abc", False, None),
    (NUMBER, True, False, None),
    (NUMBER, "NaN", False, None),
    (NUMBER, "Infinity", False, None),
    (dict(NUMBER, validate={"min": 10}), 9, False, None),
    (dict(NUMBER, validate={"min": 10}), 10, True, 10),
    (dict(NUMBER, validate={"max": 10}), 10.5, False, None),
    (dict(NUMBER, decimalDigits=0), 1.5, False, None),
    (dict(NUMBER, decimalDigits=2), "1.25", True, 1.25),
    (dict(NUMBER, decimalDigits=2), "1.255", False, None),
    (dict(NUMBER, increment=5), 12, False, None),
    (dict(NUMBER, serializeToString=True), "12", True, "12"),
    # sizes a number holds exactly, checked before any arithmetic ("1e700000" spun for seconds)
    (NUMBER, "999999999999999", True, 999999999999999),
    (NUMBER, "1e15", False, None),
    (NUMBER, "1e700000", False, None),
    (NUMBER, "1e-700000", False, None),
    (dict(NUMBER, increment=5), "1e-700000", False, None),
    (NUMBER, "0E+20", True, 0),  # zero, however written
    (dict(NUMBER, decimalDigits=0), "0e-999999999", True, 0),
    (NUMBER, [], True, None),  # empty, stored as empty ([] stopped a gateway comparing it)
    (dict(NUMBER, serializeToString=True), " 12 ", True, "12"),  # the checked number, not the text typed
    (dict(NUMBER, serializeToString=True), "1e14", True, "100000000000000"),
    # checkbox
    ({"type": "checkbox", "key": "c"}, "yes", False, None),
    ({"type": "checkbox", "key": "c"}, True, True, True),
    # single choice
    ({"type": "radio", "key": "r", "values": CHOICES}, "yes", True, "yes"),
    ({"type": "radio", "key": "r", "values": CHOICES}, "maybe", False, None),
    ({"type": "select", "key": "s", "values": CHOICES}, "no", True, "no"),
    ({"type": "select", "key": "s", "values": CHOICES}, ["no"], False, None),
    # multiple choice
    ({"type": "checklist", "key": "c", "values": CHOICES}, ["yes", "no", "yes"], True, ["yes", "no"]),
    ({"type": "checklist", "key": "c", "values": CHOICES}, ["yes", "maybe"], False, None),
    ({"type": "taglist", "key": "c", "values": CHOICES}, "yes", False, None),
    # dates and times
    ({"type": "datetime", "key": "d", "subtype": "date"}, "2026-11-22", True, "2026-11-22"),
    ({"type": "datetime", "key": "d", "subtype": "date"}, "2026-02-30", False, None),
    ({"type": "datetime", "key": "d", "subtype": "date"}, "22.11.2026", False, None),
    ({"type": "datetime", "key": "d", "subtype": "time"}, "09:30", True, "09:30"),
    ({"type": "datetime", "key": "d", "subtype": "time"}, "25:00", False, None),
    ({"type": "datetime", "key": "d", "subtype": "datetime"}, "2026-11-22T09:30Z", True, "2026-11-22T09:30Z"),
    ({"type": "datetime", "key": "d", "subtype": "datetime"}, "2026-11-22", False, None),
])
def test_each_rule(app, field, value, ok, cleaned):
    with app.app_context():
        clean, errors = validate_submission(form(field), {field["key"]: value})
    assert (not errors) is ok, errors
    if ok:
        assert clean[field["key"]] == cleaned
    else:
        assert list(errors) == [field["key"]] and errors[field["key"]]
        assert field["key"] not in clean or clean[field["key"]] in ("", None, [], False)


def test_catastrophic_pattern_times_out_instead_of_hanging(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        clean, errors = validate_submission(form(dict(TEXT, validate={"pattern": "^(a|aa)+$"})), {"t": "a" * 5000 + "!"})
    assert "too complex" in errors["t"]


def test_unknown_readonly_embedded_and_typename_keys_are_dropped(app):
    schema = form(
        TEXT,
        {"type": "textfield", "key": "locked", "readonly": True},
        {"type": "textfield", "key": "off", "disabled": True},
        {"type": "textfield", "key": "province", "properties": {"crm_field": "customer.province"}},
        {"type": "textfield", "key": "feel", "readonly": "=true"},
        {"type": "text", "text": "hello"},
    )
    data = {"t": "ok", "locked": "x", "off": "x", "province": "福建", "feel": "x", "typename": "BpmnWorkflow",
            "extra": 1, "__class__": "x"}
    with app.app_context():
        clean, errors = validate_submission(schema, data)
    assert errors == {}
    assert clean == {"t": "ok"}


def test_missing_fields_get_form_js_empty_values_and_defaults(app):
    schema = form(TEXT, NUMBER, {"type": "checkbox", "key": "c"}, {"type": "checklist", "key": "l", "values": CHOICES},
                  {"type": "radio", "key": "r", "values": CHOICES, "defaultValue": "no"})
    with app.app_context():
        clean, errors = validate_submission(schema, {})
    assert errors == {}
    assert clean == {"t": "", "n": None, "c": False, "l": [], "r": "no"}


def test_required_when_rule(app):
    schema = form({"type": "radio", "key": "decision", "values": [{"value": "approve"}, {"value": "reject"}],
                   "validate": {"required": True}},
                  {"type": "textarea", "key": "comment", "properties": {"required_when": "decision=reject"}})
    with app.app_context():
        assert validate_submission(schema, {"decision": "approve"}) == ({"decision": "approve", "comment": ""}, {})
        _, errors = validate_submission(schema, {"decision": "reject", "comment": "  "})
        assert set(errors) == {"comment"}
        assert validate_submission(schema, {"decision": "reject", "comment": "撞单"})[1] == {}
        assert set(validate_submission(schema, {})[1]) == {"decision"}


def test_required_when_a_read_only_field_uses_the_value_it_was_shown_with(app):
    schema = form({"type": "textfield", "key": "province", "properties": {"crm_field": "customer.province"}},
                  {"type": "textarea", "key": "note", "properties": {"required_when": "province=福建"}})
    with app.app_context():
        assert set(validate_submission(schema, {"province": "广东"}, initial={"province": "福建"})[1]) == {"note"}
        assert validate_submission(schema, {"province": "福建"}, initial={"province": "广东"})[1] == {}


def test_required_field_hidden_by_a_feel_condition_is_not_demanded(app):
    schema = form(dict(TEXT, validate={"required": True}, conditional={"hide": "=x = 1"}))
    with app.app_context():
        assert validate_submission(schema, {})[1] == {}


def test_options_from_a_key_use_the_initial_data(app):
    schema = form({"type": "select", "key": "s", "valuesKey": "choices"})
    initial = {"choices": [{"label": "A", "value": "a"}]}
    with app.app_context():
        assert validate_submission(schema, {"s": "a"}, initial=initial)[1] == {}
        assert "s" in validate_submission(schema, {"s": "b"}, initial=initial)[1]
        assert "s" in validate_submission(schema, {"s": "a"})[1]


def test_data_must_be_an_object(app):
    with app.app_context():
        assert validate_submission(form(TEXT), ["t"])[1]


def test_messages_follow_the_request_language(app):
    schema = form(dict(TEXT, validate={"required": True}))
    with app.app_context():  # no request (the worker): the default language
        assert validate_submission(schema, {})[1] == {"t": "此字段为必填项。"}
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert validate_submission(schema, {})[1] == {"t": "此字段为必填项。"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert validate_submission(schema, {})[1] == {"t": "This field is required."}


@pytest.mark.parametrize("schema, field", [
    ("not a form", "schema"),
    ({"components": "x"}, "schema.components"),
    (form({"type": "filepicker", "key": "f"}), "schema.f"),
    (form({"type": "dynamiclist", "key": "d", "components": []}), "schema.d"),
    (form({"type": "group", "id": "g", "path": "nested", "components": []}), "schema.g"),
    (form({"type": "textfield", "key": "typename"}), "schema.typename"),
    (form({"type": "textfield", "key": "a.b"}), "schema.a.b"),
    (form({"type": "textfield", "key": "1a"}), "schema.1a"),
    (form(TEXT, dict(TEXT, label="again")), "schema.t"),
    (form(dict(TEXT, validate={"pattern": "(unclosed"})), "schema.t"),
    (form(dict(TEXT, validate={"pattern": "=someExpression"})), "schema.t"),
    (form(dict(NUMBER, validate={"min": 5, "max": 1})), "schema.n"),
    (form(dict(NUMBER, validate={"min": "five"})), "schema.n"),
    (form({"type": "radio", "key": "r"}), "schema.r"),
    (form({"type": "select", "key": "s", "valuesExpression": "=opts"}), "schema.s"),
    (form(dict(TEXT, properties={"crm_field": "customer.shoe_size"})), "schema.t"),
    (form(dict(TEXT, properties={"required_when": "nonsense"})), "schema.t"),
    (form(dict(TEXT, properties={"required_when": "ghost=1"})), "schema.t"),
])
def test_check_schema_refuses(app, schema, field):
    with app.app_context():
        problems = check_schema(schema)
    assert field in {p["field"] for p in problems}, problems


def test_required_when_compares_with_an_option_value_not_its_label(app):
    # The form designer shows 驳回; the stored value is reject: a rule on the label never fires.
    decision = {"type": "radio", "key": "decision", "values": [{"label": "同意", "value": "approve"},
                                                              {"label": "驳回", "value": "reject"}]}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        [problem] = check_schema(form(decision, dict(TEXT, properties={"required_when": "decision=驳回"})))
        assert problem["field"] == "schema.t"
        assert "none of its option values: approve (同意), reject (驳回)" in problem["message"]
        assert check_schema(form(decision, dict(TEXT, properties={"required_when": "decision!=approve"}))) == []


def test_a_condition_on_a_removed_field_says_what_to_do(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        [problem] = check_schema(form(dict(TEXT, properties={"required_when": "decision=reject"})))
    assert problem["message"] == "其“必填条件”引用的 decision 不在表单中（已删除或改名？）：请修改或清除该条件。"


@pytest.mark.parametrize("levels", [20, 5000])
def test_deeply_nested_groups_are_refused_without_recursion(app, levels):
    deep = {"type": "textfield", "key": "x"}
    for level in range(levels):
        deep = {"type": "group", "id": f"g{level}", "components": [deep]}
    with app.app_context():
        problems = check_schema(form(deep))
        assert problems and problems[0]["field"] == "schema.components"
        assert validate_submission(form(deep), {"x": "1"}) == ({"x": "1"}, {})  # no RecursionError either


def test_check_schema_accepts_the_supported_field_types(app):
    schema = form(TEXT, NUMBER, {"type": "textarea", "key": "a"}, {"type": "checkbox", "key": "b"},
                  {"type": "radio", "key": "c", "values": CHOICES}, {"type": "select", "key": "d", "valuesKey": "opts"},
                  {"type": "checklist", "key": "e", "values": CHOICES}, {"type": "taglist", "key": "f", "values": CHOICES},
                  {"type": "datetime", "key": "g", "subtype": "date"}, {"type": "text", "text": "x"},
                  {"type": "group", "id": "grp", "components": [{"type": "textfield", "key": "h"}]},
                  {"type": "spacer"}, {"type": "separator"}, {"type": "button", "action": "submit"},
                  dict(TEXT, key="p", properties={"crm_field": "customer.province"}))
    with app.app_context():
        assert check_schema(schema) == []


def test_normalise_makes_embedded_fields_read_only():
    schema = form(dict(TEXT, properties={"crm_field": "customer.name"}), NUMBER)
    out = normalise_schema(schema)
    assert out["components"][0]["readonly"] is True and "readonly" not in out["components"][1]
    assert "readonly" not in schema["components"][0]  # the input is not modified
