"""Calendar feeds (iCalendar, RFC 5545) behind revocable tokens: a member's own calendar under
/api/v1/events/feed/<token>.ics and a bay's under /api/v1/resources/<id>/calendar.ics?token=… (the
token is the credential: calendar apps send no bearer token)."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy import or_, select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import calendars as flow
from ..flows.publishing import audit
from ..models import CalendarFeed, Resource
from ..schemas import FeedIssuedOut, FeedOut, FeedTokenQuery
from .common import caller, now, signed_in, staff_only, unit_of_work

blp = Blueprint("calendar_feeds", __name__, url_prefix="/api/v1", description="Calendar feeds")

ICS = "text/calendar"


def _ics(body: bytes, name: str) -> Response:
    response = Response(body, mimetype=ICS)
    response.headers["Content-Disposition"] = f'inline; filename="{name}.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _issued(feed: CalendarFeed, token: str) -> dict:
    data = {c.key: getattr(feed, c.key) for c in CalendarFeed.__table__.columns}
    data["token"] = token
    data["url"] = (
        f"/api/v1/events/feed/{token}.ics"
        if feed.member_email
        else f"/api/v1/resources/{feed.resource_id}/calendar.ics?token={token}"
    )
    return data


@blp.get("/events/feeds")
@signed_in
@blp.response(200, FeedOut(many=True))
def list_feeds():
    """The caller's own feeds (staff also see every bay's)."""
    who = caller()
    with unit_of_work() as session:
        mine = CalendarFeed.member_email == who.email.strip().lower()
        q = select(CalendarFeed).where(
            or_(mine, CalendarFeed.resource_id.is_not(None)) if who.is_staff else mine
        )
        return session.scalars(q.order_by(CalendarFeed.id)).all()


@blp.post("/events/feeds")
@signed_in
@blp.response(201, FeedIssuedOut)
def issue_member_feed():
    """A new feed of the caller's bookings, RSVPs and enrolments; the token is shown only now."""
    who = caller()
    with unit_of_work() as session:
        feed, token = flow.issue(
            session, member_email=who.email.strip().lower(), resource_id=None, actor_email=who.email
        )
        return _issued(feed, token)


@blp.post("/events/feeds/<int(max=2147483647):feed_id>/revoke")
@signed_in
@blp.response(200, FeedOut)
def revoke_feed(feed_id: int):
    """Revoke a feed: its token stops working at once (repeating it changes nothing). Members revoke
    their own; staff any."""
    who = caller()
    with unit_of_work() as session:
        feed = session.get(CalendarFeed, feed_id)
        if feed is None or not (who.is_staff or feed.member_email == who.email.strip().lower()):
            raise Problem(404, "No such calendar feed.", code="UNKNOWN_FEED")
        flow.revoke(session, feed, now())
        if who.is_staff and feed.resource_id is not None:
            audit(session, runtime(), who.email, "calendar_feed_revoked", "calendar_feed", feed.id)
        return feed


@blp.get("/events/feed/<string(maxlength=100):token>.ics")
def member_feed(token: str):
    with unit_of_work() as session:
        feed = flow.feed_for(session, token)
        if feed.member_email is None:
            raise Problem(404, "No such calendar feed.", code="UNKNOWN_FEED")
        return _ics(flow.member_calendar(session, feed.member_email, runtime().tz, now()), "clubhouse")


@blp.post("/resources/<int(max=2147483647):resource_id>/calendar-feeds")
@staff_only
@blp.response(201, FeedIssuedOut)
def issue_resource_feed(resource_id: int):
    """A new feed of one bay's sessions and blocks; the token is shown only now."""
    who = caller()
    with unit_of_work() as session:
        if session.get(Resource, resource_id) is None:
            raise Problem(404, "No such resource.", code="UNKNOWN_RESOURCE")
        feed, token = flow.issue(session, member_email=None, resource_id=resource_id, actor_email=who.email)
        audit(session, runtime(), who.email, "calendar_feed_issued", "calendar_feed", feed.id)
        return _issued(feed, token)


@blp.get("/resources/<int(max=2147483647):resource_id>/calendar.ics")
@blp.arguments(FeedTokenQuery, location="query")
def resource_feed(query, resource_id: int):
    with unit_of_work() as session:
        feed = flow.feed_for(session, query["token"])
        resource = session.get(Resource, resource_id)
        if feed.resource_id != resource_id or resource is None:
            raise Problem(404, "No such calendar feed.", code="UNKNOWN_FEED")
        return _ics(flow.resource_calendar(session, resource, runtime().tz, now()), f"resource-{resource_id}")
