"""/api/v1/booking-requests: create, read, and the lifecycle (approve, decline, cancel, check-in,
no-show, attended); members act on their own, staff on anyone's."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from .. import queries
from ..domain.timeranges import day_span
from ..flows import fees, lifecycle, requests
from ..flows import roster as roster_flow
from ..flows.publishing import audit, roster
from ..models import BookingRequest
from ..schemas import (
    ApproveIn,
    BookingOut,
    BookingQuery,
    BookingRequestIn,
    CancelIn,
    DeclineIn,
    IdempotencyKeyHeader,
    RescheduleIn,
    RosterIn,
)
from . import idempotency
from .common import caller, local, now, signed_in, staff_only, unit_of_work

blp = Blueprint(
    "booking_requests", __name__, url_prefix="/api/v1/booking-requests", description="Booking requests"
)

ID = "<int(max=2147483647):request_id>"


def out(session, req: BookingRequest) -> dict:
    data = {c.key: getattr(req, c.key) for c in BookingRequest.__table__.columns}
    for key in (
        "starts_at",
        "ends_at",
        "reviewed_at",
        "cancellation_pending_at",
        "cancelled_at",
        "checked_in_at",
    ):
        data[key] = local(data[key])
    people = roster(session, req)
    cached = {}
    if req.session_id is not None:
        from ..models import BookingParticipant

        cached = dict(
            session.execute(
                select(BookingParticipant.id, BookingParticipant.cached_fee_cents).where(
                    BookingParticipant.session_id == req.session_id
                )
            ).all()
        )
    data["participants"] = [{**p, "cached_fee_cents": cached.get(p["participant_id"])} for p in people]
    ready = fees.fees_ready(req)
    data["fees"] = {
        "ready": ready,
        "total_cents": req.fees_total_cents,
        "roster_version": req.fees_roster_version,
        "outstanding_cents": sum(o["amount_cents"] for o in fees.outstanding(session, req))
        if ready
        else None,
    }
    return data


@blp.post("")
@signed_in
@blp.arguments(BookingRequestIn)
@blp.arguments(IdempotencyKeyHeader, location="headers")
@blp.response(201, BookingOut)
def create(body, headers):
    """Ask for a bay or the conference room. Members book for themselves; staff for a member
    (`member_email`) or themselves. Simulators start `pending`; the conference room is `confirmed`
    at once. With an `Idempotency-Key`, a retry of the same request replays the first answer."""
    who = caller()

    def made(session) -> dict:
        req = requests.create_request(session, runtime(), who, body, now())
        if who.is_staff and req.user_email != who.email:
            audit(
                session,
                runtime(),
                who.email,
                "booking_created_for_member",
                "booking",
                req.id,
                {"member": req.user_email},
            )
        return out(session, req)

    key = headers.get("idempotency_key")
    if key is not None:
        return idempotency.once(who.subject, key, 201, lambda session: BookingOut().dump(made(session)))
    with unit_of_work() as session:
        return made(session)


@blp.get("")
@signed_in
@blp.arguments(BookingQuery, location="query")
@blp.response(200, BookingOut(many=True))
def list_requests(query):
    """A member's own bookings; staff see everyone's (filter by status, date, member, resource)."""
    who = caller()
    with unit_of_work() as session:
        q = select(BookingRequest)
        if not who.is_staff:
            q = q.where(BookingRequest.user_email.in_(queries.emails_of(session, who.email)))
        elif query["member_email"]:
            q = q.where(BookingRequest.user_email.in_(queries.emails_of(session, query["member_email"])))
        if query["status"]:
            q = q.where(BookingRequest.status.in_(query["status"]))
        if query["resource_id"]:
            q = q.where(BookingRequest.resource_id == query["resource_id"])
        tz = runtime().tz
        if query["date"]:
            span = day_span(query["date"], tz)
            q = q.where(BookingRequest.starts_at < span.end, BookingRequest.ends_at > span.start)
        if query["from_date"]:
            q = q.where(BookingRequest.starts_at >= day_span(query["from_date"], tz).start)
        if query["to_date"]:
            q = q.where(BookingRequest.starts_at < day_span(query["to_date"], tz).end)
        rows = session.scalars(
            q.order_by(BookingRequest.starts_at, BookingRequest.id).limit(query["limit"])
        ).all()
        return [out(session, r) for r in rows]


@blp.get(f"/{ID}")
@signed_in
@blp.response(200, BookingOut)
def get_request(request_id: int):
    """One booking (a member's own only: another member's is 404)."""
    who = caller()
    with unit_of_work() as session:
        return out(session, lifecycle.load(session, request_id, who, lock=False))


@blp.post(f"/{ID}/approve")
@staff_only
@blp.arguments(ApproveIn)
@blp.response(200, BookingOut)
def approve(body, request_id: int):
    """Approve (staff): assign a bay, re-check every conflict, create or join the session; with a
    TrackMan id the booking is `confirmed`. 409 SLOT_TAKEN when the bay is taken."""
    who = caller()
    with unit_of_work() as session:
        req, changed = lifecycle.approve(session, runtime(), who, request_id, body, now())
        if changed:
            audit(session, runtime(), who.email, "booking_approved", "booking", req.id, body)
        return out(session, req)


@blp.post(f"/{ID}/decline")
@staff_only
@blp.arguments(DeclineIn)
@blp.response(200, BookingOut)
def decline(body, request_id: int):
    who = caller()
    with unit_of_work() as session:
        req, changed = lifecycle.decline(session, runtime(), who, request_id, body.get("reason"), now())
        if changed:
            audit(session, runtime(), who.email, "booking_declined", "booking", req.id, body)
        return out(session, req)


@blp.post(f"/{ID}/cancel")
@signed_in
@blp.arguments(CancelIn)
@blp.response(200, BookingOut)
def cancel(body, request_id: int):
    """Cancel (the owner, or staff). Late member cancels (start less than 60 minutes away) forfeit
    paid fees and passes; a TrackMan-linked booking goes to `cancellation_pending` until TrackMan
    confirms."""
    who = caller()
    with unit_of_work() as session:
        req = lifecycle.cancel(session, runtime(), who, request_id, body, now())
        if who.is_staff:
            audit(session, runtime(), who.email, "booking_cancelled", "booking", req.id, body)
        return out(session, req)


@blp.post(f"/{ID}/check-in")
@staff_only
@blp.response(200, BookingOut)
def check_in(request_id: int):
    """Check in (staff): 402 OUTSTANDING_BALANCE listing who owes what while anyone owes money."""
    who = caller()
    with unit_of_work() as session:
        req, changed = lifecycle.check_in(session, runtime(), who, request_id, now())
        if changed:
            audit(session, runtime(), who.email, "booking_checked_in", "booking", req.id)
        return out(session, req)


@blp.post(f"/{ID}/no-show")
@staff_only
@blp.response(200, BookingOut)
def no_show(request_id: int):
    who = caller()
    with unit_of_work() as session:
        req, changed = lifecycle.mark_no_show(session, runtime(), who, request_id, now())
        if changed:
            audit(session, runtime(), who.email, "booking_no_show", "booking", req.id)
        return out(session, req)


@blp.post(f"/{ID}/attended")
@staff_only
@blp.response(200, BookingOut)
def attended(request_id: int):
    """Mark attended directly (staff); no-show fees stand, guest passes are consumed."""
    who = caller()
    with unit_of_work() as session:
        req = lifecycle.load(session, request_id)
        if lifecycle.mark_attended(session, runtime(), who.email, req, now()):
            audit(session, runtime(), who.email, "booking_attended", "booking", req.id)
        return out(session, req)


@blp.put(f"/{ID}/participants")
@signed_in
@blp.arguments(RosterIn)
@blp.response(200, BookingOut)
def change_roster(body, request_id: int):
    """Replace the participants (and optionally the declared count): the owner or staff, until the
    start. Locked once anyone has paid (409 ROSTER_LOCKED) unless staff give `override_reason`."""
    who = caller()
    with unit_of_work() as session:
        req = roster_flow.change_roster(session, runtime(), who, request_id, body, now())
        if who.is_staff:
            audit(session, runtime(), who.email, "booking_roster_changed", "booking", req.id, body)
        return out(session, req)


@blp.post(f"/{ID}/reschedule")
@staff_only
@blp.arguments(RescheduleIn)
@blp.response(200, BookingOut)
def reschedule(body, request_id: int):
    """Move a booking (staff): new time, length or bay, every conflict re-checked."""
    who = caller()
    with unit_of_work() as session:
        req = roster_flow.reschedule(session, runtime(), who, request_id, body, now())
        audit(session, runtime(), who.email, "booking_rescheduled", "booking", req.id, body)
        return out(session, req)


@blp.post(f"/{ID}/participants/<int(max=2147483647):participant_id>/guest-pass")
@signed_in
@blp.response(200, BookingOut)
@blp.alt_response(409, description="No guest pass left: the guest pays the guest fee")
def use_guest_pass(request_id: int, participant_id: int):
    """Put one of the owner's guest passes on a named guest (the owner or staff)."""
    who = caller()
    with unit_of_work() as session:
        req, used = roster_flow.use_guest_pass(session, runtime(), who, request_id, participant_id, now())
        if not used:
            raise Problem(409, "No guest pass is left: the guest pays the guest fee.", code="NO_GUEST_PASS")
        if who.is_staff:
            audit(
                session,
                runtime(),
                who.email,
                "guest_pass_used",
                "booking",
                req.id,
                {"participant": participant_id},
            )
        return out(session, req)
