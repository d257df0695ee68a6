"""The API frame: error format for bad input, sizes, methods; directory permissions."""
import json

import pytest


def test_malformed_json_is_400_not_500(api_as):
    api = api_as("admin")
    response = api.post("/api/v1/groups", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_input"


def test_a_body_that_is_not_json_is_415_saying_so(api_as):
    # curl -d '{"name": …}' sends form encoding: the answer says how, not "name is required".
    api = api_as("sales1")
    form = api.post("/api/v1/customers", data='{"name": "表单编码"}',
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and form.get_json()["error"]["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in form.get_json()["error"]["message"]
    assert api.post("/api/v1/customers", data="x", headers={"Content-Type": "text/plain"}).status_code == 415
    # Routes without a JSON body are not affected (a claim, an upload).
    assert api.post("/api/v1/customers", json={"name": "正常"}).status_code == 201


def test_wrong_types_name_the_fields(api_as):
    api = api_as("admin")
    response = api.post("/api/v1/users", json={"username": 12, "password": ["x"], "roles": "admin"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    fields = {d["field"] for d in error["details"]}
    assert {"username", "password", "roles"} <= fields


def test_missing_required_field(api_as):
    response = api_as("admin").post("/api/v1/groups", json={})
    assert response.status_code == 400
    assert {"field": "name", "message": "此字段为必填项。"} in response.get_json()["error"]["details"]
    assert response.get_json()["error"]["message"] == "输入有误：name"


def test_schema_messages_speak_the_readers_language(api_as):
    """marshmallow's own messages (types, lengths, ranges) are translated like the product's."""
    admin = api_as("admin")
    bad = {"name": "x" * 300, "key": "ok_key", "schema": [1]}
    zh = admin.post("/api/v1/forms", json=bad).get_json()["error"]["details"]
    assert {"field": "schema", "message": "必须是对象（{...}）。"} in zh
    en = admin.post("/api/v1/forms", json=bad, headers={"Accept-Language": "en"}).get_json()["error"]
    assert {"field": "schema", "message": "Must be an object ({...})."} in en["details"]
    assert en["message"].startswith("Invalid input: ")


def test_json_array_instead_of_object(api_as):
    response = api_as("admin").post("/api/v1/groups", json=[1, 2])
    assert response.status_code == 400
    assert [d["field"] for d in response.get_json()["error"]["details"]] == ["body"]  # not marshmallow's "_schema"


def test_oversized_body_is_413(api_as):
    big = json.dumps({"name": "x" * (2 * 1024 * 1024)})
    response = api_as("admin").post("/api/v1/groups", data=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert "1 MB" in response.get_json()["error"]["message"]  # says the limit


def test_an_upload_too_large_for_a_page_says_the_limit(app, demo_people):
    import io

    from app.cli import DEMO_PASSWORD

    client = app.test_client()
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    limit = app.config["MAX_CONTENT_LENGTH"]
    answer = client.post("/customers/import", data={"file": (io.BytesIO(b"x" * (limit + 1)), "big.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code == 413
    assert f"{limit // 1024 // 1024} MB" in answer.get_data(as_text=True) and "较小的文件" in answer.get_data(as_text=True)


def test_marshmallows_other_messages_are_translated_too(api_as):
    api = api_as("admin")
    naive = api.get("/api/v1/audit-events?since=2026-12-06T10:00:00").get_json()["error"]["details"]
    assert naive[0]["message"].startswith("必须是带时区偏移的日期时间")
    nan = api.get("/api/v1/customers?registered_capital_min=NaN").get_json()["error"]["details"]
    assert nan[0]["message"] == "必须是数字。"


def test_unknown_route_and_wrong_method(api_as):
    api = api_as("admin")
    missing = api.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong = api.request("PUT", "/api/v1/me")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    # In the reader's language like the product's own messages (admin's is the default, Chinese).
    assert (missing.get_json()["error"]["message"], wrong.get_json()["error"]["message"]) == ("未找到。", "此处不允许该请求方法。")
    garbled = api.request("POST", "/api/v1/groups", data="{not json", headers={"Content-Type": "application/json"})
    assert garbled.status_code == 400 and "JSON" in garbled.get_json()["error"]["message"]


def test_non_admin_gets_403_on_admin_api(api_as):
    response = api_as("sales1").post("/api/v1/groups", json={"name": "new-group"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    response = api_as("sales1").patch("/api/v1/users/sales2", json={"roles": ["admin"]})
    assert response.status_code == 403


def test_admin_creates_user_and_group(api_as):
    api = api_as("admin")
    created = api.post("/api/v1/users", json={"username": "xm_sales", "password": "厦门-secret-1",
                                              "display_name": "厦门销售", "roles": ["sales"], "groups": ["sales"]})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["display_name"] == "厦门销售"
    assert "厦门销售".encode() in created.data  # Chinese text unescaped
    group = api.post("/api/v1/groups", json={"name": "xiamen", "manager": "manager", "members": ["xm_sales"]})
    assert group.status_code == 201, group.get_json()
    assert group.get_json()["members"] == ["xm_sales"]
    duplicate = api.post("/api/v1/groups", json={"name": "xiamen"}, headers={"Accept-Language": "zh-CN"})
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["message"] == "组 xiamen 已存在。"
    assert duplicate.get_json()["error"]["details"] == [{"field": "name", "message": "该名称已被占用。"}]
    # Names are listed in diagrams and rules separated by commas or spaces: neither may be in one.
    for name in ("test group 1", "a,b"):
        spaced = api.post("/api/v1/groups", json={"name": name})
        assert spaced.status_code == 400 and spaced.get_json()["error"]["details"][0]["field"] == "name", name
    assert api.post("/api/v1/users", json={"username": "xm sales", "password": "厦门-secret-1"}).status_code == 400
    # Names differing in case only would be told apart by nobody picking an approver.
    upper = api.post("/api/v1/users", json={"username": "XM_Sales", "password": "厦门-secret-1"})
    assert upper.status_code == 409 and "xm_sales" in upper.get_json()["error"]["message"]
    # A name with letters SQLite's lower() does not fold is still caught when repeated exactly.
    assert api.post("/api/v1/users", json={"username": "ÂÔ用户", "password": "厦门-secret-1"}).status_code == 201
    assert api.post("/api/v1/users", json={"username": "ÂÔ用户", "password": "厦门-secret-1"}).status_code == 409
    # A group cannot end up below itself.
    api.post("/api/v1/groups", json={"name": "xiamen-north", "parent": "xiamen"})
    loop = api.patch("/api/v1/groups/xiamen", json={"parent": "xiamen-north"})
    assert loop.status_code == 400 and loop.get_json()["error"]["details"][0]["field"] == "parent"


def test_unknown_role_or_group_is_refused(api_as):
    api = api_as("admin")
    response = api.post("/api/v1/users", json={"username": "u1", "password": "long-enough-1", "groups": ["nope"]})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "groups"
    response = api.post("/api/v1/users", json={"username": "u1", "password": "long-enough-1", "roles": ["king"]})
    assert response.status_code == 400


def test_weak_password_is_refused(api_as):
    response = api_as("admin").post("/api/v1/users", json={"username": "u2", "password": "1234567"})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "password"


def test_stale_version_is_409(api_as):
    api = api_as("admin")
    current = api.get("/api/v1/groups/sales").get_json()
    assert api.patch("/api/v1/groups/sales", json={"description": "A", "version": current["version"]}).status_code == 200
    stale = api.patch("/api/v1/groups/sales", json={"description": "B", "version": current["version"]})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"


@pytest.mark.parametrize("url, change", [
    ("/api/v1/users/sales2", {"display_name": "李四"}),
    ("/api/v1/groups/sales", {"description": "销售部"}),
    ("/api/v1/automation-rules/{rule}", {"description": "说明"}),
])
def test_if_match_guards_users_groups_and_rules_as_it_guards_records(api_as, url, change):
    """If-Match was ignored on these (a stale one overwrote, 200) and their GET sent no ETag;
    the stale version's message came in English."""
    api = api_as("admin")
    rule = api.post("/api/v1/automation-rules", json={
        "name": "新客户通知", "entity": "customer", "event": "created",
        "actions": [{"type": "notify", "users": ["manager"], "template": "{name}"}]}).get_json()
    url = url.format(rule=rule["id"])
    got = api.get(url)
    tag = got.headers["ETag"]
    assert tag == f'"{got.get_json()["version"]}"'
    changed = api.patch(url, json=change, headers={"If-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    stale = api.patch(url, json=change, headers={"If-Match": tag, "Accept-Language": "zh-CN"})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    assert "已被他人修改" in stale.get_json()["error"]["message"]
    assert api.patch(url, json=change, headers={"If-Match": "W/1"}).status_code == 400
    if "automation-rules" in url:  # a stale delete too (it deleted a rule changed meanwhile)
        assert api.delete(url, headers={"If-Match": tag}).status_code == 409
        assert api.delete(url, headers={"If-Match": changed.headers["ETag"]}).status_code == 204


def test_a_membership_change_moves_the_group_s_and_the_person_s_version(api_as):
    """Four member edits left fujian-heads at ETag "2": a stale If-Match then dropped a member."""
    api = api_as("admin")
    group_tag = api.get("/api/v1/groups/fujian-heads").headers["ETag"]
    user_tag = api.get("/api/v1/users/sales2").headers["ETag"]
    assert api.patch("/api/v1/groups/fujian-heads", json={"members": ["fj_head", "sales2"]}).status_code == 200
    assert api.patch("/api/v1/groups/fujian-heads", json={"members": ["fj_head"]},
                     headers={"If-Match": group_tag}).status_code == 409
    assert api.patch("/api/v1/users/sales2", json={"groups": ["sales"]}, headers={"If-Match": user_tag}).status_code == 409
    manager_tag = api.get("/api/v1/users/manager").headers["ETag"]
    assert api.patch("/api/v1/users/manager", json={"groups": ["sales-managers", "fujian-heads"]}).status_code == 200
    assert api.get("/api/v1/users/manager").headers["ETag"] != manager_tag
    assert api.get("/api/v1/groups/fujian-heads").headers["ETag"] != group_tag
    # Made with members or groups: theirs move too.
    sales_tag, sales1_tag = api.get("/api/v1/groups/sales").headers["ETag"], api.get("/api/v1/users/sales1").headers["ETag"]
    assert api.post("/api/v1/users", json={"username": "newbie", "password": "Long-enough-2026",
                                           "groups": ["sales"]}).status_code == 201
    assert api.post("/api/v1/groups", json={"name": "vip", "members": ["sales1"]}).status_code == 201
    assert api.get("/api/v1/groups/sales").headers["ETag"] != sales_tag
    assert api.get("/api/v1/users/sales1").headers["ETag"] != sales1_tag


def test_a_json_body_not_in_utf8_is_said_to_be_so(api_as):
    """GBK from an ERP was answered "a number in the JSON body is too long"."""
    body = json.dumps({"name": "福州海峡贸易"}, ensure_ascii=False).encode("gbk")
    response = api_as("sales1").post("/api/v1/customers", data=body,
                                     headers={"Content-Type": "application/json; charset=gbk"})
    assert response.status_code == 400 and "UTF-8" in response.get_json()["error"]["message"]


def test_list_envelope_and_paging(api_as):
    api = api_as("sales1")
    body = api.get("/api/v1/users?per_page=2&page=2").get_json()
    assert body["total"] == 6 and body["page"] == 2 and body["per_page"] == 2
    assert len(body["items"]) == 2
    assert api.get("/api/v1/users?per_page=500").status_code == 400
    found = api.get("/api/v1/users?q=fj").get_json()
    assert [u["username"] for u in found["items"]] == ["fj_head"]


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert "/api/v1/tokens" in spec["paths"]
    assert "post" in spec["paths"]["/api/v1/tokens"]
    # As clients meet it: a bearer token everywhere but the token endpoint, the one error body,
    # and every operation's success status.
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"BearerAuth": []}] and spec["paths"]["/api/v1/tokens"]["post"]["security"] == []
    assert spec["components"]["schemas"]["HTTPError"]["properties"]["error"]["required"] == ["code", "message", "details"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert any(code.startswith("2") for code in operation["responses"]), (method, path)
    assert "201" in spec["paths"]["/api/v1/automation-rules"]["post"]["responses"]
    assert "204" in spec["paths"]["/api/v1/automation-rules/{rule_id}"]["delete"]["responses"]
    assert "200" in spec["paths"]["/api/v1/tasks/{task_id}/claim"]["post"]["responses"]
    # As a client meets it: 401 on the routes that need a token, 415 where a JSON body is read, unknown
    # fields of a record refused, an import's two answers, and no server address frozen from
    # whoever asked first.
    assert "401" in spec["paths"]["/api/v1/customers"]["get"]["responses"]
    assert "415" in spec["paths"]["/api/v1/customers"]["post"]["responses"]
    assert spec["components"]["schemas"]["CustomerIn"]["additionalProperties"] is False
    imported = spec["paths"]["/api/v1/customers/import"]["post"]["responses"]
    assert imported["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ImportOut"}
    assert spec["servers"] == [{"url": "/"}]


def test_api_docs_page_uses_local_assets(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"cdn.jsdelivr" not in page.data and b"/static/build/swagger-ui/" in page.data
    assert b"apiflask.com" not in page.data and b"/static/favicon.svg" in page.data  # nothing from elsewhere


def test_internal_error_hides_details(app, caplog):
    from app import create_app
    from app.access import public

    fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})

    @public
    def boom():
        raise RuntimeError("secret internal detail")

    fresh.add_url_rule("/api/v1/boom", "boom", boom)
    response = fresh.test_client().get("/api/v1/boom")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert b"secret internal detail" not in response.data
    assert "secret internal detail" in caplog.text


def test_ids_beyond_the_column_range_are_404(app, api_as):
    rules = [r.rule for r in app.url_map.iter_rules() if "<int:" in r.rule and r.rule.startswith("/api/")]
    assert rules
    api = api_as("admin")
    for rule in rules:
        path = rule
        while "<" in path:
            start = path.index("<")
            path = path[:start] + "99999999999999999999999" + path[path.index(">") + 1:]
        response = api.get(path)
        assert response.status_code in (404, 405), (rule, response.status_code)


def test_nul_characters_are_refused_with_the_field_named(api_as):
    api = api_as("admin")
    response = api.post("/api/v1/groups", json={"name": "bad\x00name", "members": ["a\x00"]})
    assert response.status_code == 400
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert fields == {"name", "members.0"}
    assert api.get("/api/v1/users?q=x%00y").status_code == 400


def test_unpaired_surrogates_are_refused_with_the_field_named(api_as):
    """A JSON "\\ud800" escape decodes to no character: storing it failed deep inside (a 500)."""
    api = api_as("sales1")
    for path, body, field in (("/api/v1/customers", b'{"name": "\\ud800 x"}', "name"),
                              ("/api/v1/activities", b'{"customer_id": 1, "kind": "call", "content": "a\\udfffb"}',
                               "content")):
        response = api.post(path, data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.get_json())
        assert [d["field"] for d in response.get_json()["error"]["details"]] == [field]
    assert api.post("/api/v1/customers", json={"name": "\U0001F600 好客户"}).status_code == 201  # a real pair is fine


def test_values_the_database_refuses_are_400(app):
    """A DataError (out-of-range number, malformed text) is the client's bad input, not a 500."""
    from app import create_app
    from app.access import public

    fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})

    @public
    def overflow():
        from sqlalchemy.exc import DataError

        raise DataError("SELECT 1", {}, ValueError("integer out of range"))

    @public
    def sqlite_overflow():
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    fresh.add_url_rule("/api/v1/overflow", "overflow", overflow)
    fresh.add_url_rule("/api/v1/sqlite-overflow", "sqlite_overflow", sqlite_overflow)
    for path in ("/api/v1/overflow", "/api/v1/sqlite-overflow"):
        response = fresh.test_client().get(path)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_input"


def test_an_unexpected_error_is_told_in_the_reader_s_language(app):
    from app import create_app
    from app.access import public

    fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})

    @public
    def broken():
        raise RuntimeError("a bug")

    fresh.add_url_rule("/api/v1/broken", "broken", broken)
    fresh.add_url_rule("/broken-page", "broken_page", broken)
    client = fresh.test_client()
    api = client.get("/api/v1/broken", headers={"Accept-Language": "zh-CN"})
    assert api.status_code == 500 and api.get_json()["error"]["message"] == "内部错误，已记录。"
    page = client.get("/broken-page", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 500 and "系统出错，已记录日志。" in page.get_data(as_text=True)


def test_a_204_answer_has_no_content_type(api_as):
    sales = api_as("sales1")
    created = sales.post("/api/v1/customers", json={"name": "删除测试客户"}).get_json()
    deleted = sales.delete(f"/api/v1/customers/{created['id']}")
    assert deleted.status_code == 204 and deleted.data == b""
    assert "Content-Type" not in deleted.headers


def test_text_a_spreadsheet_would_run_is_quoted_tab_and_return_included():
    from app.spreadsheet import formula_safe

    assert [formula_safe(v) for v in ("=1+1", "\t=cmd|' /C calc'!A0", "\r@SUM(A1)", "厦门", 12)] == [
        "'=1+1", "'\t=cmd|' /C calc'!A0", "'\r@SUM(A1)", "厦门", 12]


def test_a_deadlock_is_a_lost_race_409_not_an_outage_503(app):
    """A withdrawal racing the approval deadlocked on PostgreSQL and was told "the database is
    unavailable" with Retry-After, which monitoring reads as an outage too."""
    from psycopg.errors import DeadlockDetected, SerializationFailure
    from sqlalchemy.exc import OperationalError

    from app import create_app
    from app.access import public

    fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    for name, cause in (("deadlock", DeadlockDetected), ("serialization", SerializationFailure)):
        def crossed(cause=cause):
            raise OperationalError("UPDATE customers …", {}, cause("deadlock detected"))
        fresh.add_url_rule(f"/api/v1/{name}", name, public(crossed))
    for name in ("deadlock", "serialization"):
        response = fresh.test_client().get(f"/api/v1/{name}", headers={"Accept-Language": "zh-CN"})
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"
        assert "Retry-After" not in response.headers and "同一时间" in response.get_json()["error"]["message"]


def test_the_engine_s_step_by_step_log_is_kept_out_of_the_server_log(app):
    import logging

    assert not logging.getLogger("spiff.task").isEnabledFor(logging.INFO)
    assert logging.getLogger("spiff.task").isEnabledFor(logging.WARNING)


def test_a_body_sent_by_nobody_signed_in_is_refused_before_it_is_read(client, demo_people, monkeypatch):
    """Twelve anonymous megabytes of JSON to the designer's check were parsed (seconds, a
    gigabyte) before the 401."""
    import app.api.frame as frame

    parsed = []
    monkeypatch.setattr(frame, "_refuse_deep_json", lambda: parsed.append(True))
    body = "[" + ",".join(["{}"] * 200_000) + "]"
    anonymous = client.post("/api/v1/designer/check", data=body, content_type="application/json")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "not_authenticated"
    forged = client.post("/api/v1/designer/check", data=body, content_type="application/json",
                         headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401 and forged.get_json()["error"]["code"] == "invalid_token"
    assert parsed == []
    # Signing in is a body sent by nobody signed in yet: still read.
    assert client.post("/api/v1/tokens", json={"username": "sales1", "password": "demo1234"}).status_code == 201
