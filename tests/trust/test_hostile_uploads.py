"""Hostile documents through the real upload endpoints: BPMN deploy (XML body and multipart),
the designer's import, save and check, and form uploads. Each is a clean 4xx in the JSON error
format, stores nothing, reads no file and calls no network, answers quickly, and the server
keeps serving."""
from __future__ import annotations

import http.server
import threading
import time

import pytest

from tests.trust.test_authorization_matrix import BPMN

SECRET = "root:x:0:"  # the first line of /etc/passwd: must never come back in an answer


@pytest.fixture
def sink():
    """A loopback HTTP server counting requests: an XXE or external DTD would hit it."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leak "network-entity-resolved">')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def _bpmn_around(doctype: str, body: str = "&e;") -> bytes:
    return (f'<?xml version="1.0"?>\n{doctype}\n'
            f'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="t">'
            f'<bpmn:process id="hostile" name="{body}" isExecutable="true"><bpmn:startEvent id="s"/>'
            f'</bpmn:process></bpmn:definitions>').encode()


def hostile_documents(url: str) -> dict[str, bytes]:
    laughs = '<!DOCTYPE d [<!ENTITY a "lol">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) + '<!ENTITY e "&j;">]>'
    nested = (b'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
              + b"<a>" * 20000 + b"</a>" * 20000 + b"</bpmn:definitions>")
    return {
        "xxe_file": _bpmn_around('<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'),
        "xxe_network": _bpmn_around(f'<!DOCTYPE d [<!ENTITY e SYSTEM "{url}/entity">]>'),
        "xxe_parameter": _bpmn_around(f'<!DOCTYPE d [<!ENTITY % p SYSTEM "{url}/param"> %p;]>', "&leak;"),
        "external_dtd": _bpmn_around(f'<!DOCTYPE d SYSTEM "{url}/ext.dtd">', "x"),
        "billion_laughs": _bpmn_around(laughs),
        "quadratic_blowup": _bpmn_around(f'<!DOCTYPE d [<!ENTITY e "{"x" * 50_000}">]>', "&e;" * 50_000),
        "deeply_nested": nested,
        "not_xml_binary": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10,
        "not_xml_text": "这不是 XML，只是一段文字 <<<".encode(),
        "xml_not_bpmn": b'<?xml version="1.0"?><html><script>alert(1)</script></html>',
        "empty": b"",
    }


def _stored(app) -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.designer.models import ProcessDraft
    from app.engine.models import ProcessDefinition
    from app.extensions import db

    with app.app_context():
        counts = (db.session.scalar(select(func.count(ProcessDefinition.id))),
                  db.session.scalar(select(func.count(ProcessDraft.id))))
        db.session.remove()
    return counts


def _upload_routes(api, draft_key):
    """Every way a BPMN document enters the product, as (name, call(document) → response)."""
    return [
        ("deploy xml body", lambda doc: api.post("/api/v1/processes", data=doc, content_type="application/xml")),
        ("deploy multipart", lambda doc: api.post("/api/v1/processes", content_type="multipart/form-data",
                                                  data={"file": (__import__("io").BytesIO(doc), "p.bpmn")})),
        ("designer import", lambda doc: api.post("/api/v1/designer/drafts",
                                                 json={"xml": doc.decode("utf-8", "replace")})),
        ("designer save", lambda doc: api.patch(f"/api/v1/designer/drafts/{draft_key}",
                                                json={"xml": doc.decode("utf-8", "replace") or " ", "version": 1})),
        ("designer check", lambda doc: api.post("/api/v1/designer/check",
                                                json={"xml": doc.decode("utf-8", "replace") or " "})),
    ]


def test_hostile_bpmn_is_refused_everywhere(app, api_as, client, sink):
    url, hits = sink
    admin = api_as("admin")
    assert admin.post("/api/v1/designer/drafts", json={"key": "existing", "name": "现有"}).status_code == 201
    before = _stored(app)
    failures = []
    for doc_name, document in hostile_documents(url).items():
        for route_name, call in _upload_routes(admin, "existing"):
            started = time.monotonic()
            response = call(document)
            took = time.monotonic() - started
            text = response.get_data(as_text=True)
            body = response.get_json(silent=True) or {}
            refused = response.status_code == 400 and "error" in body
            # The check endpoint answers 200 with the problems found (it stores nothing by design).
            checked = route_name == "designer check" and response.status_code == 200 and body.get("problems")
            if not (refused or checked) or SECRET in text or "network-entity-resolved" in text or took > 5:
                failures.append(f"{doc_name} via {route_name}: {response.status_code} in {took:.1f}s {text[:200]}")
    assert not failures, "\n".join(failures)
    assert hits == [], f"the server fetched {hits}"
    assert _stored(app) == before
    draft = admin.get("/api/v1/designer/drafts/existing").get_json()
    assert draft["version"] == 1 and "hostile" not in draft["xml"]
    assert client.get("/healthz").status_code == 200
    # Still works for a good diagram afterwards.
    assert admin.post("/api/v1/processes", data=BPMN, content_type="application/xml").status_code == 201


def test_fifty_megabyte_uploads_are_413_and_stored_nowhere(app, api_as, client):
    admin = api_as("admin")
    huge = b'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="x">' + b"<!-- padding -->" * (50 * 1024 * 1024 // 16)
    before = _stored(app)
    for route_name, call in _upload_routes(admin, "nothing"):
        if route_name in ("designer save",):
            continue  # same JSON size limit as import and check, without a draft to load
        started = time.monotonic()
        response = call(huge)
        assert response.status_code == 413, (route_name, response.status_code)
        assert response.get_json()["error"]["code"] == "too_large"
        assert time.monotonic() - started < 10
    big_form = {"key": "huge", "name": "大", "schema": {"type": "default", "components": [
        {"type": "textfield", "key": f"f{i}", "label": "x" * 1000} for i in range(50_000)]}}
    assert admin.post("/api/v1/forms", json=big_form).status_code == 413
    assert _stored(app) == before
    assert client.get("/healthz").status_code == 200


FORM_PAYLOADS = {
    "not json": ("这不是 JSON {", "application/json"),
    "deeply nested": ('{"key": "deep", "name": "深", "schema": ' + "[" * 100_000 + "]" * 100_000 + "}",
                      "application/json"),
    "schema not an object": ('{"key": "x1", "name": "x", "schema": "<script>alert(1)</script>"}', "application/json"),
    "components not a list": ('{"key": "x2", "name": "x", "schema": {"components": {"a": 1}}}', "application/json"),
    "xml instead": (_bpmn_around('<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>').decode(), "application/xml"),
    "script key": ('{"key": "<script>", "name": "x", "schema": {"type": "default", "components": []}}',
                   "application/json"),
    "an integer of 5,000 digits": ('{"key": "x3", "name": "x", "schema": {"type": "default", "components": [], '
                                   '"n": ' + "9" * 5000 + '}}', "application/json"),  # Python's limit: a 500
}


@pytest.mark.parametrize("payload", FORM_PAYLOADS, ids=list(FORM_PAYLOADS))
def test_hostile_form_uploads_are_clean_400s(app, api_as, client, payload):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.forms.models import FormDefinition

    body, content_type = FORM_PAYLOADS[payload]
    response = api_as("admin").post("/api/v1/forms", data=body.encode(), content_type=content_type)
    assert response.status_code in (400, 415), response.get_data(as_text=True)[:300]
    assert "error" in response.get_json() and SECRET not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(FormDefinition.id))) == 0
    assert client.get("/healthz").status_code == 200
