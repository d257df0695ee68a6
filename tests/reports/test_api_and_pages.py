"""The report API and pages: who may see what, filters, CSV, bad input (never a 500)."""
from __future__ import annotations

import csv
import io

import pytest

from app.cli import DEMO_PASSWORD

from .histories import FIRST, LAST, build_histories, build_runs

PERIOD = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


@pytest.fixture
def histories(app, demo_people):
    from app.extensions import db

    with app.app_context():
        build_histories()
        ids = build_runs()
        db.session.remove()
    return ids


def login(client, username):
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_process_report_api(api_as, histories):
    admin = api_as("admin")
    report = admin.get(f"/api/v1/reports/processes/customer_report?{PERIOD}").get_json()
    assert report["instances"]["started"] == 9 and report["duration"]["median_s"] == 21600.0
    assert report["process"] == {"key": "customer_report", "name": "客户报备", "version": None, "diagram_version": 1}
    assert admin.get(f"/api/v1/reports/processes/customer_report?{PERIOD}&version=1").get_json()["instances"] == \
        report["instances"]
    listing = admin.get("/api/v1/reports/processes").get_json()["items"]
    assert {p["key"] for p in listing} == {"customer_report", "other"}
    # a designer sees it too
    assert api_as("admin").get("/api/v1/reports/automation").status_code == 200


def test_process_csv(api_as, histories):
    response = api_as("admin").get(f"/api/v1/reports/processes/customer_report/csv/steps?{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].endswith(f'-steps-{FIRST.isoformat()}-{LAST.isoformat()}.csv"')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    # Columns as people read them, in their language (the JSON API has the keys).
    manager = next(r for r in rows if r["步骤 ID"] == "Task_manager_review")
    assert (manager["执行次数"], manager["已逾期"], manager["升级"], manager["瓶颈"]) == ("7", "2", "1", "是")
    summary = api_as("admin").get(f"/api/v1/reports/processes/customer_report/csv/summary?{PERIOD}")
    rows = list(csv.reader(io.StringIO(summary.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["结束于：报备通过", "4"] in rows and ["结束于：报备驳回", "1"] in rows


@pytest.mark.parametrize("path", [
    "/api/v1/reports/processes/customer_report?from=2026-13-01",
    "/api/v1/reports/processes/customer_report?from=2026-02-01&to=2026-01-01",
    "/api/v1/reports/processes/customer_report?from=2020-01-01&to=2026-01-01",
    "/api/v1/reports/processes/customer_report?version=0",
    "/api/v1/reports/people?to=yesterday",
    "/api/v1/reports/automation?to=0001-01-01",
    "/api/v1/reports/automation?from=9999-12-31",
])
def test_bad_filters_are_400(api_as, histories, path):
    response = api_as("admin").get(path)
    assert response.status_code == 400, response.get_json()


def test_unknown_things_are_404(api_as, histories):
    admin = api_as("admin")
    assert admin.get("/api/v1/reports/processes/nope").status_code == 404
    missing = admin.get("/api/v1/reports/processes/customer_report?version=9")
    assert missing.status_code == 404 and missing.get_json()["error"]["message"] == "没有流程 customer_report 的版本 9。"
    assert admin.get("/api/v1/reports/processes/customer_report/csv/nope").status_code == 404
    assert admin.get("/api/v1/reports/people/csv/nope").status_code == 404
    assert admin.request("PUT", "/api/v1/reports/automation/rules/999999/minutes",
                     json={"settings": [{"index": 0, "minutes": 1}]}).status_code == 404


def test_who_sees_what(api_as, histories):
    manager, approver, sales = api_as("manager"), api_as("fj_head"), api_as("sales1")
    # a manager: only the people report, only their groups and members
    assert manager.get("/api/v1/reports/processes/customer_report").status_code == 403
    assert manager.get("/api/v1/reports/automation").status_code == 403
    people = manager.get(f"/api/v1/reports/people?{PERIOD}&process=customer_report").get_json()
    assert {g["name"] for g in people["groups"]} == {"sales", "fujian-heads", "medical-reviewers"}
    # and their own row: a manager decides tasks too (the sales managers' group is not theirs to see)
    assert {p["username"]: p["completed"] for p in people["people"]}["manager"] > 0
    assert {p["username"]: p["overdue"] for p in people["people"]}["med_reviewer"] == 1
    # an approver who manages no group, and a salesperson: no report at all
    for user in (approver, sales):
        assert user.get("/api/v1/reports/people").status_code == 403
        assert user.get("/api/v1/reports/processes").status_code == 403
    # admins see every group
    everyone = api_as("admin").get(f"/api/v1/reports/people?{PERIOD}").get_json()
    assert "sales-managers" in {g["name"] for g in everyone["groups"]}


def test_time_saved_settings_api(api_as, histories):
    admin = api_as("admin")
    url = f"/api/v1/reports/automation/rules/{histories['r2']}/minutes"
    response = admin.request("PUT", url, json={"settings": [{"index": 0, "minutes": 10}]})
    assert response.status_code == 200
    assert response.get_json()["actions"] == [{"index": 0, "type": "create_record", "minutes": 10.0}]
    report = admin.get(f"/api/v1/reports/automation?{PERIOD}").get_json()
    assert {r["rule_id"]: r["minutes_saved"] for r in report["rules"]}[histories["r2"]] == 20.0
    no_such = admin.request("PUT", url, json={"settings": [{"index": 5, "minutes": 1}]})
    assert no_such.status_code == 400 and "没有" in no_such.get_json()["error"]["message"]  # it was English
    assert admin.request("PUT", url, json={"settings": [{"index": 0, "minutes": -1}]}).status_code == 400
    assert admin.request("PUT", url, json={"settings": "x"}).status_code == 400
    assert api_as("manager").request("PUT", url, json={"settings": [{"index": 0, "minutes": 1}]}).status_code == 403
    rows = admin.get(f"/api/v1/reports/automation/csv/rules?{PERIOD}").get_data(as_text=True)
    assert "赢单建合同" in rows and "20.0" in rows


def test_pages(client, histories):
    login(client, "admin")
    assert client.get("/reports/").status_code == 302
    page = client.get(f"/reports/processes?process=customer_report&{PERIOD}").get_data(as_text=True)
    assert "销售经理审批" in page and 'id="report-data"' in page and 'id="heat-canvas"' in page
    ends = page[page.index('id="process-ends"'):]
    assert ends.index("报备通过</span> <span class=\"fw-semibold\">4<") < ends.index("报备驳回</span> <span class=\"fw-semibold\">1<")
    assert client.get(f"/reports/people?{PERIOD}").status_code == 200
    page = client.get(f"/reports/automation?{PERIOD}").get_data(as_text=True)
    assert "A类客户" in page and "boom" in page
    # bad dates fall back to the default period; an unknown process is a 404
    assert client.get("/reports/processes?from=nonsense&to=2026-99-99").status_code == 200
    assert client.get("/reports/processes?process=nope").status_code == 404
    # Another process chosen with the version of the one before (v9 of it does not exist): all its versions.
    switched = client.get(f"/reports/processes?process=customer_report&version=9&{PERIOD}")
    assert switched.status_code == 200 and "销售经理审批" in switched.get_data(as_text=True)
    # A period that cannot be is said, not silently swapped for the default one.
    page = client.get("/reports/people?from=2026-12-10&to=2026-12-01").get_data(as_text=True)
    assert "开始日期晚于结束日期。" in page and "报表改为显示" in page


def test_pages_for_a_manager_and_others(client, histories):
    login(client, "manager")
    assert client.get("/reports/").headers["Location"].endswith("/reports/people")
    page = client.get(f"/reports/people?{PERIOD}").get_data(as_text=True)
    assert "med_reviewer" in page or "Medical Reviewer" in page
    groups = page.split("您负责的组")[1].split("</p>")[0]
    assert "fujian-heads" not in groups and "福建" in groups  # the groups by the names people know
    assert client.get("/reports/processes").status_code == 403
    client.post("/logout")
    login(client, "fj_head")
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/people").status_code == 403


def test_a_duration_under_a_minute_reads_in_seconds(app):
    """Handling of 20-30 s read "0 分钟", beside a p90 of "7 分钟"."""
    from app.reports.views import report_duration

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert [report_duration(s) for s in (None, 25.4, 59, 60, 420, 7200)] == [
            "–", "25 秒", "59 秒", "1 分钟", "7 分钟", "2.0 小时"]
