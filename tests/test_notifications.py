"""In-app notifications, their API, live badge counts and e-mail through the outbox."""
import socketserver
import threading

import pytest

from app.auth.services import get_user, update_user
from app.extensions import db
from app.jobs import run_due_jobs
from app.notifications.services import notify, unread_count


def test_notify_and_read_through_the_api(app, api_as):
    with app.app_context():
        notify(["sales1", "sales2"], "客户 厦门星辰 的报备已通过", link="/customers/1")
        db.session.commit()
    sales1 = api_as("sales1")
    body = sales1.get("/api/v1/notifications").get_json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item["text"] == "客户 厦门星辰 的报备已通过" and item["read"] is False and item["link"] == "/customers/1"
    assert sales1.get("/api/v1/live-counts").get_json()["notifications"] == 1
    assert sales1.post(f"/api/v1/notifications/{item['id']}/read").status_code == 204
    assert sales1.get("/api/v1/live-counts").get_json()["notifications"] == 0
    # Another user's notification is not theirs to touch.
    other = api_as("sales2").get("/api/v1/notifications").get_json()["items"][0]
    assert sales1.post(f"/api/v1/notifications/{other['id']}/read").status_code == 404


def test_inactive_users_are_skipped(ctx, demo_people):
    update_user(get_user("sales2"), actor=None, active=False)
    rows = notify(["sales1", "sales2"], "hello")
    assert [r.user_id for r in rows] == [get_user("sales1").id]


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive one message."""

    def handle(self):
        self.wfile.write(b"220 test\r\n")
        data_mode, lines = False, []
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if data_mode:
                if line == ".":
                    self.server.messages.append("\n".join(lines))
                    data_mode = False
                    self.wfile.write(b"250 ok\r\n")
                else:
                    lines.append(line)
                continue
            verb = line.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == "DATA":
                data_mode = True
                self.wfile.write(b"354 go\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_goes_through_the_outbox_once(app, ctx, demo_people):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.server_address[1], BASE_URL="https://crm.example.com/")
    try:
        user = get_user("manager")
        user.email = "manager@example.com"
        db.session.commit()
        notify("manager", "新客户 A类：厦门星辰", link="/customers/7")
        assert server.messages == []  # nothing leaves before the commit
        db.session.commit()
        assert run_due_jobs() == 1
        assert run_due_jobs() == 0
        assert len(server.messages) == 1
        assert "manager@example.com" in server.messages[0]
        assert "https://crm.example.com/customers/7" in server.messages[0]  # a link a mail client opens
        assert unread_count(user) == 1
        app.config.update(BASE_URL="")
        with app.test_request_context(base_url="http://10.0.0.5:5000"):  # no address set: the request's
            notify("manager", "新待办", link="/tasks/3")
            db.session.commit()
        assert run_due_jobs() == 1
        assert "http://10.0.0.5:5000/tasks/3" in server.messages[1]
    finally:
        app.config.update(SMTP_HOST=None, BASE_URL="")
        server.shutdown()


def test_an_unread_message_says_so_in_words_not_by_its_colour_alone(app, api_as):
    from app.cli import DEMO_PASSWORD

    with app.app_context():
        notify(["sales1"], "先读这一条")
        notify(["sales1"], "后来的一条")
        db.session.commit()
    items = {i["text"]: i["id"] for i in api_as("sales1").get("/api/v1/notifications").get_json()["items"]}
    assert api_as("sales1").post(f"/api/v1/notifications/{items['先读这一条']}/read").status_code == 204
    client = app.test_client()
    client.post("/login", data={"username": "sales1", "password": DEMO_PASSWORD})
    page = client.get("/notifications").get_data(as_text=True)
    rows = {text: row for row in page.split("data-notification=")[1:] for text in items if text in row}
    assert "data-unread" in rows["后来的一条"] and "未读" in rows["后来的一条"]
    assert "data-unread" not in rows["先读这一条"]


@pytest.mark.browser
def test_on_a_phone_a_message_takes_the_whole_width(app, page, demo_people):
    """The time and 未读 beside the text squeezed it to eight characters a line."""
    from tests.helpers import login_in_browser

    with app.app_context():
        from app.auth.services import get_user

        notify(get_user("sales1"), "客户报备「福建省厦门市思明区海峡两岸智慧医疗健康科技有限公司」被驳回：请补充营业执照", link="/")
        db.session.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    login_in_browser(page, "sales1")
    page.goto("/notifications")
    item = page.locator("[data-notification]").first.bounding_box()
    text = page.locator("[data-notification-text]").first.bounding_box()
    assert text["width"] > 0.85 * item["width"]
    page.set_viewport_size({"width": 1200, "height": 844})
    time = page.locator("[data-notification-time]").first.bounding_box()
    text = page.locator("[data-notification-text]").first.bounding_box()
    assert abs(time["y"] - text["y"]) < 5  # side by side on a wide screen


def test_an_email_subject_is_the_first_line_marked_where_cut():
    from app.notifications.services import _subject

    long = "客户报备「Sentosa Seafood Export Co., Ltd.」被驳回：Duplicate of an existing Fuzhou account, see the record"
    assert _subject(long).endswith("…") and len(_subject(long)) == 80
    assert _subject("新待办：客户报备") == "新待办：客户报备"
    assert _subject("第一行\n第二行") == "第一行…"
