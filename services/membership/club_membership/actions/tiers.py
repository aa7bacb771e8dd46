"""Tiers, the comparison table's features and values, and family add-on prices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import tiers as rules
from ..domain.actors import Actor
from ..models import FamilyAddOnProduct, MembershipTier, TierFeature, TierFeatureValue, User
from . import audit


def get(session: Session, ref: str, *, lock: bool = False) -> MembershipTier:
    """A tier by slug (founding variants included) or by numeric id."""
    query = select(MembershipTier)
    query = (
        query.where(MembershipTier.id == int(ref))
        if ref.isdigit() and len(ref) < 10
        else query.where(MembershipTier.slug == rules.base_slug(ref))
    )
    if lock:
        query = query.with_for_update()
    tier = session.scalar(query)
    if tier is None:
        raise Problem(404, "No such tier.", code="NOT_FOUND")
    return tier


def listing(session: Session, *, include_inactive: bool = False) -> list[MembershipTier]:
    query = select(MembershipTier).order_by(MembershipTier.rank, MembershipTier.id)
    if not include_inactive:
        query = query.where(MembershipTier.is_active)
    return list(session.scalars(query))


def event_data(session: Session, tier: MembershipTier) -> dict[str, Any]:
    add_on = session.scalar(
        select(FamilyAddOnProduct.price_cents).where(FamilyAddOnProduct.tier_name == tier.slug)
    )
    return {
        "tier_id": tier.id,
        "slug": tier.slug,
        "name": tier.name,
        "rank": tier.rank,
        "is_active": tier.is_active,
        "tier_type": tier.tier_type,
        "monthly_price_cents": tier.monthly_price_cents,
        "billing_interval": tier.billing_interval,
        **{column: getattr(tier, column) for column in rules.LIMIT_COLUMNS},
        "unlimited_sim_minutes": rules.is_unlimited(tier.daily_sim_minutes, tier.unlimited_access),
        "unlimited_conf_room_minutes": rules.is_unlimited(
            tier.daily_conf_room_minutes, tier.unlimited_access
        ),
        "stripe_product_id": tier.stripe_product_id,
        "stripe_price_id": tier.stripe_price_id,
        "founding_price_id": tier.founding_price_id,
        "family_add_on_price_cents": add_on,
    }


def _publish(session: Session, runtime: Runtime, tier: MembershipTier, event_type: str) -> None:
    session.flush()
    session.refresh(tier)
    runtime.publish(session, event_type, event_data(session, tier))


def create(session: Session, runtime: Runtime, actor: Actor, values: dict[str, Any]) -> MembershipTier:
    slug = values["slug"]
    if slug.endswith(rules.FOUNDING_SUFFIX):
        raise Problem(
            422,
            "Founding variants are the same tier at a founding price: set founding_price_id instead.",
            code="VALIDATION_FAILED",
            errors={"slug": ["Founding variants are not separate tiers."]},
        )
    if session.scalar(
        select(MembershipTier.id).where(
            (MembershipTier.slug == slug) | (MembershipTier.name == values["name"])
        )
    ):
        raise Problem(409, "A tier with that name or slug exists.", code="TIER_EXISTS")
    tier = MembershipTier(**values)
    session.add(tier)
    _publish(session, runtime, tier, "membership.tier.created")
    audit.record(
        session, actor, "tier.created", "tier", tier.id, resource_name=tier.name, details={"slug": slug}
    )
    return tier


def update(
    session: Session, runtime: Runtime, actor: Actor, tier: MembershipTier, changes: dict[str, Any]
) -> list[str]:
    if tier.limits_source == "stripe":
        locked = sorted(set(changes) & set(rules.LIMIT_COLUMNS))
        if locked:
            raise Problem(
                409,
                "This tier takes its limits from its Stripe product; change them there.",
                code="LIMITS_FROM_STRIPE",
                fields=locked,
            )
    if (
        "name" in changes
        and changes["name"] != tier.name
        and session.scalar(
            select(MembershipTier.id).where(
                MembershipTier.name == changes["name"], MembershipTier.id != tier.id
            )
        )
    ):
        raise Problem(409, "Another tier has that name.", code="TIER_EXISTS")
    changed = sorted(k for k, v in changes.items() if getattr(tier, k) != v)
    if not changed:
        return []
    for key in changed:
        setattr(tier, key, changes[key])
    _publish(session, runtime, tier, "membership.tier.updated")
    audit.record(
        session,
        actor,
        "tier.updated",
        "tier",
        tier.id,
        resource_name=tier.name,
        details={"changed": {k: changes[k] for k in changed}},
    )
    return changed


def delete(session: Session, runtime: Runtime, actor: Actor, tier: MembershipTier) -> None:
    members = session.scalar(select(func.count()).select_from(User).where(User.tier_id == tier.id))
    if members:
        raise Problem(
            409,
            f"The tier has {members} member(s); move them to another tier first.",
            code="TIER_IN_USE",
            members=members,
        )
    slug, tier_id, name = tier.slug, tier.id, tier.name
    session.execute(FamilyAddOnProduct.__table__.delete().where(FamilyAddOnProduct.tier_name == slug))
    session.delete(tier)
    session.flush()
    runtime.publish(session, "membership.tier.deleted", {"tier_id": tier_id, "slug": slug})
    audit.record(session, actor, "tier.deleted", "tier", tier_id, resource_name=name, details={"slug": slug})


def republish(session: Session, runtime: Runtime, actor: Actor) -> int:
    """Publish membership.tier.updated for every tier (rebuilds other services' read models)."""
    tiers = listing(session, include_inactive=True)
    for tier in tiers:
        runtime.publish(session, "membership.tier.updated", event_data(session, tier))
    audit.record(session, actor, "tier.republished", "tier", None, details={"tiers": len(tiers)})
    return len(tiers)


# ------------------------------------------------------------------------------------------------
# Comparison table
# ------------------------------------------------------------------------------------------------


def features(session: Session, *, include_inactive: bool = False) -> list[TierFeature]:
    query = select(TierFeature).order_by(TierFeature.sort_order, TierFeature.id)
    if not include_inactive:
        query = query.where(TierFeature.is_active)
    return list(session.scalars(query))


def get_feature(session: Session, feature_id: int) -> TierFeature:
    feature = session.get(TierFeature, feature_id)
    if feature is None:
        raise Problem(404, "No such feature.", code="NOT_FOUND")
    return feature


def create_feature(session: Session, actor: Actor, values: dict[str, Any]) -> TierFeature:
    key = values["feature_key"]
    if session.scalar(select(TierFeature.id).where(TierFeature.feature_key == key)):
        raise Problem(409, "A feature with that key exists.", code="FEATURE_EXISTS")
    bound = rules.BOUND_FEATURES.get(key)
    values.setdefault("name", values["display_label"])
    feature = TierFeature(**values, bound_column=bound)
    session.add(feature)
    session.flush()
    audit.record(session, actor, "tier_feature.created", "tier_feature", feature.id, resource_name=key)
    return feature


def update_feature(session: Session, actor: Actor, feature: TierFeature, changes: dict[str, Any]) -> None:
    if "value_type" in changes and changes["value_type"] != feature.value_type:
        if feature.bound_column:
            raise Problem(409, "A feature bound to a tier column keeps its type.", code="FEATURE_BOUND")
        has_values = session.scalar(
            select(func.count())
            .select_from(TierFeatureValue)
            .where(TierFeatureValue.feature_id == feature.id)
        )
        if has_values:
            raise Problem(
                409, "Clear the feature's values before changing its type.", code="FEATURE_HAS_VALUES"
            )
    for key, value in changes.items():
        setattr(feature, key, value)
    session.flush()
    audit.record(
        session,
        actor,
        "tier_feature.updated",
        "tier_feature",
        feature.id,
        resource_name=feature.feature_key,
        details={"changed": sorted(changes)},
    )


def delete_feature(session: Session, actor: Actor, feature: TierFeature) -> None:
    key = feature.feature_key
    session.delete(feature)
    session.flush()
    audit.record(session, actor, "tier_feature.deleted", "tier_feature", feature.id, resource_name=key)


def set_value(
    session: Session, actor: Actor, feature: TierFeature, tier: MembershipTier, raw: Any
) -> TierFeatureValue | None:
    if feature.bound_column:
        raise Problem(
            409,
            f"{feature.feature_key} shows the tier's {feature.bound_column}; change the tier instead.",
            code="FEATURE_BOUND",
        )
    try:
        typed = rules.typed_value(feature.value_type, raw)
    except rules.ValueTypeError as exc:
        raise Problem(422, str(exc), code="VALIDATION_FAILED", errors={"value": [str(exc)]}) from None
    row = session.scalar(
        select(TierFeatureValue).where(
            TierFeatureValue.feature_id == feature.id, TierFeatureValue.tier_id == tier.id
        )
    )
    if row is None:
        row = TierFeatureValue(feature_id=feature.id, tier_id=tier.id)
        session.add(row)
    row.value, row.value_boolean, row.value_number, row.value_text = (
        typed.value,
        typed.value_boolean,
        typed.value_number,
        typed.value_text,
    )
    session.flush()
    audit.record(
        session,
        actor,
        "tier_feature.value_set",
        "tier_feature",
        feature.id,
        resource_name=feature.feature_key,
        details={"tier": tier.slug, "value": raw},
    )
    return row


def comparison(session: Session) -> dict[str, Any]:
    """The public comparison table: the tiers shown, and one row per feature with a value per tier."""
    tiers = [t for t in listing(session) if t.show_in_comparison]
    rows = features(session)
    values = {
        (v.feature_id, v.tier_id): v
        for v in session.scalars(
            select(TierFeatureValue).where(TierFeatureValue.tier_id.in_([t.id for t in tiers]))
        )
    }
    table = []
    for feature in rows:
        cells = {}
        for tier in tiers:
            if feature.bound_column:
                cells[tier.slug] = rules.bound_value(
                    feature.feature_key,
                    feature.bound_column,
                    {c: getattr(tier, c) for c in (*rules.LIMIT_COLUMNS,)},
                )
            else:
                v = values.get((feature.id, tier.id))
                cells[tier.slug] = (
                    rules.value_out(feature.value_type, v.value_boolean, v.value_number, v.value_text)
                    if v
                    else None
                )
        table.append(
            {
                "feature_key": feature.feature_key,
                "label": feature.display_label,
                "value_type": feature.value_type,
                "bound_column": feature.bound_column,
                "values": cells,
            }
        )
    return {
        "tiers": [
            {
                "slug": t.slug,
                "name": t.name,
                "rank": t.rank,
                "price_string": t.price_string,
                "is_popular": t.is_popular,
            }
            for t in tiers
        ],
        "features": table,
    }


def set_add_on(
    session: Session, runtime: Runtime, actor: Actor, tier: MembershipTier, values: dict[str, Any]
) -> FamilyAddOnProduct:
    if tier.tier_type == "corporate":
        raise Problem(
            409, "Corporate tiers are billed per seat, not as family add-ons.", code="STATE_CONFLICT"
        )
    product = session.scalar(select(FamilyAddOnProduct).where(FamilyAddOnProduct.tier_name == tier.slug))
    if product is None:
        product = FamilyAddOnProduct(tier_name=tier.slug, **values)
        session.add(product)
    else:
        for key, value in values.items():
            setattr(product, key, value)
    session.flush()
    # The add-on price travels with the tier, so billing's copy stays whole.
    runtime.publish(session, "membership.tier.updated", event_data(session, tier))
    audit.record(
        session, actor, "family_add_on.updated", "tier", tier.id, resource_name=tier.slug, details=values
    )
    return product
