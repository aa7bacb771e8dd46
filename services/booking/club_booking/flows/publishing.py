"""Event bodies (events/booking.py) built from the booking's rows, and publishing them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..models import (
    BookingGuest,
    BookingMember,
    BookingParticipant,
    BookingRequest,
    BookingSession,
    GuestPassHold,
    MemberProfile,
    Resource,
)
from ..queries import STAFF_ROLES, memo


def _hhmm(value) -> str:
    return value.strftime("%H:%M")


def _staff_emails(session: Session, emails: set[str]) -> set[str]:
    if not emails:
        return set()
    return set(
        session.scalars(
            select(MemberProfile.email).where(
                MemberProfile.email.in_(emails), MemberProfile.role.in_(STAFF_ROLES)
            )
        )
    )


def roster(session: Session, req: BookingRequest) -> list[dict[str, Any]]:
    """The booking's participants as the fee input lists them: the session's frozen roster once it
    exists, else the declared one (slot 1 = the owner). Read once per transaction until it writes:
    the event and the response of the same change list the same people."""
    known = memo(session)
    key = ("roster", req.id, req.session_id)
    if key not in known:
        known[key] = _read_roster(session, req)
    return [dict(p) for p in known[key]]


def _read_roster(session: Session, req: BookingRequest) -> list[dict[str, Any]]:
    if req.session_id is not None:
        rows = session.scalars(
            select(BookingParticipant)
            .where(BookingParticipant.session_id == req.session_id)
            .order_by(BookingParticipant.slot_number, BookingParticipant.id)
        ).all()
        return [
            {
                "participant_id": p.id,
                "type": p.participant_type,
                "user_id": p.user_id,
                "guest_id": p.guest_id,
                "email": p.email,
                "name": p.display_name,
                "slot": p.slot_number,
                "is_staff": p.is_staff,
                "is_placeholder": p.is_placeholder,
                "used_guest_pass": p.used_guest_pass,
                "payment_status": p.payment_status,
            }
            for p in rows
        ]
    members = session.scalars(
        select(BookingMember).where(BookingMember.booking_id == req.id).order_by(BookingMember.slot_number)
    ).all()
    guests = session.scalars(
        select(BookingGuest).where(BookingGuest.booking_id == req.id).order_by(BookingGuest.slot_number)
    ).all()
    held = session.scalar(select(GuestPassHold.passes_held).where(GuestPassHold.booking_id == req.id)) or 0
    staff = _staff_emails(session, {req.user_email} | {m.user_email for m in members})
    return _declared_roster(req, members, guests, held, staff)


def remember_declared_roster(
    session: Session,
    req: BookingRequest,
    members: list[BookingMember],
    guests: list[BookingGuest],
    held: int,
    staff: set[str],
) -> None:
    """The declared roster the transaction has just written, so that its event and its response
    do not read it back (forgotten, like every memo, at the transaction's next write)."""
    known = memo(session)
    known["roster", req.id, None] = _declared_roster(req, members, guests, held, staff)


def _declared_roster(
    req: BookingRequest,
    members: list[BookingMember],
    guests: list[BookingGuest],
    held: int,
    staff: set[str],
) -> list[dict[str, Any]]:
    members = sorted(members, key=lambda m: m.slot_number)
    guests = sorted(guests, key=lambda g: g.slot_number)
    people: list[dict[str, Any]] = []
    if not any(m.is_primary for m in members):
        people.append(_declared_owner(req, req.user_email in staff))
    for m in members:
        people.append(
            {
                "participant_id": None,
                "type": "owner" if m.is_primary else "member",
                "user_id": m.user_id,
                "guest_id": None,
                "email": m.user_email,
                "name": m.display_name,
                "slot": m.slot_number,
                "is_staff": m.user_email in staff,
                "is_placeholder": False,
                "used_guest_pass": False,
                "payment_status": None,
            }
        )
    for g in guests:
        covered = not g.is_placeholder and held > 0
        held -= 1 if covered else 0
        people.append(
            {
                "participant_id": None,
                "type": "guest",
                "user_id": None,
                "guest_id": None,
                "email": g.guest_email,
                "name": g.guest_name,
                "slot": g.slot_number,
                "is_staff": False,
                "is_placeholder": g.is_placeholder,
                "used_guest_pass": covered,
                "payment_status": None,
            }
        )
    return sorted(people, key=lambda p: p["slot"])


def _declared_owner(req: BookingRequest, is_staff: bool) -> dict[str, Any]:
    return {
        "participant_id": None,
        "type": "owner",
        "user_id": req.user_id,
        "guest_id": None,
        "email": req.user_email,
        "name": req.user_name,
        "slot": 1,
        "is_staff": is_staff,
        "is_placeholder": False,
        "used_guest_pass": False,
        "payment_status": None,
    }


def booking_data(session: Session, req: BookingRequest, source: str) -> dict[str, Any]:
    resource = session.get(Resource, req.resource_id) if req.resource_id else None
    return {
        "booking_id": req.id,
        "session_id": req.session_id,
        "status": req.status,
        "source": source,
        "member_id": req.user_id,
        "member_email": req.user_email,
        "member_name": req.user_name,
        "resource_id": req.resource_id,
        "resource_name": resource.name if resource else None,
        "resource_type": req.resource_type,
        "date": req.request_date.isoformat(),
        "start_time": _hhmm(req.start_time),
        "end_time": _hhmm(req.end_time),
        "starts_at": req.starts_at.isoformat(),
        "ends_at": req.ends_at.isoformat(),
        "duration_minutes": req.duration_minutes,
        "declared_player_count": req.declared_player_count,
        "roster_version": req.roster_version,
        "trackman_booking_id": req.trackman_booking_id,
        "participants": roster(session, req),
    }


def publish_booking(
    session: Session, rt: Runtime, event_type: str, req: BookingRequest, source: str, **extra: Any
) -> None:
    session.flush()
    rt.publish(session, event_type, {**booking_data(session, req, source), **extra})


def publish_session_created(
    session: Session, rt: Runtime, ses: BookingSession, booking_ids: list[int] | None = None
) -> None:
    """`booking_ids` when the caller knows them (a session it just made for one request)."""
    resource = session.get(Resource, ses.resource_id)
    if booking_ids is None:
        booking_ids = list(
            session.scalars(
                select(BookingRequest.id)
                .where(BookingRequest.session_id == ses.id)
                .order_by(BookingRequest.id)
            )
        )
    rt.publish(
        session,
        "booking.session.created",
        {
            "session_id": ses.id,
            "resource_id": ses.resource_id,
            "resource_type": resource.type,
            "date": ses.session_date.isoformat(),
            "start_time": _hhmm(ses.start_time),
            "end_time": _hhmm(ses.end_time),
            "starts_at": ses.starts_at.isoformat(),
            "ends_at": ses.ends_at.isoformat(),
            "duration_minutes": ses.duration_minutes,
            "source": ses.source,
            "trackman_booking_id": ses.trackman_booking_id,
            "booking_ids": booking_ids,
        },
    )


def notify_staff(
    session: Session,
    rt: Runtime,
    type_: str,
    title: str,
    message: str,
    *,
    link: str | None = None,
    urgent=False,
) -> None:
    """Ask notifications to tell every staff member (booking.notification.requested)."""
    rt.publish(
        session,
        "booking.notification.requested",
        {
            "audience": "staff",
            "email": None,
            "type": type_,
            "title": title[:200],
            "message": message,
            "link": link,
            "urgent": urgent,
            "channels": [],
        },
    )


def notify_member(session: Session, rt: Runtime, email: str, type_: str, title: str, message: str) -> None:
    rt.publish(
        session,
        "booking.notification.requested",
        {
            "audience": "member",
            "email": email,
            "type": type_,
            "title": title[:200],
            "message": message,
            "link": None,
            "urgent": False,
            "channels": [],
        },
    )


def audit(
    session: Session,
    rt: Runtime,
    actor_email: str | None,
    action: str,
    resource_type: str,
    resource_id: Any,
    details: dict[str, Any] | None = None,
    *,
    actor_type: str = "staff",
) -> None:
    """A staff action for the club-wide audit log (booking.audit.recorded → membership)."""
    rt.publish(
        session,
        "booking.audit.recorded",
        {
            "actor_type": actor_type,
            "actor_email": actor_email,
            "action": action,
            "resource_type": resource_type,
            "resource_id": str(resource_id) if resource_id is not None else None,
            "details": _jsonable(details or {}),
        },
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
