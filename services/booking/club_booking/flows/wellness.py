"""Wellness classes and enrolments (domain.md §9): staff create classes (a recurring one as its
occurrences); members enrol, or join the waitlist when the class is full and keeps one. A cancelled
seat promotes the oldest waitlisted member at once, under a row lock on the class, so it happens
exactly once whatever races it — except inside the late-cancel window, where the seat stays free for
anyone to take."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.clubtime import InvalidLocalTime
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from .. import queries
from ..domain import events as rules
from ..domain.timeranges import booking_span
from ..models import AvailabilityBlock, Resource, WellnessClass, WellnessEnrollment
from .events import check_member_may_attend, refuse, resolve_attendee


def create_classes(
    session: Session, rt: Runtime, body: dict[str, Any], actor_email: str
) -> list[WellnessClass]:
    """One class, or a recurring class's occurrences (`repeat`: every n days, count times) sharing
    a `series_id`."""
    repeat = body.get("repeat")
    try:
        offsets = (
            rules.occurrences(body["date"], every_days=repeat["every_days"], count=repeat["count"])
            if repeat
            else [0]
        )
    except rules.Refused as exc:
        raise refuse(exc) from None
    if body.get("google_calendar_id") is not None:
        if len(offsets) > 1:
            raise Problem(422, "A calendar id names one occurrence.", code="INVALID_RECURRENCE")
        if session.scalar(
            select(WellnessClass.id).where(WellnessClass.google_calendar_id == body["google_calendar_id"])
        ):
            raise Problem(409, "Another class has this calendar id.", code="DUPLICATE_CLASS")
    series_id = uuid.uuid4().hex if repeat else None
    made = []
    for offset in offsets:
        day = body["date"] + timedelta(days=offset)
        try:
            span = booking_span(day, body["start_time"], body["duration_minutes"], rt.tz)
        except InvalidLocalTime as exc:
            raise Problem(422, f"{day}: {exc}", code="INVALID_LOCAL_TIME") from None
        cls = WellnessClass(
            series_id=series_id,
            google_calendar_id=body.get("google_calendar_id"),
            title=body["title"],
            instructor=body.get("instructor"),
            category=body["category"],
            class_date=day,
            start_time=body["start_time"],
            duration_minutes=body["duration_minutes"],
            starts_at=span.start,
            ends_at=span.end,
            capacity=body["capacity"],
            waitlist_enabled=body["waitlist_enabled"],
            location=body.get("location"),
            block_bays=body.get("block_bays", False),
            block_conference_room=body.get("block_conference_room", False),
            created_by=actor_email,
        )
        session.add(cls)
        made.append(cls)
    session.flush()
    for cls in made:
        sync_class_blocks(session, cls, actor_email, rt.tz)
    return made


def sync_class_blocks(session: Session, cls: WellnessClass, actor_email: str | None, tz) -> None:
    """The class's availability blocks (type 'wellness') over its time on the resources its flags
    name; none once it is cancelled. A slot another block already holds is left to it."""
    session.execute(delete(AvailabilityBlock).where(AvailabilityBlock.wellness_class_id == cls.id))
    kinds = [
        k for k, on in (("simulator", cls.block_bays), ("conference_room", cls.block_conference_room)) if on
    ]
    if cls.status != "scheduled" or not kinds:
        return
    end_time = cls.ends_at.astimezone(tz).time()
    resources = session.scalars(
        select(Resource).where(Resource.is_active.is_(True), Resource.type.in_(kinds)).order_by(Resource.id)
    ).all()
    held = set(
        session.scalars(
            select(AvailabilityBlock.resource_id).where(
                AvailabilityBlock.block_date == cls.class_date,
                AvailabilityBlock.start_time == cls.start_time,
                AvailabilityBlock.end_time == end_time,
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
                block_date=cls.class_date,
                start_time=cls.start_time,
                end_time=end_time,
                starts_at=cls.starts_at,
                ends_at=cls.ends_at,
                block_type="wellness",
                wellness_class_id=cls.id,
                notes=f"Wellness: {cls.title}"[:1000],
                created_by=actor_email,
            )
        )
    session.flush()


#: Fields whose change moves the class in time (its instants and blocks are recomputed).
_TIMING = ("date", "start_time", "duration_minutes")


def update_class(
    session: Session, rt: Runtime, class_id: int, body: dict[str, Any], actor_email: str, now: datetime
) -> WellnessClass:
    """Staff edit a class: a move recomputes its instants and moves its blocks; the capacity may not
    drop below the seats taken (409 CAPACITY_BELOW_ENROLMENTS), and seats it adds go to the
    waitlist at once (outside the late-cancel window). An imported class is then kept as edited
    here. Publishes booking.wellness_class.updated when anything changed."""
    cls = lock_class(session, class_id)
    if cls is None:
        raise Problem(404, "No such class.", code="UNKNOWN_CLASS")
    if cls.status != "scheduled":
        raise Problem(409, "A cancelled class cannot be edited.", code="STATE_CONFLICT")
    changed = [
        key for key, value in body.items() if getattr(cls, "class_date" if key == "date" else key) != value
    ]
    if not changed:
        return cls
    for key in changed:
        setattr(cls, "class_date" if key == "date" else key, body[key])
    if any(key in _TIMING for key in changed):
        try:
            span = booking_span(cls.class_date, cls.start_time, cls.duration_minutes, rt.tz)
        except InvalidLocalTime as exc:
            raise Problem(422, str(exc), code="INVALID_LOCAL_TIME") from None
        cls.starts_at, cls.ends_at = span.start, span.end
    try:
        rules.check_class_capacity(cls.capacity, counts(session, cls.id).get("confirmed", 0))
    except rules.Refused as exc:
        raise refuse(exc) from None
    if cls.google_calendar_id is not None:
        cls.locally_edited = True
    session.flush()
    sync_class_blocks(session, cls, actor_email, rt.tz)
    if not rules.is_late_cancel(cls.starts_at, now, queries.settings(session).late_cancel_minutes):
        while promote(session, rt, cls, now) is not None:
            pass
    rt.publish(session, "booking.wellness_class.updated", class_data(session, cls, changed, actor_email))
    return cls


def class_data(
    session: Session, cls: WellnessClass, changed: list[str], actor_email: str | None
) -> dict[str, Any]:
    people = session.execute(
        select(WellnessEnrollment.status, WellnessEnrollment.user_email)
        .where(
            WellnessEnrollment.class_id == cls.id,
            WellnessEnrollment.status.in_(("confirmed", "waitlisted")),
        )
        .order_by(WellnessEnrollment.id)
    ).all()
    return {
        "class_id": cls.id,
        "title": cls.title,
        "category": cls.category,
        "instructor": cls.instructor,
        "location": cls.location,
        "date": cls.class_date.isoformat(),
        "start_time": cls.start_time.strftime("%H:%M"),
        "starts_at": cls.starts_at.isoformat(),
        "ends_at": cls.ends_at.isoformat(),
        "duration_minutes": cls.duration_minutes,
        "capacity": cls.capacity,
        "waitlist_enabled": cls.waitlist_enabled,
        "blocked_resource_ids": sorted(
            session.scalars(
                select(AvailabilityBlock.resource_id).where(AvailabilityBlock.wellness_class_id == cls.id)
            )
        ),
        "changed_fields": changed,
        "changed_by": actor_email,
        "enrolled_emails": [email for status, email in people if status == "confirmed"],
        "waitlisted_emails": [email for status, email in people if status == "waitlisted"],
    }


def counts(session: Session, class_id: int) -> dict[str, int]:
    rows = session.execute(
        select(WellnessEnrollment.status, func.count())
        .where(WellnessEnrollment.class_id == class_id)
        .group_by(WellnessEnrollment.status)
    ).all()
    return dict(rows)


def lock_class(session: Session, class_id: int) -> WellnessClass | None:
    return session.scalar(select(WellnessClass).where(WellnessClass.id == class_id).with_for_update())


def enrollment_data(
    session: Session,
    cls: WellnessClass,
    row: WellnessEnrollment,
    *,
    previous: str | None,
    late: bool = False,
    actor_email: str | None,
) -> dict[str, Any]:
    person = queries.person_by_email(session, row.user_email)
    return {
        "enrollment_id": row.id,
        "class_id": cls.id,
        "class_title": cls.title,
        "category": cls.category,
        "instructor": cls.instructor,
        "member_id": row.member_id,
        "member_email": row.user_email,
        "member_name": person.name if person else None,
        "status": row.status,
        "previous_status": previous,
        "date": cls.class_date.isoformat(),
        "start_time": cls.start_time.strftime("%H:%M"),
        "starts_at": cls.starts_at.isoformat(),
        "duration_minutes": cls.duration_minutes,
        "late": late,
        "changed_by": actor_email,
    }


def enrol(
    session: Session, rt: Runtime, class_id: int, actor: Identity, member_email: str | None, now: datetime
) -> tuple[WellnessEnrollment, bool]:
    """A seat, or a waitlist place when full (409 CLASS_FULL without a waitlist); (row, changed)."""
    cls = lock_class(session, class_id)
    if cls is None:
        raise Problem(404, "No such class.", code="UNKNOWN_CLASS")
    if cls.status != "scheduled":
        raise Problem(409, "This class has been cancelled.", code="CLASS_CANCELLED")
    if cls.starts_at <= now:
        raise Problem(409, "This class has already started.", code="CLASS_STARTED")
    email, person = resolve_attendee(session, actor, member_email)
    if not (person and person.is_staff):
        check_member_may_attend(person, queries.settings(session))
        tier = queries.tier(session, person.tier)
        if tier is None or not tier.is_active or not tier.can_book_wellness:
            raise Problem(403, "Your membership does not include wellness classes.", code="TIER_NOT_ALLOWED")
    row = session.scalar(
        select(WellnessEnrollment).where(
            WellnessEnrollment.class_id == cls.id, WellnessEnrollment.user_email == email
        )
    )
    if row is not None and row.status in ("confirmed", "waitlisted"):
        return row, False
    try:
        status = rules.enrolment_status(
            confirmed=counts(session, cls.id).get("confirmed", 0),
            capacity=cls.capacity,
            waitlist_enabled=cls.waitlist_enabled,
        )
    except rules.Refused as exc:
        raise refuse(exc) from None
    previous = row.status if row else None
    if row is None:
        row = WellnessEnrollment(class_id=cls.id, user_email=email)
        session.add(row)
    row.status = status
    row.member_id = person.member_id if person else None
    row.waitlisted_at = now if status == "waitlisted" else None
    row.promoted_at = None
    row.cancelled_at = None
    session.flush()
    rt.publish(
        session,
        f"booking.enrollment.{status}",
        enrollment_data(session, cls, row, previous=previous, actor_email=actor.email),
    )
    return row, True


def cancel(
    session: Session, rt: Runtime, class_id: int, actor: Identity, member_email: str | None, now: datetime
) -> WellnessEnrollment:
    """Give up a seat or a waitlist place (repeating it changes nothing). A confirmed seat given up
    before the late-cancel window goes to the oldest waitlisted member at once."""
    cls = lock_class(session, class_id)
    if cls is None:
        raise Problem(404, "No such class.", code="UNKNOWN_CLASS")
    email, _person = resolve_attendee(session, actor, member_email)
    row = session.scalar(
        select(WellnessEnrollment).where(
            WellnessEnrollment.class_id == cls.id, WellnessEnrollment.user_email == email
        )
    )
    if row is None:
        raise Problem(404, "No enrolment in this class.", code="UNKNOWN_ENROLLMENT")
    previous = row.status
    done = session.execute(
        update(WellnessEnrollment)
        .where(WellnessEnrollment.id == row.id, WellnessEnrollment.status.in_(("confirmed", "waitlisted")))
        .values(status="cancelled", cancelled_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(row)
    if not done:
        return row
    late = rules.is_late_cancel(cls.starts_at, now, queries.settings(session).late_cancel_minutes)
    rt.publish(
        session,
        "booking.enrollment.cancelled",
        enrollment_data(session, cls, row, previous=previous, late=late, actor_email=actor.email),
    )
    if previous == "confirmed" and not late and cls.status == "scheduled":
        promote(session, rt, cls, now)
    return row


def promote(session: Session, rt: Runtime, cls: WellnessClass, now: datetime) -> WellnessEnrollment | None:
    """Seat the oldest waitlisted member while a seat is free (the caller holds the class's lock)."""
    if counts(session, cls.id).get("confirmed", 0) >= cls.capacity:
        return None
    nxt = session.scalar(
        select(WellnessEnrollment)
        .where(WellnessEnrollment.class_id == cls.id, WellnessEnrollment.status == "waitlisted")
        .order_by(WellnessEnrollment.waitlisted_at, WellnessEnrollment.id)
        .limit(1)
        .with_for_update()
    )
    if nxt is None:
        return None
    done = session.execute(
        update(WellnessEnrollment)
        .where(WellnessEnrollment.id == nxt.id, WellnessEnrollment.status == "waitlisted")
        .values(status="confirmed", promoted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        raise Problem(409, "The waitlist changed meanwhile; try again.", code="STATE_CONFLICT")
    session.refresh(nxt)
    rt.publish(
        session,
        "booking.enrollment.promoted",
        enrollment_data(session, cls, nxt, previous="waitlisted", actor_email=None),
    )
    return nxt


def cancel_class(
    session: Session, rt: Runtime, class_id: int, actor_email: str, now: datetime
) -> WellnessClass:
    """Staff cancel a class: every seat and waitlist place is cancelled and each member told
    (booking.enrollment.cancelled); repeating it changes nothing."""
    cls = lock_class(session, class_id)
    if cls is None:
        raise Problem(404, "No such class.", code="UNKNOWN_CLASS")
    if cls.status == "cancelled":
        return cls
    cls.status = "cancelled"
    sync_class_blocks(session, cls, actor_email, rt.tz)
    rows = session.scalars(
        select(WellnessEnrollment)
        .where(
            WellnessEnrollment.class_id == cls.id, WellnessEnrollment.status.in_(("confirmed", "waitlisted"))
        )
        .order_by(WellnessEnrollment.id)
        .with_for_update()
    ).all()
    for row in rows:
        previous = row.status
        row.status, row.cancelled_at = "cancelled", now
        session.flush()
        rt.publish(
            session,
            "booking.enrollment.cancelled",
            enrollment_data(session, cls, row, previous=previous, actor_email=actor_email),
        )
    session.flush()
    return cls
