"""Roster and time changes (domain.md §4.6): the owner or staff change participants and the declared
count until the start; staff reschedule. Each change bumps `roster_version` (billing ignores older
fee inputs) and publishes the fee input again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.clubtime import InvalidLocalTime
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from .. import queries
from ..domain import requests as rules
from ..domain.status import ACTIVE
from ..domain.timeranges import Span, booking_span
from ..models import BookingGuest, BookingParticipant, BookingRequest, BookingSession, GuestPassHold
from . import passes, sessions
from .lifecycle import load
from .publishing import publish_booking
from .requests import (
    check_people_free,
    check_resource_free,
    refuse,
    resolve_players,
    resolve_resource,
    write_declared_roster,
)


def _locked(session: Session, req: BookingRequest) -> bool:
    """Once the invoice is paid or anyone has paid, the roster is locked."""
    if req.invoice_status == "paid":
        return True
    if req.session_id is None:
        return False
    return bool(
        session.scalar(
            select(func.count()).where(
                BookingParticipant.session_id == req.session_id, BookingParticipant.payment_status == "paid"
            )
        )
    )


def change_roster(
    session: Session, rt: Runtime, actor: Identity, request_id: int, body: dict[str, Any], now: datetime
) -> BookingRequest:
    req = load(session, request_id, actor)
    if req.status not in ACTIVE:
        raise Problem(409, f"The roster of a {req.status} booking cannot change.", code="STATE_CONFLICT")
    if req.starts_at <= now:
        raise Problem(409, "The booking has started: its roster is final.", code="ROSTER_LOCKED")
    if _locked(session, req) and not (actor.is_staff and body.get("override_reason")):
        raise Problem(
            409,
            "Someone has paid for this booking: staff may still change it, giving a reason.",
            code="ROSTER_LOCKED",
        )
    settings = queries.settings(session)
    players = resolve_players(session, req.user_email, body["participants"], settings)
    declared = body.get("declared_player_count") or max(req.declared_player_count, 1 + len(players))
    try:
        rules.check_roster(declared, players)
        if not actor.is_staff:
            rules.check_duration(req.resource_type, declared, req.duration_minutes, by_staff=False)
    except rules.RuleBroken as exc:
        raise refuse(exc) from None
    if req.resource_id is not None:
        queries.lock_resource(session, req.resource_id)
    queries.lock_member(session, req.user_email)
    newcomers = [(p.email, p.name or p.email) for p in players if p.type == "member"]
    check_people_free(session, newcomers, Span(req.starts_at, req.ends_at), exclude_request_id=req.id)

    previous = req.roster_version
    req.declared_player_count = declared
    req.request_participants = [
        {"type": p.type, "email": p.email, "name": p.name, "user_id": p.member_id} for p in players
    ]
    if req.session_id is None:
        write_declared_roster(session, req, players)
        _rehold(session, rt, req, players, now)
    else:
        _rewrite_session_roster(session, rt, req, players, now)
    req.roster_version = previous + 1
    if actor.is_staff and body.get("override_reason"):
        req.staff_notes = (req.staff_notes + "\n" if req.staff_notes else "") + (
            f"Roster changed by {actor.email} despite payment: {body['override_reason']}"
        )
    session.flush()
    publish_booking(
        session,
        rt,
        "booking.session.roster_changed",
        req,
        "roster_change",
        changed_by=actor.email,
        previous_roster_version=previous,
    )
    return req


def _rehold(
    session: Session, rt: Runtime, req: BookingRequest, players: list[rules.Player], now: datetime
) -> None:
    """Before the session: the hold follows the named guests (up to what is available)."""
    if req.resource_type != "simulator":
        return
    named = sum(1 for p in players if p.type == "guest" and not p.is_placeholder)
    current = session.scalar(select(GuestPassHold).where(GuestPassHold.booking_id == req.id))
    held_now = current.passes_held if current else 0
    if held_now == named:
        return
    passes.release(session, rt, req, now)
    passes.hold(session, rt, req, named, now)


def _key(kind: str, email: str | None, name: str | None) -> tuple:
    return (kind, email or "", "" if email else (name or "").strip().lower())


def _rewrite_session_roster(
    session: Session, rt: Runtime, req: BookingRequest, players: list[rules.Player], now: datetime
) -> None:
    """After the session: participants who stay keep their rows (payment, pass); those who leave
    go (a pass they used comes back); newcomers join, named guests on a free pass if one is left."""
    rows = session.scalars(
        select(BookingParticipant)
        .where(BookingParticipant.session_id == req.session_id)
        .order_by(BookingParticipant.slot_number)
        .with_for_update()
    ).all()
    owner = next((r for r in rows if r.participant_type == "owner"), None)
    existing = {
        _key(r.participant_type, r.email, r.display_name): r for r in rows if r.participant_type != "owner"
    }
    wanted = [(_key(p.type, p.email, p.name), p) for p in players]
    keep = {key for key, _ in wanted if key in existing}
    given_back = 0
    for key, row in existing.items():
        if key not in keep:
            if row.payment_status == "paid":
                raise Problem(
                    409, f"{row.display_name} has paid and cannot be removed.", code="ROSTER_LOCKED"
                )
            given_back += 1 if row.used_guest_pass and row.participant_type == "guest" else 0
            session.delete(row)
    session.flush()
    if given_back:
        account = passes.lock_account(session, rt, req.user_email, now)
        account.used_passes = max(0, account.used_passes - given_back)
    if owner is not None:
        owner.slot_number = 1
    # Move the kept rows out of the way of the slot numbers being handed out.
    for offset, (key, _p) in enumerate(wanted):
        if key in existing:
            existing[key].slot_number = 10 + offset
    session.flush()
    for slot, (key, p) in enumerate(wanted, start=2):
        if key in existing:
            existing[key].slot_number = slot
            continue
        if p.type == "member":
            row = sessions._participant_for_member(session, p.email, p.name, slot, "member")
        else:
            guest = sessions._guest_row(session, p.name, p.email)
            row = BookingParticipant(
                participant_type="guest",
                guest_id=guest.id,
                email=p.email,
                display_name=p.name or p.email or f"Guest {slot}",
                slot_number=slot,
                is_placeholder=p.is_placeholder,
                payment_status="pending",
            )
        row.session_id = req.session_id
        session.add(row)
        session.flush()
        if p.type == "guest" and not p.is_placeholder and req.resource_type == "simulator":
            passes.use_for_participant(session, rt, req, row, now)
    # booking_guests stays as the seed keeps it: the declared guests, in slot order
    for row in session.scalars(select(BookingGuest).where(BookingGuest.booking_id == req.id)):
        session.delete(row)
    session.flush()
    for slot, (_, p) in enumerate(wanted, start=2):
        if p.type == "guest":
            session.add(
                BookingGuest(
                    booking_id=req.id,
                    guest_name=p.name,
                    guest_email=p.email,
                    slot_number=slot,
                    is_placeholder=p.is_placeholder,
                )
            )
    session.flush()


def reschedule(
    session: Session, rt: Runtime, actor: Identity, request_id: int, body: dict[str, Any], now: datetime
) -> BookingRequest:
    """Staff move a booking (time, length, bay): every conflict re-checked, the session moves with it."""
    req = load(session, request_id)
    if req.status not in ACTIVE:
        raise Problem(409, f"A {req.status} booking cannot be rescheduled.", code="STATE_CONFLICT")
    resource, kind = resolve_resource(session, body.get("resource_id") or req.resource_id, req.resource_type)
    try:
        span = booking_span(body["date"], body["start_time"], body["duration_minutes"], rt.tz)
    except InvalidLocalTime as exc:
        raise Problem(422, str(exc), code="INVALID_LOCAL_TIME") from None
    if span.start <= now:
        raise Problem(422, "The new start must be in the future.", code="START_IN_PAST")
    if resource is not None:
        queries.lock_resource(session, resource.id)
        check_resource_free(session, resource.id, span, exclude_request_id=req.id)
        _check_session_free(session, req, resource.id, span)
    queries.lock_member(session, req.user_email)
    from .lifecycle import declared_people

    check_people_free(session, declared_people(session, req), span, exclude_request_id=req.id)
    previous = {
        "resource_id": req.resource_id,
        "date": req.request_date.isoformat(),
        "start_time": req.start_time.strftime("%H:%M"),
        "end_time": req.end_time.strftime("%H:%M"),
        "starts_at": req.starts_at.isoformat(),
        "ends_at": req.ends_at.isoformat(),
        "duration_minutes": req.duration_minutes,
    }
    end_local = span.end.astimezone(rt.tz)
    req.resource_id = resource.id if resource else None
    req.request_date, req.start_time = body["date"], body["start_time"]
    req.end_time = end_local.time().replace(tzinfo=None)
    req.duration_minutes = body["duration_minutes"]
    req.starts_at, req.ends_at = span.start, span.end
    if req.session_id is not None:
        ses = session.get(BookingSession, req.session_id)
        ses.resource_id = req.resource_id
        ses.session_date, ses.start_time, ses.end_time = req.request_date, req.start_time, req.end_time
        ses.starts_at, ses.ends_at, ses.duration_minutes = req.starts_at, req.ends_at, req.duration_minutes
    previous_version = req.roster_version
    req.roster_version = previous_version + 1
    session.flush()
    publish_booking(
        session,
        rt,
        "booking.request.rescheduled",
        req,
        "reschedule",
        changed_by=actor.email,
        previous=previous,
    )
    return req


def _check_session_free(session: Session, req: BookingRequest, resource_id: int, span: Span) -> None:
    clash = session.scalar(
        select(BookingSession.id).where(
            BookingSession.resource_id == resource_id,
            BookingSession.cancelled_at.is_(None),
            BookingSession.starts_at < span.end,
            BookingSession.ends_at > span.start,
            BookingSession.id != (req.session_id or -1),
        )
    )
    if clash:
        raise Problem(409, "That time on this resource is taken.", code="SLOT_TAKEN")


def use_guest_pass(
    session: Session, rt: Runtime, actor: Identity, request_id: int, participant_id: int, now: datetime
) -> tuple[BookingRequest, bool]:
    """Put a guest pass on one named guest (the member or staff); (request, used). False: none left,
    the guest pays. Row-locked, so two racing for the last pass give it to one."""
    req = load(session, request_id, actor)
    if req.session_id is None:
        raise Problem(
            409, "The booking has no session yet: passes are held for its guests.", code="STATE_CONFLICT"
        )
    if req.status not in ("approved", "confirmed", "checked_in"):
        raise Problem(409, f"A {req.status} booking takes no passes.", code="STATE_CONFLICT")
    row = session.scalar(
        select(BookingParticipant)
        .where(BookingParticipant.id == participant_id, BookingParticipant.session_id == req.session_id)
        .with_for_update()
    )
    if row is None:
        raise Problem(404, "No such participant in this booking.")
    if row.participant_type != "guest" or row.is_placeholder:
        raise Problem(422, "Only a named guest can use a guest pass.", code="NOT_A_NAMED_GUEST")
    if row.payment_status == "paid":
        raise Problem(409, "This guest has paid already.", code="ALREADY_PAID")
    if row.used_guest_pass:
        return req, True
    used = passes.use_for_participant(session, rt, req, row, now)
    if used:
        previous = req.roster_version
        req.roster_version = previous + 1
        session.flush()
        publish_booking(
            session,
            rt,
            "booking.session.roster_changed",
            req,
            "staff_add_guest",
            changed_by=actor.email,
            previous_roster_version=previous,
        )
    return req, used
