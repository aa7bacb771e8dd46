"""One Stripe invoice per booking (domain.md §6.2).

`plan` runs in the transaction that changed the fees (a consumer's, a staff action's): it only
decides what the invoice should be (`booking_invoices.status`: draft, open = finalise and charge,
paid out of band, deleted, void) and queues the `sync_invoice` job. The job, after that commit,
makes Stripe match, with idempotency keys derived from the booking id, so a retry never creates a
second invoice or charges twice.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.jobs import enqueue

from ..models import JOBS, BillingBooking, BillingCustomer, BookingInvoice, StripePaymentIntent
from ..stripe_gateway import StripeGateway
from . import readmodels
from .runtime_access import publish

log = logging.getLogger(__name__)

#: Statuses in which an approved booking may carry an invoice.
INVOICEABLE = frozenset({"approved", "confirmed", "checked_in", "attended", "no_show"})
ENDED = frozenset({"cancelled", "declined", "expired", "cancellation_pending"})


def owed_lines(booking: BillingBooking) -> list[dict[str, Any]]:
    return [line for line in booking.lines if line["payment_status"] == "pending" and line["total_cents"] > 0]


def owed_cents(booking: BillingBooking) -> int:
    return sum(line["total_cents"] for line in owed_lines(booking))


def paid_cents(booking: BillingBooking) -> int:
    return sum(line["total_cents"] for line in booking.lines if line["payment_status"] == "paid")


def prepay_allowed(session: Session, booking: BillingBooking) -> bool:
    """No prepayment invoice for staff owners, unlimited tiers, or bookings without an e-mail."""
    owner = next((line for line in booking.lines if line["participant_type"] == "owner"), None)
    if owner is None or owner["is_staff"] or not booking.member_email:
        return False
    member = readmodels.find_member(session, booking.member_email)
    if readmodels.is_staff_member(member):
        return False
    if member is not None and member.tier:
        rules = readmodels.tier_rules(session).get(member.tier)
        if rules is not None and rules.daily_sim_minutes is None and rules.daily_conf_minutes is None:
            return False
    return True


def invoice_for(session: Session, booking_id: int, *, lock: bool = False) -> BookingInvoice | None:
    statement = select(BookingInvoice).where(BookingInvoice.booking_id == booking_id)
    if lock:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def redraft(invoice: BookingInvoice) -> None:
    """A deleted or voided invoice made anew: a new generation, so every idempotency key differs
    from the old invoice's (Stripe would replay those)."""
    invoice.items = {"_generation": _generation(invoice) + 1}
    invoice.stripe_invoice_id = None
    invoice.stripe_payment_intent_id = None
    invoice.hosted_invoice_url = None
    invoice.amount_paid_cents = 0
    invoice.paid_out_of_band = False
    invoice.status = "draft"


def invoice_key(invoice: BookingInvoice, suffix: str = "") -> str:
    """`invoice:<booking id>` (the first invoice of a booking), `invoice:<booking id>:g<n>` after."""
    generation = _generation(invoice)
    return f"invoice:{invoice.booking_id}" + (f":g{generation}" if generation else "") + suffix


def plan(
    session: Session, booking: BillingBooking, *, refund_eligible: bool = False, new: bool = False
) -> BookingInvoice | None:
    """Decide what the booking's invoice should be after its fees changed; queue the sync.
    `new`: the booking was created in this transaction, so it has no invoice yet to look for."""
    invoice = None if new else invoice_for(session, booking.booking_id, lock=True)
    owed = owed_cents(booking)
    if invoice is None:
        if booking.status in INVOICEABLE and owed > 0 and prepay_allowed(session, booking):
            invoice = BookingInvoice(
                booking_id=booking.booking_id,
                member_email=booking.member_email,
                status="draft",
                total_cents=owed,
                fees_version=booking.fees_version,
                items={},
            )
            session.add(invoice)
            session.flush()
            _queue(session, booking.booking_id)
            if booking.resource_type == "conference_room":
                # conference rooms are charged to the card on file after the booking's transaction
                invoice.status = "open"
        return invoice
    before = invoice.status
    if (
        invoice.status in ("deleted", "void")
        and booking.status in INVOICEABLE
        and owed > 0
        and prepay_allowed(session, booking)
    ):
        redraft(invoice)  # the booking owes again (a cascade, a roster change)
        before = None
    if invoice.status == "draft":
        if booking.status in ENDED or owed == 0:
            invoice.status = "paid" if booking.status not in ENDED and paid_cents(booking) > 0 else "deleted"
            if invoice.status == "paid":
                invoice.paid_out_of_band = True
        invoice.total_cents = owed if invoice.status == "draft" else invoice.total_cents
        invoice.fees_version = booking.fees_version
    elif invoice.status in ("open", "sent"):
        if booking.status in ENDED:
            invoice.status = "void"
        elif owed == 0 and paid_cents(booking) > 0:
            invoice.status, invoice.paid_out_of_band = "paid", True
        elif owed == 0:
            invoice.status = "void"
    elif invoice.status == "paid" and booking.status in ENDED and refund_eligible:
        invoice.status = "refunded"
    if invoice.status != before or invoice.status == "draft":
        _queue(session, booking.booking_id)
    return invoice


def request_payment(session: Session, booking: BillingBooking) -> BookingInvoice:
    """The member or staff pays the booking's invoice by card: finalise and charge (in the job)."""
    invoice = invoice_for(session, booking.booking_id, lock=True)
    owed = owed_cents(booking)
    if invoice is None or invoice.status in ("deleted", "void"):
        if invoice is None:
            invoice = BookingInvoice(
                booking_id=booking.booking_id, member_email=booking.member_email, items={}
            )
            session.add(invoice)
        if invoice.status in ("deleted", "void"):
            redraft(invoice)
        else:
            invoice.items, invoice.status = {}, "draft"
    invoice.total_cents = owed
    invoice.fees_version = booking.fees_version
    if invoice.status in ("draft", "sent"):
        invoice.status = "open"
    session.flush()
    _queue(session, booking.booking_id)
    return invoice


def request_link(session: Session, booking: BillingBooking) -> BookingInvoice:
    """Staff send the member a payment link: the invoice is finalised (not charged) and its hosted
    page e-mailed; paying there comes back as invoice.paid."""
    invoice = invoice_for(session, booking.booking_id, lock=True)
    if invoice is None or invoice.status in ("deleted", "void"):
        if invoice is None:
            invoice = BookingInvoice(
                booking_id=booking.booking_id, member_email=booking.member_email, items={}
            )
            session.add(invoice)
        if invoice.status in ("deleted", "void"):
            redraft(invoice)
        else:
            invoice.items, invoice.status = {}, "draft"
    invoice.total_cents = owed_cents(booking)
    invoice.fees_version = booking.fees_version
    if invoice.status == "draft":
        invoice.status = "sent"
    session.flush()
    _queue(session, booking.booking_id)
    return invoice


def _queue(session: Session, booking_id: int) -> None:
    enqueue(session, JOBS, "sync_invoice", {"booking_id": booking_id}, max_retries=8)


# ------------------------------------------------------------------------------------------------
# The job: make Stripe match (after the causing transaction)
# ------------------------------------------------------------------------------------------------


def ensure_customer(session: Session, gateway: StripeGateway, email: str, name: str | None = None) -> str:
    customer = session.scalars(
        select(BillingCustomer).where(BillingCustomer.email == email).with_for_update()
    ).first()
    if customer is not None and customer.stripe_customer_id:
        return customer.stripe_customer_id
    member = readmodels.find_member(session, email)
    if member is not None and member.stripe_customer_id:
        stripe_id = member.stripe_customer_id
    else:
        created = gateway.v1.customers.create(
            params={
                "email": email,
                "name": name or (member.name if member else None) or email,
                "metadata": {"club_email": email},
            },
            options={"idempotency_key": f"customer:{email}"},
        )
        stripe_id = created.id
    if customer is None:
        customer = BillingCustomer(email=email)
        session.add(customer)
    customer.stripe_customer_id = stripe_id
    session.flush()
    return stripe_id


def _invoice_data(booking: BillingBooking, invoice: BookingInvoice, status: str) -> dict[str, Any]:
    return {
        "booking_request_id": booking.booking_id,
        "stripe_invoice_id": invoice.stripe_invoice_id,
        "member_email": booking.member_email,
        "status": status,
        "total_cents": invoice.total_cents,
        "amount_paid_cents": invoice.amount_paid_cents,
        "paid_out_of_band": invoice.paid_out_of_band,
        "hosted_invoice_url": invoice.hosted_invoice_url,
    }


def sync_invoice(session: Session, gateway: StripeGateway, booking_id: int) -> None:
    """Bring the booking's Stripe invoice to the status `plan` decided. Safe to run again."""
    if not gateway.enabled:
        return
    booking = session.get(BillingBooking, booking_id, with_for_update=True)
    invoice = invoice_for(session, booking_id, lock=True)
    if booking is None or invoice is None:
        return
    v1 = gateway.v1
    key = invoice_key(invoice)
    if invoice.stripe_invoice_id is None:
        if invoice.status not in ("draft", "open", "sent"):
            return  # nothing was ever created at Stripe: nothing to delete, void or refund
        customer_id = ensure_customer(session, gateway, booking.member_email, booking.member_name)
        created = v1.invoices.create(
            params={
                "customer": customer_id,
                "auto_advance": False,
                "collection_method": "charge_automatically",
                "description": f"Booking #{booking_id} on {booking.club_date.isoformat()}",
                "metadata": {"booking_id": str(booking_id), "kind": "booking_fees"},
                "payment_settings": {"payment_method_types": ["card", "link"]},
                "pending_invoice_items_behavior": "exclude",
            },
            options={"idempotency_key": key},
        )
        invoice.stripe_invoice_id = created.id
        invoice.stripe_customer_id = customer_id
        publish(session, "billing.invoice.created", _invoice_data(booking, invoice, "draft"))
    if invoice.status in ("draft", "open", "sent"):
        stripe_invoice = v1.invoices.retrieve(invoice.stripe_invoice_id)
        if stripe_invoice.status == "draft":
            _rewrite_lines(session, gateway, booking, invoice)
    if invoice.status == "open":
        _finalise_and_charge(session, gateway, booking, invoice)
    elif invoice.status == "sent":
        _finalise_and_send(session, gateway, booking, invoice)
    elif invoice.status == "paid":
        _pay_out_of_band(session, gateway, booking, invoice)
    elif invoice.status == "deleted":
        stripe_invoice = v1.invoices.retrieve(invoice.stripe_invoice_id)
        if stripe_invoice.status == "draft":
            v1.invoices.delete(invoice.stripe_invoice_id)
            publish(session, "billing.invoice.voided", _invoice_data(booking, invoice, "deleted"))
        elif stripe_invoice.status == "open":
            invoice.status = "void"
    if invoice.status == "void":
        stripe_invoice = v1.invoices.retrieve(invoice.stripe_invoice_id)
        if stripe_invoice.status == "open":
            v1.invoices.void_invoice(invoice.stripe_invoice_id, options={"idempotency_key": f"{key}:void"})
            publish(session, "billing.invoice.voided", _invoice_data(booking, invoice, "void"))
        elif stripe_invoice.status == "draft":
            v1.invoices.delete(invoice.stripe_invoice_id)
            invoice.status = "deleted"
            publish(session, "billing.invoice.voided", _invoice_data(booking, invoice, "deleted"))


def _generation(invoice: BookingInvoice) -> int:
    return int((invoice.items or {}).get("_generation", 0))


def _rewrite_lines(
    session: Session, gateway: StripeGateway, booking: BillingBooking, invoice: BookingInvoice
) -> None:
    """Make the draft's items the booking's owed lines: one item per line, keyed by line and amount."""
    items = dict(invoice.items or {})
    generation = items.pop("_generation", 0)
    wanted = {line["key"]: line for line in owed_lines(booking)}
    for line_key, item in list(items.items()):
        line = wanted.get(line_key)
        if line is None or line["total_cents"] != item["amount"]:
            try:
                gateway.v1.invoice_items.delete(item["id"])
            except stripe.InvalidRequestError as exc:
                if getattr(exc, "code", None) != "resource_missing":
                    raise
            del items[line_key]
    for line_key, line in wanted.items():
        if line_key in items:
            continue
        created = gateway.v1.invoice_items.create(
            params={
                "customer": invoice.stripe_customer_id,
                "invoice": invoice.stripe_invoice_id,
                "amount": line["total_cents"],
                "currency": "usd",
                "description": _describe(line),
                "metadata": {"booking_id": str(booking.booking_id), "line_key": line_key},
            },
            options={
                "idempotency_key": f"invoice:{booking.booking_id}:g{generation}:item:{line_key}:{line['total_cents']}"
            },
        )
        items[line_key] = {"id": created.id, "amount": line["total_cents"]}
    invoice.total_cents = sum(item["amount"] for item in items.values())
    invoice.items = {**items, "_generation": generation}


def _describe(line: dict[str, Any]) -> str:
    who = line.get("display_name") or line.get("email") or f"slot {line['slot']}"
    parts = []
    if line["overage_cents"]:
        parts.append(f"simulator overage ({line['minutes']} min)")
    if line["guest_fee_cents"]:
        parts.append("guest fee")
    return f"{who}: {', '.join(parts) or 'fees'}"


def _finalise_and_charge(
    session: Session, gateway: StripeGateway, booking: BillingBooking, invoice: BookingInvoice
) -> None:
    from . import payments

    key = invoice_key(invoice)
    v1 = gateway.v1
    current = v1.invoices.retrieve(invoice.stripe_invoice_id)
    if current.status == "draft":
        if invoice.total_cents <= 0:  # checked before finalising: no invoice for a zero total
            v1.invoices.delete(invoice.stripe_invoice_id)
            invoice.status = "deleted"
            publish(session, "billing.invoice.voided", _invoice_data(booking, invoice, "deleted"))
            return
        current = v1.invoices.finalize_invoice(
            invoice.stripe_invoice_id, options={"idempotency_key": f"{key}:finalize"}
        )
        invoice.hosted_invoice_url = current.hosted_invoice_url
        invoice.stripe_payment_intent_id = current.payment_intent
    if current.status == "paid":
        payments.invoice_paid(session, booking, invoice, current.to_dict())
        return
    if current.status != "open":
        return
    keys = [line_key for line_key in (invoice.items or {}) if line_key != "_generation"]
    intent = payments.record_intent(
        session,
        stripe_id=current.payment_intent,
        email=booking.member_email,
        amount_cents=invoice.total_cents,
        payment_type="booking_fee",
        booking=booking,
        line_keys=keys,
        invoice_id=invoice.stripe_invoice_id,
        idempotency_key=f"{key}:pay",
    )
    try:
        paid = v1.invoices.pay(invoice.stripe_invoice_id, options={"idempotency_key": f"{key}:pay"})
    except stripe.CardError as exc:
        payments.payment_failed(session, intent, reason=exc.user_message or str(exc))
        invoice.last_error = str(exc)[:2000]
        return
    if paid.status == "paid":
        payments.invoice_paid(session, booking, invoice, paid.to_dict())


def _finalise_and_send(
    session: Session, gateway: StripeGateway, booking: BillingBooking, invoice: BookingInvoice
) -> None:
    key = invoice_key(invoice)
    v1 = gateway.v1
    current = v1.invoices.retrieve(invoice.stripe_invoice_id)
    if current.status != "draft":
        return  # finalised already: the link went out then
    if invoice.total_cents <= 0:
        v1.invoices.delete(invoice.stripe_invoice_id)
        invoice.status = "deleted"
        publish(session, "billing.invoice.voided", _invoice_data(booking, invoice, "deleted"))
        return
    current = v1.invoices.finalize_invoice(
        invoice.stripe_invoice_id, options={"idempotency_key": f"{key}:finalize"}
    )
    invoice.hosted_invoice_url = current.hosted_invoice_url
    invoice.stripe_payment_intent_id = current.payment_intent
    keys = [line_key for line_key in (invoice.items or {}) if line_key != "_generation"]
    from . import payments

    payments.record_intent(
        session,
        stripe_id=current.payment_intent,
        email=booking.member_email,
        amount_cents=invoice.total_cents,
        payment_type="booking_fee",
        booking=booking,
        line_keys=keys,
        invoice_id=invoice.stripe_invoice_id,
        idempotency_key=f"{key}:link",
    )
    publish(
        session,
        "billing.notification.requested",
        {
            "audience": "member",
            "email": booking.member_email,
            "type": "outstanding_balance",
            "title": "Your booking fees",
            "message": f"Booking #{booking.booking_id} has ${invoice.total_cents / 100:.2f} to pay.",
            "link": current.hosted_invoice_url,
            "channels": ["in_app", "email"],
        },
    )


def _pay_out_of_band(
    session: Session, gateway: StripeGateway, booking: BillingBooking, invoice: BookingInvoice
) -> None:
    key = invoice_key(invoice)
    v1 = gateway.v1
    current = v1.invoices.retrieve(invoice.stripe_invoice_id)
    if current.status == "draft":
        if (current.total or 0) <= 0:
            v1.invoices.delete(invoice.stripe_invoice_id)
            invoice.status = "deleted"
            publish(session, "billing.invoice.voided", _invoice_data(booking, invoice, "deleted"))
            return
        current = v1.invoices.finalize_invoice(
            invoice.stripe_invoice_id, options={"idempotency_key": f"{key}:finalize"}
        )
    if current.status == "open":
        v1.invoices.pay(
            invoice.stripe_invoice_id,
            params={"paid_out_of_band": True},
            options={"idempotency_key": f"{key}:paid-out-of-band"},
        )
        invoice.paid_out_of_band = True
        invoice.amount_paid_cents = invoice.total_cents
        publish(session, "billing.invoice.paid", _invoice_data(booking, invoice, "paid"))


def intents_of(session: Session, booking_id: int) -> list[StripePaymentIntent]:
    return list(
        session.scalars(
            select(StripePaymentIntent)
            .where(StripePaymentIntent.booking_id == booking_id)
            .order_by(StripePaymentIntent.id)
        )
    )
