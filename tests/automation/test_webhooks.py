"""Webhooks through the outbox: signed, retried with backoff, logged, delivered exactly once
(also when the worker is killed mid-delivery), and never to private addresses unless an
administrator allow-listed them."""
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.automation.models import WebhookDelivery
from app.automation.services import set_webhook_allowlist
from app.db import utcnow
from app.extensions import db
from app.jobs import Job, run_due_jobs

SECRET = "signing-secret-0123456789"  # webhooks need a signing secret of 16+ characters

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A webhook target on 127.0.0.1: answers with the scripted statuses, records every
    request, and processes each delivery id once (what a receiver does with our header)."""

    def __init__(self, statuses=(), hold_first=False):
        self.statuses = list(statuses)
        self.requests = []
        self.processed = {}
        self.hold = threading.Event() if hold_first else None
        self.got_request = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                receiver.got_request.set()
                if receiver.hold is not None and len(receiver.requests) == 1:
                    receiver.hold.wait(30)  # the worker is killed while waiting for us
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.processed.setdefault(self.headers["X-CRM-Delivery"], json.loads(body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()


@pytest.fixture
def receiver_factory():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _webhook_rule(make_rule, url):
    set_webhook_allowlist(["127.0.0.1"], None)
    return make_rule(name="推送到财务", entity="customer", event="created",
                     actions=[{"type": "webhook", "url": url, "secret": SECRET, "timeout": 5}])


def _fast_forward(job_id):
    """Skip the backoff wait instead of sleeping through it."""
    job = db.session.get(Job, job_id)
    if job.status == "pending":
        job.due_at = utcnow()
        db.session.commit()


def test_a_delivery_id_is_not_given_again_when_a_run_id_comes_round_again(crm, make_rule, user):
    """After a restore, the run ids after the backup were given again: a receiver deduplicating
    on automation-webhook:<run>:<action> dropped the new events as ones it had."""
    from app.automation.models import RuleRun

    _webhook_rule(make_rule, "http://127.0.0.1:9/hook")
    crm.create("customer", {"name": "备份后客户"}, user("sales1"))
    first = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    run_id, first_key = first.payload["run_id"], first.key
    db.session.delete(first)  # the restore: the run and its job never happened
    db.session.delete(db.session.get(RuleRun, run_id))
    db.session.commit()
    crm.create("customer", {"name": "恢复后客户"}, user("sales1"))
    again = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    assert again.key != first_key and again.payload["body"]["delivery"] == again.key


def test_a_target_failing_twice_then_succeeding_gets_the_event_exactly_once(crm, make_rule, user, receiver_factory):
    receiver = receiver_factory(statuses=[500, 503])
    _webhook_rule(make_rule, receiver.url)
    customer = crm.create("customer", {"name": "厦门推送"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    assert job.status == "pending" and job.key.startswith("automation-webhook:")
    assert "signing-secret-0123456789" not in str(job.payload)  # the secret stays in the rule
    assert receiver.requests == []  # nothing leaves before the save commits and the worker runs
    for _ in range(3):
        run_due_jobs()
        _fast_forward(job.id)
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "done"
    assert len(receiver.requests) == 3
    assert {headers["X-CRM-Delivery"] for headers, _ in receiver.requests} == {job.key}
    assert list(receiver.processed) == [job.key]
    event = receiver.processed[job.key]
    assert event["record"]["name"] == "厦门推送" and event["record"]["id"] == customer.id
    assert event["event"] == "created" and event["rule"]["name"] == "推送到财务"
    headers, body = receiver.requests[-1]
    expected = hmac.new(b"signing-secret-0123456789", headers["X-CRM-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-CRM-Signature"] == f"sha256={expected}"
    log = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [(d.attempt, d.status_code, d.ok) for d in log] == [(1, 500, False), (2, 503, False), (3, 200, True)]
    assert log[0].response == "try later"
    # Nothing more is sent later.
    _fast_forward(job.id)
    run_due_jobs()
    assert len(receiver.requests) == 3


def test_the_record_in_a_webhook_has_the_rest_api_s_shape(crm, make_rule, user, receiver_factory):
    from app.crm.schemas import CustomerOut

    crm.save_custom_field(None, entity="customer", key="budget", label="预算", type="number", choices=[],
                          required=False, actor=user("admin"))
    db.session.commit()
    receiver = receiver_factory()
    _webhook_rule(make_rule, receiver.url)
    customer = crm.create("customer", {"name": "厦门预算", "custom": {"budget": 1200}}, user("sales1"))
    run_due_jobs()
    [event] = receiver.processed.values()
    served = CustomerOut().dump(customer)  # what GET /api/v1/customers/<id> answers
    assert event["record"]["custom"] == served["custom"] == {"budget": 1200}
    assert not [key for key in event["record"] if key.startswith("custom.")]
    assert event["record"] == served  # the whole record: version, sharing and times included


def test_a_delivery_that_gives_up_fails_the_run_and_tells_the_rule_author(crm, make_rule, user, receiver_factory):
    from app.automation.models import RuleRun
    from app.notifications.models import Notification

    receiver = receiver_factory(statuses=[500, 503])
    set_webhook_allowlist(["127.0.0.1"], None)
    make_rule(name="推送到财务", entity="customer", event="created",
              actions=[{"type": "webhook", "url": receiver.url, "secret": SECRET, "max_attempts": 2}])
    crm.create("customer", {"name": "推送失败"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    run_due_jobs()
    _fast_forward(job.id)
    run = db.session.scalar(select(RuleRun))
    assert run.outcome == "matched" and run.actions[0]["status"] == "done"  # a retry is still due
    run_due_jobs()
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "failed" and len(receiver.requests) == 2
    run = db.session.scalar(select(RuleRun))
    assert run.outcome == "failed" and run.actions[0]["status"] == "failed"
    assert receiver.url in run.error and "2" in run.error and "HTTP 503" in run.error
    notice = db.session.scalar(select(Notification).where(Notification.user_id == user("admin").id))
    assert notice is not None and "推送到财务" in notice.text

    # The receiver is back; an administrator tries the job again and it goes through.
    from app.jobs.services import retry

    retry(job.id, user("admin"))
    run_due_jobs()
    db.session.expire_all()
    assert len(receiver.processed) == 1
    run = db.session.scalar(select(RuleRun))
    assert (run.outcome, run.error, run.actions[0]["status"]) == ("matched", None, "done")
    # The retry's try is the delivery's third, not a second "attempt 1".
    assert [(d.attempt, d.ok) for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))] == [
        (1, False), (2, False), (3, True)]
    # The attempts, as GET /api/v1/automation-runs/<id> gives them to an integrator.
    from app.automation.services import run_with_deliveries

    attempts = run_with_deliveries(run.id)["deliveries"]
    assert [(a["attempt"], a["status_code"], a["ok"], a["url"]) for a in attempts] == [
        (1, 500, False, receiver.url), (2, 503, False, receiver.url), (3, 200, True, receiver.url)]


def test_private_targets_are_refused_unless_allow_listed(crm, make_rule, user, receiver_factory):
    from app.api.errors import ApiError

    receiver = receiver_factory()
    with pytest.raises(ApiError) as refused:
        make_rule(name="内网", entity="customer", event="created",
                  actions=[{"type": "webhook", "url": receiver.url, "secret": SECRET}])
    assert "白名单" in refused.value.details[0]["message"]
    db.session.rollback()
    _webhook_rule(make_rule, receiver.url)
    crm.create("customer", {"name": "撤销白名单"}, user("sales1"))
    set_webhook_allowlist([], None)  # an admin withdraws it before the worker runs
    run_due_jobs()
    assert receiver.requests == []
    delivery = db.session.scalar(select(WebhookDelivery))
    assert not delivery.ok and "不在白名单中" in delivery.error  # in the company's language, not English
    from app.automation.models import RuleRun

    run = db.session.scalar(select(RuleRun))  # refused at once: no retry, the run failed
    assert run.outcome == "failed" and "不在白名单中" in run.error
    # Failed, not done: once the host is allowed again, the administrator's "Try again" sends it.
    from app.jobs.models import Job
    from app.jobs.services import retry

    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    assert job.status == "failed" and job.attempts == 1
    set_webhook_allowlist(["127.0.0.1"], None)
    retry(job.id, user("admin"))
    db.session.commit()
    run_due_jobs()
    assert len(receiver.requests) == 1


def _worker(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, FLASK_APP="wsgi", PYTHONPATH=str(ROOT),
               INSTANCE_PATH=str(tmp_path), SECRET_KEY="test")
    code = "import sys; sys.argv=['flask','worker','--poll','0.1']; from flask.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_for(predicate, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_delivery_survives_a_worker_killed_mid_delivery(crm, make_rule, user, receiver_factory, database_url,
                                                         tmp_path):
    receiver = receiver_factory(hold_first=True)
    _webhook_rule(make_rule, receiver.url)
    crm.create("customer", {"name": "杀进程"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    worker = _worker(database_url, tmp_path)
    try:
        assert receiver.got_request.wait(30), "the worker never called the webhook"
        worker.send_signal(signal.SIGKILL)  # mid-delivery: the request is out, no answer yet
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    receiver.hold.set()
    db.session.expire_all()
    row = db.session.get(Job, job.id)
    assert row.status == "running" and db.session.scalar(select(WebhookDelivery)) is None
    row.locked_until = utcnow() - timedelta(seconds=1)  # the lease runs out (instead of waiting 5 minutes)
    db.session.commit()
    worker = _worker(database_url, tmp_path)
    try:
        assert _wait_for(lambda: (db.session.expire_all() or db.session.get(Job, job.id).status) == "done")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    # Sent twice (the first answer was lost with the worker), processed once by its delivery id.
    assert [h["X-CRM-Delivery"] for h, _ in receiver.requests] == [job.key, job.key]
    assert list(receiver.processed) == [job.key]
    assert [(d.attempt, d.ok) for d in db.session.scalars(select(WebhookDelivery))] == [(2, True)]


def test_a_name_that_resolves_elsewhere_after_the_check_is_not_followed(crm, make_rule, user, receiver_factory,
                                                                         monkeypatch):
    """DNS rebinding: the delivery connects to the address it vetted, not to what the name
    resolves to a moment later (here an address with nothing allow-listed on it)."""
    receiver = receiver_factory()
    port = receiver.server.server_port
    # The vetted (allow-listed) address first, then the name is rebound.
    delivery = _deliver_to_hook_name(make_rule, crm, user, monkeypatch, f"http://hooks.example.test:{port}/hook?x=1",
                                     ["127.0.0.1"], then="127.0.0.2")
    assert delivery.ok, delivery.error
    headers, _ = receiver.requests[0]
    assert headers["Host"] == f"hooks.example.test:{port}"


@pytest.fixture
def tls_receiver(receiver_factory, tmp_path):
    """A receiver on 127.0.0.1 speaking TLS with a self-signed certificate for
    ``hooks.example.test``; returns ``(receiver, certificate_path)``."""
    import ssl

    cert, key = tmp_path / "hook.pem", tmp_path / "hook.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=hooks.example.test",
                    "-addext", "subjectAltName=DNS:hooks.example.test"], check=True, capture_output=True)
    receiver = receiver_factory()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    return receiver, cert


@pytest.mark.parametrize("trusted", [True, False])
def test_https_receivers_are_reached_by_name_and_must_present_a_trusted_certificate(
        app, crm, make_rule, user, tls_receiver, monkeypatch, trusted):
    """The connection goes to the vetted address, with the name for SNI and the certificate
    check; WEBHOOK_CA_BUNDLE adds a company's own CA (else the public CAs)."""
    receiver, cert = tls_receiver
    port = receiver.server.server_port
    monkeypatch.setitem(app.config, "WEBHOOK_CA_BUNDLE", str(cert) if trusted else None)
    delivery = _deliver_to_hook_name(make_rule, crm, user, monkeypatch, f"https://hooks.example.test:{port}/hook",
                                     [], then="127.0.0.1")
    if trusted:
        assert delivery.ok and delivery.status_code == 200, delivery.error
        assert receiver.requests[0][0]["Host"] == f"hooks.example.test:{port}"
    else:
        assert not delivery.ok and "CERTIFICATE_VERIFY_FAILED" in delivery.error
        assert receiver.requests == []


def _deliver_to_hook_name(make_rule, crm, user, monkeypatch, url, answers, then):
    """A rule posting to ``url`` on ``hooks.example.test``, which resolves to each of
    ``answers`` in turn and then always to ``then`` (127.0.0.1 is allow-listed); a customer
    is created and the worker runs. Returns the delivery log row."""
    import socket

    port = urlsplit(url).port
    answers = iter(answers)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "hooks.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, then), port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    set_webhook_allowlist(["127.0.0.1"], None)
    make_rule(name="按名推送", entity="customer", event="created",
              actions=[{"type": "webhook", "url": url, "secret": SECRET, "timeout": 5}])
    crm.create("customer", {"name": "按名客户"}, user("sales1"))
    run_due_jobs()
    return db.session.scalar(select(WebhookDelivery))


def test_a_failed_name_look_up_is_retried_later_not_dropped(crm, make_rule, user, receiver_factory, monkeypatch):
    import socket

    from app.automation.jobs import WEBHOOK_BACKOFF

    receiver = receiver_factory()
    _webhook_rule(make_rule, receiver.url.replace("127.0.0.1", "hooks.example.com"))
    set_webhook_allowlist([], None)

    def outage(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", outage)
    crm.create("customer", {"name": "解析失败"}, user("sales1"))
    before = utcnow()
    run_due_jobs()
    db.session.expire_all()
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    assert job.status == "pending" and job.attempts == 1
    wait = (job.due_at - before).total_seconds()
    assert WEBHOOK_BACKOFF[0] * 0.75 < wait < WEBHOOK_BACKOFF[0] * 1.25  # not the generic 2 seconds
    delivery = db.session.scalar(select(WebhookDelivery))
    assert not delivery.ok and "name resolution" in delivery.error


def test_a_retry_goes_to_the_address_the_rule_has_now(crm, make_rule, user, receiver_factory):
    from app.automation.services import update_rule

    broken, fixed = receiver_factory(statuses=[500]), receiver_factory()
    rule = _webhook_rule(make_rule, broken.url)
    crm.create("customer", {"name": "改地址"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    run_due_jobs()
    assert len(broken.requests) == 1
    update_rule(rule, {"actions": [{**rule.actions[0], "url": fixed.url}]}, user("admin"))
    _fast_forward(job.id)
    run_due_jobs()
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "done"
    assert len(broken.requests) == 1 and len(fixed.processed) == 1
    log = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [(d.url, d.ok) for d in log] == [(broken.url, False), (fixed.url, True)]


def test_a_retry_keeps_to_its_own_receiver_after_another_webhook_is_put_first(crm, make_rule, user,
                                                                             receiver_factory):
    """A pending retry finds its action by the id the rule gave it, not by its place: after
    another webhook is put in front, the OA's event still goes to the OA, signed with its secret."""
    from app.automation.services import update_rule

    oa, finance = receiver_factory(statuses=[500]), receiver_factory()
    rule = _webhook_rule(make_rule, oa.url)
    assert len(rule.actions[0]["id"]) == 12
    crm.create("customer", {"name": "先发OA"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    run_due_jobs()
    other_secret = "finance-secret-9876543210"
    update_rule(rule, {"actions": [{"type": "webhook", "url": finance.url, "secret": other_secret},
                                   rule.actions[0]]}, user("admin"))
    assert rule.actions[0]["id"] != rule.actions[1]["id"]
    _fast_forward(job.id)
    run_due_jobs()
    assert finance.requests == [] and len(oa.processed) == 1
    headers, body = oa.requests[-1]
    stamp = headers["X-CRM-Timestamp"]
    assert headers["X-CRM-Signature"] == "sha256=" + hmac.new(SECRET.encode(), f"{stamp}.".encode() + body,
                                                              hashlib.sha256).hexdigest()


def test_a_retry_of_a_removed_webhook_is_not_sent(crm, make_rule, user, receiver_factory):
    """Unsigned to an address nobody wants called any more: no. The log says why."""
    from app.automation.models import RuleRun
    from app.automation.services import delete_rule

    receiver = receiver_factory(statuses=[500])
    rule = _webhook_rule(make_rule, receiver.url)
    crm.create("customer", {"name": "删了规则"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    run_due_jobs()
    delete_rule(rule, user("admin"))
    _fast_forward(job.id)
    run_due_jobs()
    assert len(receiver.requests) == 1  # the first attempt only
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "done"
    last = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()
    assert last.ok is not True and "已被删除" in last.error
    assert db.session.scalar(select(RuleRun.outcome).where(RuleRun.id == job.payload["run_id"])) == "failed"


def test_a_retry_of_a_switched_off_rule_is_not_sent(crm, make_rule, user, receiver_factory):
    """Switched off to stop a flood, its pending retries still arrived (deleting it stopped them)."""
    from app.automation.services import update_rule

    receiver = receiver_factory(statuses=[500])
    rule = _webhook_rule(make_rule, receiver.url)
    crm.create("customer", {"name": "停用规则"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    run_due_jobs()
    update_rule(rule, {"enabled": False}, user("admin"))
    _fast_forward(job.id)
    run_due_jobs()
    assert len(receiver.requests) == 1
    last = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()
    assert last.ok is not True and "已停用" in last.error
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "failed"  # "Try again" sends it once the rule is on again


def test_the_record_in_a_webhook_is_as_the_transaction_left_it(crm, make_rule, user, receiver_factory):
    """Changed again after the rule ran (a report binding sets its status): the receiver gets the
    record's version as committed, so its If-Match write-back is not refused as stale."""
    from app.crm.schemas import CustomerOut

    receiver = receiver_factory()
    _webhook_rule(make_rule, receiver.url)
    customer = crm.create("customer", {"name": "厦门版本"}, user("sales1"), commit=False)
    crm.update(customer, {"city": "厦门"}, user("sales1"), commit=False)
    db.session.commit()
    run_due_jobs()
    [event] = receiver.processed.values()
    assert event["record"] == CustomerOut().dump(customer) and event["record"]["city"] == "厦门"
    assert event["event"] == "created" and event["record"]["version"] == customer.version
    assert event["actor"] == "sales1"  # whose change it was: a receiver's own write-back is told apart


@pytest.mark.parametrize("host", ["[64:ff9b::a9fe:a9fe]", "[::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[::127.0.0.1]",
                                  "[::ffff:10.0.0.5]"])
def test_an_ipv6_address_carrying_a_private_ipv4_one_is_private(host):
    """Python calls them global; a NAT64 or 6to4 gateway delivers them to 169.254.169.254."""
    from app.automation.validation import private_host

    assert private_host(host)
    assert not private_host("[2001:4860:4860::8888]") and not private_host("8.8.8.8")


def test_an_allow_list_entry_that_could_never_match_is_refused_saying_how_to_write_it(app, demo_people, api_as):
    admin = api_as("admin")
    assert admin.request("PUT", "/api/v1/automation-settings/webhook-allowlist",
                     json={"hosts": ["erp.internal", "10.0.0.5"]}).status_code == 200
    refused = admin.request("PUT", "/api/v1/automation-settings/webhook-allowlist",
                        json={"hosts": ["127.0.0.1:5196", "http://10.0.0.6/", "10.0.0.0/24", "not a host!!"]})
    assert refused.status_code == 400
    said = [d["message"] for d in refused.get_json()["error"]["details"]]
    assert len(said) == 4 and any("10.0.0.6" in m and "http" not in m.split("：")[-1] for m in said)
    assert admin.get("/api/v1/automation-settings/webhook-allowlist").get_json()["hosts"] == ["10.0.0.5", "erp.internal"]
    page = app.test_client()
    page.post("/login", data={"username": "admin", "password": "demo1234"})
    typed = page.post("/automation/settings/webhook-allowlist", data={"hosts": "erp.internal\n127.0.0.1:5196"})
    assert typed.status_code == 400 and "127.0.0.1:5196" in typed.get_data(as_text=True)  # kept to correct


def test_an_activity_s_event_names_its_customer(crm, make_rule, user):
    """The receiver had only customer_id, and had to call the API back for whose visit it was."""
    set_webhook_allowlist(["127.0.0.1"], None)
    make_rule(name="拜访推送", entity="activity", event="created",
              actions=[{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}])
    customer = crm.create("customer", {"name": "厦门拜访客户"}, user("sales1"))
    crm.create("activity", {"customer_id": customer.id, "kind": "visit", "content": "上门"}, user("sales1"))
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    assert job.payload["body"]["customer"] == {"id": customer.id, "name": "厦门拜访客户"}


def test_the_run_page_says_a_webhook_is_not_delivered_yet_while_it_retries(app, crm, make_rule, user,
                                                                           receiver_factory):
    """The run said "matched, actions done" and the webhook "done" while the receiver answered
    500 and the job kept retrying."""
    from app.automation.models import RuleRun
    from app.cli import DEMO_PASSWORD

    receiver = receiver_factory(statuses=[500])
    _webhook_rule(make_rule, receiver.url)
    crm.create("customer", {"name": "重试中"}, user("sales1"))
    run_id = db.session.scalar(select(RuleRun.id))
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert "data-webhook-queued" in client.get(f"/automation/runs/{run_id}").get_data(as_text=True)
    run_due_jobs()
    page = client.get(f"/automation/runs/{run_id}").get_data(as_text=True)
    assert "data-webhook-retrying" in page and "尚未送达：第 2 次尝试" in page
    job = db.session.scalar(select(Job).where(Job.kind == "automation.webhook"))
    _fast_forward(job.id)
    run_due_jobs()  # delivered now
    db.session.expire_all()  # the page shares this test's session
    page = client.get(f"/automation/runs/{run_id}").get_data(as_text=True)
    assert "data-webhook-retrying" not in page and "data-webhook-queued" not in page
