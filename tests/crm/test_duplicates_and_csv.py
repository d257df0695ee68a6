"""The duplicate finder (防撞单) and CSV import/export of customers."""
import csv
import io
import os

import pytest

from app.crm.phones import normalise_phone
from app.crm.services import normalise_name


@pytest.mark.parametrize("name, key", [
    ("厦门海鑫科技有限公司", "厦门海鑫科技"),
    ("厦门 海鑫科技（集团）股份有限公司", "厦门海鑫科技"),
    ("海鑫科技集团", "海鑫科技"),
    ("Acme Trading Co., Ltd.", "acmetrading"),
    ("  ", ""),
])
def test_normalise_name(name, key):
    assert normalise_name(name) == key


@pytest.mark.parametrize("phone, key", [
    ("0592-5551234", "05925551234"),
    ("(0592) 555 1234", "05925551234"),
    ("+86 592 5551234", "05925551234"),
    ("0086-592-5551234", "05925551234"),
    ("0592-5551234 转 8001", "05925551234"),
    ("0592-5551234 ext. 12", "05925551234"),
    ("138 0013 8000", "13800138000"),
    ("+86 138-0013-8000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("+1 (415) 555-0100", "0014155550100"),
    ("", ""),
    (None, ""),
])
def test_normalise_phone(phone, key):
    assert normalise_phone(phone) == key


def test_a_phone_written_another_way_is_the_same_phone(app, crm_stages, make_customer):
    from app.crm import services
    from app.crm.models import Customer
    from app.extensions import db

    theirs = make_customer("sales2", name="泉州某某贸易", phone="0595-8555 012 转 6")
    other_number = make_customer("sales2", name="泉州别家贸易", phone="0595-8555013")
    mine = make_customer("sales1", name="完全不同的名字", phone="+86 595 8555012")
    with app.app_context():
        found = services.find_possible_duplicates(db.session.get(Customer, mine["id"]))
        db.session.remove()
    assert [(item["id"], item["reasons"]) for item in found] == [(theirs["id"], ["same_phone"])]
    assert other_number["id"] != theirs["id"]


def test_possible_duplicates_owned_by_others(app, api_as, crm_stages, make_customer):
    from app.crm import services
    from app.crm.models import Customer
    from app.extensions import db

    same_name = make_customer("sales2", name="厦门海鑫科技股份有限公司")
    similar = make_customer("sales2", name="厦门海鑫科技发展有限公司")
    same_code = make_customer("sales2", name="别的名字", credit_code="91350200 ma2y 00001n")  # as typed
    same_phone = make_customer("admin", name="又一个名字", phone="0592-5551234")
    make_customer("sales2", name="完全无关的公司")
    own = make_customer("sales1", name="厦门海鑫科技发展", phone="0592-0000")  # a similar name, the same owner: a sister company
    # ... but the same company entered twice by one salesperson is a duplicate all the same
    own_twice = make_customer("sales1", name="厦门海鑫科技（厦门）", phone="0592 555 1234")
    # ... unless it is the same company: a rule may have handed the new record to its owner
    own_same_code = make_customer("sales1", name="福州永泰贸易", credit_code="91350200MA2Y00001N")
    new = make_customer("sales1", name="厦门海鑫科技有限公司", credit_code="91350200MA2Y00001N",
                        phone="0592-5551234")
    api_as("admin").patch(f"/api/v1/customers/{same_name['id']}", json={})  # no-op
    with app.app_context():
        found = services.find_possible_duplicates(db.session.get(Customer, new["id"]))
        db.session.remove()
    by_id = {item["id"]: item for item in found}
    assert set(by_id) == {same_name["id"], similar["id"], same_code["id"], same_phone["id"], own_same_code["id"],
                          own_twice["id"]}
    assert by_id[own_twice["id"]]["reasons"] == ["same_name", "same_phone"]
    assert by_id[same_name["id"]]["reasons"] == ["same_name"]
    assert by_id[similar["id"]]["reasons"] == ["similar_name"]
    assert by_id[same_code["id"]]["reasons"] == ["same_credit_code"]
    assert by_id[same_phone["id"]]["reasons"] == ["same_phone"]
    assert by_id[own_same_code["id"]]["reasons"] == ["same_credit_code"] and by_id[own_same_code["id"]]["owner"] == "sales1"
    assert by_id[same_name["id"]]["owner"] == "sales2" and by_id[same_name["id"]]["report_status"] == "none"
    assert own["id"] not in by_id


def test_creating_a_customer_through_the_api_answers_whom_it_may_duplicate(api_as, crm_stages, make_customer):
    """The page warned the salesperson; a program creating the same company twice heard nothing."""
    make_customer("sales2", name="泉州闽南贸易有限公司", credit_code="91350500MA2Y000029")
    api = api_as("sales1")
    made = api.post("/api/v1/customers", json={"name": "泉州某公司", "credit_code": "91350500ma2y000029"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["possible_duplicates"] == [
        {"name": "泉州闽南贸易有限公司", "owner": "sales2", "owner_name": "销售二 Sales Two", "reasons": ["same_credit_code"]}]
    alone = api.post("/api/v1/customers", json={"name": "完全不同的公司"}).get_json()
    assert alone["possible_duplicates"] == []
    assert "possible_duplicates" not in api.get(f"/api/v1/customers/{made.get_json()['id']}").get_json()


def _csv(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def test_a_twin_is_found_among_hundreds_of_names_of_the_same_beginning(app, crm_stages):
    """828 others' customers started with 上海: the first 500 of them by id were compared and
    the exact twin, a newer one, was never flagged."""
    from app.auth.services import get_user
    from app.crm import services as crm
    from app.crm.models import Customer
    from app.extensions import db

    with app.app_context():
        owner = get_user("sales1")
        for n in range(600):
            name = f"上海测试{n:03d}贸易有限公司"
            db.session.add(Customer(name=name, name_key=normalise_name(name), owner=owner))
        db.session.commit()
        twin = crm.create("customer", {"name": "上海测试599贸易有限公司"}, get_user("sales2"))
        found = crm.find_possible_duplicates(twin)
        assert found[0]["name"] == "上海测试599贸易有限公司" and found[0]["reasons"] == ["same_name"]
        near = crm.create("customer", {"name": "上海测试5990贸易"}, get_user("sales2"))
        assert "similar_name" in {r for f in crm.find_possible_duplicates(near) for r in f["reasons"]}
        db.session.remove()


def test_import_reports_bad_rows_and_keeps_good_ones(api_en, crm_stages, events):
    api = api_en("sales1")
    data = _csv([
        ["name", "province", "registered_capital", "customer_class", "owner", "shared_with"],
        ["厦门海鑫科技有限公司", "福建", "5000000", "B", "", "sales2"],
        ["坏行公司", "福建", "很多", "Z", "", ""],
        ["", "", "", "", "", ""],  # a blank row: skipped, but counted as Excel numbers rows
        ["", "浙江", "", "", "", ""],
        ["杭州云杉医疗科技有限公司", "浙江", "12000000", "A", "sales1", ""],
    ])
    response = api.post("/api/v1/customers/import", data={"file": (io.BytesIO(data), "customers.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    assert job["status"] == "done" and job["total_rows"] == 4 and job["processed_rows"] == 4
    assert job["imported_rows"] == 2
    errors = {(e["row"], e["field"]) for e in job["errors"]}
    assert errors == {(3, "registered_capital"), (3, "customer_class"), (5, "name")}
    names = {c["name"] for c in api.get("/api/v1/customers").get_json()["items"]}
    assert names == {"厦门海鑫科技有限公司", "杭州云杉医疗科技有限公司"}  # nothing of the bad rows
    assert [e[1] for e in events if e[0] == "customer"] == ["created", "created"]
    assert api.get(f"/api/v1/customers/imports/{job['id']}").get_json()["errors"] == job["errors"]
    assert api_en("sales2").get(f"/api/v1/customers/imports/{job['id']}").status_code == 404


def test_import_rejects_unusable_files(api_en, crm_stages):
    api = api_en("sales1")

    def send(content: bytes):
        return api.post("/api/v1/customers/import", data={"file": (io.BytesIO(content), "x.csv")},
                        content_type="multipart/form-data")

    assert send(_csv([["name", "shoe_size"], ["a", "42"]])).status_code == 400
    assert send(_csv([["province"], ["福建"]])).status_code == 400
    assert send(b"").status_code == 400
    assert api.post("/api/v1/customers/import", data={}, content_type="multipart/form-data").status_code == 400
    # An .xlsx chosen by mistake was "neither UTF-8 nor GBK text".
    workbook = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    for content in (workbook.getvalue(), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504):  # .xlsx, .xls
        refused = send(content)
        assert refused.status_code == 400 and "Excel workbook" in refused.get_json()["error"]["message"]
    # Chinese headers (labels) and a GBK file from Excel are understood.
    gbk = "客户名称,省份\n福州闽江医疗器械有限公司,福建\n".replace("客户名称", "名称").encode("gb18030")
    response = send(gbk)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["imported_rows"] == 1


def test_another_system_s_export_is_read_by_its_column_names_or_without_its_extra_columns(api_en, crm_stages):
    api = api_en("sales1")
    rows = [["客户名称", "手机号码", "统一社会信用代码", "所在城市", "备注", "联系人", ""],
            ["厦门海鑫科技有限公司", "138 0000 1111", "91350200MA2Y00001N", "厦门", "老客户", "王经理", ""],
            ["福州闽江贸易有限公司", "", "", "福州", "", "", "孤值"]]
    refused = _import(api, rows)
    assert refused.status_code == 400
    message = refused.get_json()["error"]["message"]
    # The usual names are understood; only what no field holds is named, with the way out.
    assert "备注" in message and "联系人" in message and "Column 7 has values but no name" in message
    assert "手机号码" not in message and "leave them out" in message
    assert _import(api, rows, leave_out_unknown_columns="maybe").status_code == 400
    done = _import(api, rows, leave_out_unknown_columns="true")
    assert done.status_code == 201, done.get_json()
    answer = done.get_json()
    assert (answer["imported_rows"], answer["left_out_columns"]) == (2, ["备注", "联系人", "Column 7"])
    [first] = [c for c in api.get("/api/v1/customers?q=海鑫").get_json()["items"]]
    assert (first["phone"], first["credit_code"], first["city"]) == ("138 0000 1111", "91350200MA2Y00001N", "厦门")
    page = api.get(f"/customers/imports/{answer['id']}").get_data(as_text=True)
    assert 'id="import-left-out"' in page and "备注, 联系人, Column 7" in page
    # Without unknown columns, nothing is listed as left out.
    plain = _import(api, [["name"], ["泉州晋江纺织有限公司"]]).get_json()
    assert plain["left_out_columns"] is None
    assert 'id="import-left-out"' not in api.get(f"/customers/imports/{plain['id']}").get_data(as_text=True)


def test_large_import_runs_in_the_background_with_progress(app, api_as, crm_stages, monkeypatch):
    from app.crm import services
    from app.jobs import run_due_jobs

    monkeypatch.setattr(services, "IMPORT_SYNC_ROWS", 3)
    monkeypatch.setattr(services, "IMPORT_BATCH", 2)
    rows = [["name", "city"]] + [[f"客户{i}", "厦门"] for i in range(5)] + [["", "坏行"]]
    api = api_as("sales1")
    response = api.post("/api/v1/customers/import", data={"file": (io.BytesIO(_csv(rows)), "big.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 202
    job = response.get_json()
    assert job["status"] == "pending" and job["processed_rows"] == 0 and job["total_rows"] == 6
    assert response.headers["Location"].endswith(f"/api/v1/customers/imports/{job['id']}")
    with app.app_context():
        assert run_due_jobs() == 1
    done = api.get(f"/api/v1/customers/imports/{job['id']}").get_json()
    assert (done["status"], done["processed_rows"], done["imported_rows"]) == ("done", 6, 5)
    assert done["errors"][0]["row"] == 7 and done["errors"][0]["field"] == "name"
    assert api.get("/api/v1/customers?city=厦门").get_json()["total"] == 5


def test_a_salesperson_imports_a_bounded_file_an_administrator_any(app, api_as, crm_stages, monkeypatch):
    """200,000 rows from one salesperson filed as many reports, buried the approvers and held
    the database for an hour."""
    monkeypatch.setitem(app.config, "CUSTOMER_IMPORT_MAX_ROWS", 3)
    rows = [["name", "city", "owner"]] + [[f"客户{i}", "厦门", "sales1"] for i in range(4)]

    def send(username):
        return api_as(username).post("/api/v1/customers/import", data={"file": (io.BytesIO(_csv(rows)), "big.csv")},
                                     content_type="multipart/form-data")

    refused = send("sales1")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"] == [{"field": "file", "message": refused.get_json()["error"]["message"]}]
    assert "4 个新客户" in refused.get_json()["error"]["message"] and "3" in refused.get_json()["error"]["message"]
    assert api_as("sales1").get("/api/v1/customers").get_json()["total"] == 0
    assert send("admin").status_code in (201, 202)
    # Rows with an id update customers (an export edited and imported again): they file no report.
    export = api_as("sales1").get("/api/v1/customers/export.csv").get_data(as_text=True)
    assert export.count("客户") >= 4
    again = api_as("sales1").post("/api/v1/customers/import", data={"file": (io.BytesIO(export.encode()), "e.csv")},
                                  content_type="multipart/form-data")
    assert again.status_code in (201, 202), again.get_json()


def test_an_import_cut_off_mid_batch_goes_on_where_it_stopped_without_a_row_twice(app, api_as, crm_stages,
                                                                                  monkeypatch):
    """The worker killed mid-batch: on SQLite the batch's first row had been committed on its
    own (its savepoint opened the transaction), its count not; resumed, the import called that
    row a duplicate of itself, and the page counted -1 errors meanwhile."""
    from app.crm import services
    from app.crm.models import Customer, CustomerImport
    from app.extensions import db

    monkeypatch.setattr(services, "IMPORT_SYNC_ROWS", 1)
    monkeypatch.setattr(services, "IMPORT_BATCH", 3)
    rows = [["name", "city"]] + [[f"客户{i}", "厦门"] for i in range(7)]
    started = api_as("sales1").post("/api/v1/customers/import", data={"file": (io.BytesIO(_csv(rows)), "big.csv")},
                                    content_type="multipart/form-data").get_json()
    real, made = services.create, []

    def killed_at_the_fifth(*args, **kwargs):
        made.append(real(*args, **kwargs))
        if len(made) == 5:
            raise SystemExit("worker killed")
        return made[-1]

    monkeypatch.setattr(services, "create", killed_at_the_fifth)
    with app.app_context():
        with pytest.raises(SystemExit):
            services.run_customer_import(started["id"])
        db.session.rollback()
        job = db.session.get(CustomerImport, started["id"])
        assert (job.processed_rows, job.imported_rows) == (3, 3)  # the first batch, whole, and nothing more
        assert db.session.query(Customer).count() == 3
        monkeypatch.setattr(services, "create", real)
        job = services.run_customer_import(started["id"])
        assert (job.processed_rows, job.imported_rows, job.errors) == (7, 7, [])
        assert db.session.query(Customer).count() == 7


def test_a_row_with_more_cells_than_the_header_is_refused_not_shifted(api_en, crm_stages, monkeypatch):
    """厦门移位四号,厦门,13911117799,1,000,000 (an unquoted thousands separator) was imported with
    注册资金 1, the rest dropped."""
    from app.crm import services

    monkeypatch.setattr(services, "IMPORT_BATCH_SECONDS", -1)  # a batch a row: the import still goes on
    body = ("name,city,phone,registered_capital\n厦门移位一号,厦门,13911117788,\"1,000,000\"\n"
            "厦门移位四号,厦门,13911117799,1,000,000\n厦门移位五号,厦门,,\n").encode()
    done = _import(api_en("sales1"), body).get_json()
    assert (done["imported_rows"], done["failed_rows"]) == (2, 1)
    [error] = done["errors"]
    assert error["row"] == 3 and "6 个单元格" in error["message"] and "引号" in error["message"]


def test_an_import_that_keeps_failing_stops_saying_it_runs(app, api_as, crm_stages, monkeypatch):
    """Given up (the file kept locked by people saving meanwhile), its page showed a running bar
    for good, and the jobs page only SQLAlchemy's link instead of what failed."""
    from sqlalchemy import select, update
    from sqlalchemy.exc import OperationalError

    from app.crm import services
    from app.db import utcnow
    from app.extensions import db
    from app.jobs import Job, run_due_jobs
    from app.jobs.services import error_summary

    monkeypatch.setattr(services, "IMPORT_SYNC_ROWS", 1)

    def locked(job):
        raise OperationalError("INSERT INTO customers", {}, Exception("database is locked"))

    monkeypatch.setattr(services, "_run_import", locked)
    api = api_as("sales1")
    job = api.post("/api/v1/customers/import", data={"file": (io.BytesIO(_csv([["name"], ["甲"], ["乙"]])), "a.csv")},
                   content_type="multipart/form-data").get_json()
    with app.app_context():
        for _ in range(8):
            db.session.execute(update(Job).where(Job.status == "pending").values(due_at=utcnow()))
            db.session.commit()
            run_due_jobs()
        failed = db.session.scalar(select(Job).where(Job.kind == "crm.import_customers"))
        assert failed.status == "failed"
        assert error_summary(failed.last_error).endswith("database is locked")
        db.session.remove()
    assert api.get(f"/api/v1/customers/imports/{job['id']}").get_json()["status"] == "failed"
    page = api.get(f"/customers/imports/{job['id']}").get_data(as_text=True)
    assert 'id="import-stopped"' in page and "progress-bar-animated" not in page


def _import(api, rows_or_bytes, **form):
    data = rows_or_bytes if isinstance(rows_or_bytes, bytes) else _csv(rows_or_bytes)
    return api.post("/api/v1/customers/import", data={"file": (io.BytesIO(data), "customers.csv"), **form},
                    content_type="multipart/form-data")


def test_export_round_trips_through_import(api_as, crm_stages, make_customer, events):
    formula = make_customer("sales1", name="=HYPERLINK(\"http://evil\")", phone="+86 592 555", province="福建")
    other = make_customer("sales1", name="福州闽江贸易", province="福建", city="福州",
                          credit_code="914403001922038216")  # all digits: Excel would show 9.14403E+17
    api = api_as("sales1")
    exported = api.get("/api/v1/customers/export.csv?province=福建")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert {r["name"] for r in rows} == {"'=HYPERLINK(\"http://evil\")", "福州闽江贸易"}  # no formula in a spreadsheet
    assert {r["owner"] for r in rows} == {"sales1"}
    assert {r["credit_code"] for r in rows} == {"", "'914403001922038216"}  # kept as text in a spreadsheet
    # Re-imported as exported: the same customers, nothing changed, no duplicates.
    del events[:]
    again = _import(api, text.encode()).get_json()
    assert (again["imported_rows"], again["updated_rows"], again["unchanged_rows"], again["failed_rows"]) == \
        (0, 0, 2, 0), again
    assert events == []
    names = sorted(c["name"] for c in api.get("/api/v1/customers?province=福建").get_json()["items"])
    assert names == ["=HYPERLINK(\"http://evil\")", "福州闽江贸易"]
    # Edited in the spreadsheet: the row with the id updates its customer.
    edited = text.replace("福州闽江贸易", "福州闽江贸易有限公司")
    result = _import(api, edited.encode()).get_json()
    assert (result["updated_rows"], result["unchanged_rows"]) == (1, 1), result
    assert api.get(f"/api/v1/customers/{other['id']}").get_json()["name"] == "福州闽江贸易有限公司"
    assert [(e[0], e[1], e[2]) for e in events] == [("customer", "updated", other["id"])]
    assert api.get(f"/api/v1/customers/{formula['id']}").get_json()["version"] == formula["version"]
    # Saved back by Excel without the guard: the row says what Excel did, not "11 characters".
    mangled = _import(api, text.replace("'914403001922038216", "9.14403E+17").encode()).get_json()
    assert mangled["failed_rows"] == 1 and "Excel" in mangled["errors"][0]["message"]


def test_import_rows_with_ids_touch_only_customers_the_importer_may_change(api_en, crm_stages, make_customer):
    theirs = make_customer("sales2", name="别人的客户")
    result = _import(api_en("sales1"), [["id", "name"], [str(theirs["id"]), "抢过来"], ["abc", "坏编号"],
                                        ["999999", "没有这个"]]).get_json()
    assert result["failed_rows"] == 3 and result["updated_rows"] == 0
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(2, "id"), (3, "id"), (4, "id")]
    # in the importer's language (the worker has no request to take it from)
    assert result["errors"][0]["message"] == f"没有您可修改的客户 #{theirs['id']}。"
    assert api_en("sales2").get(f"/api/v1/customers/{theirs['id']}").get_json()["name"] == "别人的客户"


def test_a_file_imported_twice_adds_no_second_customer_with_the_same_credit_code(api_en, crm_stages):
    rows = [["name", "credit_code"], ["厦门海鑫科技有限公司", "91350200MA2Y00001N"], ["无代码公司", ""]]
    api = api_en("sales1")
    assert _import(api, rows).get_json()["imported_rows"] == 2
    second = _import(api, rows).get_json()
    assert (second["imported_rows"], second["failed_rows"]) == (0, 2)
    by_code, by_name = second["errors"]
    assert (by_code["row"], by_code["field"]) == (2, "credit_code")
    assert "已使用此信用代码" in by_code["message"] and "厦门海鑫科技有限公司" in by_code["message"]
    # Without a credit code, the same name in the same city (a corrected file imported again).
    assert (by_name["row"], by_name["field"]) == (3, "name") and "编号" in by_name["message"]
    # A customer on record without a city may be any city's: refused too.
    assert _import(api, [["name", "city"], ["无代码公司", "泉州"]]).get_json()["imported_rows"] == 0
    _import(api, [["name", "city"], ["有城市公司", "厦门"]])
    elsewhere = _import(api, [["name", "city"], ["有城市公司", "泉州"], ["有城市公司", "泉州"]]).get_json()
    assert (elsewhere["imported_rows"], [e["row"] for e in elsewhere["errors"]]) == (1, [3])  # another city: new
    # The same company written another way (the suffix, brackets, spaces, full-width letters).
    variants = _import(api, [["name", "city"], ["有城市公司有限责任公司", "厦门"], ["有 城市（集团）公司", "厦门"],
                             ["ＴＣＬ电子", "福州"], ["TCL电子有限公司", "福州"]]).get_json()
    assert (variants["imported_rows"], [e["row"] for e in variants["errors"]]) == (1, [2, 3, 5])
    # Two rows of one file with the same code: the second is the duplicate.
    twice = _import(api, [["name", "credit_code"], ["甲", "91350200MA2Y00008C"], ["乙", "91350200 ma2y 00008c"]]).get_json()
    assert (twice["imported_rows"], [e["row"] for e in twice["errors"]]) == (1, [3])
    # Someone else's company: giving its id would not help, so the message says whose it is.
    theirs = _import(api_en("sales2"), rows[:2]).get_json()
    [error] = theirs["errors"]
    assert "已是 销售一 Sales One 的客户" in error["message"] and "编号" not in error["message"]


def test_an_admin_may_load_existing_customers_without_rules_and_workflows(app, api_en, demo_flow, events):
    from sqlalchemy import func, select

    from app.audit import AuditEvent
    from app.engine.models import ProcessInstance
    from app.extensions import db

    rows = [["name", "province", "owner"], ["厦门老客户甲", "福建", "sales1"], ["厦门老客户乙", "福建", "sales2"]]
    refused = _import(api_en("sales1"), rows, automate="false")
    assert refused.status_code == 403 and refused.get_json()["error"]["details"][0]["field"] == "automate"
    assert _import(api_en("admin"), rows, automate="maybe").status_code == 400

    loaded = _import(api_en("admin"), rows, automate="false")
    assert loaded.status_code == 201 and loaded.get_json()["imported_rows"] == 2
    assert loaded.get_json()["automate"] is False
    assert [e[:2] for e in events] == [("customer", "created")] * 2  # events still happen (history records them)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 0  # no report filed
        [audit] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "crm.import_without_automation"))
        assert audit.actor_name == "admin" and audit.details["rows"] == 2
    statuses = {c["name"]: c["report_status"] for c in api_en("admin").get("/api/v1/customers").get_json()["items"]}
    assert statuses == {"厦门老客户甲": "none", "厦门老客户乙": "none"}
    # Nor is each owner told "you now own ..." per row (20,000 rows buried their real messages).
    told = [n["text"] for n in api_en("sales2").get("/api/v1/notifications").get_json()["items"]]
    assert not [t for t in told if "厦门老客户乙" in t], told
    # The change history still says where they came from.
    customer = api_en("admin").get("/api/v1/customers?q=老客户甲").get_json()["items"][0]
    [created] = api_en("admin").get(f"/api/v1/records/customer/{customer['id']}/history").get_json()["items"]
    assert created["event"] == "created" and created["actor"] == "admin"
    # Its owner may file the report it skipped, told it never had one.
    from app.cli import DEMO_PASSWORD

    owner = app.test_client()
    owner.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    page = owner.get(f"/crm/customer/{customer['id']}").get_data(as_text=True)
    assert 'id="report-again"' in page and "尚未报备" in page and "按审批意见" not in page
    filed = owner.post(f"/forms/records/customer/{customer['id']}/report-again", follow_redirects=True)
    assert "已提交：流程 #" in filed.get_data(as_text=True)  # its first report: not "submitted again"

    # The same file the usual way starts a report for each new customer.
    usual = _import(api_en("admin"), [["name", "province"], ["厦门新客户", "福建"]])
    assert usual.get_json()["automate"] is True
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 2  # and the one filed above


def test_a_quiet_import_in_the_background_stays_quiet(app, api_en, demo_flow, monkeypatch):
    from sqlalchemy import func, select

    from app.crm import services
    from app.engine.models import ProcessInstance
    from app.extensions import db
    from app.jobs import run_due_jobs

    monkeypatch.setattr(services, "IMPORT_SYNC_ROWS", 1)
    response = _import(api_en("admin"), [["name"], ["甲公司"], ["乙公司"]], automate="false")
    assert response.status_code == 202
    with app.app_context():
        assert run_due_jobs() == 1
        assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
    done = api_en("admin").get(response.headers["Location"]).get_json()
    assert (done["status"], done["imported_rows"], done["automate"]) == ("done", 2, False)


def test_the_migration_fills_existing_customers_phone_keys(tmp_path):
    """Customers saved before phone keys get theirs, so old records are found too."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.helpers import database_at, write_old_customers

    with database_at(tmp_path, "0020_api_idempotency_keys"):
        write_old_customers([{"id": 1, "phone": "+86 592 555 1234"}, {"id": 2, "phone": None},
                             {"id": 3, "phone": "138-0013-8000 转 2"}])
        upgrade()
        with db.engine.connect() as connection:
            keys = connection.execute(text("SELECT id, phone_key FROM customers ORDER BY id")).all()
        assert [tuple(k) for k in keys] == [(1, "05925551234"), (2, ""), (3, "13800138000")]
        downgrade(revision="0020_api_idempotency_keys")
        with db.engine.connect() as connection:
            columns = [row[1] for row in connection.execute(text("PRAGMA table_info(customers)"))]
        assert "phone_key" not in columns and "phone" in columns


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (SQLite writes one at a time)")
def test_two_imports_of_one_file_at_the_same_moment_add_each_customer_once(app, api_as, crm_stages, monkeypatch):
    """Three imports of one 40-row file sent together made 91 customers (each filing a report)."""
    import threading

    from app.crm import services
    from app.crm.models import Customer
    from app.extensions import db

    monkeypatch.setattr(services, "IMPORT_SYNC_ROWS", 0)  # through the worker's path, run here by hand
    monkeypatch.setattr(services, "IMPORT_BATCH", 5)
    rows = [["name", "city"]] + [[f"并发导入客户{i}", "厦门"] for i in range(20)]
    started = [_import(api_as(user), rows).get_json()["id"] for user in ("sales1", "sales2", "sales1")]
    gate = threading.Barrier(len(started))
    failures = []

    def run(import_id):
        with app.app_context():
            try:
                gate.wait()
                services.run_customer_import(import_id)
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(import_id,)) for import_id in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with app.app_context():
        names = [name for (name,) in db.session.query(Customer.name).filter(Customer.name.like("并发导入客户%"))]
        assert sorted(names) == sorted(set(names)) and len(names) == 20


def test_a_city_written_with_its_shi_is_the_same_city(api_as, crm_stages):
    """An old system's export writing 厦门市 imported 厦门海鑫科技有限责任公司 a second time beside
    厦门海鑫科技有限公司 in 厦门, and the city filter split 厦门 from 厦门市."""
    api = api_as("sales1")
    first = api.post("/api/v1/customers", json={"name": "厦门海鑫科技有限公司", "city": "厦门"}).get_json()
    made = api.post("/api/v1/customers", json={"name": "厦门鹭江贸易", "city": "厦门市"}).get_json()
    assert made["city"] == "厦门"
    assert {c["id"] for c in api.get("/api/v1/customers?city=厦门市").get_json()["items"]} == {first["id"], made["id"]}
    done = _import(api, [["客户名称", "城市"], ["厦门海鑫科技有限责任公司", "厦门市"]]).get_json()
    assert (done["imported_rows"], done["failed_rows"]) == (0, 1)
    assert f"#{first['id']}" in done["errors"][0]["message"]


def test_a_small_import_that_meets_a_busy_database_is_finished_by_the_worker(app, api_as, crm_stages, monkeypatch):
    """A double-clicked 导入 on SQLite: the second request met "database is locked" and its import
    stayed "running" forever, with no job to finish it."""
    from sqlalchemy.exc import OperationalError

    from app.crm import services
    from app.jobs import run_due_jobs

    real = services.run_customer_import
    calls = []

    def locked_once(import_id):
        calls.append(import_id)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(import_id)

    monkeypatch.setattr(services, "run_customer_import", locked_once)
    api = api_as("sales1")
    started = _import(api, [["name", "city"], ["锁定后导入甲", "厦门"], ["锁定后导入乙", "福州"]])
    assert started.status_code == 202, started.get_json()
    with app.app_context():
        assert run_due_jobs() >= 1
    done = api.get(f"/api/v1/customers/imports/{started.get_json()['id']}").get_json()
    assert (done["status"], done["imported_rows"]) == ("done", 2)
