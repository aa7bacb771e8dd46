"""QR check-in and walk-in visits (domain.md §4.8): staff scan a member's `MEMBER:<id>` code (or look
the member up by e-mail). A booking of that member today (as owner or player) is checked in by the
usual rule (402 while anyone owes money); otherwise the member is a walk-in: a `walk_in_visits` row
and booking.visit.recorded (membership counts the visit, integrations tells HubSpot, notifications
greets a trialing member's first visit). A second scan within two minutes is the same visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from .. import queries
from ..domain import visits as rules
from ..models import BookingParticipant, BookingRequest, WalkInVisit
from . import lifecycle
from .events import refuse

#: Bookings a member arriving today is checked into: a checked-in one answers a repeated scan, a
#: request still awaiting staff is refused by the check-in rule (409) rather than taken for a walk-in.
ARRIVABLE = ("pending", "pending_approval", "approved", "confirmed", "checked_in")


@dataclass(frozen=True)
class Arrival:
    kind: str  # "booking" | "visit"
    booking: BookingRequest | None
    visit: WalkInVisit | None
    #: Nothing new happened: the booking was already checked in, or the member was scanned moments ago.
    repeated: bool


def _who(session: Session, code: str | None, member_email: str | None) -> tuple[queries.Person, str]:
    if code is not None:
        try:
            member_id = rules.member_id_from_code(code)
        except rules.Refused as exc:
            raise refuse(exc) from None
        person = queries.person_by_id(session, member_id)
        method = "qr"
    else:
        person = queries.person_by_email(session, member_email)
        method = "manual"
    if person is None:
        raise Problem(404, "No member with that code.", code="UNKNOWN_MEMBER")
    return person, method


def todays_booking(session: Session, person: queries.Person, now: datetime, tz) -> BookingRequest | None:
    """The member's booking today (owner, a linked e-mail, or a player) that has not ended yet, the
    earliest: a scan right after checking in the morning's round answers with it, and never checks
    in the afternoon's early."""
    today = now.astimezone(tz).date()
    plays = exists().where(
        BookingParticipant.session_id == BookingRequest.session_id,
        BookingParticipant.user_id == person.member_id,
    )
    return session.scalar(
        select(BookingRequest)
        .where(
            BookingRequest.request_date == today,
            BookingRequest.status.in_(ARRIVABLE),
            BookingRequest.ends_at > now,
            or_(BookingRequest.user_email.in_(queries.emails_of(session, person.email)), plays),
        )
        .order_by(BookingRequest.starts_at, BookingRequest.id)
        .limit(1)
    )


def arrive(
    session: Session,
    rt: Runtime,
    actor: Identity,
    now: datetime,
    *,
    code: str | None = None,
    member_email: str | None = None,
) -> Arrival:
    person, method = _who(session, code, member_email)
    queries.lock_member(session, person.email)
    req = todays_booking(session, person, now, rt.tz)
    if req is not None:
        req, changed = lifecycle.check_in(session, rt, actor, req.id, now)
        return Arrival("booking", req, None, repeated=not changed)
    if not person.has_access:
        raise Problem(
            409,
            f"A membership that is {person.status} has no access to the club.",
            code="MEMBERSHIP_INACTIVE",
        )
    last = session.scalar(
        select(WalkInVisit)
        .where(WalkInVisit.member_id == person.member_id)
        .order_by(WalkInVisit.visited_at.desc(), WalkInVisit.id.desc())
        .limit(1)
    )
    if last is not None and rules.is_repeat_scan(last.visited_at, now):
        return Arrival("visit", None, last, repeated=True)
    visit = WalkInVisit(
        member_id=person.member_id,
        member_email=person.email,
        visited_at=now,
        checked_in_by=actor.email,
        method=method,
    )
    session.add(visit)
    session.flush()
    rt.publish(
        session,
        "booking.visit.recorded",
        {
            "visit_id": visit.id,
            "member_id": person.member_id,
            "member_email": person.email,
            "member_name": person.name,
            "member_status": person.status,
            "visited_at": now.isoformat(),
            "checked_in_by": actor.email,
            "method": method,
            "first_visit": last is None,
        },
    )
    return Arrival("visit", None, visit, repeated=False)
