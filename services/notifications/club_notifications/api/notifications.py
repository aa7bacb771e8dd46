"""/api/v1/notifications"""

from __future__ import annotations

from club_shared.web import runtime
from flask_smorest import Blueprint
from sqlalchemy import select

from ..models import Notification
from ..schemas import Notification as NotificationOut
from ..schemas import NotificationQuery

blp = Blueprint(
    "notifications", __name__, url_prefix="/api/v1/notifications", description="In-app notifications"
)


@blp.get("")
@blp.arguments(NotificationQuery, location="query")
@blp.response(200, NotificationOut(many=True))
def list_notifications(query):
    """A member's notifications, newest first."""
    email = query["user_email"]
    with runtime().db.transaction() as session:
        return session.scalars(
            select(Notification)
            .where(Notification.user_email == email)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(query["limit"])
        ).all()
