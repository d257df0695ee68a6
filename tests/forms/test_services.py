"""Form versions, the shipped customer report form, embedded fields (fill and diff)."""
import datetime as dt
import decimal
import json
import shutil
from types import SimpleNamespace

import pytest

from app.api.errors import ApiError
from app.extensions import db
from app.forms import services
from app.forms.models import FormDefinition

SIMPLE = {"type": "default", "components": [{"type": "textfield", "key": "a", "label": "A"}]}


def test_saving_makes_versions_and_one_current(ctx):
    first, created = services.save_form("trip", "出差申请", SIMPLE)
    assert created and first.version == 1 and first.is_current
    changed = {"type": "default", "components": [{"type": "number", "key": "days", "label": "天数"}]}
    second, created = services.save_form("trip", "出差申请", changed, base_version=1)
    db.session.commit()
    assert created and second.version == 2
    assert [(f.version, f.is_current) for f in services.form_versions("trip")] == [(2, True), (1, False)]
    assert services.get_form("trip").id == second.id
    assert services.get_form("trip", 1).schema["components"][0]["key"] == "a"
    assert [f.key for f in services.list_current_forms()] == ["trip"]


def test_same_content_makes_no_new_version(ctx):
    services.save_form("trip", "出差申请", SIMPLE)
    again, created = services.save_form("trip", "出差申请", json.loads(json.dumps(SIMPLE)))
    assert not created and again.version == 1
    renamed, created = services.save_form("trip", "出差审批", SIMPLE)
    assert created and renamed.version == 2


def test_stale_base_version_is_a_conflict(ctx):
    services.save_form("trip", "出差申请", SIMPLE)
    services.save_form("trip", "出差申请", {"components": []})
    with pytest.raises(ApiError) as refused:
        services.save_form("trip", "出差申请", SIMPLE, base_version=1)
    assert refused.value.status == 409


def test_invalid_form_is_refused_with_details(ctx):
    with pytest.raises(ApiError) as refused:
        services.save_form("bad key", "", {"components": [{"type": "textfield", "key": "typename"}]})
    assert refused.value.status == 400
    assert {d["field"] for d in refused.value.details} == {"key", "name", "schema.typename"}
    assert db.session.query(FormDefinition).count() == 0


def test_database_allows_one_current_version_per_key(ctx):
    services.save_form("trip", "出差申请", SIMPLE)
    db.session.commit()
    db.session.add(FormDefinition(key="trip", name="x", version=2, is_current=True, schema=SIMPLE, checksum="0" * 64))
    with pytest.raises(Exception):
        db.session.flush()
    db.session.rollback()


def test_shipped_forms_load_idempotently(ctx, tmp_path):
    forms = services.load_shipped_forms()
    db.session.commit()
    report = services.get_form("customer_report")
    assert report in forms and report.name == "客户报备表单" and report.version == 1
    assert services.load_shipped_forms()[0].version == 1  # same content: no new version
    # A changed shipped file becomes version 2.
    shutil.copy(services.SHIPPED_DIR / "customer_report.form", tmp_path / "customer_report.form")
    schema = json.loads((tmp_path / "customer_report.form").read_text())
    schema["components"][0]["text"] += " (v2)"
    (tmp_path / "customer_report.form").write_text(json.dumps(schema, ensure_ascii=False))
    assert services.load_shipped_forms(tmp_path)[0].version == 2


def test_customer_report_form_fields(ctx):
    [report] = [f for f in services.load_shipped_forms() if f.key == "customer_report"]
    embedded = services.embedded_fields(report.schema)
    assert embedded == {k: f"customer.{k}" for k in ("name", "province", "city", "industry", "customer_class",
                                                     "registered_capital", "source", "phone", "owner", "credit_code")}
    assert services.editable_keys(report.schema) == ["decision", "comment"]
    assert all(f["readonly"] for f in services.input_fields(report.schema) if f["key"] in embedded)
    clean, errors = services.validate_submission(report.schema, {"decision": "reject", "province": "广东"})
    assert set(errors) == {"comment"} and "province" not in clean
    clean, errors = services.validate_submission(report.schema, {"decision": "approve"})
    assert errors == {} and clean == {"decision": "approve", "comment": ""}
    assert set(services.validate_submission(report.schema, {})[1]) == {"decision"}


class Customer(SimpleNamespace):
    pass


class Opportunity(SimpleNamespace):
    pass


REPORT = {"components": [
    {"type": "group", "components": [
        {"type": "textfield", "key": "name", "properties": {"crm_field": "customer.name"}},
        {"type": "number", "key": "capital", "properties": {"crm_field": "customer.registered_capital"}},
    ]},
    {"type": "textfield", "key": "owner", "properties": {"crm_field": "customer.owner"}},
    {"type": "textfield", "key": "title", "properties": {"crm_field": "opportunity.title"}},
    {"type": "radio", "key": "decision", "values": [{"value": "approve"}]},
]}


def test_fill_embedded_from_a_model_like_record():
    customer = Customer(name="厦门海沧医疗", registered_capital=decimal.Decimal("12000000.00"),
                        owner=SimpleNamespace(username="sales1"))
    data = services.fill_embedded(REPORT, customer)
    # The opportunity field has no source on a customer: None, not an error.
    assert data == {"name": "厦门海沧医疗", "capital": 12000000, "owner": "sales1", "title": None}


def test_fill_embedded_follows_a_relation_from_another_record_type():
    opportunity = Opportunity(title="影像设备", customer=Customer(name="厦门海沧医疗", registered_capital=1.5,
                                                                    owner=None))
    data = services.fill_embedded(REPORT, opportunity)
    assert data == {"name": "厦门海沧医疗", "capital": 1.5, "owner": None, "title": "影像设备"}


def test_fill_embedded_from_a_dict_and_json_safe_values():
    schema = {"components": [{"type": "textfield", "key": "d", "properties": {"crm_field": "contract.signed_on"}}]}
    assert services.fill_embedded(schema, {"signed_on": dt.date(2026, 11, 22)}, "contract") == {"d": "2026-11-22"}


def test_embedded_diff_reports_only_changed_fields():
    customer = Customer(name="厦门海沧医疗", registered_capital=100, owner=SimpleNamespace(username="sales1"))
    at_start = services.fill_embedded(REPORT, customer)
    assert services.embedded_diff(REPORT, at_start, customer) == {}
    customer.registered_capital = 200
    customer.owner = SimpleNamespace(username="sales2")
    assert services.embedded_diff(REPORT, at_start, customer) == {"capital": (100, 200), "owner": ("sales1", "sales2")}
    # not captured at the start: nothing to compare with
    assert services.embedded_diff(REPORT, {"name": "厦门海沧医疗"}, customer) == {}
