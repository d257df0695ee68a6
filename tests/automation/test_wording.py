"""A condition in words, as the binding list shows it."""
import pytest

from app.automation.catalog import entity_specs
from app.automation.wording import describe_condition


@pytest.fixture
def customer(ctx):
    return entity_specs()["customer"]


def test_a_leaf_reads_as_field_operator_value(customer):
    assert describe_condition({"field": "province", "op": "contains", "value": "福建"}, customer) == "省份 包含 福建"


def test_groups_nest_in_brackets_and_choices_show_their_labels(customer):
    condition = {"or": [{"and": [{"field": "province", "op": "contains", "value": "福建"},
                                 {"field": "registered_capital", "op": ">=", "value": "10000000"}]},
                        {"field": "report_status", "op": "in", "value": ["pending", "approved"]},
                        {"field": "phone", "op": "is_empty"}]}
    assert describe_condition(condition, customer) == (
        "(省份 包含 福建 并且 注册资金（元） ≥ 10000000) 或者 报备状态 属于 报备审批中, 报备通过 或者 电话 为空")


def test_what_is_no_condition_is_shown_as_it_came(customer):
    assert describe_condition({"and": [1, {"field": ["x"], "op": ["y"], "value": [{"a": 1}]}]}, customer) == (
        "1 并且 ['x'] ['y'] {'a': 1}")
    assert describe_condition({"or": "福建"}, customer) == '{"or": "福建"}'
    assert describe_condition(None, customer) == ""


@pytest.mark.parametrize("path, place", [
    ("condition.and.1.or.1.value", "Condition 2.2 · Value"),
    ("condition.and.0.field", "Condition 1 · Field"),
    ("condition.op", "Conditions · Operator"),
    ("condition", "Conditions"),
])
def test_an_errors_place_in_the_builder_is_said_as_the_author_counts(app, path, place):
    from flask_babel import force_locale

    from app.automation.wording import condition_place

    with app.test_request_context(), force_locale("en"):
        assert condition_place(path) == place


def test_a_logged_condition_reads_as_the_editor_shows_it(customer):
    from app.automation.wording import evaluated_condition

    changed = {"field": "source", "op": "changed", "value": None, "actual": None, "result": True}
    assert evaluated_condition(changed, customer) == {"field": "来源", "op": "已修改", "value": "", "actual": "—",
                                                      "result": True, "depth": 0, "joined": ""}
    status = {"field": "report_status", "op": "eq", "value": "pending", "actual": "approved", "result": False,
              "path": "and.1.or.0"}
    assert evaluated_condition(status, customer) == {
        "field": "报备状态", "op": "=", "value": "报备审批中", "actual": "报备通过", "result": False,
        "depth": 1, "joined": "或者"}  # the first of an OR inside an AND
