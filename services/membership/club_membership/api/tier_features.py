"""/api/v1/tier-features: the rows of the comparison table and their per-tier values (admin)."""

from __future__ import annotations

from flask_smorest import Blueprint

from club_shared.web import runtime

from ..actions import tiers as actions
from ..context import actor, admin_only, public
from ..domain.tiers import value_out
from ..schemas import FeatureCreate, FeatureOut, FeatureUpdate, FeatureValueOut, FeatureValueSet

blp = Blueprint(
    "tier_features", __name__, url_prefix="/api/v1/tier-features", description="Tier comparison features"
)


@blp.get("")
@public
@blp.response(200, FeatureOut(many=True))
def list_features():
    with runtime().db.transaction() as session:
        return actions.features(session)


@blp.post("")
@admin_only
@blp.arguments(FeatureCreate)
@blp.response(201, FeatureOut)
def create_feature(body):
    """Add a row. A key bound to a tier column (daily_golf_time, guest_passes, booking_window,
    golf_simulators, conference_room, the has_* flags) shows that column and takes no values."""
    with runtime().db.transaction() as session:
        return actions.create_feature(session, actor(), body)


@blp.patch("/<int:feature_id>")
@admin_only
@blp.arguments(FeatureUpdate)
@blp.response(200, FeatureOut)
def update_feature(body, feature_id: int):
    with runtime().db.transaction() as session:
        feature = actions.get_feature(session, feature_id)
        actions.update_feature(session, actor(), feature, body)
        return feature


@blp.delete("/<int:feature_id>")
@admin_only
@blp.response(204)
def delete_feature(feature_id: int):
    with runtime().db.transaction() as session:
        actions.delete_feature(session, actor(), actions.get_feature(session, feature_id))


@blp.put("/<int:feature_id>/values/<tier_ref>")
@admin_only
@blp.arguments(FeatureValueSet)
@blp.response(200, FeatureValueOut)
def set_value(body, feature_id: int, tier_ref: str):
    """Set a tier's value of an unbound feature, typed by the feature's value_type (null clears)."""
    with runtime().db.transaction() as session:
        feature = actions.get_feature(session, feature_id)
        tier = actions.get(session, tier_ref)
        row = actions.set_value(session, actor(), feature, tier, body["value"])
        return {
            "tier": tier.slug,
            "feature_key": feature.feature_key,
            "value": value_out(feature.value_type, row.value_boolean, row.value_number, row.value_text),
        }
