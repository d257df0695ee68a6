from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, DateTime, Integer, String
from flask_login import current_user
from sqlalchemy import select

from app.access import login_required
from app.api.errors import ApiError
from app.api.frame import PageQuery, page_of
from app.notifications import services
from app.notifications.models import Notification

bp = APIBlueprint("notifications_api", __name__, url_prefix="/api/v1", tag="Notifications")


class NotificationOut(Schema):
    id = Integer()
    at = DateTime()
    text = String()
    link = String(allow_none=True)
    kind = String()
    read = Boolean()


class NotificationQuery(PageQuery):
    unread = Boolean(load_default=False)


@bp.get("/notifications")
@login_required
@bp.input(NotificationQuery, location="query", arg_name="query")
@bp.doc(summary="The caller's messages, newest first")
def list_notifications(query):
    stmt = select(Notification).where(Notification.user_id == current_user.id).order_by(Notification.id.desc())
    if query["unread"]:
        stmt = stmt.where(Notification.read_at.is_(None))
    return page_of(stmt, query["page"], query["per_page"], NotificationOut().dump)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
@bp.output({}, status_code=204)
def mark_read(notification_id):
    if services.mark_read(current_user, notification_id) == 0:
        exists = Notification.query.filter_by(id=notification_id, user_id=current_user.id).first()
        if exists is None:
            raise ApiError(404, "not_found", "No such notification.")
    return ""


@bp.post("/notifications/read-all")
@login_required
@bp.output({}, status_code=204)
def mark_all_read():
    services.mark_read(current_user)
    return ""
