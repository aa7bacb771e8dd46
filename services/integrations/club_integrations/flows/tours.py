"""Tours: free slots, public booking (one tour per slot, whatever the race), staff moves."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from club_shared.clubtime import day_bounds
from club_shared.jobs import enqueue as enqueue_job
from club_shared.runtime import Runtime

from ..domain import hubspot as hubspot_rules
from ..domain import tours as rules
from ..domain.tours import TourRefused
from ..models import JOBS, CalendarEvent, Tour
from . import common
from .hubspot_queue import enqueue


def tour_hours(session: Session) -> tuple[time, time]:
    return rules.hours(common.setting(session, "tours.hours"))


def busy(session: Session, start: datetime, end: datetime, *, except_tour: int | None = None) -> list[tuple]:
    """What occupies the tour slot times: tours holding a slot, and the tours calendar's events that
    are not our own tours."""
    tours = select(Tour.scheduled_at, Tour.ends_at).where(
        Tour.status.in_(rules.HOLDING), Tour.scheduled_at < end, Tour.ends_at > start
    )
    if except_tour is not None:
        tours = tours.where(Tour.id != except_tour)
    calendar = select(CalendarEvent.starts_at, CalendarEvent.ends_at).where(
        CalendarEvent.calendar == "tours",
        CalendarEvent.status != "cancelled",
        CalendarEvent.record_type.is_(None),
        CalendarEvent.starts_at < end,
        CalendarEvent.ends_at > start,
    )
    return [tuple(r) for r in session.execute(tours).all()] + [
        tuple(r) for r in session.execute(calendar).all()
    ]


def availability(runtime: Runtime, session: Session, day: date, now: datetime) -> list[rules.Slot]:
    start, end = day_bounds(day, runtime.tz)
    return rules.free_slots(day, tour_hours(session), busy(session, start, end), runtime.tz, now)


def _lock_day(session: Session, day: date) -> None:
    """Serialise bookings of one club date: two visitors racing for a slot, one wins."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"tours:{day.isoformat()}"})


def _take_slot(runtime: Runtime, session: Session, day: date, start: time, now: datetime, *, tour_id=None):
    slot = rules.slot_at(day, start, tour_hours(session), runtime.tz)
    if slot.starts_at <= now:
        raise TourRefused(422, "TOUR_IN_PAST", "That slot has already started.")
    _lock_day(session, day)
    if busy(session, slot.starts_at, slot.ends_at, except_tour=tour_id):
        raise TourRefused(409, "SLOT_TAKEN", "That tour slot is taken; pick another.")
    return slot


def book(runtime: Runtime, session: Session, body: dict[str, Any], now: datetime, *, by: str | None) -> Tour:
    """A visitor (or staff) books a free 30-minute slot: the tour is scheduled."""
    slot = _take_slot(runtime, session, body["date"], body["start_time"], now)
    tour = Tour(
        visitor_name=body["name"].strip(),
        visitor_email=body["email"],
        visitor_phone=body.get("phone"),
        notes=body.get("notes"),
        status="scheduled",
        source="staff" if by else "public",
        created_by=by,
        created_at=now,
        updated_at=now,
        **_when(slot, body["date"]),
    )
    session.add(tour)
    session.flush()
    push(session, tour.id)
    booked(session, tour)
    runtime.publish(
        session,
        "integrations.tour.booked",
        {
            "tour_id": tour.id,
            "visitor_name": tour.visitor_name,
            "visitor_email": tour.visitor_email,
            "date": body["date"],
            "start_time": slot.start_time,
            "end_time": slot.end_time,
            "starts_at": slot.starts_at,
            "source": tour.source,
        },
    )
    when = f"{body['date'].isoformat()} {slot.start_time}"
    common.alert_staff(
        runtime,
        session,
        "tour_scheduled",
        f"Tour booked: {tour.visitor_name}",
        f"{tour.visitor_name} ({tour.visitor_email}) booked a tour for {when}.",
        link=f"/staff/tours/{tour.id}",
    )
    return tour


def _when(slot: rules.Slot, day: date) -> dict[str, Any]:
    return {
        "scheduled_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "tour_date": day,
        "start_time": time.fromisoformat(slot.start_time),
        "end_time": time.fromisoformat(slot.end_time),
    }


def reschedule(runtime: Runtime, session: Session, tour: Tour, day: date, start: time, now: datetime) -> None:
    if tour.status not in ("pending", "scheduled"):
        raise TourRefused(409, "STATE_CONFLICT", f"A {tour.status} tour cannot be rescheduled.")
    slot = _take_slot(runtime, session, day, start, now, tour_id=tour.id)
    for key, value in _when(slot, day).items():
        setattr(tour, key, value)
    was_booked = tour.status == "scheduled"
    tour.status = "scheduled"
    tour.updated_at = now
    push(session, tour.id)
    if not was_booked:
        booked(session, tour)


def push(session: Session, tour_id: int) -> None:
    """Put the tour on the tours calendar after this transaction (the worker; off without Google)."""
    enqueue_job(session, JOBS, "calendar_push_tour", {"tour_id": tour_id})


def booked(session: Session, tour: Tour) -> None:
    """A tour now has its slot: the visitor's HubSpot deal moves on to tour_booked (the queue)."""
    if tour.visitor_email:
        enqueue(
            session,
            "sync_tour",
            tour.visitor_email,
            {"tour_id": tour.id},
            key=hubspot_rules.tour_booked_key(tour.id),
        )


def move(
    session: Session, tour: Tour, action: str, now: datetime, *, by: str, reason: str | None = None
) -> bool:
    """Apply a staff action; False when it had already happened (a no-op)."""
    _starts, target = rules.ACTIONS[action]
    if tour.status == target:
        return False
    rules.check_move(tour.status, action)
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if action == "check_in":
        values.update(checked_in_at=now, checked_in_by=by)
    elif action == "complete":
        values["completed_at"] = now
    elif action == "cancel":
        values.update(cancelled_at=now, cancel_reason=reason)
    changed = session.execute(
        update(Tour).where(Tour.id == tour.id, Tour.status == tour.status).values(**values)
    ).rowcount
    if not changed:
        raise TourRefused(409, "STATE_CONFLICT", "The tour changed meanwhile; reload it.")
    session.refresh(tour)
    if action == "cancel" and tour.google_calendar_id:
        push(session, tour.id)
    return True


def stale_count(session: Session, now: datetime) -> int:
    return session.scalar(select(func.count()).where(Tour.status == "scheduled", Tour.ends_at <= now)) or 0
