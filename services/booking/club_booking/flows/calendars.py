"""iCalendar (RFC 5545) feeds behind unguessable, revocable tokens: a member's own calendar (their
bookings, RSVPs and enrolments) and one bay's (its sessions and blocks). Times are written in the
club's zone (TZID plus a VTIMEZONE covering the feed's window), so calendar apps show the club's
wall-clock times on both sides of a daylight-saving change. Only the token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from club_shared.problems import Problem

from .. import queries
from ..domain.status import OCCUPYING
from ..models import (
    AvailabilityBlock,
    BookingRequest,
    BookingSession,
    CalendarFeed,
    ClubEvent,
    EventRsvp,
    Resource,
    WellnessClass,
    WellnessEnrollment,
)

PAST = timedelta(days=60)
AHEAD = timedelta(days=400)
DOMAIN = "clubhouse"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, *, member_email: str | None, resource_id: int | None, actor_email: str
) -> tuple[CalendarFeed, str]:
    """A new feed and its token (shown once; only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(
        token_hash=_hash(token), member_email=member_email, resource_id=resource_id, created_by=actor_email
    )
    session.add(feed)
    session.flush()
    return feed, token


def revoke(session: Session, feed: CalendarFeed, now: datetime) -> None:
    session.execute(
        update(CalendarFeed)
        .where(CalendarFeed.id == feed.id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(feed)


def feed_for(session: Session, token: str | None) -> CalendarFeed:
    """The live feed of a token; any other token is a 404 (nothing tells a revoked one apart)."""
    feed = (
        session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token))) if token else None
    )
    if feed is None or feed.revoked_at is not None:
        raise Problem(404, "No such calendar feed.", code="UNKNOWN_FEED")
    return feed


def _calendar(name: str, tz: ZoneInfo, now: datetime) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Clubhouse//Booking//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", tz.key)
    start = (now - PAST).astimezone(tz).date()
    end = (now + AHEAD).astimezone(tz).date()
    cal.add_component(icalendar.Timezone.from_tzinfo(tz, first_date=start, last_date=end))
    return cal


def _event(
    cal: icalendar.Calendar,
    tz: ZoneInfo,
    now: datetime,
    uid: str,
    summary: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    location: str | None = None,
    status: str = "CONFIRMED",
    description: str | None = None,
) -> None:
    vevent = icalendar.Event()
    vevent.add("uid", f"{uid}@{DOMAIN}")
    vevent.add("dtstamp", now)
    vevent.add("dtstart", starts_at.astimezone(tz))
    vevent.add("dtend", ends_at.astimezone(tz))
    vevent.add("summary", summary)
    vevent.add("status", status)
    if location:
        vevent.add("location", location)
    if description:
        vevent.add("description", description)
    cal.add_component(vevent)


def member_calendar(session: Session, email: str, tz: ZoneInfo, now: datetime) -> bytes:
    emails = queries.emails_of(session, email) or {email}
    lo, hi = now - PAST, now + AHEAD
    cal = _calendar("Clubhouse — my calendar", tz, now)
    bookings = session.execute(
        select(BookingRequest, Resource.name)
        .outerjoin(Resource, Resource.id == BookingRequest.resource_id)
        .where(
            BookingRequest.user_email.in_(emails),
            BookingRequest.status.in_(OCCUPYING),
            BookingRequest.starts_at < hi,
            BookingRequest.ends_at > lo,
        )
        .order_by(BookingRequest.starts_at)
    ).all()
    for req, resource_name in bookings:
        what = resource_name or ("Golf simulator" if req.resource_type == "simulator" else "Conference room")
        _event(
            cal,
            tz,
            now,
            f"booking-{req.id}",
            f"Booking: {what}",
            req.starts_at,
            req.ends_at,
            location=resource_name,
            status="TENTATIVE" if req.status in ("pending", "pending_approval") else "CONFIRMED",
        )
    rsvps = session.scalars(
        select(ClubEvent)
        .join(EventRsvp, EventRsvp.event_id == ClubEvent.id)
        .where(
            EventRsvp.user_email.in_(emails),
            EventRsvp.status == "confirmed",
            ClubEvent.is_active.is_(True),
            ClubEvent.starts_at < hi,
            ClubEvent.ends_at > lo,
        )
        .order_by(ClubEvent.starts_at)
    ).all()
    for event in rsvps:
        _event(
            cal,
            tz,
            now,
            f"event-{event.id}",
            event.title,
            event.starts_at,
            event.ends_at,
            location=event.location,
            description=event.description,
        )
    classes = session.execute(
        select(WellnessClass, WellnessEnrollment.status)
        .join(WellnessEnrollment, WellnessEnrollment.class_id == WellnessClass.id)
        .where(
            WellnessEnrollment.user_email.in_(emails),
            WellnessEnrollment.status.in_(("confirmed", "waitlisted")),
            WellnessClass.status == "scheduled",
            WellnessClass.starts_at < hi,
            WellnessClass.ends_at > lo,
        )
        .order_by(WellnessClass.starts_at)
    ).all()
    for cls, status in classes:
        title = f"{cls.title} with {cls.instructor}" if cls.instructor else cls.title
        if status == "waitlisted":
            title += " (waitlist)"
        _event(
            cal,
            tz,
            now,
            f"wellness-{cls.id}",
            title,
            cls.starts_at,
            cls.ends_at,
            location=cls.location,
            status="TENTATIVE" if status == "waitlisted" else "CONFIRMED",
        )
    return cal.to_ical()


def resource_calendar(session: Session, resource: Resource, tz: ZoneInfo, now: datetime) -> bytes:
    """A bay's occupancy: sessions (no member names) and blocks."""
    lo, hi = now - PAST, now + AHEAD
    cal = _calendar(f"Clubhouse — {resource.name}", tz, now)
    sessions = session.scalars(
        select(BookingSession)
        .where(
            BookingSession.resource_id == resource.id,
            BookingSession.cancelled_at.is_(None),
            BookingSession.starts_at < hi,
            BookingSession.ends_at > lo,
        )
        .order_by(BookingSession.starts_at)
    ).all()
    for ses in sessions:
        _event(
            cal, tz, now, f"session-{ses.id}", "Booked", ses.starts_at, ses.ends_at, location=resource.name
        )
    blocks = session.scalars(
        select(AvailabilityBlock)
        .where(
            AvailabilityBlock.resource_id == resource.id,
            AvailabilityBlock.starts_at < hi,
            AvailabilityBlock.ends_at > lo,
        )
        .order_by(AvailabilityBlock.starts_at)
    ).all()
    for block in blocks:
        summary = (
            "Closed" if block.block_type == "closure" else (block.notes or f"Blocked ({block.block_type})")
        )
        _event(
            cal, tz, now, f"block-{block.id}", summary, block.starts_at, block.ends_at, location=resource.name
        )
    return cal.to_ical()
