"""A request's life after creation (domain.md §4.2, §4.5, §4.7, §4.8): approve, decline, cancel,
check in, no-show, attended, expiry and auto-complete.

Every status change is a guarded `UPDATE … WHERE status IN (…)` on a row the transaction has locked:
0 rows → 409 STATE_CONFLICT and nothing else changes; repeating a change that already happened is a
no-op (the caller answers 200, nothing is published twice).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from .. import queries
from ..domain.status import ACTIVE, PENDING, can_transition, sources_of
from ..domain.timeranges import Span
from ..models import BookingMember, BookingParticipant, BookingRequest, GuestCheckIn, Resource
from . import fees, passes, sessions
from .publishing import notify_staff, publish_booking
from .requests import check_people_free, check_resource_free

PENDING_TRACKMAN_SYNC = "[PENDING_TRACKMAN_SYNC]"
SYSTEM_EXPIRY = "system-auto-expiry"
SYSTEM = "system"


def load(
    session: Session, request_id: int, actor: Identity | None = None, *, lock: bool = True
) -> BookingRequest:
    """The request, row-locked; 404 when it does not exist or (for a member) is not theirs."""
    query = select(BookingRequest).where(BookingRequest.id == request_id)
    req = session.scalar(query.with_for_update() if lock else query)
    if req is None or (actor is not None and not actor.is_staff and not is_owner(session, actor, req)):
        raise Problem(404, "No such booking request.")
    return req


def is_owner(session: Session, actor: Identity, req: BookingRequest) -> bool:
    return req.user_email in queries.emails_of(session, actor.email)


def move(
    session: Session, req: BookingRequest, to: str, among: tuple[str, ...] | None = None, **values: Any
) -> None:
    """Guarded status change: from any status in `among` (default: every status allowed to reach
    `to`) that the machine allows; 409 STATE_CONFLICT otherwise."""
    allowed = sources_of(to, among)
    # RETURNING refreshes `req` (the same object, from the identity map) in the same round trip.
    moved = session.execute(
        update(BookingRequest)
        .where(BookingRequest.id == req.id, BookingRequest.status.in_(allowed))
        .values(status=to, **values)
        .returning(BookingRequest)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).scalar_one_or_none()
    if moved is None:
        raise Problem(
            409, f"A {req.status} booking cannot become {to}.", code="STATE_CONFLICT", status_now=req.status
        )


def _append_note(existing: str | None, note: str) -> str:
    return f"{existing}\n{note}" if existing else note


def _source(req: BookingRequest) -> str:
    return "staff_manual" if req.source == "staff_manual" else "member_request"


# --- approve and decline -----------------------------------------------------------------------


def approve(
    session: Session, rt: Runtime, actor: Identity, request_id: int, body: dict[str, Any], now: datetime
) -> tuple[BookingRequest, bool]:
    """(request, changed). Re-checks every conflict inside the transaction, then creates or joins the
    session, converts pass holds, links the session."""
    req = load(session, request_id)
    resource_id = body.get("resource_id") or req.resource_id
    if resource_id is None:
        raise Problem(422, "Assign a bay to approve this request.", code="BAY_REQUIRED")
    trackman_id = body.get("trackman_booking_id")
    repeat = req.status in ("approved", "confirmed") and req.session_id is not None
    if repeat and resource_id == req.resource_id and trackman_id in (None, req.trackman_booking_id):
        return req, False
    if req.status not in PENDING:
        raise Problem(
            409, f"A {req.status} booking cannot be approved.", code="STATE_CONFLICT", status_now=req.status
        )
    resource = session.get(Resource, resource_id)
    if resource is None or not resource.is_active:
        raise Problem(404, "No such resource.", code="UNKNOWN_RESOURCE")
    if resource.type != req.resource_type:
        raise Problem(422, f"This request is for a {req.resource_type}.", code="RESOURCE_MISMATCH")
    if trackman_id is not None:
        if not trackman_id.isdigit():
            raise Problem(422, "A TrackMan booking id is numeric.", code="INVALID_TRACKMAN_ID")
        if session.scalar(
            select(BookingRequest.id).where(
                BookingRequest.trackman_booking_id == trackman_id, BookingRequest.id != req.id
            )
        ):
            raise Problem(
                409, "That TrackMan booking is linked to another request.", code="TRACKMAN_ID_TAKEN"
            )

    queries.lock_resource_and_member(session, resource.id, req.user_email)
    span = Span(req.starts_at, req.ends_at)
    check_resource_free(session, resource.id, span, exclude_request_id=req.id)
    check_people_free(session, declared_people(session, req), span, exclude_request_id=req.id)

    target = "confirmed" if trackman_id else "approved"
    notes = req.staff_notes
    if body.get("staff_notes"):
        notes = _append_note(notes, body["staff_notes"])
    if not trackman_id:
        notes = _append_note(notes, PENDING_TRACKMAN_SYNC)
    move(
        session,
        req,
        target,
        PENDING,
        resource_id=resource.id,
        reviewed_by=actor.email,
        reviewed_at=now,
        trackman_booking_id=trackman_id,
        staff_notes=notes,
    )
    sessions.find_or_create(session, rt, req, _source(req))
    passes.convert(session, rt, req, now)
    publish_booking(session, rt, "booking.request.approved", req, "approval", reviewed_by=actor.email)
    if target == "confirmed":
        publish_booking(session, rt, "booking.request.confirmed", req, "approval", reason="trackman")
    return req, True


def declared_people(session: Session, req: BookingRequest) -> list[tuple[str, str]]:
    """(e-mail, name) of the owner and every member participant, for the conflict check."""
    if req.session_id is not None:
        rows = session.execute(
            select(BookingParticipant.email, BookingParticipant.display_name).where(
                BookingParticipant.session_id == req.session_id,
                BookingParticipant.participant_type.in_(("owner", "member")),
            )
        ).all()
    else:
        rows = session.execute(
            select(BookingMember.user_email, BookingMember.display_name)
            .where(BookingMember.booking_id == req.id)
            .order_by(BookingMember.slot_number)
        ).all()
    people = [(req.user_email, req.user_name or req.user_email)]
    people += [(email, name or email) for email, name in rows if email and email != req.user_email]
    return people


def decline(
    session: Session, rt: Runtime, actor: Identity, request_id: int, reason: str | None, now: datetime
) -> tuple[BookingRequest, bool]:
    req = load(session, request_id)
    if req.status == "declined":
        return req, False
    move(
        session,
        req,
        "declined",
        ("pending", "pending_approval", "approved"),
        reviewed_by=actor.email,
        reviewed_at=now,
        staff_notes=_append_note(req.staff_notes, f"Declined: {reason}") if reason else req.staff_notes,
    )
    passes.release(session, rt, req, now)
    passes.refund(session, rt, req, now)
    _waive_unpaid(session, req)
    sessions.release_if_unused(session, req.session_id, now)
    publish_booking(
        session, rt, "booking.request.declined", req, "status_change", reviewed_by=actor.email, reason=reason
    )
    return req, True


# --- cancel ------------------------------------------------------------------------------------


def cancel(
    session: Session, rt: Runtime, actor: Identity, request_id: int, body: dict[str, Any], now: datetime
) -> BookingRequest:
    """A member's cancel follows the late-cancel rule and goes through `cancellation_pending` when the
    booking is linked to TrackMan; staff cancel in full (`force` also ends a pending TrackMan
    cancellation, or skips it). Already cancelled, declined or cancellation_pending → 409."""
    req = load(session, request_id, actor)
    settings = queries.settings(session)
    as_staff = actor.is_staff and not body.get("as_member")
    if req.status in ("cancelled", "declined") or (req.status == "cancellation_pending" and not as_staff):
        raise Problem(
            409, f"This booking is already {req.status}.", code="STATE_CONFLICT", status_now=req.status
        )
    if not as_staff and req.status not in ACTIVE:
        raise Problem(
            409, f"A {req.status} booking cannot be cancelled.", code="STATE_CONFLICT", status_now=req.status
        )
    if not can_transition(req.status, "cancelled"):
        raise Problem(
            409, f"A {req.status} booking cannot be cancelled.", code="STATE_CONFLICT", status_now=req.status
        )

    linked = req.trackman_booking_id is not None and req.status in ("approved", "confirmed")
    if linked and not (as_staff and body.get("force")):
        move(
            session,
            req,
            "cancellation_pending",
            ("approved", "confirmed"),
            cancellation_pending_at=now,
            cancelled_by=actor.email,
        )
        publish_booking(
            session,
            rt,
            "booking.request.cancellation_requested",
            req,
            "cancellation",
            requested_by=actor.email,
            requested_at=now.isoformat(),
        )
        notify_staff(
            session,
            rt,
            "cancellation_pending",
            f"Cancel booking #{req.id} in TrackMan",
            f"{req.user_name or req.user_email} cancelled {req.request_date} {req.start_time:%H:%M}; "
            f"cancel TrackMan booking {req.trackman_booking_id} to free the bay.",
        )
        return req

    if req.status == "cancellation_pending":
        # Completing the member's own cancellation: their moment of asking counts.
        requested_at = req.cancellation_pending_at or now
        late = _is_late(req, requested_at, settings.late_cancel_minutes)
        refund_eligible, actor_type, by = not late, "member", req.cancelled_by or actor.email
    elif as_staff:
        requested_at, late, refund_eligible, actor_type, by = now, False, True, "staff", actor.email
    else:
        requested_at = now
        late = _is_late(req, now, settings.late_cancel_minutes)
        refund_eligible, actor_type, by = not late, "member", actor.email
    finish_cancel(
        session,
        rt,
        req,
        by=by,
        actor_type=actor_type,
        requested_at=requested_at,
        late=late,
        refund_eligible=refund_eligible,
        now=now,
    )
    return req


def _is_late(req: BookingRequest, requested_at: datetime, late_minutes: int) -> bool:
    """Less than `late_minutes` before the start (exactly that much before is still in time)."""
    return req.starts_at - requested_at < timedelta(minutes=late_minutes)


def finish_cancel(
    session: Session,
    rt: Runtime,
    req: BookingRequest,
    *,
    by: str,
    actor_type: str,
    requested_at: datetime,
    late: bool,
    refund_eligible: bool,
    now: datetime,
) -> None:
    previous = req.status
    move(session, req, "cancelled", cancelled_at=now, cancelled_by=by)
    passes.release(session, rt, req, now)
    if refund_eligible:
        passes.refund(session, rt, req, now)
    _waive_unpaid(session, req)
    sessions.release_if_unused(session, req.session_id, now)
    publish_booking(
        session,
        rt,
        "booking.request.cancelled",
        req,
        "cancellation",
        cancelled_by=by,
        actor_type=actor_type,
        previous_status=previous,
        requested_at=requested_at.isoformat(),
        late=late,
        refund_eligible=refund_eligible,
    )


def _waive_unpaid(session: Session, req: BookingRequest) -> None:
    """Unpaid fees of a cancelled or declined booking fall to 0 (paid ones wait for billing's refund)."""
    if req.session_id is None:
        return
    session.execute(
        update(BookingParticipant)
        .where(
            BookingParticipant.session_id == req.session_id, BookingParticipant.payment_status == "pending"
        )
        .values(cached_fee_cents=0)
    )


def cancel_future_bookings(
    session: Session, email: str, *, reason: str, now: datetime, rt: Runtime | None = None
) -> int:
    """An archived member's future bookings are cancelled (in full, as the club's doing)."""
    from ..context import handler_runtime

    rt = rt or handler_runtime()
    emails = queries.emails_of(session, email)
    ids = session.scalars(
        select(BookingRequest.id).where(
            BookingRequest.user_email.in_(emails),
            BookingRequest.status.in_(ACTIVE + ("cancellation_pending",)),
            BookingRequest.starts_at > now,
        )
    ).all()
    for request_id in ids:
        req = load(session, request_id)
        finish_cancel(
            session,
            rt,
            req,
            by=SYSTEM,
            actor_type="system",
            requested_at=now,
            late=False,
            refund_eligible=True,
            now=now,
        )
        req.staff_notes = _append_note(req.staff_notes, f"Cancelled: {reason}")
    return len(ids)


# --- the day itself ----------------------------------------------------------------------------


def check_in(
    session: Session, rt: Runtime, actor: Identity, request_id: int, now: datetime
) -> tuple[BookingRequest, bool]:
    """402 OUTSTANDING_BALANCE while anyone owes money; 409 FEES_NOT_READY while the fees of the
    current roster are not known yet; else `checked_in` and guest passes consumed."""
    req = load(session, request_id)
    if req.status == "checked_in":
        return req, False
    if req.status not in ("approved", "confirmed"):
        raise Problem(
            409, f"A {req.status} booking cannot be checked in.", code="STATE_CONFLICT", status_now=req.status
        )
    if not fees.fees_ready(req):
        raise Problem(
            409,
            "The fees of this booking are still being calculated; try again shortly.",
            code="FEES_NOT_READY",
        )
    owed = fees.outstanding(session, req)
    if owed:
        total = sum(line["amount_cents"] for line in owed)
        raise Problem(
            402,
            f"{len(owed)} participant(s) still owe {total} cents in total.",
            code="OUTSTANDING_BALANCE",
            outstanding=owed,
            total_cents=total,
        )
    move(session, req, "checked_in", ("approved", "confirmed"), checked_in_at=now, checked_in_by=actor.email)
    passes.consume(session, rt, req, actor.email, now)
    for guest in session.scalars(
        select(BookingParticipant).where(
            BookingParticipant.session_id == req.session_id, BookingParticipant.participant_type == "guest"
        )
    ):
        session.add(
            GuestCheckIn(
                member_email=req.user_email,
                guest_name=guest.display_name,
                guest_email=guest.email,
                check_in_time=now,
                checked_in_by=actor.email,
                booking_id=req.id,
            )
        )
    publish_booking(session, rt, "booking.request.checked_in", req, "check_in", checked_in_by=actor.email)
    return req, True


def mark_no_show(session: Session, rt: Runtime, actor: Identity, request_id: int, now: datetime):
    req = load(session, request_id)
    if req.status == "no_show":
        return req, False
    move(session, req, "no_show", ("approved", "confirmed", "checked_in"))
    publish_booking(
        session, rt, "booking.request.no_show_marked", req, "status_change", marked_by=actor.email
    )
    return req, True


def mark_attended(
    session: Session, rt: Runtime, by: str, req: BookingRequest, now: datetime, among=None
) -> bool:
    if req.status == "attended":
        return False
    move(session, req, "attended", among or ("approved", "confirmed", "checked_in", "no_show"))
    passes.consume(session, rt, req, by, now)
    publish_booking(session, rt, "booking.request.attended", req, "status_change", marked_by=by)
    return True


# --- scheduled ---------------------------------------------------------------------------------


def expire_due(session: Session, rt: Runtime, now: datetime) -> list[int]:
    """Pending requests whose start passed at least `booking.expiry_grace_minutes` ago → `expired`
    (`cancellation_pending` when TrackMan-linked); holds released; staff told when ≥ 2."""
    settings = queries.settings(session)
    cutoff = now - timedelta(minutes=settings.expiry_grace_minutes)
    due = session.scalars(
        select(BookingRequest)
        .where(BookingRequest.status.in_(PENDING), BookingRequest.starts_at <= cutoff)
        .order_by(BookingRequest.starts_at)
        .with_for_update(skip_locked=True)
    ).all()
    stamp = now.astimezone(rt.tz).strftime("%Y-%m-%d %H:%M")
    for req in due:
        if req.trackman_booking_id:
            move(session, req, "cancellation_pending", PENDING, cancellation_pending_at=now)
        else:
            move(
                session,
                req,
                "expired",
                PENDING,
                reviewed_by=SYSTEM_EXPIRY,
                reviewed_at=now,
                staff_notes=_append_note(req.staff_notes, f"[Auto-expired {stamp}]"),
            )
        passes.release(session, rt, req, now)
        publish_booking(session, rt, "booking.request.expired", req, "status_change")
    if len(due) >= 2:
        notify_staff(
            session,
            rt,
            "booking",
            f"{len(due)} booking requests expired",
            "Requests never approved before their start: " + ", ".join(f"#{r.id}" for r in due),
        )
    return [r.id for r in due]


def auto_complete(session: Session, rt: Runtime, now: datetime) -> list[int]:
    """Approved, confirmed or checked-in bookings of the last 14 days become `attended` once
    `booking.autocomplete_after_minutes` have passed since their end, when nobody owes anything;
    the others stay and staff are told once."""
    settings = queries.settings(session)
    cutoff = now - timedelta(minutes=settings.autocomplete_after_minutes)
    due = session.scalars(
        select(BookingRequest)
        .where(
            BookingRequest.status.in_(("approved", "confirmed", "checked_in")),
            BookingRequest.ends_at <= cutoff,
            BookingRequest.ends_at >= now - timedelta(days=14),
        )
        .order_by(BookingRequest.ends_at)
        .with_for_update(skip_locked=True)
    ).all()
    done = []
    for req in due:
        ready = fees.fees_ready(req)
        owed = fees.outstanding(session, req) if ready else []
        if ready and not owed:
            mark_attended(session, rt, SYSTEM, req, now, ("approved", "confirmed", "checked_in"))
            done.append(req.id)
        elif req.unpaid_alerted_at is None:
            req.unpaid_alerted_at = now
            what = (
                f"{sum(o['amount_cents'] for o in owed)} cents are unpaid"
                if ready
                else "its fees are not known yet"
            )
            notify_staff(
                session,
                rt,
                "outstanding_balance",
                f"Booking #{req.id} could not be completed",
                f"Booking #{req.id} ({req.user_email}, {req.request_date}) stays {req.status}: {what}.",
            )
    return done
