"""Sessions: find-or-create (idempotent, domain.md §4.1) and the roster copied into them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from .. import queries
from ..models import (
    BookingGuest,
    BookingMember,
    BookingParticipant,
    BookingRequest,
    BookingSession,
    Guest,
)
from .publishing import publish_session_created


def find_or_create(
    session: Session, rt: Runtime, req: BookingRequest, source: str
) -> tuple[BookingSession, bool]:
    """In order: the same TrackMan id; the same resource, date and exact start; the same resource and
    date with an overlapping range; else a new session. Then the request is linked to it."""
    assert req.resource_id is not None, "a session needs a resource"
    live = BookingSession.cancelled_at.is_(None)
    found = None
    if req.trackman_booking_id:
        found = session.scalar(
            select(BookingSession).where(BookingSession.trackman_booking_id == req.trackman_booking_id)
        )
    if found is None:
        # The exact start is one of the overlapping sessions: one query, the exact one first.
        found = session.scalar(
            select(BookingSession)
            .where(
                live,
                BookingSession.resource_id == req.resource_id,
                BookingSession.session_date == req.request_date,
                BookingSession.starts_at < req.ends_at,
                BookingSession.ends_at > req.starts_at,
            )
            .order_by((BookingSession.starts_at == req.starts_at).desc(), BookingSession.starts_at)
            .limit(1)
        )
    created = found is None
    if created:
        found = BookingSession(
            resource_id=req.resource_id,
            session_date=req.request_date,
            start_time=req.start_time,
            end_time=req.end_time,
            starts_at=req.starts_at,
            ends_at=req.ends_at,
            duration_minutes=req.duration_minutes,
            source=source,
            trackman_booking_id=req.trackman_booking_id,
        )
        session.add(found)
        session.flush()
    elif req.trackman_booking_id and not found.trackman_booking_id:
        found.trackman_booking_id = req.trackman_booking_id
    req.session_id = found.id
    session.flush()
    if created:
        copy_roster(session, req, found)
    else:
        ensure_owner(session, req, found)
    if created:
        publish_session_created(session, rt, found, [req.id])
    return found, created


def _participant_for_member(session: Session, email: str, name: str | None, slot: int, kind: str):
    person = queries.person_by_email(session, email)
    return BookingParticipant(
        participant_type=kind,
        user_id=person.member_id if person else None,
        email=person.email if person else email,
        display_name=(person.name if person else None) or name or email,
        slot_number=slot,
        is_staff=bool(person and person.is_staff),
        payment_status="pending",
    )


def _guest_row(session: Session, name: str | None, email: str | None) -> Guest:
    guest = None
    if email:
        guest = session.scalar(select(Guest).where(Guest.email == email).order_by(Guest.id).limit(1))
    if guest is None:
        guest = Guest(email=email, name=name)
        session.add(guest)
        session.flush()
    elif name and not guest.name:
        guest.name = name
    return guest


def copy_roster(session: Session, req: BookingRequest, ses: BookingSession) -> None:
    """The declared roster becomes the session's (frozen from now on). A "guest" whose e-mail is a
    member's becomes a member participant."""
    members = session.scalars(
        select(BookingMember).where(BookingMember.booking_id == req.id).order_by(BookingMember.slot_number)
    ).all()
    guests = session.scalars(
        select(BookingGuest).where(BookingGuest.booking_id == req.id).order_by(BookingGuest.slot_number)
    ).all()
    rows = [_participant_for_member(session, req.user_email, req.user_name, 1, "owner")]
    for m in members:
        if m.is_primary:
            continue
        rows.append(_participant_for_member(session, m.user_email, m.display_name, m.slot_number, "member"))
    for g in guests:
        person = queries.person_by_email(session, g.guest_email) if g.guest_email else None
        if person is not None and person.email != req.user_email:
            rows.append(_participant_for_member(session, person.email, g.guest_name, g.slot_number, "member"))
            continue
        guest = _guest_row(session, g.guest_name, g.guest_email)
        rows.append(
            BookingParticipant(
                participant_type="guest",
                guest_id=guest.id,
                email=g.guest_email,
                display_name=g.guest_name or g.guest_email or f"Guest {g.slot_number}",
                slot_number=g.slot_number,
                is_placeholder=g.is_placeholder,
                payment_status="pending",
            )
        )
    for row in rows:
        row.session_id = ses.id
        session.add(row)
    session.flush()


def ensure_owner(session: Session, req: BookingRequest, ses: BookingSession) -> None:
    """A request joining an existing session: its owner is on that session's roster."""
    present = session.scalar(
        select(BookingParticipant.id).where(
            BookingParticipant.session_id == ses.id, BookingParticipant.email == req.user_email
        )
    )
    if present:
        return
    top = session.scalar(
        select(func.max(BookingParticipant.slot_number)).where(BookingParticipant.session_id == ses.id)
    )
    owner = _participant_for_member(session, req.user_email, req.user_name, min((top or 0) + 1, 4), "member")
    owner.session_id = ses.id
    session.add(owner)
    session.flush()


def release_if_unused(session: Session, ses_id: int | None, now) -> None:
    """Cancel the session when no request still occupying it points to it (frees the bay)."""
    if ses_id is None:
        return
    from ..domain.status import OCCUPYING

    still = session.scalar(
        select(func.count()).where(BookingRequest.session_id == ses_id, BookingRequest.status.in_(OCCUPYING))
    )
    if not still:
        ses = session.get(BookingSession, ses_id)
        if ses is not None and ses.cancelled_at is None:
            ses.cancelled_at = now
            session.flush()
