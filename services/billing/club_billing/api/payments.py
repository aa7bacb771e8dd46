"""/api/v1/payments: paying a booking by card, and staff actions per fee line (cash, mark paid,
waive), each audited in booking_payment_audit."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.audit import publish_audit
from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import invoices, payments
from ..models import BillingBooking, BookingPaymentAudit
from ..schemas import AuditEntry, FeeLineOut, LineActionIn, PaymentStarted, WaiveIn
from ..stripe_gateway import gateway_for
from ._access import caller, is_staff, not_found, signed_in, staff_only
from .fees import may_see

blp = Blueprint("payments", __name__, url_prefix="/api/v1/payments", description="Booking payments")

LINE_KEY = "<string(maxlength=12):line_key>"


def _booking(session, booking_id: int) -> BillingBooking:
    booking = session.get(BillingBooking, booking_id, with_for_update=True)
    if booking is None:
        raise not_found("booking fees")
    return booking


@blp.post("/booking-requests/<int:booking_id>/pay")
@signed_in
@blp.response(202, PaymentStarted)
@blp.alt_response(503, description="Stripe is not configured: card payments are off (PAYMENTS_UNAVAILABLE).")
@blp.doc(security=[{"bearerAuth": []}])
def pay(booking_id: int):
    """Pay what the booking owes with the card on file: its invoice is finalised and charged after
    this request (503 without Stripe; cash and waivers still work)."""
    identity = caller()
    gateway_for(runtime().settings).require()
    with runtime().db.transaction() as session:
        booking = _booking(session, booking_id)
        if not may_see(session, identity, booking) or (
            not is_staff(identity) and booking.member_email != identity.email.lower()
        ):
            raise not_found("booking fees")
        owed = invoices.owed_cents(booking)
        if owed == 0:
            invoice = invoices.invoice_for(session, booking_id)
            return {
                "booking_request_id": booking_id,
                "status": "nothing_owed",
                "amount_cents": 0,
                "invoice": invoice,
            }
        if booking.status in invoices.ENDED:
            raise Problem(409, f"The booking is {booking.status}.", code="STATE_CONFLICT")
        invoice = invoices.request_payment(session, booking)
        return {
            "booking_request_id": booking_id,
            "status": "processing",
            "amount_cents": owed,
            "invoice": invoice,
        }


@blp.post("/booking-requests/<int:booking_id>/payment-link")
@staff_only
@blp.response(202, PaymentStarted)
@blp.alt_response(503, description="Stripe is not configured: payment links are off (PAYMENTS_UNAVAILABLE).")
@blp.doc(security=[{"bearerAuth": []}])
def payment_link(booking_id: int):
    """Send the member a link to pay what the booking owes (Stripe's hosted invoice page)."""
    gateway_for(runtime().settings).require()
    with runtime().db.transaction() as session:
        booking = _booking(session, booking_id)
        owed = invoices.owed_cents(booking)
        if owed == 0:
            return {
                "booking_request_id": booking_id,
                "status": "nothing_owed",
                "amount_cents": 0,
                "invoice": invoices.invoice_for(session, booking_id),
            }
        if booking.status in invoices.ENDED:
            raise Problem(409, f"The booking is {booking.status}.", code="STATE_CONFLICT")
        invoice = invoices.request_link(session, booking)
        publish_audit(session, "payment_link_sent", "booking", booking_id, details={"amount_cents": owed})
        return {
            "booking_request_id": booking_id,
            "status": "link_sent",
            "amount_cents": owed,
            "invoice": invoice,
        }


def _line_action(booking_id: int, line_key: str, action: str, reason: str | None):
    identity = caller()
    with runtime().db.transaction() as session:
        booking = _booking(session, booking_id)
        before = next((line["payment_status"] for line in booking.lines if line["key"] == line_key), None)
        line = payments.staff_line_action(session, booking, line_key, action, identity.email, reason)
        if before != line["payment_status"]:
            publish_audit(
                session,
                {"cash": "payment_confirmed", "mark_paid": "payment_marked_paid", "waive": "payment_waived"}[
                    action
                ],
                "booking_fee_line",
                f"{booking_id}:{line_key}",
                resource_name=line.get("display_name"),
                details={"booking_id": booking_id, "reason": reason, "previous_status": before},
            )
        return line


@blp.post(f"/booking-requests/<int:booking_id>/lines/{LINE_KEY}/cash")
@staff_only
@blp.arguments(LineActionIn)
@blp.response(200, FeeLineOut)
@blp.doc(security=[{"bearerAuth": []}])
def confirm_cash(body, booking_id: int, line_key: str):
    """Staff took cash for this line: paid out of band, audited as payment_confirmed."""
    return _line_action(booking_id, line_key, "cash", body.get("reason"))


@blp.post(f"/booking-requests/<int:booking_id>/lines/{LINE_KEY}/mark-paid")
@staff_only
@blp.arguments(LineActionIn)
@blp.response(200, FeeLineOut)
@blp.doc(security=[{"bearerAuth": []}])
def mark_paid(body, booking_id: int, line_key: str):
    """The line was paid some other way (terminal, transfer): paid, audited."""
    return _line_action(booking_id, line_key, "mark_paid", body.get("reason"))


@blp.post(f"/booking-requests/<int:booking_id>/lines/{LINE_KEY}/waive")
@staff_only
@blp.arguments(WaiveIn)
@blp.response(200, FeeLineOut)
@blp.doc(security=[{"bearerAuth": []}])
def waive(body, booking_id: int, line_key: str):
    """Waive the line to $0 (a reason is required; admins review waivers)."""
    return _line_action(booking_id, line_key, "waive", body["reason"])


@blp.get("/booking-requests/<int:booking_id>/audit")
@staff_only
@blp.response(200, AuditEntry(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def audit(booking_id: int):
    """Every payment action on the booking, oldest first."""
    with runtime().db.transaction() as session:
        return session.scalars(
            select(BookingPaymentAudit)
            .where(BookingPaymentAudit.booking_id == booking_id)
            .order_by(BookingPaymentAudit.id)
        ).all()
