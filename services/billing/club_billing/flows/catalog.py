"""Products, prices and discount coupons kept in sync with Stripe (domain.md §6.4).

Local changes are made here and published at once (a fee price applies to §5 immediately); the
Stripe side follows in jobs with idempotency keys (`product:<slug>`, `price:<slug>:<cents>`,
`coupon:<TAG>_<PCT>PCT`)."""

from __future__ import annotations

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.jobs import enqueue

from ..domain.discounts import coupon_id
from ..models import JOBS, DiscountRule, StripeProduct
from ..stripe_gateway import StripeGateway
from .runtime_access import publish


def product_updated(session: Session, product: StripeProduct) -> None:
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
            "tier_slug": None,
        },
    )


def change_product(session: Session, product: StripeProduct, changes: dict) -> StripeProduct:
    for key in ("name", "price_cents", "is_active"):
        if key in changes and changes[key] is not None:
            setattr(product, key, changes[key])
    session.flush()
    product_updated(session, product)
    enqueue(session, JOBS, "sync_product", {"slug": product.slug})
    return product


def mirror_cafe_item(session: Session, data: dict) -> StripeProduct:
    slug = f"cafe-{data['item_id']}"
    product = session.scalars(
        select(StripeProduct).where(StripeProduct.slug == slug).with_for_update()
    ).first()
    if product is None:
        product = StripeProduct(
            slug=slug, name=data["name"], price_cents=data["price_cents"], product_type="one_time"
        )
        session.add(product)
    product.name = data["name"][:200]
    product.price_cents = max(0, int(data["price_cents"]))
    product.is_active = bool(data["is_active"]) and not data["deleted"]
    if data.get("stripe_product_id") and not product.stripe_product_id:
        product.stripe_product_id = data["stripe_product_id"]
    session.flush()
    enqueue(session, JOBS, "sync_product", {"slug": slug})
    return product


def sync_product(session: Session, gateway: StripeGateway, slug: str) -> None:
    if not gateway.enabled:
        return
    product = session.scalars(
        select(StripeProduct).where(StripeProduct.slug == slug).with_for_update()
    ).first()
    if product is None:
        return
    v1 = gateway.v1
    if not product.stripe_product_id:
        created = v1.products.create(
            params={"name": product.name, "metadata": {"slug": slug, "product_type": product.product_type}},
            options={"idempotency_key": f"product:{slug}"},
        )
        product.stripe_product_id = created.id
    current = v1.prices.retrieve(product.stripe_price_id) if product.stripe_price_id else None
    if current is None or current.unit_amount != product.price_cents:
        before = product.stripe_price_id
        price = v1.prices.create(
            params={
                "product": product.stripe_product_id,
                "unit_amount": product.price_cents,
                "currency": "usd",
                "lookup_key": slug,
                "metadata": {"slug": slug},
            },
            options={"idempotency_key": f"price:{slug}:{product.price_cents}"},
        )
        product.stripe_price_id = price.id
        if price.id != before:
            product_updated(session, product)  # membership keeps the café item's Stripe ids


def upsert_rule(session: Session, tag: str, name: str, percent: int, is_active: bool = True) -> DiscountRule:
    rule = session.scalars(
        select(DiscountRule).where(DiscountRule.discount_tag == tag).with_for_update()
    ).first()
    if rule is None:
        rule = DiscountRule(discount_tag=tag, name=name, discount_percent=percent, is_active=is_active)
        session.add(rule)
    rule.name, rule.discount_percent, rule.is_active = name, percent, is_active
    wanted = coupon_id(tag, percent)
    if rule.stripe_coupon_id != wanted:
        rule.stripe_coupon_id = None
        session.flush()
        enqueue(session, JOBS, "push_coupon", {"tag": tag})
    session.flush()
    return rule


def push_coupon(session: Session, gateway: StripeGateway, tag: str) -> None:
    if not gateway.enabled:
        return
    rule = session.scalars(
        select(DiscountRule).where(DiscountRule.discount_tag == tag).with_for_update()
    ).first()
    if rule is None or rule.stripe_coupon_id:
        return
    wanted = coupon_id(rule.discount_tag, rule.discount_percent)
    try:
        gateway.v1.coupons.create(
            params={
                "id": wanted,
                "percent_off": rule.discount_percent,
                "duration": "forever",
                "name": rule.name,
            },
            options={"idempotency_key": f"coupon:{wanted}"},
        )
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "code", None) != "resource_already_exists":
            raise
    rule.stripe_coupon_id = wanted
