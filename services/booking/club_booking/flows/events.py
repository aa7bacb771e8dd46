"""Club events and RSVPs (domain.md §9): staff create, edit and archive events; an event flagged to
block the bays or the conference room keeps availability blocks over its time; members RSVP with a
row lock on the event, so its capacity holds whatever replicas race."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.clubtime import InvalidLocalTime, to_utc
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from .. import queries
from ..domain import events as rules
from ..domain.timeranges import Span, lenient_utc
from ..models import AvailabilityBlock, ClubEvent, EventRsvp, Resource


def refuse(exc: rules.Refused) -> Problem:
    return Problem(exc.status, exc.detail, code=exc.code)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def event_span(day: date, start: time, end: time, tz: ZoneInfo) -> Span:
    """The event's instants: a start in the spring-forward gap is refused (422 INVALID_LOCAL_TIME);
    an end at or before the start is on the next day."""
    try:
        starts_at = to_utc(day, start, tz)
    except InvalidLocalTime as exc:
        raise Problem(422, str(exc), code="INVALID_LOCAL_TIME") from None
    end_day = day + timedelta(days=1) if end <= start else day
    return Span(starts_at, lenient_utc(end_day, end, tz))


# --- member checks -----------------------------------------------------------------------------


def check_member_may_attend(person: queries.Person | None, settings) -> None:
    """Like a booking: the waiver signed (fail closed) and a membership with access."""
    if (
        person is None
        or person.waiver_signed_at is None
        or (
            settings.waiver_current_version is not None
            and person.waiver_version != settings.waiver_current_version
        )
    ):
        raise Problem(403, "The liability waiver must be signed first.", code="WAIVER_REQUIRED")
    if not person.has_access:
        raise Problem(
            403, f"A membership that is {person.status} cannot sign up.", code="MEMBERSHIP_INACTIVE"
        )


def resolve_attendee(
    session: Session, actor: Identity, member_email: str | None
) -> tuple[str, queries.Person | None]:
    """(e-mail, profile): members act for themselves; staff may act for a member (or themselves)."""
    if actor.is_staff:
        email = (member_email or actor.email).strip().lower()
    else:
        if member_email and member_email.strip().lower() not in queries.emails_of(session, actor.email):
            raise Problem(403, "Members sign up only themselves.", code="FORBIDDEN")
        email = actor.email.strip().lower()
    person = queries.person_by_email(session, email)
    return (person.email if person else email), person


# --- events ------------------------------------------------------------------------------------


def visible_to(actor: Identity) -> tuple[str, ...]:
    return ("public", "members", "staff") if actor.is_staff else ("public", "members")


def blocked_resource_ids(session: Session, event: ClubEvent) -> list[int]:
    return list(
        session.scalars(
            select(AvailabilityBlock.resource_id)
            .where(AvailabilityBlock.event_id == event.id)
            .order_by(AvailabilityBlock.resource_id)
        )
    )


def sync_blocks(session: Session, event: ClubEvent, actor_email: str | None, *, refill: bool = True) -> None:
    """Rewrite the event's availability blocks: one per blocked resource over the event's time,
    none once the event is archived or its flags are off. A slot another block already holds (the
    same resource, day and times) is left to it; when this event gives up a slot, other events at
    exactly that time take it back, so the bay stays blocked for them."""
    gone = session.execute(
        delete(AvailabilityBlock)
        .where(AvailabilityBlock.event_id == event.id)
        .returning(AvailabilityBlock.block_date, AvailabilityBlock.start_time, AvailabilityBlock.end_time)
    ).all()
    if refill and gone:
        others = session.scalars(
            select(ClubEvent).where(
                ClubEvent.id != event.id,
                ClubEvent.is_active.is_(True),
                ClubEvent.block_bays.is_(True) | ClubEvent.block_conference_room.is_(True),
                tuple_(ClubEvent.event_date, ClubEvent.start_time, ClubEvent.end_time).in_(set(gone)),
            )
        ).all()
        for other in others:
            sync_blocks(session, other, None, refill=False)
    if not event.is_active:
        return
    kinds = [
        k
        for k, on in (("simulator", event.block_bays), ("conference_room", event.block_conference_room))
        if on
    ]
    if not kinds:
        return
    resources = session.scalars(
        select(Resource).where(Resource.is_active.is_(True), Resource.type.in_(kinds)).order_by(Resource.id)
    ).all()
    held = set(
        session.scalars(
            select(AvailabilityBlock.resource_id).where(
                AvailabilityBlock.block_date == event.event_date,
                AvailabilityBlock.start_time == event.start_time,
                AvailabilityBlock.end_time == event.end_time,
                AvailabilityBlock.closure_id.is_(None),
            )
        )
    )
    for resource in resources:
        if resource.id in held:
            continue
        session.add(
            AvailabilityBlock(
                resource_id=resource.id,
                block_date=event.event_date,
                start_time=event.start_time,
                end_time=event.end_time,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                block_type="event",
                event_id=event.id,
                notes=f"Event: {event.title}"[:1000],
                created_by=actor_email,
            )
        )
    session.flush()


def seats_taken(session: Session, event_id: int, *, excluding: int | None = None) -> int:
    q = select(func.coalesce(func.sum(1 + EventRsvp.guest_count), 0)).where(
        EventRsvp.event_id == event_id, EventRsvp.status == "confirmed"
    )
    if excluding is not None:
        q = q.where(EventRsvp.id != excluding)
    return int(session.scalar(q))


def event_data(session: Session, event: ClubEvent, actor_email: str | None) -> dict[str, Any]:
    attendees = session.scalars(
        select(EventRsvp.user_email)
        .where(EventRsvp.event_id == event.id, EventRsvp.status == "confirmed")
        .order_by(EventRsvp.id)
    ).all()
    return {
        "event_id": event.id,
        "title": event.title,
        "category": event.category,
        "location": event.location,
        "date": event.event_date.isoformat(),
        "start_time": _hhmm(event.start_time),
        "end_time": _hhmm(event.end_time),
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "max_capacity": event.max_capacity,
        "visibility": event.visibility,
        "requires_rsvp": event.requires_rsvp,
        "source": event.source,
        "eventbrite_id": event.eventbrite_id,
        "google_calendar_id": event.google_calendar_id,
        "blocked_resource_ids": blocked_resource_ids(session, event),
        "archived": not event.is_active,
        "changed_by": actor_email,
        "attendee_emails": list(attendees),
    }


def _unique_ids_free(session: Session, body: dict[str, Any], own_id: int | None = None) -> None:
    for column in ("eventbrite_id", "google_calendar_id"):
        value = body.get(column)
        if value is None:
            continue
        other = session.scalar(select(ClubEvent.id).where(getattr(ClubEvent, column) == value))
        if other is not None and other != own_id:
            raise Problem(409, f"Another event has this {column}.", code="DUPLICATE_EVENT")


def create_event(session: Session, rt: Runtime, body: dict[str, Any], actor_email: str) -> ClubEvent:
    _unique_ids_free(session, body)
    span = event_span(body["date"], body["start_time"], body["end_time"], rt.tz)
    fields = {k: v for k, v in body.items() if k not in ("date",)}
    event = ClubEvent(
        **fields,
        event_date=body["date"],
        starts_at=span.start,
        ends_at=span.end,
        created_by=actor_email,
    )
    session.add(event)
    session.flush()
    sync_blocks(session, event, actor_email)
    rt.publish(session, "booking.event.created", event_data(session, event, actor_email))
    return event


def lock_event(session: Session, event_id: int) -> ClubEvent | None:
    return session.scalar(select(ClubEvent).where(ClubEvent.id == event_id).with_for_update())


def update_event(
    session: Session, rt: Runtime, event_id: int, body: dict[str, Any], actor_email: str
) -> ClubEvent:
    event = lock_event(session, event_id)
    if event is None:
        raise Problem(404, "No such event.", code="UNKNOWN_EVENT")
    if not event.is_active:
        raise Problem(409, "An archived event cannot be edited.", code="STATE_CONFLICT")
    changed = False
    for key, value in body.items():
        column = "event_date" if key == "date" else key
        if getattr(event, column) != value:
            setattr(event, column, value)
            changed = True
    if not changed:
        return event
    span = event_span(event.event_date, event.start_time, event.end_time, rt.tz)
    event.starts_at, event.ends_at = span.start, span.end
    if event.max_capacity is not None and seats_taken(session, event.id) > event.max_capacity:
        raise Problem(409, "More places are already taken than that capacity.", code="CAPACITY_BELOW_RSVPS")
    if event.source != "manual":
        event.locally_edited = True
    session.flush()
    sync_blocks(session, event, actor_email)
    rt.publish(session, "booking.event.updated", event_data(session, event, actor_email))
    return event


def archive_event(session: Session, rt: Runtime, event_id: int, actor_email: str, now: datetime) -> ClubEvent:
    """Archive (cancel) an event: its blocks go; repeating it changes nothing."""
    event = session.get(ClubEvent, event_id)
    if event is None:
        raise Problem(404, "No such event.", code="UNKNOWN_EVENT")
    done = session.execute(
        update(ClubEvent)
        .where(ClubEvent.id == event_id, ClubEvent.is_active.is_(True))
        .values(is_active=False, archived_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(event)
    if not done:
        return event
    sync_blocks(session, event, actor_email)
    rt.publish(session, "booking.event.cancelled", event_data(session, event, actor_email))
    return event


# --- RSVPs -------------------------------------------------------------------------------------


def rsvp_data(
    event: ClubEvent, rsvp: EventRsvp, person: queries.Person | None, actor_email: str | None
) -> dict[str, Any]:
    return {
        "rsvp_id": rsvp.id,
        "event_id": event.id,
        "event_title": event.title,
        "member_id": rsvp.matched_user_id,
        "member_email": rsvp.user_email,
        "member_name": person.name if person else rsvp.attendee_name,
        "status": rsvp.status,
        "guest_count": rsvp.guest_count,
        "source": rsvp.source,
        "location": event.location,
        "date": event.event_date.isoformat(),
        "start_time": _hhmm(event.start_time),
        "starts_at": event.starts_at.isoformat(),
        "changed_by": actor_email,
    }


def rsvp(
    session: Session, rt: Runtime, event_id: int, actor: Identity, body: dict[str, Any], now: datetime
) -> tuple[EventRsvp, bool]:
    """Confirm a place (and guests' places) at an event; (rsvp, changed). The event row is locked
    first, so the seats counted are the seats taken: a full event is 409 AT_CAPACITY."""
    event = lock_event(session, event_id)
    if event is None or event.visibility not in visible_to(actor):
        raise Problem(404, "No such event.", code="UNKNOWN_EVENT")
    try:
        rules.check_rsvp_open(is_active=event.is_active, starts_at=event.starts_at, now=now)
    except rules.Refused as exc:
        raise refuse(exc) from None
    email, person = resolve_attendee(session, actor, body.get("member_email"))
    if not (person and person.is_staff):
        check_member_may_attend(person, queries.settings(session))
    existing = session.scalar(
        select(EventRsvp).where(EventRsvp.event_id == event.id, EventRsvp.user_email == email)
    )
    guests = body.get("guest_count", 0)
    if existing is not None and existing.status == "confirmed" and existing.guest_count == guests:
        return existing, False
    try:
        rules.check_rsvp_capacity(
            event.max_capacity,
            seats_taken(session, event.id, excluding=existing.id if existing else None),
            1 + guests,
        )
    except rules.Refused as exc:
        raise refuse(exc) from None
    if existing is None:
        existing = EventRsvp(event_id=event.id, user_email=email, source="local")
        session.add(existing)
    existing.status = "confirmed"
    existing.guest_count = guests
    existing.cancelled_at = None
    existing.matched_user_id = person.member_id if person else None
    existing.attendee_name = person.name if person else None
    session.flush()
    rt.publish(session, "booking.rsvp.confirmed", rsvp_data(event, existing, person, actor.email))
    return existing, True


def cancel_rsvp(
    session: Session, rt: Runtime, event_id: int, actor: Identity, member_email: str | None, now: datetime
) -> EventRsvp:
    """Give up a place (repeating it changes nothing)."""
    event = lock_event(session, event_id)
    if event is None or event.visibility not in visible_to(actor):
        raise Problem(404, "No such event.", code="UNKNOWN_EVENT")
    email, person = resolve_attendee(session, actor, member_email)
    row = session.scalar(
        select(EventRsvp).where(EventRsvp.event_id == event.id, EventRsvp.user_email == email)
    )
    if row is None:
        raise Problem(404, "No RSVP to this event.", code="UNKNOWN_RSVP")
    done = session.execute(
        update(EventRsvp)
        .where(EventRsvp.id == row.id, EventRsvp.status.in_(("confirmed", "waitlisted")))
        .values(status="cancelled", cancelled_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(row)
    if done:
        rt.publish(session, "booking.rsvp.cancelled", rsvp_data(event, row, person, actor.email))
    return row
