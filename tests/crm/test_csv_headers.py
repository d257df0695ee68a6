"""Customer CSV files people open, edit and save in a spreadsheet: columns named by label in the
exporter's language, imported back by label (Chinese or English) or key, from UTF-8 or GBK."""
import csv
import io
from datetime import datetime

import pytest

from app.clock import company_zone

from tests.crm.test_pages import login


def _csv(rows, encoding="utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def _table(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with it
    return list(csv.reader(io.StringIO(text[1:])))


def _import(api, data: bytes):
    return api.post("/api/v1/customers/import", data={"file": (io.BytesIO(data), "customers.csv")},
                    content_type="multipart/form-data")


def _speaks_english(app, username):
    """Row errors are written in the importer's own language (the worker has no request to
    take it from), not the request's Accept-Language."""
    from app.auth.services import get_user
    from app.extensions import db

    with app.app_context():
        get_user(username).locale = "en"
        db.session.commit()


def _custom_field(app, key, label, type="choice", choices=("金", "银")):
    from app.crm import services
    from app.extensions import db

    with app.app_context():
        services.save_custom_field(None, entity="customer", key=key, label=label, type=type,
                                   choices=list(choices) if type == "choice" else [], required=False)
        db.session.remove()


def _field_labelled_like_province(app):
    """A custom field labelled 省份 like the built-in province: refused when saved now, but a
    database from before that check may hold one, and its CSV must not be misread."""
    from app.crm.models import CustomFieldDef
    from app.extensions import db

    with app.app_context():
        db.session.add(CustomFieldDef(entity="customer", key="sheng", label="省份", type="text", choices=[]))
        db.session.commit()


@pytest.fixture
def tier(app, crm_stages):
    _custom_field(app, "tier", "等级")


def test_the_list_pages_export_reads_in_the_exporters_language_and_round_trips(api_as, api_en, tier, make_customer,
                                                                               events):
    customer = make_customer("sales1", name="福州闽江贸易", city="福州", registered_capital="5000000",
                             customer_class="A", shared_with=["sales2"], custom={"tier": "金"})
    make_customer("sales1", name="=SUM(A1)", province="福建")
    api = api_as("sales1")
    [header, *rows] = _table(api.get("/api/v1/customers/export.csv?headers=labels").get_data(as_text=True))
    assert header[:7] == ["编号", "名称", "省份", "城市", "行业", "注册资金（元）", "客户类别"]
    assert header[-1] == "等级" and "负责人" in header and "报备状态" in header
    row = dict(zip(header, next(r for r in rows if r[0] == str(customer["id"]))))
    # What the import reads keeps the values it takes; the read-only status reads as a label.
    assert (row["客户类别"], row["负责人"], row["共享给"], row["等级"]) == ("A", "sales1", "sales2", "金")
    assert row["报备状态"] == "未报备"
    # Times on the company's clock, as Excel reads them (the API's key export keeps ISO UTC).
    created = api.get(f"/api/v1/customers/{customer['id']}").get_json()["created_at"]
    with_offset = datetime.fromisoformat(created).astimezone(company_zone())
    assert row["创建时间"] == with_offset.strftime("%Y-%m-%d %H:%M:%S")
    english = _table(api_en("sales1").get("/api/v1/customers/export.csv?headers=labels").get_data(as_text=True))
    assert english[0][:3] == ["ID", "Name", "Province"] and english[0][-1] == "等级"
    # The province as the English pages show it (the import takes Fujian back as 福建).
    assert [r[2] for r in english[1:] if r[1] == "'=SUM(A1)"] == ["Fujian"]
    unchanged = _import(api_en("sales1"), _csv(english, "utf-8-sig")).get_json()
    assert (unchanged["unchanged_rows"], unchanged["failed_rows"]) == (2, 0), unchanged

    del events[:]
    as_exported = _table(api.get("/api/v1/customers/export.csv?headers=labels").get_data(as_text=True))
    unchanged = _import(api, _csv(as_exported, "utf-8-sig")).get_json()
    assert (unchanged["unchanged_rows"], unchanged["updated_rows"], unchanged["failed_rows"]) == (2, 0, 0), unchanged
    assert events == []
    # One cell edited in Excel on Chinese Windows, saved as CSV: GBK, no BOM.
    edited = [list(r) for r in as_exported]
    edited[[r[0] for r in edited].index(str(customer["id"]))][header.index("城市")] = "厦门"
    result = _import(api, _csv(edited, "gbk")).get_json()
    assert (result["updated_rows"], result["unchanged_rows"], result["failed_rows"]) == (1, 1, 0), result
    assert [(e[1], e[2], e[3]) for e in events] == [("updated", customer["id"], {"city": ("福州", "厦门")})]


def test_the_api_export_names_columns_by_key_unless_asked(api_en, tier, make_customer):
    make_customer("sales1", name="福州闽江贸易")
    api = api_en("sales1")
    header = _table(api.get("/api/v1/customers/export.csv").get_data(as_text=True))[0]
    assert header[:3] == ["id", "name", "province"] and header[-1] == "custom.tier"
    assert _table(api.get("/api/v1/customers/export.csv?headers=keys").get_data(as_text=True))[0] == header
    refused = api.get("/api/v1/customers/export.csv?headers=names")
    assert refused.status_code == 400 and "headers" in str(refused.get_json())
    # The whole list, in the list's order: a page is refused, not silently ignored.
    paged = api.get("/api/v1/customers/export.csv?page=2&per_page=2")
    assert paged.status_code == 400 and {d["field"] for d in paged.get_json()["error"]["details"]} == {"page", "per_page"}
    make_customer("sales1", name="安溪铁观音茶厂")
    def names(sort):
        return [row[1] for row in _table(api.get(f"/api/v1/customers/export.csv?sort={sort}").get_data(as_text=True))[1:]]

    assert names("name") == list(reversed(names("-name"))) and len(names("name")) == 2


def test_columns_by_key_or_label_in_either_language_any_case(api_en, tier):
    api = api_en("sales1")
    english = _import(api, _csv([["Customer Name", "Registered capital (YUAN)"], ["泉州英文表头", "2,000"]]))
    assert english.status_code == 201 and english.get_json()["imported_rows"] == 1, english.get_json()
    response = _import(api, _csv([
        ["  NAME ", "省 份", "注册资本(元)", "customer_class", "等级", "Owner", "共享给"],  # half-width brackets, a space
        ["厦门海鑫科技", "福建", "1,000", "B", "银", "销售一 Sales One", "销售二 Sales Two;sales1"],
    ]))
    assert response.status_code == 201 and response.get_json()["imported_rows"] == 1, response.get_json()
    [customer] = api.get("/api/v1/customers", query_string={"q": "厦门海鑫科技"}).get_json()["items"]
    assert (customer["name"], customer["province"], customer["registered_capital"], customer["customer_class"],
            customer["custom"], customer["owner"], sorted(customer["shared_with"])) == \
        ("厦门海鑫科技", "福建", 1000.0, "B", {"tier": "银"}, "sales1", ["sales1", "sales2"])


def test_a_name_several_people_have_is_refused_for_its_row(app, api_en, crm_stages):
    from app.auth import services as auth
    from app.cli import DEMO_PASSWORD
    from app.extensions import db

    with app.app_context():
        for username in ("zhangwei", "zhangwei2"):
            auth.create_user(username=username, password=DEMO_PASSWORD, display_name="张伟", roles=("sales",))
        db.session.commit()
    _speaks_english(app, "admin")
    result = _import(api_en("admin"), _csv([["name", "owner"], ["甲", "张伟"], ["乙", "nobody"], ["丙", "zhangwei2"]]))
    job = result.get_json()
    assert job["imported_rows"] == 1 and [(e["row"], e["field"]) for e in job["errors"]] == [(2, "owner"), (3, "owner")]
    assert job["errors"][0]["message"] == "Several people are called “张伟” (zhangwei, zhangwei2): write the username."


@pytest.mark.parametrize("header, problem", [
    (["name", "shoe_size"], "Unknown column “shoe_size”."),
    (["name", ""], "Column 2 has values but no name."),
    (["名称", " Name"], "Columns “名称” and “Name” are the same field; keep one."),
    (["name", "省份"], "Column “省份” could be any of custom.sheng, province: name it by one of these keys."),
])
def test_a_header_it_cannot_read_is_refused_before_any_row(app, api_en, crm_stages, header, problem):
    _field_labelled_like_province(app)
    api = api_en("sales1")
    response = _import(api, _csv([header, ["厦门海鑫科技", "福建"]]))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["details"] == [{"field": "file", "message": problem}]
    assert error["message"].startswith(problem)
    assert "Columns taken (label in Chinese or English, or key): ID (id), Name (name), Province (province)" \
        in error["message"] and "省份 (custom.sheng)" in error["message"]
    assert api.get("/api/v1/customers").get_json()["total"] == 0


def test_empty_columns_after_the_data_are_left_out(app, api_en, crm_stages):
    """Excel saves blank columns to the right of the data as empty header cells."""
    response = _import(api_en("sales1"), _csv([["name", "city", "", ""], ["甲", "厦门", "", ""], ["乙", "", ""]]))
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["imported_rows"], response.get_json()["errors"]) == (2, [])


def test_a_field_named_by_its_key_is_not_ambiguous(app, api_en, crm_stages):
    _field_labelled_like_province(app)
    response = _import(api_en("sales1"), _csv([["name", "province", "custom.sheng"], ["甲", "福建", "闽"]]))
    assert response.status_code == 201 and response.get_json()["imported_rows"] == 1, response.get_json()


def test_a_header_that_became_ambiguous_before_the_worker_ran_fails_every_row(app, api_en, crm_stages, monkeypatch):
    from app.crm import services
    from app.jobs import run_due_jobs

    monkeypatch.setattr(services, "IMPORT_SYNC_ROWS", 1)
    _speaks_english(app, "sales1")
    api = api_en("sales1")
    response = _import(api, _csv([["名称", "省份"], ["甲", "福建"], ["乙", "浙江"]]))
    assert response.status_code == 202
    _field_labelled_like_province(app)
    with app.app_context():
        assert run_due_jobs() == 1
    done = api.get(response.headers["Location"]).get_json()
    assert (done["status"], done["imported_rows"], done["failed_rows"]) == ("done", 0, 2)
    [error] = done["errors"]
    assert error["row"] == 1 and "Column “省份” could be any of" in error["message"]
    assert api.get("/api/v1/customers").get_json()["total"] == 0


def test_the_import_page_offers_a_template_in_the_users_language(app, tier):
    client = app.test_client()
    login(client, "sales1")
    page = client.get("/customers/import").get_data(as_text=True)
    assert 'id="import-template"' in page and "<code>custom.tier</code>" in page
    template = client.get("/customers/import/template.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    [header] = _table(template.get_data(as_text=True))
    # New customers: no id, nothing the system sets.
    assert header[:2] == ["名称", "省份"] and header[-1] == "等级" and "编号" not in header and "报备状态" not in header
    filled = _csv([header, ["厦门海鑫科技"] + [""] * (len(header) - 1)], "utf-8-sig")
    response = client.post("/customers/import", data={"file": (io.BytesIO(filled), "t.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert "新增 1" in client.get(response.headers["Location"]).get_data(as_text=True)
    anonymous = app.test_client().get("/customers/import/template.csv")
    assert anonymous.status_code in (302, 401)


def test_a_header_problem_on_the_import_page_is_shown_once(app, crm_stages):
    client = app.test_client()
    login(client, "sales1")
    client.post("/language", data={"locale": "en", "next": "/"})
    response = client.post("/customers/import", data={"file": (io.BytesIO(b"name,shoe_size\nA,42\n"), "a.csv")},
                           content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and text.count("Unknown column “shoe_size”.") == 1


def test_header_problems_in_chinese_read_as_chinese_sentences(api_as, crm_stages):
    response = _import(api_as("sales1"), _csv([["名称", "鞋码"], ["甲", "42"]]))
    message = response.get_json()["error"]["message"]
    assert response.status_code == 400 and "鞋码" in message
    assert "。可用的列" in message and "。 " not in message
