"""A real server on loopback for the HTTP and load benchmarks: gunicorn with several worker
processes (as `make serve`), on a scratch database prepared by the bench process."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import requests

from .common import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STARTS = 3  # another process may take the free port before gunicorn binds it: try a new one


def _start(database_url: str, workers: int, threads: int, log) -> tuple[subprocess.Popen, str]:
    """A gunicorn answering /healthz, and its base URL; RuntimeError when it never does."""
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONPATH=str(ROOT), SECRET_KEY="bench-secret",
               PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    for attempt in range(1, STARTS + 1):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads",
                                 str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120  # workers import the app at once; slow on a busy 2-core box
        while proc.poll() is None and time.time() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=30).status_code == 200:
                    return proc, base
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.3)
        stop_process(proc)
        if time.time() >= deadline:
            break  # slow, not a lost port: trying again would not help
    raise RuntimeError(f"gunicorn did not start ({attempt} attempts; see {log.name})")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def gunicorn(database_url: str, workers: int = 4, threads: int = 1, log_path: str | None = None):
    """``with gunicorn(url) as base:`` → "http://127.0.0.1:PORT", stopped afterwards."""
    with open(log_path or os.devnull, "w") as log:
        proc, base = _start(database_url, workers, threads, log)
        try:
            yield base
        finally:
            stop_process(proc)


class ApiUser:
    """One user's API session (bearer token, keep-alive); records each request's latency."""

    def __init__(self, base: str, username: str, password: str = "demo1234"):
        self.base = base
        self.username = username
        self.http = requests.Session()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        response = self.http.post(f"{base}/api/v1/tokens", json={"username": username, "password": password},
                                  timeout=30)
        if response.status_code != 201:
            raise RequestFailed(f"login {username}: {response.status_code} {response.text[:300]}")
        self.http.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def call(self, method: str, path: str, expect=(200, 201), **kwargs):
        t0 = time.perf_counter()
        response = self.http.request(method, f"{self.base}/api/v1{path}", timeout=60, **kwargs)
        self.latencies.append(time.perf_counter() - t0)
        if response.status_code not in expect:
            self.errors.append(f"{method} {path} → {response.status_code} {response.text[:200]}")
            raise RequestFailed(self.errors[-1])
        return response.json() if response.content else None


class RequestFailed(Exception):
    pass


class ReportCycle:
    """The customer-report cycle over the API: a salesperson creates a customer, the approver
    finds the approval task in the inbox, claims and approves it.

    The form binding starts the process in the create transaction; while there is none the
    client starts it itself with POST /process-instances (decided on the first cycle).
    """

    def __init__(self):
        self.binding: bool | None = None

    def report(self, sales: ApiUser, approver: ApiUser, data: dict) -> int:
        """Create the customer; returns the id of its open approval task."""
        customer = sales.call("POST", "/customers", json=data)
        if self.binding is not False:
            page = approver.call("GET", "/tasks", params={"record": customer["name"], "include_form": "false"})
            found = [t["id"] for t in page["items"] if (t.get("record") or {}).get("id") == customer["id"]]
            if found or self.binding:
                self.binding = True
                if not found:
                    raise RequestFailed(f"no approval task for customer {customer['id']}")
                return found[0]
            self.binding = False
        instance = sales.call("POST", "/process-instances", json={"process_key": "customer_report", "data": {
            "customer_id": customer["id"], "name": customer["name"], "province": customer.get("province"),
            "industry": customer.get("industry"), "reporter": sales.username, "owner": sales.username}})
        return instance["active_tasks"][0]["id"]

    @staticmethod
    def approve(approver: ApiUser, task_id: int) -> None:
        approver.call("POST", f"/tasks/{task_id}/claim")
        approver.call("POST", f"/tasks/{task_id}/complete", json={"data": {"decision": "approve", "comment": "同意"}})

    def note(self) -> str:
        return ("the form binding started each process" if self.binding else
                "no binding started the process: the client started it with POST /process-instances")
