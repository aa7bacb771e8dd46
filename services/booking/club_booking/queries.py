"""Reads the booking workflows share: settings, resources, what occupies a bay, member read models.

Plain functions over a SQLAlchemy session; the rules themselves are in `domain/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    event,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import ORMExecuteState, Session

from .domain.availability import Busy
from .domain.settings import BookingSettings
from .domain.status import OCCUPYING
from .domain.timeranges import Span
from .models import (
    AvailabilityBlock,
    BookingMember,
    BookingParticipant,
    BookingRequest,
    BookingSession,
    ClubSetting,
    MemberEmail,
    MemberProfile,
    Resource,
    TierLimits,
)

STAFF_ROLES = ("staff", "admin", "golf_instructor")

#: Nothing booked lasts longer than this (bookings ≤ 1440 minutes, blocks ≤ a 25-hour day): a lower
#: bound on `starts_at` lets the (resource, starts_at) indexes answer an overlap query from a narrow
#: range instead of every earlier row.
LONGEST = timedelta(days=2)
ACCESS_STATUSES = ("active", "trialing", "past_due")


# --- reads remembered for one unit of work -----------------------------------------------------

#: `session.info` key of what this transaction has already read (people, rosters). Creating or
#: approving a booking asks for the same member and roster several times; the first answer stands
#: until the transaction writes something other than an event (a handler that updates a profile and
#: reads it again sees the new row).
_MEMO = "club_booking.memo"


def memo(session: Session) -> dict[Any, Any]:
    return session.info.setdefault(_MEMO, {})


def _is_outbox(obj: Any) -> bool:
    return getattr(obj, "__tablename__", None) == "outbox"


@event.listens_for(Session, "after_flush")
def _forget_after_flush(session: Session, _context) -> None:
    if _MEMO in session.info and not all(
        _is_outbox(obj) for obj in chain(session.new, session.dirty, session.deleted)
    ):
        del session.info[_MEMO]


@event.listens_for(Session, "do_orm_execute")
def _forget_after_write(state: ORMExecuteState) -> None:
    if _MEMO in state.session.info and (state.is_insert or state.is_update or state.is_delete):
        target = getattr(state.statement, "table", None)
        if getattr(target, "name", None) != "outbox":
            del state.session.info[_MEMO]


def settings(session: Session) -> BookingSettings:
    rows = session.execute(select(ClubSetting.key, ClubSetting.value)).all()
    return BookingSettings.from_rows({key: value for key, value in rows})


def active_resources(session: Session, resource_id: int | None = None) -> list[Resource]:
    query = select(Resource).where(Resource.is_active.is_(True)).order_by(Resource.sort_order, Resource.id)
    if resource_id is not None:
        query = query.where(Resource.id == resource_id)
    return list(session.scalars(query))


# --- what occupies a resource ------------------------------------------------------------------


def _occupying_request_exists(session_id_column):
    return exists().where(
        BookingRequest.session_id == session_id_column, BookingRequest.status.in_(OCCUPYING)
    )


def occupancy(
    session: Session,
    resource_ids: Iterable[int],
    span: Span,
    *,
    exclude_request_id: int | None = None,
    exclude_session_id: int | None = None,
) -> dict[int, list[Busy]]:
    """Everything that blocks each resource somewhere in `span`: requests in an occupying status,
    sessions without an occupying request (TrackMan bookings arrive as sessions) until cancelled,
    availability blocks (closures write blocks). domain.md §4.3. One round trip: availability and
    every create, approve and reschedule ask it."""
    ids = list(resource_ids)
    found: dict[int, list[Busy]] = {rid: [] for rid in ids}
    if not ids:
        return found
    statement = _occupancy_statement(exclude_request_id is not None, exclude_session_id is not None)
    params = {
        "ids": ids,
        "start": span.start,
        "end": span.end,
        "floor": span.start - LONGEST,
        "exclude_request_id": exclude_request_id,
        "exclude_session_id": exclude_session_id,
    }
    for row in session.execute(statement, params):
        busy_span = Span(row.starts_at, row.ends_at)
        if row.kind == "booking":
            busy = Busy(
                busy_span,
                "booking",
                details={
                    "booking_id": row.id,
                    "status": row.label,
                    "owner_email": row.text,
                    "session_id": row.other_id,
                },
            )
        elif row.kind == "session":
            busy = Busy(
                busy_span,
                "session",
                details={"session_id": row.id, "source": row.label, "is_unmatched": row.flag},
            )
        else:
            busy = Busy(
                busy_span,
                "closure" if row.label == "closure" else "block",
                details={
                    "block_id": row.id,
                    "block_type": row.label,
                    "closure_id": row.other_id,
                    "notes": row.text,
                },
            )
        found[row.resource_id].append(busy)
    return found


@cache
def _occupancy_statement(exclude_request: bool, exclude_session: bool):
    """The occupancy query, built once per shape (its values are bound at execution)."""
    ids = bindparam("ids", expanding=True)
    start, end, floor = bindparam("start"), bindparam("end"), bindparam("floor")
    no_text, no_int = null().cast(String), null().cast(Integer)
    requests = select(
        literal("booking").label("kind"),
        BookingRequest.id,
        BookingRequest.resource_id,
        BookingRequest.starts_at,
        BookingRequest.ends_at,
        BookingRequest.status.label("label"),
        BookingRequest.user_email.label("text"),
        BookingRequest.session_id.label("other_id"),
        null().label("flag"),
    ).where(
        BookingRequest.resource_id.in_(ids),
        BookingRequest.status.in_(OCCUPYING),
        BookingRequest.starts_at < end,
        BookingRequest.starts_at > floor,
        BookingRequest.ends_at > start,
    )
    if exclude_request:
        requests = requests.where(BookingRequest.id != bindparam("exclude_request_id"))
    sessions = select(
        literal("session"),
        BookingSession.id,
        BookingSession.resource_id,
        BookingSession.starts_at,
        BookingSession.ends_at,
        BookingSession.source,
        no_text,
        no_int,
        BookingSession.is_unmatched,
    ).where(
        BookingSession.resource_id.in_(ids),
        BookingSession.cancelled_at.is_(None),
        BookingSession.starts_at < end,
        BookingSession.starts_at > floor,
        BookingSession.ends_at > start,
        ~_occupying_request_exists(BookingSession.id),
    )
    if exclude_session:
        sessions = sessions.where(BookingSession.id != bindparam("exclude_session_id"))
    if exclude_request:
        # The request being approved may already own a session (a repeat): that one is not a clash.
        sessions = sessions.where(
            ~exists().where(
                BookingRequest.session_id == BookingSession.id,
                BookingRequest.id == bindparam("exclude_request_id"),
            )
        )
    blocks = select(
        literal("block"),
        AvailabilityBlock.id,
        AvailabilityBlock.resource_id,
        AvailabilityBlock.starts_at,
        AvailabilityBlock.ends_at,
        AvailabilityBlock.block_type,
        AvailabilityBlock.notes,
        AvailabilityBlock.closure_id,
        null(),
    ).where(
        AvailabilityBlock.resource_id.in_(ids),
        AvailabilityBlock.starts_at < end,
        AvailabilityBlock.starts_at > floor,
        AvailabilityBlock.ends_at > start,
    )
    return union_all(requests, sessions, blocks)


def lock_resource(session: Session, resource_id: int) -> None:
    """Serialise the checks of everyone booking this resource until the transaction ends."""
    session.execute(text("SELECT pg_advisory_xact_lock(7210101, :id)"), {"id": resource_id})


def lock_member(session: Session, email: str) -> None:
    """Serialise one member's bookings (taken after any resource lock: resource first, then member)."""
    session.execute(text("SELECT pg_advisory_xact_lock(7210102, hashtext(:email))"), {"email": email})


def lock_resource_and_member(session: Session, resource_id: int | None, email: str) -> None:
    """Both locks in one round trip, resource first (PostgreSQL evaluates a select list in order)."""
    if resource_id is None:
        lock_member(session, email)
        return
    session.execute(
        text("SELECT pg_advisory_xact_lock(7210101, :id), pg_advisory_xact_lock(7210102, hashtext(:email))"),
        {"id": resource_id, "email": email},
    )


# --- members (read model) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A member as booking knows them, found by any of their e-mails."""

    member_id: str
    email: str  # primary
    name: str
    tier: str | None
    status: str
    role: str
    waiver_version: str | None
    waiver_signed_at: datetime | None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def has_access(self) -> bool:
        return self.status in ACCESS_STATUSES


def _person(profile: MemberProfile) -> Person:
    name = " ".join(part for part in (profile.first_name, profile.last_name) if part) or profile.email
    return Person(
        member_id=profile.member_id,
        email=profile.email,
        name=name,
        tier=profile.tier,
        status=profile.status,
        role=profile.role,
        waiver_version=profile.waiver_version,
        waiver_signed_at=profile.waiver_signed_at,
    )


def person_by_email(session: Session, email: str) -> Person | None:
    email = email.strip().lower()
    known = memo(session)
    if ("person", email) in known:
        return known["person", email]
    # Their linked e-mails come along (emails_of asks next, nearly always).
    linked = (
        select(func.array_agg(MemberEmail.email))
        .where(MemberEmail.member_id == MemberProfile.member_id)
        .scalar_subquery()
    )
    row = session.execute(
        select(MemberProfile, linked).where(
            or_(
                MemberProfile.email == email,
                MemberProfile.member_id.in_(select(MemberEmail.member_id).where(MemberEmail.email == email)),
            )
        )
    ).first()
    if row is None:
        known["person", email] = None
        return None
    profile, emails = row
    known["person", email] = person = _person(profile)
    known["linked", person.member_id] = frozenset(emails or ())
    return person


def person_by_id(session: Session, member_id: str) -> Person | None:
    profile = session.get(MemberProfile, member_id)
    return _person(profile) if profile else None


def emails_of(session: Session, email: str) -> set[str]:
    """Every e-mail of the person behind `email` (just `email` when booking does not know them)."""
    email = email.strip().lower()
    person = person_by_email(session, email)
    if person is None:
        return {email}
    known = memo(session)
    if ("linked", person.member_id) not in known:
        known["linked", person.member_id] = frozenset(
            session.scalars(select(MemberEmail.email).where(MemberEmail.member_id == person.member_id))
        )
    return {email, person.email, *known["linked", person.member_id]}


def tier(session: Session, slug: str | None) -> TierLimits | None:
    if not slug:
        return None
    return session.get(TierLimits, slug.strip().lower())


# --- people in bookings ------------------------------------------------------------------------


def first_member_conflict(
    session: Session, emails: set[str], span: Span, *, exclude_request_id: int | None = None
) -> int | None:
    """The earliest occupying booking overlapping `span` in which any of `emails` takes part, as
    owner or as a member participant (the declared roster before a session exists, the session's
    after), on any resource; its id. domain.md §4.3."""
    if not emails:
        return None
    params = {
        "emails": list(emails),
        "start": span.start,
        "end": span.end,
        "floor": span.start - LONGEST,
        "exclude_request_id": exclude_request_id,
    }
    return session.scalar(_member_conflict_statement(exclude_request_id is not None), params)


@cache
def _member_conflict_statement(exclude_request: bool):
    """Built once per shape (its values are bound at execution): every create and approve asks it for
    each member on the roster."""
    emails = bindparam("emails", expanding=True)
    in_roster = or_(
        BookingRequest.user_email.in_(emails),
        and_(
            BookingRequest.session_id.is_(None),
            exists().where(
                BookingMember.booking_id == BookingRequest.id, BookingMember.user_email.in_(emails)
            ),
        ),
        and_(
            BookingRequest.session_id.is_not(None),
            exists().where(
                BookingParticipant.session_id == BookingRequest.session_id,
                BookingParticipant.participant_type.in_(("owner", "member")),
                BookingParticipant.email.in_(emails),
            ),
        ),
    )
    query = select(BookingRequest.id).where(
        BookingRequest.status.in_(OCCUPYING),
        BookingRequest.starts_at < bindparam("end"),
        BookingRequest.starts_at > bindparam("floor"),
        BookingRequest.ends_at > bindparam("start"),
        in_roster,
    )
    if exclude_request:
        query = query.where(BookingRequest.id != bindparam("exclude_request_id"))
    return query.order_by(BookingRequest.starts_at).limit(1)


def pending_simulator_requests(session: Session, email: str, *, exclude_request_id: int | None = None) -> int:
    query = select(func.count()).where(
        BookingRequest.user_email == email,
        BookingRequest.resource_type == "simulator",
        BookingRequest.status.in_(("pending", "pending_approval")),
    )
    if exclude_request_id is not None:
        query = query.where(BookingRequest.id != exclude_request_id)
    return session.scalar(query) or 0


def pending_conference_requests(session: Session, email: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                BookingRequest.user_email == email,
                BookingRequest.resource_type == "conference_room",
                BookingRequest.status.in_(("pending", "pending_approval")),
            )
        )
        or 0
    )
