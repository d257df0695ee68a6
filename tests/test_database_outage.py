"""The database going away for a few seconds: clean 503s, the worker backs off and resumes.

PostgreSQL is reached through a TCP proxy in this test, which drops every connection and
refuses new ones while "down". Skipped on SQLite (a file does not go away like a server).
"""
import os
import socket
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from config import normalise_database_url

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL")


class FlakyProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.up = True
        self.sockets: list[socket.socket] = []
        self.upstream_ports: set[int] = set()  # every connection ever made to the database
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.upstream_ports.add(upstream.getsockname()[1])
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass

    def go_down(self):
        self.up = False
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets.clear()

    def come_back(self):
        self.up = True

    def close(self):
        self.go_down()
        self.listener.close()


@pytest.fixture
def proxied_app(app):
    from app import create_app

    url = make_url(normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    proxy = FlakyProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = create_app({
        "TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}},
    })
    yield proxied, proxy
    from app.extensions import db

    # Close the proxied app's connections cleanly first: an abandoned transaction would hold
    # locks that block the next test's clean-up.
    proxy.come_back()
    with proxied.app_context():
        db.session.remove()
        db.engine.dispose()
    proxy.close()
    # A connection the proxy dropped mid-transaction may linger server-side holding locks;
    # end exactly those backends so the next test's clean-up is not blocked.
    from sqlalchemy import text

    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND client_port = ANY(:ports)"), {"ports": list(proxy.upstream_ports)})


def test_api_answers_503_while_the_database_is_down_and_recovers(proxied_app, demo_people):
    app, proxy = proxied_app
    client = app.test_client()
    token = client.post("/api/v1/tokens", json={"username": "admin", "password": "demo1234"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/groups", headers=headers).status_code == 200
    proxy.go_down()
    down = client.get("/api/v1/groups", headers=headers)
    assert down.status_code == 503
    assert down.get_json()["error"]["code"] == "unavailable"
    assert down.headers["Retry-After"]
    health = client.get("/healthz")
    assert health.status_code == 503
    proxy.come_back()
    assert client.get("/api/v1/groups", headers=headers).status_code == 200


def test_worker_backs_off_while_down_and_then_runs_the_job(proxied_app, monkeypatch):
    from app.extensions import db
    from app.jobs import Job, enqueue, job_handler, services

    ran = []

    @job_handler("test.outage")
    def _handler(job):
        ran.append(job.id)

    app, proxy = proxied_app
    with app.app_context():
        job = enqueue("test.outage")
        db.session.commit()
        job_id = job.id
        proxy.go_down()
        sleeps = []
        real_sleep = time.sleep

        def fake_sleep(seconds):
            sleeps.append(seconds)
            if len(sleeps) == 2:
                proxy.come_back()
            real_sleep(0.01)

        monkeypatch.setattr(services.time, "sleep", fake_sleep)
        services.run_worker(poll_seconds=0, stop=lambda: bool(ran) or len(sleeps) > 10)
        assert ran == [job_id]
        assert sleeps[:2] == [2, 4]  # exponential backoff while the database was down
        assert db.session.get(Job, job_id).status == "done"
