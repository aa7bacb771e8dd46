"""/api/v1/notifications: the caller's own in-app notifications."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import func, select, update

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from .. import notify
from ..domain.messages import Message
from ..models import Notification
from ..schemas import Marked, NotificationQuery, SendNotification, UnreadCount
from ..schemas import Notification as NotificationOut
from ._access import signed_in, staff_only

blp = Blueprint(
    "notifications", __name__, url_prefix="/api/v1/notifications", description="In-app notifications"
)


@blp.get("")
@signed_in
@blp.arguments(NotificationQuery, location="query", unknown=RAISE)
@blp.response(200, NotificationOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_notifications(query):
    """The caller's notifications: newest first, or unread first; `since` for polling."""
    email = current_identity().email
    statement = select(Notification).where(Notification.user_email == email)
    if query["unread_only"]:
        statement = statement.where(Notification.is_read.is_(False))
    if query.get("since") is not None:
        statement = statement.where(Notification.created_at > query["since"])
    order = [Notification.created_at.desc(), Notification.id.desc()]
    if query["order"] == "unread_first":
        order.insert(0, Notification.is_read.asc())
    with runtime().db.transaction() as session:
        return session.scalars(statement.order_by(*order).limit(query["limit"]).offset(query["offset"])).all()


@blp.get("/unread-count")
@signed_in
@blp.response(200, UnreadCount)
@blp.doc(security=[{"bearerAuth": []}])
def unread_count():
    email = current_identity().email
    with runtime().db.transaction() as session:
        count = session.scalar(
            select(func.count()).where(Notification.user_email == email, Notification.is_read.is_(False))
        )
    return {"unread": count}


@blp.post("/<int:notification_id>/read")
@signed_in
@blp.response(200, NotificationOut)
@blp.doc(security=[{"bearerAuth": []}])
def mark_read(notification_id: int):
    """Mark one of the caller's notifications read (again: no change)."""
    email = current_identity().email
    with runtime().db.transaction() as session:
        notification = session.scalar(
            select(Notification)
            .where(Notification.id == notification_id, Notification.user_email == email)
            .with_for_update()
        )
        if notification is None:
            raise Problem(404, "No such notification.", code="NOT_FOUND")
        if not notification.is_read:
            notification.is_read = True
            notification.read_at = func.now()
            session.flush()
            session.refresh(notification)
        return notification


@blp.post("/read-all")
@signed_in
@blp.response(200, Marked)
@blp.doc(security=[{"bearerAuth": []}])
def mark_all_read():
    email = current_identity().email
    with runtime().db.transaction() as session:
        result = session.execute(
            update(Notification)
            .where(Notification.user_email == email, Notification.is_read.is_(False))
            .values(is_read=True, read_at=func.now())
        )
    return {"marked": result.rowcount}


@blp.post("")
@staff_only
@blp.arguments(SendNotification)
@blp.response(201, NotificationOut)
@blp.alt_response(200, description="Dropped as a duplicate of one sent in the last 60 s (empty body).")
@blp.doc(security=[{"bearerAuth": []}])
def send_notification(body):
    """Staff: tell one member something (in-app, and by push if asked)."""
    message = Message(
        type=body["type"], title=body["title"], message=body["message"], link=body["link"], push=body["push"]
    )
    with runtime().db.transaction() as session:
        notification = notify.notify_member(session, body["user_email"], message)
    if notification is None:
        return {}, 200
    return notification
