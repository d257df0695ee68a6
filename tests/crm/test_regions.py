"""Provinces typed in English or pinyin are stored by the name rules and routes use."""
import pytest

from app.crm.regions import clean_province


@pytest.mark.parametrize("typed, stored", [
    ("Fujian", "福建"), ("fujian province", "福建"), ("Fujian Sheng", "福建"), ("FUJIAN", "福建"),
    ("Shanxi", "山西"), ("Shaanxi Province", "陕西"),
    ("Guangxi Zhuang Autonomous Region", "广西"), ("Inner Mongolia", "内蒙古"), ("Tibet", "西藏"),
    ("Beijing Shi", "北京"), ("Shanghai City", "上海"), ("Hong Kong SAR", "香港"), ("Macao", "澳门"),
    ("福建省", "福建"), ("福建", "福建"), ("广西壮族自治区", "广西"), ("北京市", "北京"), ("内蒙古自治区", "内蒙古"),
    ("新疆维吾尔自治区", "新疆"), ("香港特别行政区", "香港"), ("厦门市", "厦门市"),  # a city is no province
    ("Ohio", "Ohio"), ("  Bavaria ", "Bavaria"),  # not China's: as typed
    ("闽", "福建"), ("粤", "广东"), ("蜀", "四川"), ("fj", "福建"), ("FJ", "福建"), ("CN-FJ", "福建"), ("jx", "江西"),
    ("HB", "湖北"), ("HE", "河北"),  # the codes as ISO 3166-2:CN and GB/T 2260 give them
    ("新加坡", "新加坡"), ("CN", "CN"), ("fjx", "fjx"),
])
def test_a_province_is_stored_by_its_chinese_name(typed, stored):
    assert clean_province(typed) == stored


def test_an_english_speakers_fujian_customer_is_routed_like_anyone_elses(api_as, api_en, crm_stages):
    customer = api_en("sales1").post("/api/v1/customers", json={"name": "Fuzhou Alpha Tech", "province": "Fujian"})
    assert customer.status_code == 201 and customer.get_json()["province"] == "福建"
    found = api_as("sales1").get("/api/v1/customers", query_string={"province": "福建"}).get_json()["items"]
    assert [c["name"] for c in found] == ["Fuzhou Alpha Tech"]


@pytest.mark.parametrize("revision, typed, stored", [
    ("0030_fired_without_days", ["福建省", "广西壮族自治区", "福建"], ["福建", "广西", "福建"]),
    ("0034_user_reads_in", ["fj", "闽", " CN-GD ", "Fujian", "Guangxi Zhuang Autonomous Region"],
     ["福建", "福建", "广东", "福建", "广西"]),  # abbreviations, codes, English and pinyin
])
def test_the_upgrade_stores_what_old_rows_hold_by_the_short_name(tmp_path, revision, typed, stored):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.helpers import database_at, write_old_customers

    with database_at(tmp_path, revision):
        write_old_customers([{"id": number, "phone_key": "", "province": province}
                             for number, province in enumerate([*typed, "Bavaria", None], start=1)])
        upgrade()
        with db.engine.connect() as connection:
            found = [row[0] for row in connection.execute(text("SELECT province FROM customers ORDER BY id"))]
    assert found == [*stored, "Bavaria", None]


def test_an_english_page_names_the_province_in_english_and_offers_english_names(app, make_customer, crm_stages):
    """Typed Fujian, it read back 福建 on every English page (the list, the record, its history)."""
    from tests.crm.test_pages import _english, login

    customer = make_customer("sales1", name="Minjiang Marine", province="Fujian", city="Fuzhou")
    client = app.test_client()
    login(client, "sales1")
    _english(client)
    detail = client.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)
    assert "Fujian" in detail and "福建" not in detail
    assert "Fujian" in client.get("/crm/customer").get_data(as_text=True)
    form = client.get("/crm/customer/new").get_data(as_text=True)
    assert '<option value="Fujian">' in form and '<option value="福建">' not in form
    chinese = app.test_client()
    login(chinese, "manager")  # (the language chosen is the user's: another user reads Chinese)
    assert "福建" in chinese.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)
