"""The inbox's answers match what its OpenAPI document says of them: a client generated from the
document (the ERP's approval screen) reads real tasks, submissions and periods with it."""
import io

import schemathesis

from app.clock import company_today

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_the_inbox_answers_as_documented(app, api_as, flows):
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checked = []

    def answered(response, method, path, status=200):
        assert response.status_code == status, response.get_json()
        document[path][method].validate_response(response)  # raises, naming the field, when it differs
        checked.append((method, path))
        return response.get_json()

    head, sales = api_as("fj_head"), api_as("sales1")
    instance_id = flows.report()
    duplicate = flows.report(name="福州海峡贸易", phone="0591-1")  # duplicates and record panels filled in
    listed = answered(head.get("/api/v1/tasks"), "GET", "/api/v1/tasks")
    assert listed["items"] and listed["items"][0]["form"]
    answered(head.get("/api/v1/tasks?include_form=false"), "GET", "/api/v1/tasks")
    task_id = flows.open_task(instance_id)["id"]
    answered(head.post(f"/api/v1/tasks/{task_id}/claim"), "POST", "/api/v1/tasks/{task_id}/claim")
    answered(head.post(f"/api/v1/tasks/{task_id}/draft", json={"data": {"comment": "再核实"}}),
             "POST", "/api/v1/tasks/{task_id}/draft")
    answered(head.post(f"/api/v1/tasks/{task_id}/comments", json={"comment": "电话已核实"}),
             "POST", "/api/v1/tasks/{task_id}/comments", 201)
    answered(head.post(f"/api/v1/tasks/{task_id}/attachments", data={"file": (io.BytesIO(PDF), "营业执照.pdf")},
                       content_type="multipart/form-data"), "POST", "/api/v1/tasks/{task_id}/attachments", 201)
    detail = answered(head.get(f"/api/v1/tasks/{task_id}"), "GET", "/api/v1/tasks/{task_id}")
    assert detail["history"] and detail["attachments"]
    answered(head.post(f"/api/v1/tasks/{task_id}/unclaim"), "POST", "/api/v1/tasks/{task_id}/unclaim")
    head.post(f"/api/v1/tasks/{task_id}/claim")
    answered(head.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"decision": "approve", "comment": "同意"}}),
             "POST", "/api/v1/tasks/{task_id}/complete")
    other_id = flows.open_task(duplicate)["id"]
    head.post(f"/api/v1/tasks/{other_id}/claim")
    answered(head.post(f"/api/v1/tasks/{other_id}/delegate", json={"to": "admin", "comment": "请您看"}),
             "POST", "/api/v1/tasks/{task_id}/delegate")
    answered(api_as("admin").post(f"/api/v1/tasks/{other_id}/reassign", json={"to": "fj_head", "comment": "还给"}),
             "POST", "/api/v1/tasks/{task_id}/reassign")

    mine = answered(sales.get("/api/v1/my-submissions"), "GET", "/api/v1/my-submissions")
    assert {i["id"] for i in mine["items"]} == {instance_id, duplicate}
    answered(sales.get(f"/api/v1/my-submissions/{instance_id}"), "GET", "/api/v1/my-submissions/{instance_id}")
    answered(sales.post(f"/api/v1/my-submissions/{flows.report(name='撤回客户')}/withdraw", json={}),
             "POST", "/api/v1/my-submissions/{instance_id}/withdraw")
    today = company_today().isoformat()
    answered(sales.post("/api/v1/out-of-office", json={"substitute": "sales2", "starts_on": today, "ends_on": today}),
             "POST", "/api/v1/out-of-office", 201)
    answered(sales.get("/api/v1/out-of-office"), "GET", "/api/v1/out-of-office")
    assert len(set(checked)) == 15
