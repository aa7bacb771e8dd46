"""The Stripe webhook pipeline (domain.md §6.5–6.6), after the signature check:
claim the event id → ordering check → one transaction for every write and the outbox.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..domain.webhooks import SUBSCRIPTION_EVENTS, ordering_of, out_of_order
from ..models import (
    BillingBooking,
    BillingCustomer,
    BookingInvoice,
    DiscountRule,
    StripePaymentIntent,
    StripeProduct,
    StripeTransactionCache,
    TierRule,
    WebhookProcessedEvent,
)
from . import day_passes, payments, readmodels, subscriptions
from .runtime_access import publish

log = logging.getLogger(__name__)


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int | float) else None


def process(session: Session, event: dict[str, Any]) -> str:
    """Claim, order and apply one verified Stripe event; the outcome recorded (or `duplicate`)."""
    order = ordering_of(event)
    created = _ts(event.get("created"))
    if order.family and order.object_id:
        # one event per object at a time, so the ordering check sees every earlier claim
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"stripe:{order.family}:{order.object_id}"},
        )
    claimed = session.execute(
        insert(WebhookProcessedEvent)
        .values(
            event_id=event["id"],
            source="stripe",
            event_type=str(event.get("type"))[:100],
            object_id=order.object_id,
            family=order.family,
            priority=order.priority,
            stripe_created_at=created,
            outcome="processed",
        )
        .on_conflict_do_nothing(index_elements=[WebhookProcessedEvent.event_id])
        .returning(WebhookProcessedEvent.id)
    ).scalar()
    if claimed is None:
        return "duplicate"
    if order.family and order.object_id:
        applied = session.execute(
            select(WebhookProcessedEvent.priority, WebhookProcessedEvent.stripe_created_at).where(
                WebhookProcessedEvent.family == order.family,
                WebhookProcessedEvent.object_id == order.object_id,
                WebhookProcessedEvent.outcome == "processed",
                WebhookProcessedEvent.id != claimed,
            )
        ).all()
        if out_of_order(order.priority, created, [(p, c) for p, c in applied]):
            session.execute(
                WebhookProcessedEvent.__table__.update()
                .where(WebhookProcessedEvent.id == claimed)
                .values(outcome="skipped_out_of_order")
            )
            return "skipped_out_of_order"
    handler = HANDLERS.get(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    if handler is not None:
        handler(session, event, obj)
    _cache(session, obj)
    return "processed"


# ------------------------------------------------------------------------------------------------
# Payment intents and charges
# ------------------------------------------------------------------------------------------------


def _intent(session: Session, obj: dict[str, Any], *, create: bool = True) -> StripePaymentIntent | None:
    pi = obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    if not pi:
        return None
    intent = session.scalars(
        select(StripePaymentIntent)
        .where(StripePaymentIntent.stripe_payment_intent_id == pi)
        .with_for_update()
    ).first()
    if intent is None and create and obj.get("object") == "payment_intent":
        metadata = obj.get("metadata") or {}
        booking_id = metadata.get("booking_id")
        line_keys: list[str] = []
        if obj.get("invoice"):
            invoice = session.scalars(
                select(BookingInvoice).where(BookingInvoice.stripe_invoice_id == obj["invoice"])
            ).first()
            if invoice is not None:
                booking_id = str(invoice.booking_id)
                line_keys = [k for k in (invoice.items or {}) if k != "_generation"]
        intent = StripePaymentIntent(
            stripe_payment_intent_id=pi,
            customer_email=readmodels.normalise(obj.get("receipt_email") or metadata.get("email")),
            amount_cents=int(obj.get("amount") or 0),
            status="pending",
            payment_type=metadata.get("payment_type")
            or ("booking_fee" if booking_id else "one_time_purchase"),
            stripe_customer_id=obj.get("customer"),
            booking_id=int(booking_id) if booking_id and str(booking_id).isdigit() else None,
            stripe_invoice_id=obj.get("invoice"),
            line_keys=line_keys,
        )
        session.add(intent)
        session.flush()
    return intent


def on_intent_succeeded(session: Session, event, obj) -> None:
    intent = _intent(session, obj)
    if intent is not None:
        payments.intent_succeeded(session, intent, int(obj.get("amount_received") or obj.get("amount") or 0))


def on_intent_failed(session: Session, event, obj) -> None:
    intent = _intent(session, obj)
    if intent is not None:
        error = obj.get("last_payment_error") or {}
        payments.payment_failed(session, intent, reason=error.get("message") or error.get("code"))


def _mirror(status: str):
    def handle(session: Session, event, obj) -> None:
        intent = _intent(session, obj)
        if intent is not None and intent.status not in payments.FINAL_INTENT + ("failed",):
            intent.status = status

    return handle


def on_intent_canceled(session: Session, event, obj) -> None:
    intent = _intent(session, obj)
    if intent is not None and intent.status not in (
        "succeeded",
        "refunding",
        "refunded",
        "partially_refunded",
    ):
        intent.status = "canceled"


def on_charge_refunded(session: Session, event, obj) -> None:
    intent = _intent(session, obj, create=False)
    if intent is None:
        return
    day_passes.charge_refunded(session, intent.stripe_payment_intent_id, int(obj.get("amount_refunded") or 0))
    payments.refund_done(session, intent, int(obj.get("amount_refunded") or 0))


def _dispute(verb: str):
    def handle(session: Session, event, obj) -> None:
        intent = _intent(session, obj, create=False)
        customer_id = intent.stripe_customer_id if intent else None
        email = intent.customer_email if intent else None
        status = obj.get("status") or ""
        outcome = None
        if verb == "closed":
            outcome = "won" if status in ("won", "warning_closed") else "lost"
        publish(
            session,
            f"billing.dispute.{verb}",
            {
                "dispute_id": obj["id"],
                "charge_id": obj.get("charge"),
                "payment_intent_id": obj.get("payment_intent"),
                "email": email,
                "customer_id": customer_id,
                "amount_cents": int(obj.get("amount") or 0),
                "reason": obj.get("reason"),
                "stripe_status": status or "unknown",
                "outcome": outcome,
            },
        )
        subscriptions.audit(
            session, email, f"dispute_{verb}", {"dispute_id": obj["id"], "status": status}, "stripe"
        )

    return handle


# ------------------------------------------------------------------------------------------------
# Invoices: booking invoices and membership (subscription) invoices
# ------------------------------------------------------------------------------------------------


def _booking_of(session: Session, obj: dict[str, Any]) -> tuple[BillingBooking | None, Any]:
    from .invoices import invoice_for

    metadata = obj.get("metadata") or {}
    booking_id = metadata.get("booking_id")
    if not booking_id or not str(booking_id).isdigit():
        return None, None
    booking = session.get(BillingBooking, int(booking_id), with_for_update=True)
    invoice = invoice_for(session, int(booking_id), lock=True)
    if invoice is None or invoice.stripe_invoice_id != obj.get("id"):
        return booking, None
    return booking, invoice


def on_invoice_paid(session: Session, event, obj) -> None:
    booking, invoice = _booking_of(session, obj)
    if booking is not None and invoice is not None:
        payments.invoice_paid(session, booking, invoice, obj)


def on_invoice_payment_succeeded(session: Session, event, obj) -> None:
    if not obj.get("subscription"):
        return
    customer = subscriptions.customer_by(
        session, customer_id=obj.get("customer"), email=obj.get("customer_email")
    )
    if customer is not None:
        customer.payment_failure_count = 0
        customer.requires_card_update = False
        subscriptions.clear_grace(session, customer)
    publish(
        session, "billing.membership_payment.succeeded", _membership_payment(session, event, obj, customer)
    )


def on_invoice_payment_failed(session: Session, event, obj) -> None:
    booking, invoice = _booking_of(session, obj)
    if invoice is not None:
        invoice.last_error = "payment failed"
        return
    subscription_id = obj.get("subscription")
    if not subscription_id:
        return
    customer = subscriptions.customer_by(
        session, customer_id=obj.get("customer"), email=obj.get("customer_email")
    )
    if (
        customer is None
        or customer.stripe_subscription_id != subscription_id
        or customer.subscription_status == "canceled"
    ):
        log.info(
            "membership payment failure ignored: not the member's current subscription",
            extra={"subscription_id": subscription_id},
        )
        return
    customer.payment_failure_count = (customer.payment_failure_count or 0) + 1
    if customer.payment_failure_count >= 3:
        customer.requires_card_update = True
    subscriptions.start_grace(session, customer, _ts(event.get("created")) or datetime.now(UTC))
    data = _membership_payment(session, event, obj, customer)
    data["failure_count"] = customer.payment_failure_count
    publish(session, "billing.membership_payment.failed", data)


def _membership_payment(session: Session, event, obj, customer: BillingCustomer | None) -> dict[str, Any]:
    lines = ((obj.get("lines") or {}).get("data")) or []
    price = (lines[0].get("price") or {}) if lines else {}
    price_id = price.get("id") if isinstance(price, dict) else price
    return {
        "email": customer.email if customer else readmodels.normalise(obj.get("customer_email")),
        "customer_id": obj.get("customer"),
        "subscription_id": obj.get("subscription"),
        "invoice_id": obj["id"],
        "amount_cents": int(obj.get("amount_paid") or obj.get("amount_due") or 0),
        "tier_slug": readmodels.tier_for_price(session, price_id)
        or (customer.tier_slug if customer else None),
        "occurred_at": _ts(event.get("created")) or datetime.now(UTC),
    }


def on_invoice_voided(session: Session, event, obj) -> None:
    booking, invoice = _booking_of(session, obj)
    if invoice is not None and invoice.status not in ("void", "deleted"):
        invoice.status = "void"


def on_invoice_notice(session: Session, event, obj) -> None:
    email = readmodels.normalise(obj.get("customer_email"))
    if email:
        publish(
            session,
            "billing.notification.requested",
            {
                "audience": "member",
                "email": email,
                "type": "billing_alert",
                "title": "Action needed on your invoice",
                "message": "Your invoice needs your attention: please open it to complete the payment.",
                "link": obj.get("hosted_invoice_url"),
                "channels": ["in_app", "email"],
            },
        )


# ------------------------------------------------------------------------------------------------
# Subscriptions
# ------------------------------------------------------------------------------------------------


def _subscription_tier(session: Session, obj: dict[str, Any]) -> tuple[str | None, str | None]:
    metadata = obj.get("metadata") or {}
    items = ((obj.get("items") or {}).get("data")) or []
    price = (items[0].get("price") or {}) if items else {}
    price_id = price.get("id") if isinstance(price, dict) else price
    product = price.get("product") if isinstance(price, dict) else None
    product_id = product.get("id") if isinstance(product, dict) else product
    tier = metadata.get("tier_slug") or readmodels.tier_for_price(session, price_id, product_id)
    if not tier and isinstance(product, dict) and product.get("name"):
        tier = session.scalar(
            select(TierRule.slug).where(func.lower(TierRule.name) == product["name"].lower())
        )
    return tier, price_id


def on_subscription(session: Session, event, obj) -> None:
    customer_id = obj.get("customer")
    metadata = obj.get("metadata") or {}
    customer = subscriptions.customer_by(session, customer_id=customer_id)
    email = customer.email if customer else None
    if email is None:
        member = (
            session.scalars(
                select(readmodels.BillingMember).where(
                    readmodels.BillingMember.stripe_customer_id == customer_id
                )
            ).first()
            if customer_id
            else None
        )
        email = member.email if member else readmodels.normalise(metadata.get("email"))
    tier, price_id = _subscription_tier(session, obj)
    status = obj.get("status") or "active"
    if event["type"] == "customer.subscription.deleted":
        status = "canceled"
    if email:
        customer = subscriptions.ensure_customer_row(session, email, customer_id)
        current = customer.stripe_subscription_id
        if status != "canceled" or current in (None, obj["id"]):
            customer.stripe_subscription_id = obj["id"]
            customer.subscription_status = status
            customer.tier_slug = tier or customer.tier_slug
    data = {
        "subscription_id": obj["id"],
        "customer_id": customer_id,
        "email": email,
        "stripe_status": status if status in SUBSCRIPTION_STATUSES else "incomplete",
        "tier_slug": tier,
        "stripe_event": event["type"],
        "price_id": price_id,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "current_period_end": _ts(obj.get("current_period_end")),
        "trial_end": _ts(obj.get("trial_end")),
    }
    publish(session, "billing.subscription.updated", data)
    subscriptions.audit(
        session, email, "subscription_updated", {"event": event["type"], "status": status}, "stripe"
    )


SUBSCRIPTION_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "canceled",
    "paused",
    "incomplete",
    "incomplete_expired",
)


def on_trial_will_end(session: Session, event, obj) -> None:
    customer = subscriptions.customer_by(session, customer_id=obj.get("customer"))
    if customer is not None:
        publish(
            session,
            "billing.notification.requested",
            {
                "audience": "member",
                "email": customer.email,
                "type": "membership_trial_ending",
                "title": "Your trial ends soon",
                "message": "Your trial ends in a few days; your membership continues with the card on file.",
                "channels": ["in_app", "email"],
            },
        )


# ------------------------------------------------------------------------------------------------
# Checkout, customers, products, coupons
# ------------------------------------------------------------------------------------------------


def on_checkout_completed(session: Session, event, obj) -> None:
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return  # an async payment: wait for checkout.session.async_payment_succeeded
    metadata = obj.get("metadata") or {}
    purpose = metadata.get("purpose") or metadata.get("kind")
    details = obj.get("customer_details") or {}
    email = readmodels.normalise(details.get("email") or obj.get("customer_email") or metadata.get("email"))
    if purpose == "day_pass":
        day_passes.record_purchase(session, obj, email)
    elif purpose == "add_funds" and email and obj.get("customer") and obj.get("amount_total"):
        # the credit goes on the Stripe customer balance after this transaction (key credit:<session>)
        from club_shared.jobs import enqueue

        from ..models import JOBS

        enqueue(
            session,
            JOBS,
            "credit_customer",
            {
                "customer_id": obj["customer"],
                "amount_cents": int(obj["amount_total"]),
                "checkout_session_id": obj["id"],
                "email": email,
            },
            max_retries=8,
        )
        subscriptions.audit(
            session, email, "funds_added", {"amount_cents": obj.get("amount_total")}, "stripe"
        )
    if email and obj.get("customer"):
        subscriptions.ensure_customer_row(session, email, obj["customer"])
    publish(
        session,
        "billing.checkout.completed",
        {
            "checkout_session_id": obj["id"],
            "purpose": purpose,
            "email": email,
            "customer_id": obj.get("customer"),
            "subscription_id": obj.get("subscription"),
            "payment_intent_id": obj.get("payment_intent"),
            "amount_total_cents": obj.get("amount_total"),
            "metadata": {str(k): str(v) for k, v in metadata.items()},
        },
    )


def on_checkout_failed(session: Session, event, obj) -> None:
    email = readmodels.normalise(
        (obj.get("customer_details") or {}).get("email") or obj.get("customer_email")
    )
    subscriptions.audit(session, email, event["type"].replace(".", "_"), {"session": obj.get("id")}, "stripe")


def on_customer(session: Session, event, obj) -> None:
    email = readmodels.normalise(obj.get("email"))
    if not email or event["type"] == "customer.deleted":
        return
    existing = session.scalars(
        select(BillingCustomer).where(BillingCustomer.stripe_customer_id == obj["id"]).with_for_update()
    ).first()
    if existing is None:
        subscriptions.ensure_customer_row(session, email, obj["id"])


def on_payment_method(session: Session, event, obj) -> None:
    customer = subscriptions.customer_by(session, customer_id=obj.get("customer"))
    if customer is not None and event["type"] == "payment_method.attached":
        customer.requires_card_update = False
        customer.payment_failure_count = 0


def on_product(session: Session, event, obj) -> None:
    metadata = obj.get("metadata") or {}
    slug = metadata.get("slug")
    if not slug:
        return
    product = session.scalars(
        select(StripeProduct).where(StripeProduct.slug == slug).with_for_update()
    ).first()
    active = bool(obj.get("active", True)) and event["type"] != "product.deleted"
    if product is None:
        product = StripeProduct(
            slug=slug,
            name=obj.get("name") or slug,
            price_cents=0,
            product_type=metadata.get("product_type", "one_time"),
        )
        session.add(product)
    product.stripe_product_id = obj["id"]
    product.name = obj.get("name") or product.name
    product.is_active = active
    session.flush()
    _product_updated(session, product, metadata.get("tier_slug"))


def on_price(session: Session, event, obj) -> None:
    metadata = obj.get("metadata") or {}
    product_id = obj.get("product")
    slug = metadata.get("slug") or obj.get("lookup_key")
    product = None
    if slug:
        product = session.scalars(
            select(StripeProduct).where(StripeProduct.slug == slug).with_for_update()
        ).first()
    if product is None and product_id:
        product = session.scalars(
            select(StripeProduct).where(StripeProduct.stripe_product_id == product_id).with_for_update()
        ).first()
    tier_slug = metadata.get("tier_slug")
    if tier_slug and obj.get("active", True):
        tier = session.get(TierRule, tier_slug)
        if tier is not None:
            tier.stripe_price_id = obj["id"]
            tier.stripe_product_id = product_id or tier.stripe_product_id
    if product is None or not obj.get("active", True) or event["type"] == "price.deleted":
        return
    # a new price of a fee product applies to §5 at once
    product.stripe_price_id = obj["id"]
    product.price_cents = int(obj.get("unit_amount") or 0)
    product.stripe_product_id = product_id or product.stripe_product_id
    _product_updated(session, product, tier_slug)


def _product_updated(session: Session, product: StripeProduct, tier_slug: str | None) -> None:
    publish(
        session,
        "billing.product.updated",
        {
            "slug": product.slug,
            "stripe_product_id": product.stripe_product_id,
            "stripe_price_id": product.stripe_price_id,
            "name": product.name,
            "price_cents": product.price_cents,
            "product_type": product.product_type,
            "is_active": product.is_active,
            "tier_slug": tier_slug,
        },
    )


def on_coupon(session: Session, event, obj) -> None:
    coupon_id = obj.get("id") or ""
    tag, _, rest = coupon_id.rpartition("_")
    if not tag or not rest.endswith("PCT"):
        return
    rule = session.scalars(
        select(DiscountRule).where(DiscountRule.discount_tag == tag).with_for_update()
    ).first()
    if rule is None:
        rule = DiscountRule(
            discount_tag=tag, name=obj.get("name") or tag, discount_percent=int(obj.get("percent_off") or 0)
        )
        session.add(rule)
    rule.stripe_coupon_id = coupon_id
    rule.is_active = event["type"] != "coupon.deleted"
    if obj.get("percent_off"):
        rule.discount_percent = int(obj["percent_off"])


# ------------------------------------------------------------------------------------------------
# The transaction cache (§6.4): one row per Stripe object
# ------------------------------------------------------------------------------------------------

CACHED_OBJECTS = ("payment_intent", "charge", "invoice", "refund", "checkout.session", "subscription")


def _cache(session: Session, obj: dict[str, Any]) -> None:
    kind = obj.get("object")
    if kind not in CACHED_OBJECTS or not isinstance(obj.get("id"), str):
        return
    amount = (
        obj.get("amount_received") or obj.get("amount") or obj.get("amount_paid") or obj.get("amount_total")
    )
    values = {
        "type": kind,
        "data": obj,
        "amount_cents": int(amount) if isinstance(amount, int | float) else None,
        "status": obj.get("status"),
        "customer_id": obj.get("customer") if isinstance(obj.get("customer"), str) else None,
        "payment_intent_id": obj["id"] if kind == "payment_intent" else obj.get("payment_intent"),
        "invoice_id": obj["id"] if kind == "invoice" else obj.get("invoice"),
        "cached_at": func.now(),
    }
    session.execute(
        insert(StripeTransactionCache)
        .values(stripe_id=obj["id"], **values)
        .on_conflict_do_update(index_elements=[StripeTransactionCache.stripe_id], set_=values)
    )


HANDLERS = {
    "payment_intent.succeeded": on_intent_succeeded,
    "payment_intent.payment_failed": on_intent_failed,
    "payment_intent.canceled": on_intent_canceled,
    "payment_intent.processing": _mirror("processing"),
    "payment_intent.requires_action": _mirror("requires_action"),
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": _dispute("opened"),
    "charge.dispute.updated": _dispute("updated"),
    "charge.dispute.closed": _dispute("closed"),
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_payment_succeeded,
    "invoice.payment_failed": on_invoice_payment_failed,
    "invoice.voided": on_invoice_voided,
    "invoice.payment_action_required": on_invoice_notice,
    "invoice.overdue": on_invoice_notice,
    **{event_type: on_subscription for event_type in SUBSCRIPTION_EVENTS},
    "customer.subscription.trial_will_end": on_trial_will_end,
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.async_payment_succeeded": on_checkout_completed,
    "checkout.session.async_payment_failed": on_checkout_failed,
    "checkout.session.expired": on_checkout_failed,
    "customer.created": on_customer,
    "customer.updated": on_customer,
    "payment_method.attached": on_payment_method,
    "payment_method.detached": on_payment_method,
    "product.created": on_product,
    "product.updated": on_product,
    "product.deleted": on_product,
    "price.created": on_price,
    "price.updated": on_price,
    "price.deleted": on_price,
    "coupon.created": on_coupon,
    "coupon.updated": on_coupon,
    "coupon.deleted": on_coupon,
}
