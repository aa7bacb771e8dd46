"""Creating a booking request (domain.md §4.4) and the checks it shares with approval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.clubtime import InvalidLocalTime, today
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from .. import queries
from ..domain import requests as rules
from ..domain.settings import BookingSettings
from ..domain.timeranges import Span, booking_span
from ..models import BookingGuest, BookingMember, BookingRequest, Resource
from . import passes, sessions
from .publishing import publish_booking, remember_declared_roster


def refuse(exc: rules.RuleBroken) -> Problem:
    return Problem(exc.status, exc.detail, code=exc.code)


# --- who books ---------------------------------------------------------------------------------


def resolve_owner(
    session: Session, actor: Identity, member_email: str | None
) -> tuple[str, queries.Person | None, bool]:
    """(owner e-mail, their profile, owner is staff). A member books only for themselves (any of
    their e-mails); staff may book for a member or for themselves."""
    if actor.is_staff:
        email = (member_email or actor.email).strip().lower()
    else:
        own = queries.emails_of(session, actor.email)
        if member_email and member_email.strip().lower() not in own:
            raise Problem(403, "Members book only for themselves.", code="FORBIDDEN")
        email = actor.email.strip().lower()
    person = queries.person_by_email(session, email)
    is_staff = bool(person and person.is_staff) or (actor.is_staff and email == actor.email.strip().lower())
    return (person.email if person else email), person, is_staff


def check_may_book(
    session: Session,
    person: queries.Person | None,
    owner_is_staff: bool,
    resource_type: str,
    settings: BookingSettings,
):
    """Waiver (fail closed), access status and tier; returns the tier limits (None for staff)."""
    if owner_is_staff:
        return None
    if (
        person is None
        or person.waiver_signed_at is None
        or (
            settings.waiver_current_version is not None
            and person.waiver_version != settings.waiver_current_version
        )
    ):
        raise Problem(
            403,
            "The liability waiver must be signed before booking.",
            code="WAIVER_REQUIRED",
        )
    if not person.has_access:
        raise Problem(403, f"A membership that is {person.status} cannot book.", code="MEMBERSHIP_INACTIVE")
    tier = queries.tier(session, person.tier)
    if tier is None or not tier.is_active:
        raise Problem(403, "Your membership has no tier that allows booking.", code="TIER_NOT_ALLOWED")
    allowed = tier.can_book_simulators if resource_type == "simulator" else tier.can_book_conference
    if not allowed:
        what = "golf simulators" if resource_type == "simulator" else "the conference room"
        raise Problem(403, f"Your membership does not include {what}.", code="TIER_NOT_ALLOWED")
    return tier


def resolve_resource(
    session: Session, resource_id: int | None, resource_type: str | None
) -> tuple[Resource | None, str]:
    if resource_id is not None:
        resource = session.get(Resource, resource_id)
        if resource is None or not resource.is_active:
            raise Problem(404, "No such resource.", code="UNKNOWN_RESOURCE")
        if resource_type and rules.normalise_resource_type(resource_type) != resource.type:
            raise Problem(422, "resource_type does not match the resource.", code="RESOURCE_MISMATCH")
        return resource, resource.type
    if not resource_type:
        raise Problem(422, "Give a resource_id or a resource_type.", code="RESOURCE_REQUIRED")
    kind = rules.normalise_resource_type(resource_type)
    if kind == "conference_room":
        rooms = queries.active_resources(session)
        rooms = [r for r in rooms if r.type == "conference_room"]
        if not rooms:
            raise Problem(404, "There is no conference room.", code="UNKNOWN_RESOURCE")
        return rooms[0], kind
    return None, kind


def resolve_players(
    session: Session, owner_email: str, given: list[dict[str, Any]], settings: BookingSettings
) -> list[rules.Player]:
    """Members by e-mail (through linked e-mails) or id, guests by name and e-mail; duplicates and
    the owner dropped; members whose membership has ended refused."""
    owner_emails = queries.emails_of(session, owner_email)
    seen: set[str] = set()
    players: list[rules.Player] = []
    for entry in given:
        email = (entry.get("email") or "").strip().lower() or None
        person = None
        if entry["type"] == "member":
            if entry.get("user_id"):
                person = queries.person_by_id(session, entry["user_id"])
            elif email:
                person = queries.person_by_email(session, email)
            if person is None:
                raise Problem(
                    422,
                    f"No member {email or entry.get('user_id')} is known.",
                    code="UNKNOWN_MEMBER",
                )
        elif email and not rules.is_placeholder_email(email, settings.placeholder_email_patterns):
            person = queries.person_by_email(session, email)  # a "guest" who is a member is a member
        if person is not None:
            if person.email in owner_emails or person.email in seen:
                continue
            if person.status in ("inactive", "cancelled", "terminated", "archived", "merged", "expired"):
                raise Problem(
                    422,
                    f"{person.name}'s membership is {person.status}: they cannot be booked.",
                    code="PARTICIPANT_INACTIVE",
                )
            seen.add(person.email)
            players.append(
                rules.Player("member", person.email, person.name, person.member_id, person.is_staff)
            )
            continue
        if email and (email in owner_emails or email in seen):
            continue
        if email:
            seen.add(email)
        name = (entry.get("name") or "").strip() or None
        players.append(
            rules.Player(
                "guest",
                email,
                name,
                is_placeholder=rules.is_placeholder_guest(name, email, settings.placeholder_email_patterns),
            )
        )
    return players


# --- what is in the way ------------------------------------------------------------------------


def check_resource_free(
    session: Session, resource_id: int, span: Span, *, exclude_request_id: int | None = None
):
    """409 RESOURCE_CLOSED for a closure or block, 409 SLOT_TAKEN for a booking or session."""
    busy = queries.occupancy(session, [resource_id], span, exclude_request_id=exclude_request_id)[resource_id]
    closed = [b for b in busy if b.kind in ("closure", "block")]
    if closed:
        raise Problem(409, "The resource is closed at that time.", code="RESOURCE_CLOSED")
    if busy:
        raise Problem(409, "That time on this resource is taken.", code="SLOT_TAKEN")


def check_people_free(
    session: Session, people: list[tuple[str, str]], span: Span, *, exclude_request_id: int | None = None
) -> None:
    """409 PARTICIPANT_CONFLICT naming the first person (e-mail, name) already booked then."""
    for email, name in people:
        if queries.first_member_conflict(
            session, queries.emails_of(session, email), span, exclude_request_id=exclude_request_id
        ):
            raise Problem(
                409,
                f"{name} already has a booking at that time.",
                code="PARTICIPANT_CONFLICT",
                person={"email": email, "name": name},
            )


# --- create ------------------------------------------------------------------------------------


def create_request(
    session: Session, rt: Runtime, actor: Identity, body: dict[str, Any], now: datetime
) -> BookingRequest:
    settings = queries.settings(session)
    by_staff = actor.is_staff
    owner_email, person, owner_is_staff = resolve_owner(session, actor, body.get("member_email"))
    resource, kind = resolve_resource(session, body.get("resource_id"), body.get("resource_type"))
    tier = check_may_book(session, person, owner_is_staff, kind, settings)
    declared = body["declared_player_count"]
    minutes = body["duration_minutes"]
    day, start = body["date"], body["start_time"]
    try:
        rules.check_duration(kind, declared, minutes, by_staff=by_staff)
        span = booking_span(day, start, minutes, rt.tz)
    except rules.RuleBroken as exc:
        raise refuse(exc) from None
    except InvalidLocalTime as exc:
        raise Problem(422, str(exc), code="INVALID_LOCAL_TIME") from None
    if span.start <= now:
        raise Problem(422, "The start must be in the future.", code="START_IN_PAST")
    end_local = span.end.astimezone(rt.tz)
    if not by_staff:
        try:
            if tier is not None:
                rules.check_window(day, today(rt.tz, now), tier.booking_window_days)
        except rules.RuleBroken as exc:
            raise refuse(exc) from None
        if end_local.date() > day and end_local.time() != start.replace(hour=0, minute=0):
            raise Problem(422, "A member booking may not cross midnight.", code="CROSSES_MIDNIGHT")
        if not settings.business_hours.contains(day, span, rt.tz):
            raise Problem(422, "Members book inside the day's business hours.", code="OUTSIDE_HOURS")
    players = resolve_players(session, owner_email, body.get("participants") or [], settings)
    try:
        rules.check_roster(declared, players)
    except rules.RuleBroken as exc:
        raise refuse(exc) from None

    # Resource first, then member: every booking of the bay and of the member is checked in turn.
    queries.lock_resource_and_member(session, resource.id if resource else None, owner_email)

    confirm_now = kind == "conference_room" and settings.conference_auto_confirm
    if not owner_is_staff:
        if kind == "simulator" and queries.pending_simulator_requests(session, owner_email):
            raise Problem(
                409,
                "You already have a simulator request waiting for approval.",
                code="ONE_PENDING_REQUEST",
            )
        if (
            kind == "conference_room"
            and not confirm_now
            and queries.pending_conference_requests(session, owner_email) >= settings.max_pending_conference
        ):
            raise Problem(409, "Too many conference requests are waiting.", code="ONE_PENDING_REQUEST")
    if resource is not None:
        check_resource_free(session, resource.id, span)
    owner_name = person.name if person else actor.email
    check_people_free(
        session,
        [(owner_email, owner_name)] + [(p.email, p.name or p.email) for p in players if p.type == "member"],
        span,
    )

    req = BookingRequest(
        user_id=person.member_id if person else (actor.subject if owner_email == actor.email else None),
        user_email=owner_email,
        user_name=owner_name,
        resource_id=resource.id if resource else None,
        resource_type=kind,
        request_date=day,
        start_time=start,
        end_time=end_local.time().replace(tzinfo=None),
        duration_minutes=minutes,
        starts_at=span.start,
        ends_at=span.end,
        status="pending",
        declared_player_count=declared,
        request_participants=[
            {"type": p.type, "email": p.email, "name": p.name, "user_id": p.member_id} for p in players
        ],
        notes=body.get("notes"),
        member_notes=body.get("member_notes"),
        guardian_name=body.get("guardian_name"),
        guardian_relationship=body.get("guardian_relationship"),
        guardian_consent_at=now if body.get("guardian_consent") else None,
        source="staff_manual" if by_staff else "member_request",
        created_by=actor.email,
        roster_version=1,
    )
    session.add(req)
    session.flush()
    members, guests = write_declared_roster(session, req, players, fresh=True)
    named_guests = sum(1 for p in players if p.type == "guest" and not p.is_placeholder)
    held = passes.hold(session, rt, req, named_guests, now) if kind == "simulator" else 0
    staff = {p.email for p in players if p.type == "member" and p.is_staff}
    if person is not None and person.is_staff:
        staff.add(person.email)
    remember_declared_roster(session, req, members, guests, held, staff)
    publish_booking(session, rt, "booking.request.created", req, "booking_preview", created_by=actor.email)
    if confirm_now:
        req.status = "confirmed"
        req.reviewed_by, req.reviewed_at = "auto-confirm", now
        session.flush()
        sessions.find_or_create(session, rt, req, "staff_manual" if by_staff else "member_request")
        publish_booking(session, rt, "booking.request.confirmed", req, "approval", reason="conference_room")
    return req


def write_declared_roster(
    session: Session, req: BookingRequest, players: list[rules.Player], *, fresh: bool = False
) -> tuple[list[BookingMember], list[BookingGuest]]:
    """The roster before a session exists: `booking_members` (slot 1 = the owner) and `booking_guests`;
    the rows written."""
    if not fresh:
        for model in (BookingMember, BookingGuest):
            for row in session.scalars(select(model).where(model.booking_id == req.id)):
                session.delete(row)
        session.flush()
    members = [
        BookingMember(
            booking_id=req.id,
            user_id=req.user_id,
            user_email=req.user_email,
            display_name=req.user_name,
            slot_number=1,
            is_primary=True,
        )
    ]
    guests: list[BookingGuest] = []
    for slot, p in enumerate(players, start=2):
        if p.type == "member":
            members.append(
                BookingMember(
                    booking_id=req.id,
                    user_id=p.member_id,
                    user_email=p.email,
                    display_name=p.name,
                    slot_number=slot,
                    is_primary=False,  # the same columns as the owner's row: one INSERT for all
                )
            )
        else:
            guests.append(
                BookingGuest(
                    booking_id=req.id,
                    guest_name=p.name,
                    guest_email=p.email,
                    slot_number=slot,
                    is_placeholder=p.is_placeholder,
                )
            )
    session.add_all([*members, *guests])
    session.flush()
    return members, guests
