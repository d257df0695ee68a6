"""Fixtures for the trust tests: the inbox's deployed flows (customer report, assigned
review) reused as they are, and a ``world`` of real records owned by the demo people."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest

from app.clock import company_today
from tests.crm.conftest import crm_stages  # noqa: F401 (re-exported fixtures)
from tests.inbox.conftest import flows  # noqa: F401

USERS = ("anonymous", "sales1", "sales2", "fj_head", "manager", "admin")


class World:
    """Real records, made through the services: sales1's customer reported to the Fujian
    heads (an open task offered to the group ``fujian-heads``) and its related records."""

    def __init__(self, app, flows, api_as):
        self.app, self.flows, self.api_as = app, flows, api_as
        self.report_instance = flows.report("sales1")
        self.customer = self._customer_of(self.report_instance)
        self.task = flows.open_task(self.report_instance)["id"]
        sales1 = api_as("sales1")
        self.opportunity = self.create("opportunity", customer_id=self.customer, title="海峡项目", amount=100000)
        self.activity = self.create("activity", customer_id=self.customer, kind="call", content="首次拜访")
        self.contract = self.create("contract", customer_id=self.customer, title="海峡合同", amount=50000)
        self.notification = self._notification_of("sales1")
        response = sales1.post("/api/v1/out-of-office", json={
            "substitute": "sales2", "starts_on": str(company_today() + timedelta(days=30)),
            "ends_on": str(company_today() + timedelta(days=31))})
        assert response.status_code == 201, response.get_json()
        self.away = response.get_json()["id"]
        admin = api_as("admin")
        attachment = admin.post(f"/api/v1/tasks/{self.task}/attachments",
                                data={"file": (io.BytesIO(b"credit report"), "report.txt")},
                                content_type="multipart/form-data")
        assert attachment.status_code == 201, attachment.get_json()
        self.attachment = attachment.get_json()["id"]
        self.rule = self.new_rule()
        self.binding = self.new_binding()
        self.draft = self.new_draft()
        imported = sales1.post("/api/v1/customers/import",
                               data={"file": (io.BytesIO("name,province\n导入客户,福建\n".encode()), "c.csv")},
                               content_type="multipart/form-data")
        assert imported.status_code in (200, 201, 202), imported.get_json()
        self.import_id = imported.get_json()["id"]
        self.run = admin.get("/api/v1/automation-runs").get_json()["items"][0]["id"]  # the rule, on 导入客户

    def create(self, entity: str, owner: str = "sales1", **fields) -> int:
        plural = {"customer": "customers", "activity": "activities", "opportunity": "opportunities",
                  "contract": "contracts"}[entity]
        response = self.api_as(owner).post(f"/api/v1/{plural}", json=fields)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def new_customer(self, owner: str = "sales1") -> int:
        self._n = getattr(self, "_n", 0) + 1
        return self.create("customer", owner, name=f"信任测试客户{self._n}号", province="浙江")

    def new_opportunity(self) -> int:
        return self.create("opportunity", customer_id=self.customer, title="新项目", amount=1000,
                           expected_close="2027-01-31")

    def new_report_task(self) -> tuple[int, int]:
        """A fresh customer report by sales1: (instance id, its open task offered to fujian-heads)."""
        instance = self.flows.report("sales1", name=f"福建新客户{id(object())}")
        return instance, self.flows.open_task(instance)["id"]

    def claimed_report_task(self) -> int:
        """A fresh report's task, taken by fj_head (one of the Fujian heads)."""
        task = self.new_report_task()[1]
        assert self.api_as("fj_head").post(f"/api/v1/tasks/{task}/claim").status_code == 200
        return task

    def new_binding(self) -> int:
        response = self.api_as("admin").post("/api/v1/form-bindings", json={
            "name": f"绑定{id(object())}", "entity": "customer", "event": "updated", "process_key": "customer_report",
            "form_key": "customer_report", "mapping": []})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def new_rule(self) -> int:
        response = self.api_as("admin").post("/api/v1/automation-rules", json={
            "name": f"大客户{id(object())}", "entity": "customer", "event": "created",
            "condition": {"field": "registered_capital", "op": "ge", "value": 10_000_000},
            "actions": [{"type": "set_fields", "values": [{"field": "customer_class", "value": "A"}]}]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def new_draft(self) -> str:
        self._drafts = getattr(self, "_drafts", 0) + 1
        key = f"trust_draft_{self._drafts}"
        admin = self.api_as("admin")
        response = admin.post("/api/v1/designer/drafts", json={"key": key, "name": "信任草稿"})
        assert response.status_code == 201, response.get_json()
        # The blank start event leads nowhere, which the deploy refuses: a flow on to an end.
        xml = re.sub(r'<bpmn:startEvent id="StartEvent_1"\s*/>',
                     '<bpmn:startEvent id="StartEvent_1"/><bpmn:endEvent id="EndEvent_1"/>'
                     '<bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="EndEvent_1"/>',
                     response.get_json()["xml"])
        assert "Flow_1" in xml
        saved = admin.patch(f"/api/v1/designer/drafts/{key}", json={"xml": xml, "version": response.get_json()["version"]})
        assert saved.status_code == 200, saved.get_json()
        return key

    def new_token(self, username: str) -> str:
        from app.cli import DEMO_PASSWORD

        response = self.app.test_client().post("/api/v1/tokens", json={"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 201
        return response.get_json()["token"]

    def _customer_of(self, instance_id: int) -> int:
        from app.engine.models import ProcessInstance
        from app.extensions import db

        with self.app.app_context():
            instance = db.session.get(ProcessInstance, instance_id)
            record_id = instance.record_id
            db.session.remove()
        return record_id

    def _notification_of(self, username: str) -> int:
        from app.auth.services import get_user
        from app.extensions import db
        from app.notifications.services import notify

        with self.app.test_request_context():
            notify([get_user(username)], "给销售一的消息")
            db.session.commit()
            db.session.remove()
        items = self.api_as(username).get("/api/v1/notifications").get_json()["items"]
        return items[0]["id"]


@pytest.fixture
def world(app, flows, api_as, crm_stages):  # noqa: F811 (fixtures imported above)
    return World(app, flows, api_as)
