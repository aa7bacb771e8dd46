"""/api/v1/fees: a booking's fee lines, and a price before booking."""

from __future__ import annotations

from flask_smorest import Blueprint

from club_shared.clubtime import InvalidLocalTime, to_utc
from club_shared.problems import Problem
from club_shared.web import runtime

from ..domain.fees import FeeInput, compute_fees
from ..flows import fees as fee_flow
from ..flows import invoices, readmodels
from ..models import BillingBooking
from ..schemas import BookingFees, FeePreviewIn, FeePreviewOut
from ._access import caller, is_staff, not_found, signed_in

blp = Blueprint("fees", __name__, url_prefix="/api/v1/fees", description="Fees per booking and fee previews")

#: a preview sorts after every real booking that starts at the same instant
PREVIEW_BOOKING_ID = 2**62


def may_see(session, identity, booking: BillingBooking) -> bool:
    if is_staff(identity):
        return True
    member = readmodels.find_member(session, identity.email)
    emails = {identity.email.lower()} | ({member.email, *(member.linked_emails or [])} if member else set())
    if booking.member_email in emails:
        return True
    return any(line.get("email") in emails for line in booking.lines)


def booking_fees(session, booking: BillingBooking) -> dict:
    invoice = invoices.invoice_for(session, booking.booking_id)
    return {
        "booking_request_id": booking.booking_id,
        "status": booking.status,
        "resource_type": booking.resource_type,
        "date": booking.club_date,
        "roster_version": booking.roster_version,
        "fees_version": booking.fees_version,
        "total_cents": booking.total_cents,
        "owed_cents": invoices.owed_cents(booking),
        "participants": booking.lines,
        "invoice": invoice,
    }


@blp.get("/booking-requests/<int:booking_id>")
@signed_in
@blp.response(200, BookingFees)
@blp.doc(security=[{"bearerAuth": []}])
def get_booking_fees(booking_id: int):
    """The fee lines billing computed for a booking (the owner, a participant, or staff)."""
    identity = caller()
    with runtime().db.transaction() as session:
        booking = session.get(BillingBooking, booking_id)
        if booking is None or not may_see(session, identity, booking):
            raise not_found("booking fees")
        return booking_fees(session, booking)


@blp.post("/preview")
@signed_in
@blp.arguments(FeePreviewIn)
@blp.response(200, FeePreviewOut)
@blp.doc(security=[{"bearerAuth": []}])
def preview(body):
    """Price a booking before it is made, from billing's own read models (the member's tier and that
    day's earlier bookings); nothing is stored."""
    identity = caller()
    email = body.get("member_email") or identity.email.lower()
    if email != identity.email.lower() and not is_staff(identity):
        raise Problem(403, "Only staff may price a booking for another member.", code="FORBIDDEN")
    try:
        starts_at = to_utc(body["date"], body["start_time"], runtime().tz)
    except InvalidLocalTime as exc:
        raise Problem(422, str(exc), code="INVALID_LOCAL_TIME") from None
    participants = [{"type": "owner", "slot": 1, "email": email, "participant_id": None}]
    for slot, p in enumerate(body["participants"], start=2):
        participants.append({**p, "slot": slot, "participant_id": None})
    with runtime().db.transaction() as session:
        member = readmodels.find_member(session, email)
        owner_email = member.email if member is not None else email
        participants[0]["email"] = owner_email
        rate, guest_price = readmodels.fee_prices(session)
        players = fee_flow.build_players(
            session,
            booking_id=PREVIEW_BOOKING_ID,
            member_email=owner_email,
            club_date=body["date"],
            resource_type=body["resource_type"],
            starts_at=starts_at,
            participants=participants,
            previous={},
        )
        result = compute_fees(
            FeeInput(
                "pending",
                body["resource_type"],
                body["duration_minutes"],
                body["declared_player_count"],
                players,
                rate,
                guest_price,
            )
        )
    return {
        "member_email": owner_email,
        "total_cents": result.total_cents,
        "participants": [line.as_dict() for line in result.lines],
    }
