"""Faults: the worker SIGKILLed 20 times while it fires timers and delivers webhooks (every
timer fires once, every message is processed once, no instance stuck or corrupted); an
instance whose saved state cannot be loaded is marked ``error`` and the inbox keeps working."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

SECRET = "signing-secret-0123456789"  # webhooks need a signing secret of 16+ characters

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20

TIMER_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="D" targetNamespace="t">
  <bpmn:process id="kill_timer" name="kill timer" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="Timer_wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1S</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="Script_count" scriptFormat="python"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>fired = fired + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="Task_after" name="after the timer" camunda:assignee="admin">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="Timer_wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Timer_wait" targetRef="Script_count"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Script_count" targetRef="Task_after"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Task_after" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


class Sink:
    """A slow webhook receiver on 127.0.0.1: counts every request per delivery id and
    processes each id once (what receivers do with X-CRM-Delivery)."""

    def __init__(self, delay: float):
        self.requests: Counter = Counter()
        self.processed: Counter = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["X-CRM-Delivery"]
                time.sleep(delay)  # a kill often lands while the worker waits for this answer
                with sink.lock:
                    sink.requests[key] += 1
                    if key not in sink.processed:
                        sink.processed[key] += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _worker(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, FLASK_APP="wsgi", PYTHONPATH=str(ROOT),
               INSTANCE_PATH=str(tmp_path), SECRET_KEY="test")
    code = "import sys; sys.argv=['flask','worker','--poll','0.05','--batch','5']; from flask.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_worker_killed_twenty_times_mid_timers_and_deliveries(app, ctx, demo_people, database_url, tmp_path):
    from app.auth.services import get_user
    from app.automation.services import create_rule, set_webhook_allowlist
    from app.crm import demo
    from app.crm import services as crm
    from app.engine import services as engine
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db
    from app.jobs import Job, run_due_jobs
    from app.db import utcnow

    sink = Sink(delay=0.15)
    demo.seed_stages()
    set_webhook_allowlist(["127.0.0.1"], None)
    create_rule({"name": "推送", "entity": "customer", "event": "created",
                 "actions": [{"type": "webhook", "url": sink.url, "secret": SECRET, "timeout": 5}]}, get_user("admin"))
    engine.deploy(TIMER_BPMN)
    db.session.commit()
    admin = get_user("admin")
    instances = [engine.start_instance("kill_timer", {"fired": 0}, actor=admin).id for _ in range(40)]
    for i in range(40):
        crm.create("customer", {"name": f"断电客户{i}号"}, get_user("sales1"))
    db.session.commit()
    kinds = ("engine.timer", "automation.webhook")
    webhook_keys = set(db.session.scalars(select(Job.key).where(Job.kind == "automation.webhook")))
    assert len(webhook_keys) == 40
    time.sleep(1.0)  # the PT1S timers come due

    def progress():
        db.session.expire_all()
        return (sum(sink.requests.values()),
                db.session.scalar(select(func.count(Job.id)).where(Job.kind.in_(kinds), Job.status == "done")))

    def expire_leases():
        # A killed worker's jobs wait for their lease (5 minutes); skip the wait, and any backoff.
        db.session.execute(update(Job).where(Job.status == "running").values(locked_until=utcnow() - timedelta(seconds=1)))
        db.session.execute(update(Job).where(Job.status == "pending").values(due_at=utcnow()))
        db.session.commit()

    started, kills_mid_work = time.monotonic(), 0
    for _ in range(KILLS):
        before = progress()
        worker = _worker(database_url, tmp_path)
        try:
            deadline = time.monotonic() + 20
            while progress() == before and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.02)
            time.sleep(random.uniform(0, 0.25))
            kills_mid_work += progress() != before
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
        expire_leases()
    assert kills_mid_work >= KILLS // 2, "most kills should land while the worker is busy"
    # What the kills left behind is finished by a worker that is not interrupted.
    for _ in range(100):
        if not run_due_jobs(limit=50):
            break
        expire_leases()
    assert time.monotonic() - started < 150

    db.session.expire_all()
    left = db.session.scalars(select(Job).where(Job.kind.in_(kinds), Job.status != "done")).all()
    assert left == [], [(j.kind, j.status, j.last_error) for j in left]
    # Every message processed exactly once by the receiver (resent at most after a kill).
    assert set(sink.processed) == webhook_keys and set(sink.processed.values()) == {1}
    from app.automation.models import WebhookDelivery

    # The delivery log: each message logged as delivered once (a kill loses the unlogged attempt).
    ok = Counter(db.session.scalars(select(WebhookDelivery.delivery_key).where(WebhookDelivery.ok.is_(True))))
    assert set(ok) == webhook_keys and set(ok.values()) == {1}
    assert sum(sink.requests.values()) > len(webhook_keys)  # some were resent after a kill: the test bit
    # Every timer fired once: one task after it, the script ran once, the state loads and finishes.
    for instance_id in instances:
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.status == "running", (instance_id, instance.status, instance.error)
        tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
        assert [(t.bpmn_id, t.status) for t in tasks] == [("Task_after", "open")], instance_id
        engine.complete(tasks[0].id, admin, {})
        db.session.expire_all()
        finished = db.session.get(ProcessInstance, instance_id)
        assert finished.status == "completed"
        assert engine.instance_view(finished)["data"]["fired"] == 1  # the script after the timer ran once
        assert db.session.scalar(select(func.count(HumanTask.id)).where(HumanTask.instance_id == instance_id)) == 1


def test_an_instance_that_cannot_be_loaded_is_marked_error_and_the_inbox_keeps_working(app, flows, api_as):
    from app.engine.models import ProcessInstance
    from app.extensions import db

    broken = flows.assigned("fj_head")
    healthy = flows.assigned("fj_head")
    broken_task, healthy_task = flows.open_task(broken)["id"], flows.open_task(healthy)["id"]
    with app.app_context():
        row = db.session.get(ProcessInstance, broken)
        # As an incompatible (future) version might have written it.
        row.state = json.dumps({"serializer_version": "99.0", "spec": {"typename": "Unknown"}})
        db.session.commit()
        db.session.remove()
    fj_head = api_as("fj_head")
    listing = fj_head.get("/api/v1/tasks")
    assert listing.status_code == 200
    assert {broken_task, healthy_task} <= {t["id"] for t in listing.get_json()["items"]}
    refused = fj_head.post(f"/api/v1/tasks/{broken_task}/complete", json={"data": {"decision": "approve"}})
    # 409: "state_unreadable", or "instance is error" once the listing above has marked it.
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] in ("state_unreadable", "conflict")
    view = api_as("admin").get(f"/api/v1/process-instances/{broken}").get_json()
    assert view["status"] == "error"
    assert "cannot be loaded" in view["error"]["message"]
    # The rest works: the inbox page, the healthy task's page and its completion.
    done = fj_head.post(f"/api/v1/tasks/{healthy_task}/complete", json={"data": {"decision": "approve"}})
    assert done.status_code == 200, done.get_json()
    assert fj_head.get("/api/v1/tasks").status_code == 200
