"""Payments (domain.md §6.1, §4.7, §4.8): one payment-status routine that updates the intent, the
snapshot and the fee lines together, writes the audit and publishes once; staff actions per line;
refunds on cancellation; the outstanding balance."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import enqueue
from club_shared.problems import Problem

from ..models import (
    JOBS,
    BillingBooking,
    BookingFeeSnapshot,
    BookingPaymentAudit,
    BookingUsage,
    StripePaymentIntent,
)
from .runtime_access import publish

log = logging.getLogger(__name__)

BALANCE_DAYS = 90
#: Intent statuses after which nothing moves it back (ordering is also checked per webhook).
FINAL_INTENT = ("succeeded", "canceled", "refunded", "partially_refunded", "refunding")


def record_intent(
    session: Session,
    *,
    stripe_id: str | None,
    email: str | None,
    amount_cents: int,
    payment_type: str,
    booking: BillingBooking | None,
    line_keys: list[str],
    invoice_id: str | None = None,
    idempotency_key: str | None = None,
    status: str = "pending",
) -> StripePaymentIntent:
    intent = None
    if stripe_id:
        intent = session.scalars(
            select(StripePaymentIntent)
            .where(StripePaymentIntent.stripe_payment_intent_id == stripe_id)
            .with_for_update()
        ).first()
    if intent is None and idempotency_key:
        intent = session.scalars(
            select(StripePaymentIntent)
            .where(StripePaymentIntent.idempotency_key == idempotency_key)
            .with_for_update()
        ).first()
    if intent is None:
        intent = StripePaymentIntent(
            stripe_payment_intent_id=stripe_id,
            customer_email=email,
            amount_cents=amount_cents,
            status=status,
            payment_type=payment_type,
            booking_id=booking.booking_id if booking else None,
            session_id=booking.session_id if booking else None,
            stripe_invoice_id=invoice_id,
            line_keys=line_keys,
            idempotency_key=idempotency_key,
        )
        session.add(intent)
    else:
        intent.stripe_payment_intent_id = intent.stripe_payment_intent_id or stripe_id
        if intent.status not in FINAL_INTENT:
            intent.amount_cents, intent.line_keys = amount_cents, line_keys
        elif not intent.line_keys:
            intent.line_keys = line_keys
        if booking is not None and intent.booking_id is None:
            intent.booking_id, intent.session_id = booking.booking_id, booking.session_id
    session.flush()
    return intent


def _lines_by_key(booking: BillingBooking) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in booking.lines}


def set_line_status(
    session: Session,
    booking: BillingBooking,
    keys: list[str],
    status: str,
    *,
    action: str,
    staff_email: str | None,
    payment_method: str | None,
    reason: str | None = None,
    only_from: tuple[str, ...] = ("pending",),
) -> list[dict[str, Any]]:
    """Move lines to `status` (guarded: only from `only_from`); audit each; the lines changed."""
    lines = [dict(line) for line in booking.lines]
    changed = []
    for line in lines:
        if line["key"] in keys and line["payment_status"] in only_from:
            previous = line["payment_status"]
            amount = line["total_cents"]
            line["payment_status"] = status
            if status == "waived":
                line["overage_cents"] = line["guest_fee_cents"] = line["total_cents"] = 0
            session.add(
                BookingPaymentAudit(
                    booking_id=booking.booking_id,
                    session_id=booking.session_id,
                    participant_id=line["participant_id"],
                    line_key=line["key"],
                    action=action,
                    staff_email=staff_email,
                    amount_affected=Decimal(amount) / 100,
                    amount_cents=amount,
                    previous_status=previous,
                    new_status=status,
                    payment_method=payment_method,
                    reason=reason,
                )
            )
            changed.append({**line, "amount_cents": amount})
    if changed:
        from .fees import fees_calculated_data

        booking.lines = lines
        booking.total_cents = sum(line["total_cents"] for line in lines)
        _settle_snapshot(session, booking)
        # booking's cached lines follow every status change too (paid, waived, refunded)
        booking.fees_version += 1
        booking.source = "admin_override" if staff_email else "system_recalc"
        publish(session, "billing.fees.calculated", fees_calculated_data(booking))
    return changed


def _settle_snapshot(session: Session, booking: BillingBooking) -> None:
    owed = sum(line["total_cents"] for line in booking.lines if line["payment_status"] == "pending")
    if owed == 0:
        session.execute(
            update(BookingFeeSnapshot)
            .where(
                BookingFeeSnapshot.booking_id == booking.booking_id, BookingFeeSnapshot.status == "pending"
            )
            .values(status="completed", participant_fees=booking.lines)
        )


def _paid_lines(changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "participant_id": line["participant_id"],
            "line_key": line["key"],
            "amount_cents": line["amount_cents"],
        }
        for line in changed
    ]


def _payment_data(
    booking: BillingBooking | None,
    *,
    intent: StripePaymentIntent | None,
    amount: int,
    method: str,
    status: str,
    lines: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "payment_intent_id": intent.stripe_payment_intent_id if intent else None,
        "booking_request_id": booking.booking_id if booking else (intent.booking_id if intent else None),
        "session_id": booking.session_id if booking else None,
        "member_email": booking.member_email if booking else (intent.customer_email if intent else None),
        "amount_cents": amount,
        "payment_type": intent.payment_type if intent else "booking_fee",
        "payment_method": method,
        "status": status,
        "participants": lines,
        **extra,
    }


# ------------------------------------------------------------------------------------------------
# Staff actions per line (each audited in booking_payment_audit)
# ------------------------------------------------------------------------------------------------


def staff_line_action(
    session: Session,
    booking: BillingBooking,
    line_key: str,
    action: str,
    staff_email: str,
    reason: str | None,
) -> dict[str, Any]:
    from . import invoices

    line = _lines_by_key(booking).get(line_key)
    if line is None:
        raise Problem(404, f"Booking {booking.booking_id} has no fee line {line_key}.", code="NOT_FOUND")
    target = {"cash": "paid", "mark_paid": "paid", "waive": "waived"}[action]
    if line["payment_status"] == target:
        return line  # repeating a change that already happened is a no-op
    if line["payment_status"] != "pending":
        raise Problem(
            409,
            f"The line is {line['payment_status']}; only a pending line can be {action}.",
            code="STATE_CONFLICT",
        )
    if action == "waive":
        changed = set_line_status(
            session,
            booking,
            [line_key],
            "waived",
            action="payment_waived",
            staff_email=staff_email,
            payment_method="waived",
            reason=reason,
        )
        for waived in changed:
            publish(
                session,
                "billing.fee.waived",
                {
                    "booking_request_id": booking.booking_id,
                    "line_key": waived["key"],
                    "member_email": booking.member_email,
                    "member_name": booking.member_name,
                    "participant_name": waived.get("display_name") or waived.get("email"),
                    "club_date": booking.club_date,
                    "amount_cents": waived["amount_cents"],
                    "reason": reason,
                    "waived_by": staff_email,
                    "waived_at": utcnow(),
                },
            )
    else:
        method = "cash" if action == "cash" else "out_of_band"
        changed = set_line_status(
            session,
            booking,
            [line_key],
            "paid",
            action="payment_confirmed",
            staff_email=staff_email,
            payment_method=method,
            reason=reason,
        )
        amount = sum(c["amount_cents"] for c in changed)
        publish(
            session,
            "billing.payment.succeeded",
            _payment_data(
                booking,
                intent=None,
                amount=amount,
                method=method,
                status="succeeded",
                lines=_paid_lines(changed),
                paid_at=utcnow(),
            ),
        )
    invoices.plan(session, booking)
    return _lines_by_key(booking)[line_key]


# ------------------------------------------------------------------------------------------------
# The payment-status routine (from the invoice job and from webhooks)
# ------------------------------------------------------------------------------------------------


def intent_succeeded(
    session: Session, intent: StripePaymentIntent, amount_received: int | None = None
) -> bool:
    """succeeded once: lines paid, snapshot completed, billing.payment.succeeded. A repeat is a no-op
    (unless it names lines still pending: an intent first seen without its invoice's lines)."""
    if intent.status in ("refunding", "refunded", "partially_refunded"):
        return False
    first = intent.status != "succeeded"
    intent.status = "succeeded"
    amount = amount_received if amount_received is not None else intent.amount_cents
    booking = (
        session.get(BillingBooking, intent.booking_id, with_for_update=True) if intent.booking_id else None
    )
    changed: list[dict[str, Any]] = []
    if booking is not None:
        changed = set_line_status(
            session,
            booking,
            list(intent.line_keys or []),
            "paid",
            action="payment_confirmed",
            staff_email=None,
            payment_method="card",
        )
        session.execute(
            update(BookingFeeSnapshot)
            .where(
                BookingFeeSnapshot.booking_id == booking.booking_id, BookingFeeSnapshot.status == "completed"
            )
            .values(stripe_payment_intent_id=intent.stripe_payment_intent_id)
        )
    if not first and not changed:
        return False
    publish(
        session,
        "billing.payment.succeeded",
        _payment_data(
            booking,
            intent=intent,
            amount=amount,
            method="card",
            status="succeeded",
            lines=_paid_lines(changed),
            paid_at=utcnow(),
        ),
    )
    return True


def payment_failed(session: Session, intent: StripePaymentIntent, *, reason: str | None) -> bool:
    if intent.status in ("succeeded", "refunding", "refunded", "partially_refunded", "canceled"):
        return False
    intent.status = "failed"
    intent.failure_reason = (reason or "")[:2000] or None
    intent.retry_count = (intent.retry_count or 0) + 1
    booking = session.get(BillingBooking, intent.booking_id) if intent.booking_id else None
    if booking is not None:
        session.execute(
            update(BookingFeeSnapshot)
            .where(
                BookingFeeSnapshot.booking_id == booking.booking_id, BookingFeeSnapshot.status == "pending"
            )
            .values(status="failed", stripe_payment_intent_id=intent.stripe_payment_intent_id)
        )
    _count_failure(session, intent.customer_email)
    publish(
        session,
        "billing.payment.failed",
        _payment_data(
            booking,
            intent=intent,
            amount=intent.amount_cents,
            method="card",
            status="failed",
            lines=[],
            failure_reason=intent.failure_reason,
        ),
    )
    if intent.customer_email:
        publish(
            session,
            "billing.notification.requested",
            {
                "audience": "member",
                "email": intent.customer_email,
                "type": "payment_failed",
                "title": "Your payment did not go through",
                "message": f"We could not charge ${intent.amount_cents / 100:.2f}: {intent.failure_reason or 'declined'}.",
                "channels": ["in_app", "email"],
            },
        )
    publish(
        session,
        "billing.notification.requested",
        {
            "audience": "staff",
            "type": "billing_alert",
            "title": "A payment failed",
            "message": (
                f"${intent.amount_cents / 100:.2f} from {intent.customer_email or 'an unknown payer'}"
                + (f" for booking #{intent.booking_id}" if intent.booking_id else "")
                + f" failed: {intent.failure_reason or 'declined'}."
            ),
            "channels": ["in_app", "push"],
        },
    )
    return True


def _count_failure(session: Session, email: str | None) -> None:
    from ..models import BillingCustomer

    if not email:
        return
    customer = session.scalars(
        select(BillingCustomer).where(BillingCustomer.email == email).with_for_update()
    ).first()
    if customer is None:
        customer = BillingCustomer(email=email, payment_failure_count=0)
        session.add(customer)
    customer.payment_failure_count = (customer.payment_failure_count or 0) + 1
    if customer.payment_failure_count >= 3:
        customer.requires_card_update = True


def invoice_paid(session: Session, booking: BillingBooking, invoice, stripe_invoice: dict[str, Any]) -> None:
    """A booking invoice was paid at Stripe (from the job's own call or the invoice.paid webhook)."""
    from .invoices import _invoice_data, invoice_key

    if invoice.status == "paid" and invoice.amount_paid_cents:
        return
    invoice.status = "paid"
    invoice.amount_paid_cents = int(stripe_invoice.get("amount_paid") or invoice.total_cents)
    invoice.paid_out_of_band = bool(stripe_invoice.get("paid_out_of_band"))
    pi = stripe_invoice.get("payment_intent")
    if pi:
        keys = [k for k in (invoice.items or {}) if k != "_generation"]
        intent = record_intent(
            session,
            stripe_id=pi,
            email=booking.member_email,
            amount_cents=invoice.amount_paid_cents,
            payment_type="booking_fee",
            booking=booking,
            line_keys=keys,
            invoice_id=invoice.stripe_invoice_id,
            idempotency_key=invoice_key(invoice, ":pay"),
        )
        intent_succeeded(session, intent, invoice.amount_paid_cents)
    publish(session, "billing.invoice.paid", _invoice_data(booking, invoice, "paid"))


# ------------------------------------------------------------------------------------------------
# Cancellation: refunds, cancelled intents (§4.7)
# ------------------------------------------------------------------------------------------------


def on_cancelled(session: Session, booking: BillingBooking, refund_eligible: bool, actor: str | None) -> None:
    """Per paid intent: claim (succeeded → refunding) and queue the refund with key refund:<pi>;
    pending intents are cancelled; cash-paid lines are recorded refunded when eligible."""
    from . import invoices

    for intent in session.scalars(
        select(StripePaymentIntent)
        .where(StripePaymentIntent.booking_id == booking.booking_id)
        .with_for_update()
    ):
        if intent.status == "succeeded" and refund_eligible and intent.stripe_payment_intent_id:
            intent.status = "refunding"
            enqueue(session, JOBS, "refund_payment", {"intent_id": intent.id}, max_retries=8)
        elif intent.status in ("pending", "processing", "requires_action", "failed"):
            intent.status = "canceled"
            if intent.stripe_payment_intent_id:
                enqueue(session, JOBS, "cancel_payment_intent", {"intent_id": intent.id})
    card_keys = {
        key
        for intent in session.scalars(
            select(StripePaymentIntent).where(StripePaymentIntent.booking_id == booking.booking_id)
        )
        for key in (intent.line_keys or [])
        if intent.stripe_payment_intent_id
    }
    if refund_eligible:
        cash = [
            line["key"]
            for line in booking.lines
            if line["payment_status"] == "paid" and line["key"] not in card_keys
        ]
        changed = set_line_status(
            session,
            booking,
            cash,
            "refunded",
            action="refunded",
            staff_email=actor,
            payment_method="cash",
            only_from=("paid",),
        )
        if changed:
            publish(
                session,
                "billing.payment.refunded",
                _payment_data(
                    booking,
                    intent=None,
                    amount=0,
                    method="cash",
                    status="refunded",
                    lines=_paid_lines(changed),
                    amount_refunded_cents=sum(c["amount_cents"] for c in changed),
                ),
            )
    session.execute(
        update(BookingFeeSnapshot)
        .where(
            BookingFeeSnapshot.booking_id == booking.booking_id,
            BookingFeeSnapshot.status.in_(("pending", "failed")),
        )
        .values(status="cancelled")
    )
    invoices.plan(session, booking, refund_eligible=refund_eligible)


def refund_done(session: Session, intent: StripePaymentIntent, refunded_cents: int) -> bool:
    """Record a refund (cumulative amount: keeps the largest ever seen). Publishes on first change."""
    if refunded_cents <= (intent.amount_refunded_cents or 0):
        return False
    intent.amount_refunded_cents = refunded_cents
    intent.status = "refunded" if refunded_cents >= intent.amount_cents else "partially_refunded"
    booking = (
        session.get(BillingBooking, intent.booking_id, with_for_update=True) if intent.booking_id else None
    )
    changed: list[dict[str, Any]] = []
    if booking is not None and intent.status == "refunded":
        changed = set_line_status(
            session,
            booking,
            list(intent.line_keys or []),
            "refunded",
            action="refunded",
            staff_email=None,
            payment_method="card",
            only_from=("paid",),
        )
        session.execute(
            update(BookingFeeSnapshot)
            .where(
                BookingFeeSnapshot.booking_id == booking.booking_id,
                BookingFeeSnapshot.stripe_payment_intent_id == intent.stripe_payment_intent_id,
            )
            .values(status="refunded")
        )
    publish(
        session,
        "billing.payment.refunded",
        _payment_data(
            booking,
            intent=intent,
            amount=intent.amount_cents,
            method="card",
            status=intent.status,
            lines=_paid_lines(changed),
            amount_refunded_cents=refunded_cents,
        ),
    )
    return True


# ------------------------------------------------------------------------------------------------
# Outstanding balance (§5.3)
# ------------------------------------------------------------------------------------------------


def outstanding(session: Session, email: str, today: date) -> dict[str, Any]:
    """Unpaid lines of the last 90 days a member owes (their own lines, and their guests' and empty
    slots' on bookings they own), excluding cancelled/declined bookings."""
    cutoff = today - timedelta(days=BALANCE_DAYS)
    bookings = session.scalars(
        select(BillingBooking)
        .where(
            BillingBooking.club_date >= cutoff,
            BillingBooking.status.not_in(("cancelled", "declined", "expired", "cancellation_pending")),
            or_(
                BillingBooking.member_email == email,
                BillingBooking.booking_id.in_(
                    select(BookingUsage.booking_id).where(BookingUsage.email == email)
                ),
            ),
        )
        .order_by(BillingBooking.club_date, BillingBooking.booking_id)
    ).all()
    items = []
    for booking in bookings:
        for line in booking.lines:
            if line["payment_status"] != "pending" or line["total_cents"] <= 0:
                continue
            own = line["participant_type"] in ("owner", "member") and line["email"] == email
            charged_to_owner = booking.member_email == email and (
                line["participant_type"] in ("guest", "empty_slot") or line["participant_type"] == "owner"
            )
            if own or charged_to_owner:
                items.append(
                    {
                        "booking_request_id": booking.booking_id,
                        "date": booking.club_date.isoformat(),
                        "line_key": line["key"],
                        "participant_type": line["participant_type"],
                        "display_name": line["display_name"],
                        "amount_cents": line["total_cents"],
                    }
                )
    return {"email": email, "total_cents": sum(i["amount_cents"] for i in items), "items": items}
