"""Billing's local copies of other services' data: tiers, members, and the prices it charges."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, or_, select, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.orm import Session

from ..domain.fees import (
    ACCESS_STATUSES,
    DEFAULT_GUEST_FEE_CENTS,
    DEFAULT_OVERAGE_RATE_CENTS,
    TierRules,
)
from ..models import (
    BillingBooking,
    BillingCustomer,
    BillingMember,
    DayPassPurchase,
    StripePaymentIntent,
    StripeProduct,
    TierRule,
)

OVERAGE_SLUG = "simulator-overage-30min"
GUEST_PASS_SLUG = "guest-pass"

_MEMBER_FIELDS = (
    "member_id",
    "role",
    "status",
    "tier",
    "billing_provider",
    "stripe_customer_id",
    "stripe_subscription_id",
    "linked_emails",
)


def normalise(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def tier_rules(session: Session) -> dict[str, TierRules]:
    """Every tier's rules, read once per transaction (a cascade prices several bookings)."""
    cached = session.info.get("billing_tier_rules")
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]
    rules = _load_tier_rules(session)
    session.info["billing_tier_rules"] = (session.get_transaction(), rules)
    return rules


def forget_cached(session: Session) -> None:
    session.info.pop("billing_tier_rules", None)
    session.info.pop("billing_fee_prices", None)
    session.info.pop("billing_members", None)


def _load_tier_rules(session: Session) -> dict[str, TierRules]:
    rules = {}
    for row in session.scalars(select(TierRule)):
        rules[row.slug] = TierRules.from_limits(
            row.slug,
            daily_sim_minutes=row.daily_sim_minutes,
            daily_conf_minutes=row.daily_conf_room_minutes,
            guest_fee_cents=row.guest_fee_cents,
            unlimited_access=row.unlimited_access,
        )
    return rules


def fee_prices(session: Session) -> tuple[int, int]:
    """(overage rate per 30 minutes, guest-pass price), from the synced products (§5.1); read once
    per transaction."""
    cached = session.info.get("billing_fee_prices")
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]
    synced = dict(
        session.execute(
            select(StripeProduct.slug, StripeProduct.price_cents).where(
                StripeProduct.slug.in_((OVERAGE_SLUG, GUEST_PASS_SLUG)), StripeProduct.is_active
            )
        ).all()
    )
    prices = (
        _or_default(synced.get(OVERAGE_SLUG), DEFAULT_OVERAGE_RATE_CENTS),
        _or_default(synced.get(GUEST_PASS_SLUG), DEFAULT_GUEST_FEE_CENTS),
    )
    session.info["billing_fee_prices"] = (session.get_transaction(), prices)
    return prices


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value


def find_member(session: Session, email: str | None) -> BillingMember | None:
    """The member with this e-mail, as primary or linked address."""
    email = normalise(email)
    return find_members(session, [email])[email] if email else None


def find_members(session: Session, emails) -> dict[str, BillingMember | None]:
    """The members with these (normalised) e-mails, primary or linked, in one query for those not
    seen yet. Remembered for the (sub)transaction: a booking event looks its players up once for
    the prices, the cascade and the invoice; every write to billing_members forgets them."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get("billing_members")
    if cached is None or cached[0] is not transaction:
        cached = (transaction, {})
        session.info["billing_members"] = cached
    known = cached[1]
    missing = sorted({e for e in emails if e and e not in known})
    if missing:
        rows = session.scalars(
            select(BillingMember)
            .where(
                or_(
                    BillingMember.email.in_(missing),
                    BillingMember.linked_emails.has_any(array(missing, type_=Text)),
                )
            )
            .order_by(BillingMember.email)
        ).all()
        primary = {row.email: row for row in rows}
        for email in missing:
            known[email] = primary.get(email) or next(
                (row for row in rows if email in (row.linked_emails or [])), None
            )
    return {e: known[e] for e in emails if e}


def member_in_access(member: BillingMember | None) -> bool:
    """Unknown members and members without a status yet count as in access (booking checked them)."""
    return member is None or member.status is None or member.status in ACCESS_STATUSES


def is_staff_member(member: BillingMember | None) -> bool:
    return member is not None and member.role in ("staff", "admin", "golf_instructor")


def upsert_member(session: Session, data: dict[str, Any]) -> None:
    email = normalise(data["email"])
    values = {key: data[key] for key in _MEMBER_FIELDS if key in data}
    if "linked_emails" in values:
        values["linked_emails"] = sorted({normalise(e) for e in values["linked_emails"] or []})
    if "first_name" in data or "last_name" in data or "name" in data:
        values["name"] = data.get("name") or " ".join(
            part for part in (data.get("first_name"), data.get("last_name")) if part
        )
    statement = insert(BillingMember).values(email=email, **values)
    if values:
        statement = statement.on_conflict_do_update(index_elements=[BillingMember.email], set_=values)
    else:
        statement = statement.on_conflict_do_nothing()
    session.execute(statement)
    forget_cached(session)


def add_linked_email(session: Session, email: str, linked: str) -> None:
    member = find_member(session, email)
    forget_cached(session)
    if member is None:
        upsert_member(session, {"email": email, "linked_emails": [linked]})
        return
    member.linked_emails = sorted({*(member.linked_emails or []), normalise(linked)})


def remove_linked_email(session: Session, email: str, linked: str) -> None:
    member = find_member(session, email)
    forget_cached(session)
    if member is not None:
        member.linked_emails = sorted(set(member.linked_emails or []) - {normalise(linked)})


def rewrite_email(session: Session, old: str, new: str) -> None:
    """membership.member.email_changed: every row billing keys by e-mail moves to the new address."""
    old, new = normalise(old), normalise(new)
    forget_cached(session)
    member = session.get(BillingMember, old)
    if member is not None:
        session.execute(
            insert(BillingMember)
            .values(
                email=new,
                **{key: getattr(member, key) for key in (*_MEMBER_FIELDS, "name")},
            )
            .on_conflict_do_nothing()
        )
        target = session.get(BillingMember, new)
        target.linked_emails = sorted({*(target.linked_emails or []), old})
        session.delete(member)
    session.execute(update(BillingBooking).where(BillingBooking.member_email == old).values(member_email=new))
    session.execute(update(BillingCustomer).where(BillingCustomer.email == old).values(email=new))
    session.execute(
        update(StripePaymentIntent)
        .where(StripePaymentIntent.customer_email == old)
        .values(customer_email=new)
    )
    session.execute(update(DayPassPurchase).where(DayPassPurchase.email == old).values(email=new))


def upsert_tier(session: Session, data: dict[str, Any]) -> None:
    values = {
        "name": data["name"],
        "rank": data["rank"],
        "daily_sim_minutes": data["daily_sim_minutes"],
        "daily_conf_room_minutes": data["daily_conf_room_minutes"],
        "unlimited_access": data["unlimited_access"]
        or (data.get("unlimited_sim_minutes") and data.get("unlimited_conf_room_minutes")),
        "guest_passes_per_period": data["guest_passes_per_period"],
        "guest_fee_cents": data["guest_fee_cents"],
        "monthly_price_cents": data.get("monthly_price_cents"),
        "stripe_product_id": data.get("stripe_product_id"),
        "stripe_price_id": data.get("stripe_price_id"),
        "is_active": data["is_active"],
    }
    if data.get("unlimited_sim_minutes"):
        values["daily_sim_minutes"] = max(values["daily_sim_minutes"], 999)
    if data.get("unlimited_conf_room_minutes"):
        values["daily_conf_room_minutes"] = max(values["daily_conf_room_minutes"], 999)
    session.execute(
        insert(TierRule)
        .values(slug=data["slug"], **values)
        .on_conflict_do_update(index_elements=[TierRule.slug], set_=values)
    )
    forget_cached(session)


def tier_for_price(session: Session, price_id: str | None, product_id: str | None = None) -> str | None:
    if not price_id and not product_id:
        return None
    return session.scalar(
        select(TierRule.slug)
        .where(
            or_(
                TierRule.stripe_price_id == price_id if price_id else False,
                TierRule.stripe_product_id == product_id if product_id else False,
            )
        )
        .limit(1)
    )
