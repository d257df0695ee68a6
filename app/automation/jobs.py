"""Worker side of automation: webhook deliveries from the outbox and the time-event scan."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from datetime import timedelta
from urllib.parse import urlsplit

import certifi
import urllib3
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.automation import catalog as cat
from app.automation.models import Rule, RuleRun, WebhookDelivery
from app.automation.validation import private_host, public_address
from app.db import utcnow
from app.extensions import db
from app.jobs import FailedForGood, job_handler, periodic


class WebhookRefused(Exception):
    pass


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``<timestamp>.<body>``, hex: what a receiver recomputes to verify."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _vetted_addresses(url: str) -> list[str]:
    """The addresses the delivery may connect to: what the host resolves to, once, each
    global or allow-listed. The connection goes to these very addresses (see ``_post``), so
    a name that resolves differently a moment later (DNS rebinding) cannot redirect it to a
    private service. An allow-listed name is trusted as the administrator's choice."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    allowed = {h.lower() for h in cat.webhook_allowlist()}
    if host.lower() in allowed:
        return []  # resolved by the connection itself
    if private_host(host):
        raise WebhookRefused(_("%(host)s is a loopback or private address and not allow-listed.", host=host))
    # A failed look-up (socket.gaierror, an OSError) is retried like any network error: DNS
    # outages pass.
    infos = socket.getaddrinfo(host, parts.port, proto=socket.IPPROTO_TCP)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if not public_address(ipaddress.ip_address(address)) and address not in allowed:
            raise WebhookRefused(_("%(host)s resolves to %(address)s, a private address, and is not allow-listed.",
                                   host=host, address=address))
    return addresses


def _ca_bundle() -> str:
    return current_app.config.get("WEBHOOK_CA_BUNDLE") or certifi.where()


def _post(url: str, addresses: list[str], body: bytes, headers: dict, timeout: float) -> tuple[int, str]:
    """POST to the first vetted address that answers, keeping the name for the Host header,
    TLS SNI and certificate check. No redirects (a redirect could point anywhere)."""
    parts = urlsplit(url)
    host, https = parts.hostname, parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    default_port = port == (443 if https else 80)
    headers = {**headers, "Host": (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")}
    last_error: Exception | None = None
    for address in addresses or [host]:
        if https:
            pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=host, assert_hostname=host,
                                               cert_reqs="CERT_REQUIRED", ca_certs=_ca_bundle())
        else:
            pool = urllib3.HTTPConnectionPool(address, port)
        try:
            with pool:
                response = pool.urlopen("POST", target, body=body, headers=headers, redirect=False,
                                        retries=False, timeout=urllib3.Timeout(total=timeout))
                return response.status, response.data.decode("utf-8", "replace")
        except urllib3.exceptions.NewConnectionError as error:  # try the host's next address
            last_error = error
    raise last_error


# A receiver down for maintenance gets the event when it is back: 5 attempts span ~1 h 15 min
# (a rule may ask for more, up to 10: then ~1 day). An administrator may retry a failed job later.
WEBHOOK_BACKOFF = (30, 120, 600, 3600, 6 * 3600)


@job_handler("automation.webhook", max_attempts=5, label=_l("Webhook call"), backoff=WEBHOOK_BACKOFF)
def deliver_webhook(job) -> None:
    """POST the event; a non-2xx answer or a network error raises, so the job is retried with
    backoff. Every attempt is logged. Receivers deduplicate by the ``X-CRM-Delivery`` header,
    which stays the same across retries (a worker killed after sending resends it). The
    address and secret are the rule's current ones: a corrected URL takes effect on retry."""
    payload = job.payload
    key = job.key
    if db.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.delivery_key == key,
                                                          WebhookDelivery.ok.is_(True))) is not None:
        return  # delivered before a crash kept the job from being marked done
    body = json.dumps(_as_it_is_now(payload["body"]), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "crm-automation/1",
               "X-CRM-Delivery": key, "X-CRM-Timestamp": stamp}
    rule = db.session.get(Rule, payload["rule_id"]) if payload.get("rule_id") else None
    action = _current_action(rule, payload)
    url = (action or {}).get("url") or payload["url"]
    secret = (action or {}).get("secret") or ""
    if secret:
        headers["X-CRM-Signature"] = "sha256=" + signature(secret, stamp, body)
    # Counted over the delivery's whole life: an admin's retry gives the job fresh attempts, and
    # the log must not read "attempt 1" twice (a try a killed worker never logged still counts).
    attempt = max(job.attempts, 1 + db.session.scalar(select(func.count()).select_from(WebhookDelivery)
                                                      .where(WebhookDelivery.delivery_key == key)))
    row = WebhookDelivery(delivery_key=key, run_id=payload.get("run_id"), rule_id=rule.id if rule else None,
                          url=url, attempt=attempt)
    started = time.perf_counter()
    if action is None:  # nobody wants the event sent any more, and nothing would sign it
        row.error = _("The rule or this webhook was removed since: the event was not sent.")
        _finish(row, started)
        _gave_up(payload, row)
        return
    if not rule.enabled:  # switched off to stop a flood, its pending retries went on arriving
        row.error = _("The rule was switched off since: the event was not sent (switch it on and try again to "
                      "send it).")
        _finish(row, started)
        _gave_up(payload, row)
        raise FailedForGood(row.error)  # failed, so "Try again" sends it once the rule is on again
    try:
        addresses = _vetted_addresses(url)
        status, text = _post(url, addresses, body, headers, payload.get("timeout", 10))
        row.status_code, row.ok, row.response = status, 200 <= status < 300, text[:2000]
    except WebhookRefused as error:
        row.error = str(error)
        _finish(row, started)
        _gave_up(payload, row)
        # Retrying by itself cannot help; an administrator's "Try again" can, once the host is allowed.
        raise FailedForGood(row.error) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        row.error = f"{error.__class__.__name__}: {error}"[:2000]
    _finish(row, started)
    if not row.ok:
        if job.attempts >= job.max_attempts:
            _gave_up(payload, row)
        raise RuntimeError(row.error or f"HTTP {row.status_code}")
    _delivered_after_all(payload)


def _as_it_is_now(body: dict) -> dict:
    """The event with its record as the REST API answers for it now: the record's version after
    the whole transaction that raised the event (a report binding set its status after the rule
    ran), so the receiver's If-Match write-back is not refused as stale. A deleted record goes as
    it was."""
    record = body.get("record") or {}
    model = cat.model_for(body.get("entity")) if body.get("event") != "deleted" and record.get("id") else None
    current = db.session.get(model, record["id"]) if model is not None else None
    return {**body, "record": cat.api_record(body["entity"], current)} if current is not None else body


def _delivered_after_all(payload) -> None:
    """An administrator retried a webhook given up on, and it went through: its action and, when
    nothing else failed, the rule's run are no longer failed (nor counted on the home page)."""
    run = db.session.get(RuleRun, payload["run_id"]) if payload.get("run_id") else None
    if run is None or run.outcome != "failed":
        return
    actions = [dict(entry) for entry in run.actions]
    mine = [entry for entry in actions if entry.get("index") == payload.get("action_index")]
    if not mine or mine[0].get("status") != "failed":
        return
    mine[0]["status"] = "done"
    mine[0].pop("error", None)
    run.actions = actions
    if not any(entry.get("status") in ("failed", "not_run") for entry in actions):
        run.outcome, run.error = "matched", None
    db.session.commit()


def _gave_up(payload, row: WebhookDelivery) -> None:
    """The event will not reach the receiver: the rule's run turns failed, with the webhook
    action marked so, and the rule's author is told (no silent failures, DOMAIN.md)."""
    from app.automation.execution import alert_author

    run = db.session.get(RuleRun, payload["run_id"]) if payload.get("run_id") else None
    if run is None:
        return
    error = _("Webhook to %(url)s failed after %(count)d attempt(s): %(error)s", url=row.url,
              count=row.attempt, error=row.error or f"HTTP {row.status_code}")[:2000]
    actions = [dict(entry) for entry in run.actions]
    for entry in actions:
        if entry.get("index") == payload.get("action_index"):
            entry.update(status="failed", error=error)
    run.outcome, run.error, run.actions = "failed", error, actions
    rule = db.session.get(Rule, run.rule_id) if run.rule_id else None
    if rule is not None:
        alert_author(rule, run)
    db.session.commit()  # kept although the job itself is rolled back and marked failed


def _current_action(rule: Rule | None, payload) -> dict | None:
    """The webhook action as its rule says now: a rotated secret signs pending retries, a
    corrected address receives them. Found by its id (by the job's address for a job of an action
    saved before actions had ids), never by its place: after a reorder or an added webhook the
    place holds another receiver. None when the rule or the action is gone."""
    hooks = [a for a in (rule.actions if rule is not None else []) if isinstance(a, dict) and a.get("type") == "webhook"]
    if payload.get("action_id"):
        return next((a for a in hooks if a.get("id") == payload["action_id"]), None)
    return next((a for a in hooks if a.get("url") == payload["url"]), None)


def _finish(row: WebhookDelivery, started: float) -> None:
    row.duration_ms = int((time.perf_counter() - started) * 1000)
    db.session.add(row)
    db.session.commit()  # kept even when the job is retried (its rollback comes after this)


@periodic("automation.time_events", every_seconds=300, label=_l("Date-based rules scan"))
def scan_time_events_job(job) -> None:
    from app.automation.execution import scan_time_events

    scan_time_events()


@periodic("automation.prune_run_log", every_seconds=24 * 3600, label=_l("Run log clean-up"))
def prune_run_log_job(job) -> None:
    """Once a day: the run log and webhook attempts older than AUTOMATION_RUN_RETENTION_DAYS
    (0 keeps everything). The automation report covers the period still kept."""
    from app.automation.services import prune_run_log

    days = current_app.config["AUTOMATION_RUN_RETENTION_DAYS"]
    if days > 0:
        prune_run_log(utcnow() - timedelta(days=days))

