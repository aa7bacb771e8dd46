"""Events, classes and RSVPs from outside calendars (domain.md §9), as integrations relays them:
integrations.calendar.event_synced upserts an event or a wellness class by its outside id (a record
edited in our app is not overwritten); integrations.eventbrite.attendee_synced upserts the RSVP of
one Eventbrite attendee, matched to a member by e-mail, then by name. Integrations syncs events and
attendees separately, so an attendee may come first: it is kept and applied when its event arrives."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from .. import queries
from ..models import (
    EVENT_CATEGORIES,
    ClubEvent,
    EventRsvp,
    MemberProfile,
    PendingEventbriteAttendee,
    WellnessClass,
)
from .events import event_data, rsvp_data, sync_blocks
from .wellness import sync_class_blocks

log = logging.getLogger(__name__)


def _instants(data: dict[str, Any], tz) -> tuple[datetime, datetime]:
    if data.get("starts_at") and data.get("ends_at"):
        return datetime.fromisoformat(data["starts_at"]), datetime.fromisoformat(data["ends_at"])
    start_day = datetime.fromisoformat(data["start_date"]).date()
    end_day = datetime.fromisoformat(data["end_date"]).date()
    start = time.fromisoformat(data["start_time"]) if data.get("start_time") else time(0)
    end = time.fromisoformat(data["end_time"]) if data.get("end_time") else time(0)
    if data.get("all_day") and end_day <= start_day:
        end_day = start_day + timedelta(days=1)
    starts_at = datetime.combine(start_day, start, tzinfo=tz)
    ends_at = datetime.combine(end_day, end, tzinfo=tz)
    if ends_at <= starts_at:
        ends_at = starts_at + timedelta(hours=1)
    return starts_at, ends_at


def calendar_event_synced(session: Session, rt, data: dict[str, Any]) -> None:
    if data["kind"] == "event":
        _upsert_event(session, rt, data)
    elif data["kind"] == "wellness_class":
        _upsert_class(session, rt, data)


def _lock_eventbrite_event(session: Session, eventbrite_id: str) -> None:
    """Serialise an Eventbrite event's sync with its attendees': an attendee either finds the event
    or is kept where the event's sync will find it, whatever replicas race."""
    session.execute(text("SELECT pg_advisory_xact_lock(7210103, hashtext(:id))"), {"id": eventbrite_id})


def _upsert_event(session: Session, rt, data: dict[str, Any]) -> None:
    if data["source"] == "eventbrite":
        _lock_eventbrite_event(session, data["external_id"])
    column = ClubEvent.eventbrite_id if data["source"] == "eventbrite" else ClubEvent.google_calendar_id
    event = session.scalar(select(ClubEvent).where(column == data["external_id"]).with_for_update())
    if data["status"] == "cancelled":
        if event is not None and event.is_active:
            event.is_active = False
            event.archived_at = func.now()
            session.flush()
            session.refresh(event)
            sync_blocks(session, event, None)
            rt.publish(session, "booking.event.cancelled", event_data(session, event, None))
        if data["source"] == "eventbrite":
            # An event cancelled before we ever held it: its waiting attendees have nothing to join.
            session.execute(
                delete(PendingEventbriteAttendee).where(
                    PendingEventbriteAttendee.eventbrite_event_id == data["external_id"]
                )
            )
        return
    if event is not None and event.locally_edited:
        return
    starts_at, ends_at = _instants(data, rt.tz)
    local_start, local_end = starts_at.astimezone(rt.tz), ends_at.astimezone(rt.tz)
    values = {
        "title": data["title"][:200],
        "description": data.get("description"),
        "location": (data.get("location") or None) and data["location"][:200],
        "category": data["category"] if data.get("category") in EVENT_CATEGORIES else "Social",
        "image_url": (data.get("image_url") or None) and data["image_url"][:1000],
        "max_capacity": data.get("max_capacity"),
        "event_date": local_start.date(),
        "start_time": local_start.time().replace(tzinfo=None),
        "end_time": local_end.time().replace(tzinfo=None),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "is_active": True,
        "archived_at": None,
    }
    created = event is None
    if created:
        event = ClubEvent(source=data["source"], created_by=None)
        setattr(
            event,
            "eventbrite_id" if data["source"] == "eventbrite" else "google_calendar_id",
            data["external_id"],
        )
        session.add(event)
    for key, value in values.items():
        setattr(event, key, value)
    session.flush()
    sync_blocks(session, event, None)
    rt.publish(
        session, f"booking.event.{'created' if created else 'updated'}", event_data(session, event, None)
    )
    if event.eventbrite_id is not None:
        _apply_waiting_attendees(session, rt, event)


def _upsert_class(session: Session, rt, data: dict[str, Any]) -> None:
    cls = session.scalar(
        select(WellnessClass).where(WellnessClass.google_calendar_id == data["external_id"]).with_for_update()
    )
    if data["status"] == "cancelled":
        if cls is not None:
            cls.status = "cancelled"
            sync_class_blocks(session, cls, None, rt.tz)
        return
    if cls is not None and cls.locally_edited:
        return
    starts_at, ends_at = _instants(data, rt.tz)
    local = starts_at.astimezone(rt.tz)
    if cls is None:
        cls = WellnessClass(google_calendar_id=data["external_id"], capacity=data.get("max_capacity") or 10)
        session.add(cls)
    elif data.get("max_capacity") is not None:
        cls.capacity = data["max_capacity"]
    cls.title = data["title"][:200]
    cls.instructor = data.get("instructor")
    cls.category = (data.get("category") or "Wellness")[:50]
    cls.class_date = local.date()
    cls.start_time = local.time().replace(tzinfo=None)
    cls.duration_minutes = max(1, round((ends_at - starts_at).total_seconds() / 60))
    cls.starts_at, cls.ends_at = starts_at, ends_at
    cls.location = data.get("location")
    cls.status = "scheduled"
    session.flush()
    sync_class_blocks(session, cls, None, rt.tz)


def _match_member(session: Session, data: dict[str, Any]) -> queries.Person | None:
    person = queries.person_by_email(session, data["email"])
    if person is not None:
        return person
    first, last = data.get("first_name"), data.get("last_name")
    if not (first and last):
        return None
    ids = session.scalars(
        select(MemberProfile.member_id)
        .where(func.lower(MemberProfile.first_name) == first.strip().lower())
        .where(func.lower(MemberProfile.last_name) == last.strip().lower())
        .limit(2)
    ).all()
    return queries.person_by_id(session, ids[0]) if len(ids) == 1 else None


def eventbrite_attendee_synced(session: Session, rt, data: dict[str, Any]) -> None:
    _lock_eventbrite_event(session, data["eventbrite_event_id"])
    event = session.scalar(
        select(ClubEvent).where(ClubEvent.eventbrite_id == data["eventbrite_event_id"]).with_for_update()
    )
    if event is None:
        log.info("eventbrite attendee kept until event %s arrives", data["eventbrite_event_id"])
        session.add(PendingEventbriteAttendee(eventbrite_event_id=data["eventbrite_event_id"], attendee=data))
        return
    _apply_attendee(session, rt, event, data)


def _apply_waiting_attendees(session: Session, rt, event: ClubEvent) -> None:
    """The attendees that arrived before this event, in the order they arrived (a later sync of the
    same person wins, as it would have)."""
    waiting = session.execute(
        delete(PendingEventbriteAttendee)
        .where(PendingEventbriteAttendee.eventbrite_event_id == event.eventbrite_id)
        .returning(PendingEventbriteAttendee.id, PendingEventbriteAttendee.attendee)
    ).all()
    for _id, data in sorted(waiting, key=lambda row: row[0]):
        _apply_attendee(session, rt, event, data)


#: How long an attendee waits for its event: events are synced within minutes of their attendees,
#: so one still missing after this is not coming (deleted, or not one of the organisation's).
ATTENDEE_WAITS = timedelta(days=30)


def drop_stale_attendees(session: Session, now: datetime) -> int:
    """The daily clean-up of attendees whose event never arrived; how many were dropped."""
    dropped = (
        session.execute(
            delete(PendingEventbriteAttendee).where(
                PendingEventbriteAttendee.received_at < now - ATTENDEE_WAITS
            )
        ).rowcount
        or 0
    )
    if dropped:
        log.info("dropped %d Eventbrite attendee(s) whose event never arrived", dropped)
    return dropped


def _apply_attendee(session: Session, rt, event: ClubEvent, data: dict[str, Any]) -> None:
    person = _match_member(session, data)
    email = person.email if person else data["email"].strip().lower()
    row = session.scalar(
        select(EventRsvp).where(EventRsvp.event_id == event.id, EventRsvp.user_email == email)
    )
    before = row.status if row else None
    if row is None:
        row = EventRsvp(event_id=event.id, user_email=email)
        session.add(row)
    row.source = "eventbrite"
    row.status = data["status"]
    row.guest_count = min(data["guest_count"], 20)
    row.checked_in = data["checked_in"]
    row.ticket_class = data.get("ticket_class")
    row.order_date = datetime.fromisoformat(data["order_date"]) if data.get("order_date") else None
    row.matched_user_id = person.member_id if person else None
    row.attendee_name = data.get("name") or (person.name if person else None)
    row.cancelled_at = func.now() if data["status"] == "cancelled" else None
    session.flush()
    session.refresh(row)
    if before != row.status and person is not None:
        rt.publish(session, f"booking.rsvp.{row.status}", rsvp_data(event, row, person, None))
