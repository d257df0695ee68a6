"""Provinces typed in English or pinyin are stored by the name rules and routes use."""
import pytest

from app.crm.regions import clean_province


@pytest.mark.parametrize("typed, stored", [
    ("Fujian", "福建"), ("fujian province", "福建"), ("Fujian Sheng", "福建"), ("FUJIAN", "福建"),
    ("Shanxi", "山西"), ("Shaanxi Province", "陕西"),
    ("Guangxi Zhuang Autonomous Region", "广西"), ("Inner Mongolia", "内蒙古"), ("Tibet", "西藏"),
    ("Beijing Shi", "北京"), ("Shanghai City", "上海"), ("Hong Kong SAR", "香港"), ("Macao", "澳门"),
    ("福建省", "福建省"), ("福建", "福建"),  # Chinese stays as typed: rules read 福建 in both
    ("Ohio", "Ohio"), ("  Bavaria ", "Bavaria"),  # not China's: as typed
])
def test_a_province_is_stored_by_its_chinese_name(typed, stored):
    assert clean_province(typed) == stored


def test_an_english_speakers_fujian_customer_is_routed_like_anyone_elses(api_as, api_en, crm_stages):
    customer = api_en("sales1").post("/api/v1/customers", json={"name": "Fuzhou Alpha Tech", "province": "Fujian"})
    assert customer.status_code == 201 and customer.get_json()["province"] == "福建"
    found = api_as("sales1").get("/api/v1/customers", query_string={"province": "福建"}).get_json()["items"]
    assert [c["name"] for c in found] == ["Fuzhou Alpha Tech"]
