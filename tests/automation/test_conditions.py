"""Condition operators, table-tested per field type, and AND/OR groups."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from app.automation.conditions import OPERATORS_BY_TYPE, evaluate
from tests.automation.fieldset import CUSTOMER

TODAY = date(2026, 11, 22)
RECORD = {"name": "厦门星辰科技", "province": "福建", "industry": "医疗", "registered_capital": Decimal("12000000"),
          "customer_class": "B", "owner": "sales1", "founded_on": date(2020, 5, 1),
          "updated_at": datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)}


def check(field, op, value=None, record=RECORD, changes=None):
    leaf = {"field": field, "op": op}
    if value is not None:
        leaf["value"] = value
    matched, results = evaluate(leaf, CUSTOMER.fields, record.get, changes or {}, TODAY)
    assert len(results) == 1 and results[0].result == matched
    return matched


@pytest.mark.parametrize("field,op,value,expected", [
    # numbers, including the string forms an editor sends and ≥ as typed
    ("registered_capital", "ge", 10_000_000, True),
    ("registered_capital", "≥", "10,000,000", True),
    ("registered_capital", "gt", 12_000_000, False),
    ("registered_capital", "le", 12_000_000, True),
    ("registered_capital", "lt", "12000000.01", True),
    ("registered_capital", "eq", "12000000.00", True),
    ("registered_capital", "ne", 12_000_000, False),
    ("registered_capital", "in", [1, 12_000_000], True),
    # text
    ("name", "contains", "星辰", True),
    ("name", "not_contains", "星辰", False),
    ("name", "contains", "XYZ", False),
    ("province", "eq", "福建", True),
    ("province", "ne", "福建", False),
    ("province", "in", ["广东", "福建"], True),
    ("province", "in", ["广东"], False),
    ("industry", "is_empty", None, False),
    ("industry", "is_not_empty", None, True),
    # choices
    ("customer_class", "eq", "B", True),
    ("customer_class", "in", ["A", "C"], False),
    ("customer_class", "ne", "A", True),
    # dates, absolute and relative to today
    ("founded_on", "lt", "2021-01-01", True),
    ("founded_on", "ge", "2020-05-01", True),
    ("founded_on", "gt", "today-3650", True),
    ("founded_on", "eq", "2020-05-02", False),
    ("updated_at", "ge", "today-2", True),
    ("updated_at", "lt", "today-3", False),
    # users
    ("owner", "eq", "sales1", True),
    ("owner", "in", ["sales2"], False),
])
def test_operator_table(field, op, value, expected):
    assert check(field, op, value) is expected


def test_a_moment_falls_on_the_companys_day():
    """20:00 UTC on 21 November is 04:00 on the 22nd in Shanghai: "today" there, "yesterday"
    by the UTC date."""
    record = {**RECORD, "updated_at": datetime(2026, 11, 21, 20, 0, tzinfo=timezone.utc)}
    assert check("updated_at", "eq", "today", record) is True
    assert check("updated_at", "lt", "today", record) is False
    assert check("updated_at", "eq", "2026-11-22", record) is True


def test_comparisons_with_an_empty_value_are_false_but_ne_and_is_empty_hold():
    record = {**RECORD, "registered_capital": None, "industry": ""}
    assert check("registered_capital", "ge", 0, record) is False
    assert check("registered_capital", "lt", 10, record) is False
    assert check("registered_capital", "ne", 10, record) is True
    assert check("registered_capital", "is_empty", record=record) is True
    assert check("industry", "is_empty", record=record) is True
    assert check("industry", "contains", "医", record=record) is False
    assert check("industry", "not_contains", "医", record=record) is True


def test_contains_ignores_case():
    assert check("name", "contains", "abc", {**RECORD, "name": "ABC Ltd"}) is True


@pytest.mark.parametrize("op,value,changes,expected", [
    ("changed", None, {"customer_class": ("A", "B")}, True),
    ("changed", None, {}, False),
    ("changed", None, {"customer_class": ("B", "B")}, False),
    ("changed", None, {"customer_class": (None, "")}, False),
    ("changed_to", "B", {"customer_class": ("A", "B")}, True),
    ("changed_to", "A", {"customer_class": ("A", "B")}, False),
    ("changed_from", "A", {"customer_class": ("A", "B")}, True),
    ("changed_from", "C", {"customer_class": ("A", "B")}, False),
    ("changed_from", "A", {"customer_class": ("A", None)}, True),
])
def test_change_operators(op, value, changes, expected):
    assert check("customer_class", op, value, changes=changes) is expected


def test_number_changes_compare_numerically():
    assert check("registered_capital", "changed", changes={"registered_capital": (Decimal("5.0"), 5)}) is False
    assert check("registered_capital", "changed_to", 6, changes={"registered_capital": (5, Decimal("6.00"))}) is True


def test_and_or_groups_report_every_leaf():
    condition = {"and": [
        {"field": "registered_capital", "op": "ge", "value": 10_000_000},
        {"or": [{"field": "province", "op": "eq", "value": "广东"},
                {"field": "industry", "op": "contains", "value": "医疗"}]},
    ]}
    matched, results = evaluate(condition, CUSTOMER.fields, RECORD.get, {}, TODAY)
    assert matched is True
    assert [(r.path, r.result) for r in results] == [("and.0", True), ("and.1.or.0", False), ("and.1.or.1", True)]
    condition["and"][1]["or"][1]["value"] = "教育"
    matched, results = evaluate(condition, CUSTOMER.fields, RECORD.get, {}, TODAY)
    assert matched is False and [r.result for r in results] == [True, False, False]


def test_no_condition_means_always():
    for empty in (None, {}):
        assert evaluate(empty, CUSTOMER.fields, RECORD.get, {}, TODAY) == (True, [])
    assert evaluate({"and": []}, CUSTOMER.fields, RECORD.get, {}, TODAY)[0] is True


def test_every_type_has_emptiness_or_change_operators():
    for kind, ops in OPERATORS_BY_TYPE.items():
        assert "changed" in ops, kind
