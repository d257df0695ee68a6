"""Locust users for `make load` (run by bench/load.py; no app imports: locust patches gevent).

Sales users create customers; their approval tasks go into a queue that approver users take
one at a time (find it in the inbox, claim, approve), so no two approvers race for a task
and any error is a real one.  LOAD_BINDING=1: the form binding starts the process on
"customer created"; else the sales user starts it with POST /process-instances.
"""
import itertools
import os
import queue

from locust import HttpUser, between, task

BINDING = os.environ.get("LOAD_BINDING") == "1"
PASSWORD = "demo1234"
# (task id when the sales user knows it, customer id, customer name)
pending: "queue.Queue[tuple[int | None, int, str]]" = queue.Queue()
serial = itertools.count(1)


class ApiUser(HttpUser):
    abstract = True
    username = ""

    def on_start(self):
        response = self.client.post("/api/v1/tokens", json={"username": self.username, "password": PASSWORD},
                                    name="/api/v1/tokens")
        self.client.headers["Authorization"] = f"Bearer {response.json()['token']}"


class Sales(ApiUser):
    username = "sales1"
    weight = 3
    wait_time = between(0.2, 1.0)

    @task
    def report_customer(self):
        n = next(serial)
        name = f"厦门负载测试客户 {os.getpid()}-{n}"
        data = {"name": name, "province": "广东", "city": "广州", "industry": "制造",
                "registered_capital": "20000000" if n % 2 else "3000000"}
        with self.client.post("/api/v1/customers", json=data, name="/api/v1/customers", catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")
                return
            customer = r.json()
        if BINDING:
            pending.put((None, customer["id"], name))
            return
        with self.client.post("/api/v1/process-instances", name="/api/v1/process-instances", catch_response=True,
                              json={"process_key": "customer_report", "data": {
                                  "customer_id": customer["id"], "name": name, "province": "广东",
                                  "industry": "制造", "reporter": self.username, "owner": self.username}}) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")
                return
            pending.put((r.json()["active_tasks"][0]["id"], customer["id"], name))


class Approver(ApiUser):
    username = "manager"
    weight = 2
    wait_time = between(0.2, 1.0)

    @task
    def approve_next(self):
        self.client.get("/api/v1/tasks", params={"include_form": "false", "per_page": 20}, name="/api/v1/tasks")
        try:
            task_id, customer_id, name = pending.get_nowait()
        except queue.Empty:
            return
        if task_id is None:
            task_id = self.find_task(customer_id, name)
        if task_id is not None:
            self.client.post(f"/api/v1/tasks/{task_id}/claim", name="/api/v1/tasks/[id]/claim")
            self.client.post(f"/api/v1/tasks/{task_id}/complete", name="/api/v1/tasks/[id]/complete",
                             json={"data": {"decision": "approve", "comment": "同意"}})

    def find_task(self, customer_id, name):
        """The approval task of the customer, as the approver finds it: by its name in the inbox."""
        with self.client.get("/api/v1/tasks", params={"record": name, "include_form": "false"},
                             name="/api/v1/tasks?record", catch_response=True) as r:
            found = [t["id"] for t in r.json().get("items", []) if (t.get("record") or {}).get("id") == customer_id] \
                if r.status_code == 200 else []
            if not found:
                r.failure(f"no open task for customer {customer_id}: {r.status_code} {r.text[:200]}")
                return None
            return found[0]
