"""/api/v1/announcements: club-wide announcements over whole club days, one banner at a time."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from club_shared.auth import current_identity
from club_shared.clubtime import day_bounds, today
from club_shared.events import CATALOG
from club_shared.problems import Problem
from club_shared.web import runtime

from ..domain import messages
from ..models import Announcement
from ..schemas import AnnouncementIn, AnnouncementOut, AnnouncementPatch, AnnouncementQuery
from ._access import signed_in, staff_only

blp = Blueprint(
    "announcements",
    __name__,
    url_prefix="/api/v1/announcements",
    description="Club announcements and the banner",
)

PRIORITY_ORDER = case({"urgent": 0, "high": 1}, value=Announcement.priority, else_=2)


def live_on(day: date):
    return (
        Announcement.is_active,
        Announcement.starts_on <= day,
        or_(Announcement.ends_on.is_(None), Announcement.ends_on >= day),
    )


def audit(
    session: Session, action: str, announcement: Announcement, details: dict[str, Any] | None = None
) -> None:
    """Every staff action goes to the club-wide audit log (membership appends it)."""
    if ("notifications.audit.recorded", 1) not in CATALOG:
        return
    identity = current_identity()
    runtime().publish(
        session,
        "notifications.audit.recorded",
        {
            "actor_type": "staff",
            "actor_email": identity.email,
            "action": action,
            "resource_type": "announcement",
            "resource_id": str(announcement.id),
            "resource_name": announcement.title[:300],
            "details": details or {},
            "ip_address": (request.remote_addr or "")[:64] or None,
            "user_agent": (request.user_agent.string or "")[:500] or None,
        },
    )


def _set_days(announcement: Announcement) -> None:
    tz = runtime().tz
    announcement.starts_at = day_bounds(announcement.starts_on, tz)[0]
    announcement.ends_at = day_bounds(announcement.ends_on, tz)[1] if announcement.ends_on else None


def _one_banner(session: Session, keep_id: int | None) -> None:
    statement = update(Announcement).where(Announcement.show_as_banner)
    if keep_id is not None:
        statement = statement.where(Announcement.id != keep_id)
    session.execute(statement.values(show_as_banner=False))


@blp.get("")
@signed_in
@blp.arguments(AnnouncementQuery, location="query", unknown=RAISE)
@blp.response(200, AnnouncementOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_announcements(query):
    """What is live today (club time), most urgent first; staff may ask for `all`."""
    statement = select(Announcement)
    if query["all"]:
        if not current_identity().is_staff:
            raise Problem(403, "Only staff see every announcement.", code="FORBIDDEN")
    else:
        statement = statement.where(*live_on(today(runtime().tz)))
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(PRIORITY_ORDER, Announcement.starts_on.desc(), Announcement.id.desc())
        ).all()


@blp.get("/banner")
@signed_in
@blp.response(200, AnnouncementOut)
@blp.alt_response(204, description="No banner today.")
@blp.doc(security=[{"bearerAuth": []}])
def banner():
    with runtime().db.transaction() as session:
        found = session.scalar(
            select(Announcement).where(Announcement.show_as_banner, *live_on(today(runtime().tz)))
        )
    if found is None:
        return "", 204
    return found


@blp.post("")
@staff_only
@blp.arguments(AnnouncementIn)
@blp.response(201, AnnouncementOut)
@blp.doc(security=[{"bearerAuth": []}])
def create_announcement(body):
    """Setting `show_as_banner` unsets the banner of every other announcement. `send_push` pushes it to
    every subscribed browser once, when it is created."""
    with runtime().db.transaction() as session:
        if body["show_as_banner"]:
            _one_banner(session, None)
        announcement = Announcement(**body, created_by=current_identity().email)
        _set_days(announcement)
        session.add(announcement)
        session.flush()
        if body["send_push"] and body["is_active"]:
            from ..jobs import queue_broadcast

            queue_broadcast(
                session, messages.announcement(announcement.id, announcement.title, announcement.message)
            )
        audit(session, "create_announcement", announcement)
        return announcement


@blp.patch("/<int:announcement_id>")
@staff_only
@blp.arguments(AnnouncementPatch)
@blp.response(200, AnnouncementOut)
@blp.doc(security=[{"bearerAuth": []}])
def update_announcement(body, announcement_id: int):
    with runtime().db.transaction() as session:
        announcement = session.get(Announcement, announcement_id, with_for_update=True)
        if announcement is None:
            raise Problem(404, "No such announcement.", code="NOT_FOUND")
        starts = body.get("starts_on", announcement.starts_on)
        ends = body.get("ends_on", announcement.ends_on) if "ends_on" in body else announcement.ends_on
        if ends is not None and ends < starts:
            raise Problem(
                422,
                "ends_on is before starts_on.",
                code="VALIDATION_FAILED",
                errors={"ends_on": ["before starts_on"]},
            )
        if body.get("show_as_banner"):
            _one_banner(session, announcement.id)
        for key, value in body.items():
            setattr(announcement, key, value)
        _set_days(announcement)
        session.flush()
        audit(session, "update_announcement", announcement, {"changed": sorted(body)})
        return announcement


@blp.delete("/<int:announcement_id>")
@staff_only
@blp.response(204)
@blp.doc(security=[{"bearerAuth": []}])
def delete_announcement(announcement_id: int):
    with runtime().db.transaction() as session:
        announcement = session.get(Announcement, announcement_id, with_for_update=True)
        if announcement is None:
            raise Problem(404, "No such announcement.", code="NOT_FOUND")
        audit(session, "delete_announcement", announcement)
        session.delete(announcement)
