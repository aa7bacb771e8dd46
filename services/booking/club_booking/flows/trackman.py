"""TrackMan bookings matched to ours (domain.md §7, the part that lives in booking).

integrations.trackman.booking_received is matched in order: the same TrackMan id; a pending request
of the same member (through linked e-mails), date and start ±600 s (auto-approved and confirmed); an
approved request not yet linked (preferring the `[PENDING_TRACKMAN_SYNC]` marker); without an e-mail,
bay + date + start ±600 s; otherwise an unmatched session that blocks the bay. Booking answers with
booking.trackman_match.succeeded / failed. integrations.trackman.booking_cancelled runs the cancel
path; integrations.trackman.unmatched_resolved gives an unmatched session its owner.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import queries
from ..domain.status import ACTIVE, PENDING
from ..domain.timeranges import Span
from ..models import BookingParticipant, BookingRequest, BookingSession, Resource
from . import lifecycle, passes, sessions
from .publishing import publish_booking, publish_session_created

WINDOW_S = 600
REVIEWER = "trackman_webhook"
LINKED_NOTE = "Linked via Trackman webhook"


def _parse(data: dict[str, Any]) -> tuple[date, time, Span]:
    day = date.fromisoformat(data["date"]) if isinstance(data["date"], str) else data["date"]
    start = time.fromisoformat(data["start_time"])
    starts = data["starts_at"]
    ends = data["ends_at"]
    starts = datetime.fromisoformat(starts) if isinstance(starts, str) else starts
    ends = datetime.fromisoformat(ends) if isinstance(ends, str) else ends
    return day, start, Span(starts, ends)


def _answer_succeeded(session, rt, data, req: BookingRequest | None, ses_id, rule: str, newly: bool) -> None:
    rt.publish(
        session,
        "booking.trackman_match.succeeded",
        {
            "trackman_booking_id": data["trackman_booking_id"],
            "booking_id": req.id if req is not None else None,
            "session_id": ses_id,
            "member_email": req.user_email if req is not None else None,
            "rule": rule,
            "newly_linked": newly,
            "webhook_event_id": data.get("webhook_event_id"),
            "import_run_id": data.get("import_run_id"),
        },
    )


def _answer_failed(session, rt, data, reason: str, candidates: list[int], ses: BookingSession | None) -> None:
    rt.publish(
        session,
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": data["trackman_booking_id"],
            "reason": reason,
            "candidate_booking_ids": candidates,
            "booking_id": None,
            "session_id": ses.id if ses else None,
            "webhook_event_id": data.get("webhook_event_id"),
            "import_run_id": data.get("import_run_id"),
            "resource_id": data.get("resource_id"),
            "date": data["date"] if isinstance(data["date"], str) else data["date"].isoformat(),
            "start_time": data["start_time"],
            "end_time": data["end_time"],
            "customer_email": data.get("customer_email"),
            "customer_name": data.get("customer_name"),
            "player_count": data.get("player_count"),
        },
    )


def booking_received(session: Session, rt, data: dict[str, Any], now: datetime) -> None:
    tm_id = data["trackman_booking_id"]
    day, start, span = _parse(data)
    resource_id = data.get("resource_id")
    email = (data.get("customer_email") or "").strip().lower() or None

    # 1. The same TrackMan id: update that booking (a time change recomputes fees) or session.
    req = session.scalar(
        select(BookingRequest).where(BookingRequest.trackman_booking_id == tm_id).with_for_update()
    )
    if req is not None:
        _update_times(session, rt, req, resource_id, day, start, span, data)
        _flag_players(req, data)
        _record_as_paid(session, req, data, now)
        _answer_succeeded(session, rt, data, req, req.session_id, "trackman_id", False)
        _settle_past_row(session, rt, req, data, now)
        return
    ses = session.scalar(
        select(BookingSession).where(BookingSession.trackman_booking_id == tm_id).with_for_update()
    )
    if ses is not None:
        _move_session(session, rt, ses, resource_id, day, start, span)
        _answer_succeeded(session, rt, data, None, ses.id, "trackman_id", False)
        return
    if resource_id is None:
        _answer_failed(session, rt, data, "no_match", [], None)
        return

    person = queries.person_by_email(session, email) if email else None
    if data.get("is_block") or (person is not None and person.role == "golf_instructor"):
        ses = _bay_session(
            session,
            rt,
            data,
            resource_id,
            day,
            start,
            span,
            unmatched=False,
            note="[LESSON]" if not data.get("is_block") else "[TRACKMAN_BLOCK]",
        )
        if ses is not None:
            _answer_succeeded(session, rt, data, None, ses.id, "lesson", False)
        return

    candidates: list[BookingRequest]
    if email:
        emails = queries.emails_of(session, email)
        candidates = _near(session, day, span, BookingRequest.user_email.in_(emails))
    else:
        candidates = _near(
            session,
            day,
            span,
            (BookingRequest.resource_id == resource_id) | BookingRequest.resource_id.is_(None),
        )
    pending = [c for c in candidates if c.status in PENDING]
    approved = [c for c in candidates if c.status == "approved" and (c.resource_id in (None, resource_id))]
    if not email and len(pending) + len(approved) > 1:
        ses = _bay_session(session, rt, data, resource_id, day, start, span, unmatched=True)
        _answer_failed(session, rt, data, "ambiguous", sorted(c.id for c in pending + approved), ses)
        return
    chosen = _best(pending, span) if pending else None
    if chosen is not None and _auto_approve(session, rt, chosen, data, resource_id, day, start, span, now):
        _settle_past_row(session, rt, chosen, data, now)
        return
    if approved:
        approved.sort(
            key=lambda r: (
                "[PENDING_TRACKMAN_SYNC]" not in (r.staff_notes or ""),
                r.resource_id != resource_id,
                abs((r.starts_at - span.start).total_seconds()),
                -r.id,
            )
        )
        _link(session, rt, approved[0], data, resource_id, day, start, span, now)
        _settle_past_row(session, rt, approved[0], data, now)
        return
    ses = _bay_session(session, rt, data, resource_id, day, start, span, unmatched=True)
    _answer_failed(session, rt, data, "no_match" if email else "no_email", [], ses)


def _near(session: Session, day: date, span: Span, who) -> list[BookingRequest]:
    low = span.start.timestamp() - WINDOW_S
    high = span.start.timestamp() + WINDOW_S
    rows = session.scalars(
        select(BookingRequest)
        .where(
            BookingRequest.request_date == day,
            BookingRequest.trackman_booking_id.is_(None),
            BookingRequest.status.in_(PENDING + ("approved",)),
            who,
        )
        .with_for_update()
    ).all()
    return [r for r in rows if low <= r.starts_at.timestamp() <= high]


def _best(requests: list[BookingRequest], span: Span) -> BookingRequest:
    """Closest start, then newest."""
    return sorted(requests, key=lambda r: (abs((r.starts_at - span.start).total_seconds()), -r.id))[0]


def _note(req: BookingRequest, text: str) -> None:
    req.staff_notes = f"{req.staff_notes}\n{text}" if req.staff_notes else text


def _retime(req: BookingRequest, resource_id: int, day: date, start: time, span: Span, tz) -> bool:
    changed = (req.resource_id, req.starts_at, req.ends_at) != (resource_id, span.start, span.end)
    req.resource_id = resource_id
    req.request_date, req.start_time = day, start
    req.end_time = span.end.astimezone(tz).time().replace(tzinfo=None)
    req.starts_at, req.ends_at = span.start, span.end
    req.duration_minutes = span.minutes
    return changed


def _auto_approve(session, rt, req: BookingRequest, data, resource_id, day, start, span, now) -> bool:
    """Rule 2: approve by `trackman_webhook`, linked (`confirmed`), bay and times from TrackMan. Back
    to pending (False) if the session cannot be created."""
    savepoint = session.begin_nested()
    try:
        original = f"{req.request_date} {req.start_time:%H:%M} for {req.duration_minutes} min"
        _retime(req, resource_id, day, start, span, rt.tz)
        lifecycle.move(
            session,
            req,
            "confirmed",
            PENDING,
            reviewed_by=REVIEWER,
            reviewed_at=now,
            trackman_booking_id=data["trackman_booking_id"],
            was_auto_linked=True,
        )
        _note(req, f"{LINKED_NOTE} (asked {original}; TrackMan bay {data.get('bay_ref')})")
        _flag_players(req, data)
        ses, _ = sessions.find_or_create(session, rt, req, "trackman_webhook")
        session.flush()
        savepoint.commit()
        _record_as_paid(session, req, data, now)
    except IntegrityError:
        savepoint.rollback()
        session.expire_all()
        return False
    passes.convert(session, rt, req, now)
    publish_booking(session, rt, "booking.request.approved", req, "trackman_webhook", reviewed_by=REVIEWER)
    publish_booking(session, rt, "booking.request.confirmed", req, "trackman_webhook", reason="trackman")
    _answer_succeeded(session, rt, data, req, req.session_id, "auto_approved", True)
    return True


def _link(session, rt, req: BookingRequest, data, resource_id, day, start, span, now) -> None:
    """Rule 3: link an approved request; a different time or length updates it (fees recomputed)."""
    notes = (req.staff_notes or "").replace("[PENDING_TRACKMAN_SYNC]", LINKED_NOTE)
    if LINKED_NOTE not in notes:
        notes = f"{notes}\n{LINKED_NOTE}" if notes else LINKED_NOTE
    req.staff_notes = notes
    req.trackman_booking_id = data["trackman_booking_id"]
    req.was_auto_linked = True
    _flag_players(req, data)
    session.flush()
    lifecycle.move(session, req, "confirmed", ("approved",))
    if req.session_id is not None:
        ses = session.get(BookingSession, req.session_id)
        if ses is not None and ses.trackman_booking_id is None:
            ses.trackman_booking_id = data["trackman_booking_id"]
    _record_as_paid(session, req, data, now)
    publish_booking(session, rt, "booking.request.confirmed", req, "trackman_webhook", reason="trackman")
    _update_times(session, rt, req, resource_id, day, start, span, data)
    _answer_succeeded(session, rt, data, req, req.session_id, "linked", True)


def _update_times(session, rt, req: BookingRequest, resource_id, day, start, span, data) -> None:
    if resource_id is None:
        resource_id = req.resource_id
    previous = {
        "resource_id": req.resource_id,
        "date": req.request_date.isoformat(),
        "start_time": req.start_time.strftime("%H:%M"),
        "end_time": req.end_time.strftime("%H:%M"),
        "starts_at": req.starts_at.isoformat(),
        "ends_at": req.ends_at.isoformat(),
        "duration_minutes": req.duration_minutes,
    }
    if not _retime(req, resource_id, day, start, span, rt.tz):
        return
    if req.session_id is not None:
        ses = session.get(BookingSession, req.session_id)
        ses.resource_id, ses.session_date, ses.start_time, ses.end_time = (
            req.resource_id,
            req.request_date,
            req.start_time,
            req.end_time,
        )
        ses.starts_at, ses.ends_at, ses.duration_minutes = req.starts_at, req.ends_at, req.duration_minutes
    req.roster_version += 1
    session.flush()
    publish_booking(
        session,
        rt,
        "booking.request.rescheduled",
        req,
        "trackman_webhook",
        changed_by=REVIEWER,
        previous=previous,
    )


def _record_as_paid(session: Session, req: BookingRequest, data, now: datetime) -> None:
    """A CSV row in the past (`record_as_paid`): the round was played and settled at the desk, so
    its players are paid before billing hears of the booking (billing keeps a paid line as paid and
    invoices nobody for it)."""
    if not data.get("record_as_paid") or req.session_id is None:
        return
    session.execute(
        update(BookingParticipant)
        .where(
            BookingParticipant.session_id == req.session_id, BookingParticipant.payment_status == "pending"
        )
        .values(payment_status="paid", paid_at=now)
        .execution_options(synchronize_session=False)
    )


def _settle_past_row(session: Session, rt, req: BookingRequest, data, now: datetime) -> None:
    """A CSV row's `target_status`: a linked row stands approved (confirmed, as it is linked); one in
    the past (`attended`) is marked attended, its guest passes consumed."""
    if data.get("target_status") != "attended":
        return
    session.refresh(req)
    if req.status in ("approved", "confirmed", "checked_in"):
        lifecycle.mark_attended(
            session, rt, REVIEWER, req, now, among=("approved", "confirmed", "checked_in")
        )


def _flag_players(req: BookingRequest, data) -> None:
    count = data.get("player_count")
    if count and count > req.declared_player_count:
        req.player_count_mismatch = True


def _move_session(session, rt, ses: BookingSession, resource_id, day, start, span) -> None:
    ses.resource_id = resource_id or ses.resource_id
    ses.session_date, ses.start_time = day, start
    ses.end_time = span.end.astimezone(rt.tz).time().replace(tzinfo=None)
    ses.starts_at, ses.ends_at, ses.duration_minutes = span.start, span.end, span.minutes
    ses.cancelled_at = None
    session.flush()


def _bay_session(
    session, rt, data, resource_id, day, start, span, *, unmatched: bool, note: str | None = None
):
    """A TrackMan booking without a request of ours: a session that blocks the bay. When the bay is
    already taken (our own booking, say) the session is still recorded, cancelled and flagged for
    review, so staff see the clash."""
    if session.get(Resource, resource_id) is None:
        return None
    ses = BookingSession(
        resource_id=resource_id,
        session_date=day,
        start_time=start,
        end_time=span.end.astimezone(rt.tz).time().replace(tzinfo=None),
        starts_at=span.start,
        ends_at=span.end,
        duration_minutes=span.minutes,
        source="trackman_import" if data.get("source") == "csv_import" else "trackman_webhook",
        trackman_booking_id=data["trackman_booking_id"],
        is_unmatched=unmatched,
        notes=note,
    )
    savepoint = session.begin_nested()
    try:
        session.add(ses)
        session.flush()
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        ses = BookingSession(
            **{c.key: getattr(ses, c.key) for c in BookingSession.__table__.columns if c.key != "id"}
        )
        ses.cancelled_at = span.start
        ses.needs_review = True
        ses.notes = ((note or "") + " [CLASH: the bay was already taken]").strip()
        session.add(ses)
        session.flush()
        return ses
    publish_session_created(session, rt, ses)
    return ses


def booking_cancelled(session: Session, rt, data: dict[str, Any]) -> None:
    """TrackMan cancelled: a booking in `cancellation_pending` completes the member's cancellation
    under the late-cancel rule (their moment of asking counts); any other active booking is cancelled
    in full; a session of ours without a request is cancelled."""
    tm_id = data["trackman_booking_id"]
    cancelled_at = data["cancelled_at"]
    cancelled_at = datetime.fromisoformat(cancelled_at) if isinstance(cancelled_at, str) else cancelled_at
    req = session.scalar(
        select(BookingRequest).where(BookingRequest.trackman_booking_id == tm_id).with_for_update()
    )
    if req is not None:
        if req.status == "cancellation_pending":
            settings = queries.settings(session)
            asked = req.cancellation_pending_at or cancelled_at
            late = lifecycle._is_late(req, asked, settings.late_cancel_minutes)
            lifecycle.finish_cancel(
                session,
                rt,
                req,
                by=req.cancelled_by or REVIEWER,
                actor_type="member",
                requested_at=asked,
                late=late,
                refund_eligible=not late,
                now=cancelled_at,
            )
        elif req.status in ACTIVE:
            lifecycle.finish_cancel(
                session,
                rt,
                req,
                by=REVIEWER,
                actor_type="trackman",
                requested_at=cancelled_at,
                late=False,
                refund_eligible=True,
                now=cancelled_at,
            )
        req.is_unmatched = False
        return
    session.execute(
        update(BookingSession)
        .where(BookingSession.trackman_booking_id == tm_id, BookingSession.cancelled_at.is_(None))
        .values(cancelled_at=cancelled_at, is_unmatched=False)
    )


def unmatched_resolved(session: Session, rt, data: dict[str, Any]) -> None:
    """Staff gave an unmatched TrackMan booking its owner (by e-mail), or marked it a private event
    or a day-pass visit."""
    ses = None
    if data.get("session_id"):
        ses = session.get(BookingSession, data["session_id"], with_for_update=True)
    if ses is None:
        ses = session.scalar(
            select(BookingSession).where(BookingSession.trackman_booking_id == data["trackman_booking_id"])
        )
    if ses is None or ses.cancelled_at is not None:
        return
    existing = session.scalar(select(BookingRequest).where(BookingRequest.session_id == ses.id))
    ses.is_unmatched = False
    if data["resolution"] != "member" or not data.get("member_email"):
        ses.notes = f"{ses.notes}\n" if ses.notes else ""
        ses.notes += f"Resolved by {data['resolved_by']} as {data['resolution']}" + (
            f": {data['note']}" if data.get("note") else ""
        )
        session.flush()
        return
    if existing is not None:
        return
    person = queries.person_by_email(session, data["member_email"])
    owner_email = person.email if person else data["member_email"].strip().lower()
    resource = session.get(Resource, ses.resource_id)
    req = BookingRequest(
        user_id=person.member_id if person else data.get("member_id"),
        user_email=owner_email,
        user_name=person.name if person else None,
        resource_id=ses.resource_id,
        resource_type=resource.type,
        request_date=ses.session_date,
        start_time=ses.start_time,
        end_time=ses.end_time,
        duration_minutes=ses.duration_minutes,
        starts_at=ses.starts_at,
        ends_at=ses.ends_at,
        status="confirmed",
        declared_player_count=max(1, min(4, data.get("player_count") or 1)),
        trackman_booking_id=ses.trackman_booking_id,
        source="trackman_webhook",
        reviewed_by=data["resolved_by"],
        staff_notes=f"Assigned from an unmatched TrackMan booking by {data['resolved_by']}",
        session_id=ses.id,
        was_auto_linked=False,
    )
    session.add(req)
    session.flush()
    sessions.ensure_owner(session, req, ses)
    owner = session.scalar(
        select(BookingParticipant).where(
            BookingParticipant.session_id == ses.id, BookingParticipant.email == owner_email
        )
    )
    if owner is not None:
        owner.participant_type = "owner"
        owner.slot_number = 1
    session.flush()
    publish_booking(session, rt, "booking.request.confirmed", req, "trackman_webhook", reason="trackman")
