"""Customers' phone numbers: checked when typed, so a letter for a digit or a missing digit
cannot hide a duplicate (防撞单) or lose the customer's line; stored as typed."""
import re

import pytest

from app.crm.phones import clean_phone, normalise_phone


@pytest.mark.parametrize("typed, stored", [
    ("0592-5551234", "0592-5551234"),
    ("(0592) 555  1234", "(0592) 555 1234"),
    ("+86 138-0013-8000", "+86 138-0013-8000"),
    ("+1 (415) 555-0100", "+1 (415) 555-0100"),
    ("0592-5551234 转 8001", "0592-5551234 转 8001"),
    ("0592-5551234 ext. 12", "0592-5551234 ext. 12"),
    ("0592 5551234#12", "0592 5551234#12"),
    ("95588", "95588"),  # a bank's service line
    ("４００-８８８-８８８８", "400-888-8888"),  # typed with a Chinese input method
    ("（０５９２）５５５１２３４\u3000转８００１", "(0592)5551234 转8001"),
])
def test_a_number_is_stored_as_typed_in_half_width(app, typed, stored):
    with app.test_request_context():
        assert clean_phone(typed) == stored


def test_full_width_digits_are_the_same_phone_for_the_duplicate_finder():
    assert normalise_phone("０５９２－５５５１２３４") == normalise_phone("0592-5551234") == "05925551234"


@pytest.mark.parametrize("typed, message", [
    ("0592-555123a", "this one has a."),
    ("电话 0592-5551234", "this one has 电话."),
    ("0592-5551234/5", "this one has /."),  # two numbers in one field
    ("0592", "has 5 to 18 digits; this one has 4"),
    ("1380013800", "A mobile number has 11 digits; this one has 10"),
    ("+86 138 0013 80001", "this one has 12"),
    ("0592-5551234 转 总机", "An extension is written with its digits"),
    ("0592-5551234 ext.", "An extension is written with its digits"),
])
def test_a_wrong_number_is_refused_saying_why(app, typed, message):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        with pytest.raises(ValueError, match=re.escape(message)):
            clean_phone(typed)


def test_the_api_refuses_a_wrong_phone_in_either_language(api_as, api_en, crm_stages):
    created = api_as("sales1").post("/api/v1/customers", json={"name": "厦门电话客户", "phone": "０５９２-５５５１２３４"})
    assert created.status_code == 201 and created.get_json()["phone"] == "0592-5551234"

    refused = api_en("sales1").post("/api/v1/customers", json={"name": "厦门另一家", "phone": "1380013800"})
    assert refused.status_code == 400
    [detail] = refused.get_json()["error"]["details"]
    assert detail["field"] == "phone" and "11 digits" in detail["message"]
    chinese = api_as("sales1").post("/api/v1/customers", json={"name": "厦门另一家", "phone": "0592-555123a"})
    assert chinese.get_json()["error"]["details"][0]["message"].startswith("电话号码")
    english = api_en("sales1").post("/api/v1/customers", json={"name": "厦门另一家", "phone": "0592-555123a"})
    said = english.get_json()["error"]["details"][0]["message"]
    assert "ext. 8001" in said and "转" not in said  # the example in the reader's own words


def test_a_number_stored_before_the_check_is_kept_until_someone_changes_it(app, api_as, crm_stages, make_customer):
    from app.crm.models import Customer
    from app.extensions import db

    customer = make_customer("sales1", name="老电话客户")
    with app.app_context():
        db.session.get(Customer, customer["id"]).phone = "0592-5551234/5"
        db.session.commit()
    api = api_as("sales1")
    record = api.get(f"/api/v1/customers/{customer['id']}")
    body = {**record.get_json(), "city": "厦门"}  # the whole record sent back, as the edit form does
    changed = api.patch(f"/api/v1/customers/{customer['id']}", json=body, headers={"If-Match": record.headers["ETag"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["phone"] == "0592-5551234/5" and changed.get_json()["city"] == "厦门"

    typo = api.patch(f"/api/v1/customers/{customer['id']}", json={"phone": "0592-5551234/6"},
                     headers={"If-Match": changed.headers["ETag"]})
    assert typo.status_code == 400 and typo.get_json()["error"]["details"][0]["field"] == "phone"
