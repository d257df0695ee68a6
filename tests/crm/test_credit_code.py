"""The unified social credit code (统一社会信用代码): checked when typed, stored in one form,
so a company cannot be reported twice through a typo or another way of writing its code."""
import re

import pytest

from app.crm.credit_code import clean_credit_code

TENCENT = "9144030071526726XG"  # published codes of real companies: the check character is theirs
HUAWEI = "914403001922038216"


@pytest.mark.parametrize("typed, stored", [
    (TENCENT, TENCENT),
    (HUAWEI, HUAWEI),
    ("9144 0300 7152 6726 xg", TENCENT),
    ("91440300-71526726-XG", TENCENT),
    ("\u30009144030071526726Xg ", TENCENT),
    ("９１４４０３００７１５２６７２６ＸＧ", TENCENT),  # typed with a Chinese input method
])
def test_a_code_is_stored_in_capitals_without_spacing(app, typed, stored):
    with app.test_request_context():
        assert clean_credit_code(typed) == stored


@pytest.mark.parametrize("typed, message", [
    ("9144030071526726XH", "The last character does not match the first 17 (it would be G)"),
    ("9144030071526762XG", "The last character does not match"),  # two digits swapped
    ("9144030071526726X", "has 18 characters; this one has 17"),
    ("91440300715267260XG", "this one has 19"),
    ("9144030O71526726XG", "has no O"),
    ("91440300IS526726XG", "has no IS"),
])
def test_a_wrong_code_is_refused_saying_why(app, typed, message):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        with pytest.raises(ValueError, match=re.escape(message)):
            clean_credit_code(typed)


def test_the_api_stores_the_canonical_code_and_refuses_a_typo_in_either_language(api_as, api_en, crm_stages):
    created = api_as("sales1").post("/api/v1/customers", json={"name": "深圳某科技", "credit_code": "9144 0300 7152 6726 xg"})
    assert created.status_code == 201 and created.get_json()["credit_code"] == TENCENT

    refused = api_en("sales1").post("/api/v1/customers", json={"name": "深圳另一家", "credit_code": "9144030071526726XH"})
    assert refused.status_code == 400
    [detail] = refused.get_json()["error"]["details"]
    assert detail["field"] == "credit_code" and "it would be G" in detail["message"]
    chinese = api_as("sales1").post("/api/v1/customers", json={"name": "深圳另一家", "credit_code": "9144030O71526726XG"})
    assert chinese.get_json()["error"]["details"][0]["message"].startswith("统一社会信用代码")


def test_a_code_stored_before_the_check_is_kept_until_someone_changes_it(app, api_as, crm_stages, make_customer):
    from app.crm.models import Customer
    from app.extensions import db

    customer = make_customer("sales1", name="老客户")
    with app.app_context():
        db.session.get(Customer, customer["id"]).credit_code = "350200123456789"  # a pre-2015 registration number
        db.session.commit()
    api = api_as("sales1")
    record = api.get(f"/api/v1/customers/{customer['id']}")
    body = {**record.get_json(), "phone": "0592-5550000"}  # the whole record sent back, as the edit form does
    changed = api.patch(f"/api/v1/customers/{customer['id']}", json=body, headers={"If-Match": record.headers["ETag"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["credit_code"] == "350200123456789" and changed.get_json()["phone"] == "0592-5550000"

    typo = api.patch(f"/api/v1/customers/{customer['id']}", json={"credit_code": "350200123456780"},
                     headers={"If-Match": changed.headers["ETag"]})
    assert typo.status_code == 400 and typo.get_json()["error"]["details"][0]["field"] == "credit_code"


def test_a_customer_form_shows_the_typo_next_to_the_field_and_keeps_what_was_typed(app, crm_stages):
    from tests.crm.test_pages import login

    client = app.test_client()
    login(client, "sales1")
    page = client.post("/crm/customer/new", data={"name": "厦门录入测试", "phone": "0592-5551111", "owner": "sales1",
                                                   "credit_code": "9144030071526726XH"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and 'data-error-for="credit_code"' in html and "应为 G" in html
    assert 'value="厦门录入测试"' in html and 'value="9144030071526726XH"' in html


def test_the_upgrade_writes_stored_codes_in_capitals_without_spacing(tmp_path):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.helpers import database_at, write_old_customers

    with database_at(tmp_path, "0021_customer_phone_key"):
        write_old_customers([{"id": 1, "phone_key": "", "credit_code": "9144 0300 7152 6726 xg"},
                             {"id": 2, "phone_key": "", "credit_code": None},
                             {"id": 3, "phone_key": "", "credit_code": "3502-0012 3456 789"},
                             {"id": 4, "phone_key": "", "credit_code": "\u30009144030071526726XG"}])
        upgrade()
        with db.engine.connect() as connection:
            codes = connection.execute(text("SELECT id, credit_code FROM customers ORDER BY id")).all()
        assert [tuple(c) for c in codes] == [(1, TENCENT), (2, None), (3, "350200123456789"), (4, TENCENT)]


@pytest.mark.parametrize("typed, outcome", [
    ("9144 0300 7152 6726 xg", TENCENT),  # today a taxpayer number is the credit code
    ("11010519491231002X", "11010519491231002X"),  # an individual business's identity card number
    ("110105194912310", "110105194912310"),  # an old 15-character registration
    ("ABC", "has 15, 18 or 20"),
    ("9144030071526726XH", "it would be G"),
    ("税号9144030071526726", "only digits and capital letters"),
])
def test_a_contracts_invoice_tax_number_is_checked(api_en, crm_stages, typed, outcome):
    api = api_en("sales1")
    customer = api.post("/api/v1/customers", json={"name": "开票客户"}).get_json()
    answer = api.post("/api/v1/contracts", json={"customer_id": customer["id"], "title": "开票合同",
                                                  "invoice_tax_number": typed})
    if outcome.isalnum():
        assert answer.status_code == 201 and answer.get_json()["invoice_tax_number"] == outcome
    else:
        assert answer.status_code == 400
        [detail] = answer.get_json()["error"]["details"]
        assert detail["field"] == "invoice_tax_number" and outcome in detail["message"]
