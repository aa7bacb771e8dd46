"""Billing groups at Stripe (domain.md §2.4): a family member is a subscription item on the primary's
subscription at the tier's add-on price with coupon FAMILY20; corporate seats are the quantity of the
corporate item. Runs as jobs after membership's event; answers billing.group_item.added / .failed."""

from __future__ import annotations

import logging
from typing import Any

import stripe
from sqlalchemy.orm import Session

from ..stripe_gateway import StripeGateway
from . import subscriptions
from .runtime_access import publish

log = logging.getLogger(__name__)

FAMILY_COUPON = "FAMILY20"
FAMILY_PERCENT = 20


def _answer(session: Session, verb: str, data: dict[str, Any], **extra: Any) -> None:
    publish(
        session,
        f"billing.group_item.{verb}",
        {
            "group_id": data["group_id"],
            "group_type": data["group_type"],
            "primary_email": data["primary_email"],
            "member_email": data["member_email"],
            "member_id": data.get("member_id"),
            "subscription_id": data.get("primary_stripe_subscription_id"),
            "subscription_item_id": None,
            **extra,
        },
    )


def _ensure_family_coupon(gateway: StripeGateway) -> None:
    try:
        gateway.v1.coupons.create(
            params={
                "id": FAMILY_COUPON,
                "percent_off": FAMILY_PERCENT,
                "duration": "forever",
                "name": "Family 20%",
            },
            options={"idempotency_key": f"coupon:{FAMILY_COUPON}"},
        )
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "code", None) != "resource_already_exists":
            raise


def add_item(session: Session, gateway: StripeGateway, data: dict[str, Any]) -> None:
    subscription_id = data.get("primary_stripe_subscription_id")
    if not gateway.enabled:
        _answer(session, "failed", data, reason="Stripe is not configured")
        return
    if not subscription_id:
        _answer(session, "failed", data, reason="the primary has no subscription")
        return
    v1 = gateway.v1
    key = f"group_item:{data['group_id']}:{data['member_email']}"
    try:
        if data["group_type"] == "corporate":
            subscription = v1.subscriptions.retrieve(subscription_id)
            [item, *_] = subscription["items"]["data"]
            quantity = max(1, int(data["seat_count"]))
            if data.get("max_seats"):
                quantity = min(quantity, int(data["max_seats"]))
            updated = v1.subscription_items.update(
                item["id"],
                params={"quantity": quantity},
                options={"idempotency_key": f"{key}:seats:{quantity}"},
            )
            _answer(session, "added", data, subscription_item_id=updated.id, quantity=quantity)
            return
        price_id = data.get("add_on_stripe_price_id")
        if not price_id:
            cents = data.get("add_on_price_cents")
            if not cents:
                _answer(session, "failed", data, reason="the tier has no family add-on price")
                return
            price = v1.prices.create(
                params={
                    "currency": "usd",
                    "unit_amount": cents,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": f"Family add-on ({data.get('tier') or 'member'})"},
                    "metadata": {"slug": f"family-add-on-{data.get('tier') or 'member'}"},
                },
                options={"idempotency_key": f"price:family-add-on:{data.get('tier')}:{cents}"},
            )
            price_id = price.id
        _ensure_family_coupon(gateway)
        item = v1.subscription_items.create(
            params={
                "subscription": subscription_id,
                "price": price_id,
                "quantity": 1,
                "discounts": [{"coupon": FAMILY_COUPON}],
                "metadata": {"member_email": data["member_email"], "group_id": str(data["group_id"])},
            },
            options={"idempotency_key": key},
        )
    except stripe.InvalidRequestError as exc:  # the subscription or price is gone: a final answer
        _answer(session, "failed", data, reason=str(exc.user_message or exc)[:300])
        return
    subscriptions.audit(
        session, data["member_email"], "group_item_added", {"item": item.id}, data["primary_email"]
    )
    _answer(session, "added", data, subscription_item_id=item.id, quantity=1)


def remove_item(session: Session, gateway: StripeGateway, data: dict[str, Any]) -> None:
    if not gateway.enabled:
        return
    v1 = gateway.v1
    if data["group_type"] == "corporate":
        subscription_id = data.get("primary_stripe_subscription_id")
        if not subscription_id:
            return
        subscription = v1.subscriptions.retrieve(subscription_id)
        [item, *_] = subscription["items"]["data"]
        quantity = max(1, int(data["seat_count"]))
        v1.subscription_items.update(
            item["id"],
            params={"quantity": quantity},
            options={
                "idempotency_key": f"group_item:{data['group_id']}:seats:{quantity}:removed:{data['member_email']}"
            },
        )
        return
    item_id = data.get("stripe_subscription_item_id")
    if item_id:
        try:
            v1.subscription_items.delete(item_id)
        except stripe.InvalidRequestError as exc:
            if getattr(exc, "code", None) != "resource_missing":
                raise
    subscriptions.audit(
        session, data["member_email"], "group_item_removed", {"item": item_id}, data["primary_email"]
    )
