from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from app.access import login_required
from app.extensions import db
from app.notifications import api, services
from app.notifications.models import Notification
from app.ui.live import add_live_counter
from app.ui.nav import NavItem, add_nav_item

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def index():
    page = max(request.args.get("page", 1, type=int), 1)
    rows = db.session.scalars(
        select(Notification).where(Notification.user_id == current_user.id)
        .order_by(Notification.id.desc()).limit(51).offset((page - 1) * 50)
    ).all()
    return render_template("notifications/index.html", rows=rows[:50], page=page, has_next=len(rows) > 50)


def init_app(app):
    app.register_blueprint(bp)
    app.register_blueprint(api.bp)
    add_nav_item(app, NavItem("notifications.index", _l("Messages"), 80, badge="notifications"))
    add_live_counter(app, "notifications", services.unread_count)
