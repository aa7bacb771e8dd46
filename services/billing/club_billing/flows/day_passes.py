"""Day passes (domain.md §6.3): sold by Stripe Checkout, recorded once per payment intent from the
webhook, redeemed by staff (one atomic decrement, at most once per club date), refunded while active."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import enqueue
from club_shared.problems import Problem

from ..models import JOBS, DayPassPurchase, PassRedemptionLog, StripePaymentIntent, StripeProduct
from . import readmodels
from .runtime_access import publish

PASS_VALID_FOR = timedelta(days=365)
DAY_PASS_SLUGS = ("day-pass-golf-sim", "day-pass-coworking")
QR_PREFIX = "DAYPASS:"


def product(session: Session, slug: str) -> StripeProduct:
    found = session.scalars(
        select(StripeProduct).where(StripeProduct.slug == slug, StripeProduct.is_active)
    ).first()
    if found is None or slug not in DAY_PASS_SLUGS:
        raise Problem(422, f"No day pass called {slug}.", code="UNKNOWN_PRODUCT")
    return found


def pass_data(purchase: DayPassPurchase, **extra: Any) -> dict[str, Any]:
    return {
        "purchase_id": purchase.id,
        "email": purchase.email,
        "name": purchase.name,
        "phone": purchase.phone,
        "product_type": purchase.product_type,
        "price_cents": purchase.price_cents,
        "quantity": purchase.quantity,
        "remaining_uses": purchase.remaining_uses,
        "status": purchase.status,
        "expires_at": purchase.expires_at,
        "payment_intent_id": purchase.stripe_payment_intent_id,
        "qr_code": f"{QR_PREFIX}{purchase.id}",
        **extra,
    }


def record_purchase(session: Session, checkout: dict[str, Any], email: str | None) -> DayPassPurchase | None:
    """The purchase from a completed Checkout session, once per payment intent (webhook retries and
    the same session's completed + async_payment_succeeded create one purchase)."""
    metadata = checkout.get("metadata") or {}
    details = checkout.get("customer_details") or {}
    email = email or readmodels.normalise(metadata.get("email"))
    if not email:
        return None
    quantity = max(1, int(metadata.get("quantity") or 1))
    pi = checkout.get("payment_intent")
    purchase_id = "dp_" + secrets.token_hex(8)
    now = utcnow()
    inserted = session.execute(
        insert(DayPassPurchase)
        .values(
            id=purchase_id,
            email=email,
            name=details.get("name") or metadata.get("name"),
            phone=details.get("phone") or metadata.get("phone"),
            stripe_payment_intent_id=pi,
            stripe_checkout_session_id=checkout["id"],
            stripe_customer_id=checkout.get("customer"),
            status="active",
            product_type=metadata.get("product") or "day-pass-golf-sim",
            price_cents=int(checkout.get("amount_total") or 0),
            quantity=quantity,
            remaining_uses=quantity,
            purchased_at=now,
            expires_at=now + PASS_VALID_FOR,
        )
        .on_conflict_do_nothing()
        .returning(DayPassPurchase.id)
    ).scalar()
    if inserted is None:
        return None
    purchase = session.get(DayPassPurchase, inserted)
    if pi:
        session.execute(
            insert(StripePaymentIntent)
            .values(
                stripe_payment_intent_id=pi,
                customer_email=email,
                amount_cents=purchase.price_cents,
                status="succeeded",
                payment_type="day_pass",
                stripe_customer_id=checkout.get("customer"),
                line_keys=[],
            )
            .on_conflict_do_update(
                index_elements=[StripePaymentIntent.stripe_payment_intent_id],
                set_={"payment_type": "day_pass", "customer_email": email},
            )
        )
    publish(session, "billing.day_pass.purchased", pass_data(purchase))
    return purchase


def parse_code(code: str) -> str:
    code = code.strip()
    return code[len(QR_PREFIX) :] if code.upper().startswith(QR_PREFIX) else code


def redeem(
    session: Session,
    purchase_id: str,
    *,
    club_date: date,
    staff_email: str,
    location: str,
    booking_id: int | None,
) -> DayPassPurchase:
    """One atomic decrement: active, unexpired, uses left, not yet redeemed this club date."""
    now = utcnow()
    table = DayPassPurchase
    row = session.execute(
        update(table)
        .where(
            table.id == purchase_id,
            table.status == "active",
            table.remaining_uses > 0,
            (table.expires_at.is_(None)) | (table.expires_at > now),
            (table.last_redeemed_on.is_(None)) | (table.last_redeemed_on < club_date),
        )
        .values(
            remaining_uses=table.remaining_uses - 1,
            last_redeemed_on=club_date,
            status=_status_after_use(table),
        )
        .returning(table.id)
    ).scalar()
    if row is None:
        raise _why_not(session, purchase_id, club_date, now)
    purchase = session.get(DayPassPurchase, purchase_id)
    session.refresh(purchase)
    session.add(
        PassRedemptionLog(
            member_email=purchase.email,
            pass_type="day_pass",
            quantity=-1,
            reason="day_pass_redeemed",
            booking_id=booking_id,
            purchase_id=purchase.id,
            redeemed_by=staff_email,
            location=location,
            club_date=club_date,
        )
    )
    if booking_id is not None:
        purchase.booking_id = booking_id
    publish(
        session,
        "billing.day_pass.redeemed",
        pass_data(
            purchase, redeemed_by=staff_email, location=location, club_date=club_date, booking_id=booking_id
        ),
    )
    return purchase


def _status_after_use(table):
    from sqlalchemy import case

    return case((table.remaining_uses - 1 <= 0, "exhausted"), else_=table.status)


def _why_not(session: Session, purchase_id: str, club_date: date, now: datetime) -> Problem:
    purchase = session.get(DayPassPurchase, purchase_id)
    if purchase is None:
        return Problem(404, "No such day pass.", code="NOT_FOUND")
    if purchase.status == "refunded":
        return Problem(409, "This day pass was refunded.", code="PASS_REFUNDED")
    if purchase.status == "exhausted" or purchase.remaining_uses <= 0:
        return Problem(409, "This day pass has no uses left.", code="PASS_EXHAUSTED")
    if purchase.expires_at is not None and purchase.expires_at <= now:
        return Problem(409, "This day pass has expired.", code="PASS_EXPIRED")
    if purchase.last_redeemed_on is not None and purchase.last_redeemed_on >= club_date:
        return Problem(409, "This day pass was already redeemed today.", code="ALREADY_REDEEMED_TODAY")
    return Problem(409, "The day pass cannot be redeemed.", code="STATE_CONFLICT")


def refund(session: Session, purchase_id: str, staff_email: str) -> DayPassPurchase:
    """Refund an active pass: refunded at once here, the money through the refund job."""
    purchase = session.get(DayPassPurchase, purchase_id, with_for_update=True)
    if purchase is None:
        raise Problem(404, "No such day pass.", code="NOT_FOUND")
    if purchase.status == "refunded":
        return purchase  # already done: no second refund
    if purchase.status != "active":
        raise Problem(
            409, f"Only active passes are refunded (this one is {purchase.status}).", code="STATE_CONFLICT"
        )
    purchase.status = "refunded"
    purchase.refunded_at = utcnow()
    intent = None
    if purchase.stripe_payment_intent_id:
        intent = session.scalars(
            select(StripePaymentIntent)
            .where(StripePaymentIntent.stripe_payment_intent_id == purchase.stripe_payment_intent_id)
            .with_for_update()
        ).first()
    if intent is not None and intent.status == "succeeded":
        intent.status = "refunding"
        enqueue(session, JOBS, "refund_payment", {"intent_id": intent.id}, max_retries=8)
    publish(
        session, "billing.day_pass.refunded", pass_data(purchase, amount_refunded_cents=purchase.price_cents)
    )
    from .subscriptions import audit

    audit(session, purchase.email, "day_pass_refunded", {"purchase_id": purchase.id}, staff_email)
    return purchase


def charge_refunded(session: Session, payment_intent_id: str | None, amount_refunded: int) -> None:
    """A refund made at Stripe directly (dashboard) also ends an active pass."""
    if not payment_intent_id or amount_refunded <= 0:
        return
    purchase = session.scalars(
        select(DayPassPurchase)
        .where(DayPassPurchase.stripe_payment_intent_id == payment_intent_id)
        .with_for_update()
    ).first()
    if purchase is not None and purchase.status == "active":
        purchase.status = "refunded"
        purchase.refunded_at = utcnow()
        publish(
            session, "billing.day_pass.refunded", pass_data(purchase, amount_refunded_cents=amount_refunded)
        )
