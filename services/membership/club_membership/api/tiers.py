"""/api/v1/tiers: the public tier list and comparison table; admins create, change and delete tiers."""

from __future__ import annotations

from flask_smorest import Blueprint

from club_shared.web import runtime

from ..actions import tiers as actions
from ..context import actor, admin_only, public
from ..schemas import Republished, TierCreate, TierFields, TierOut, TierQuery

blp = Blueprint(
    "tiers", __name__, url_prefix="/api/v1/tiers", description="Membership tiers and their limits"
)


@blp.get("")
@public
@blp.arguments(TierQuery, location="query")
@blp.response(200, TierOut(many=True))
def list_tiers(query):
    """Every active tier, by rank, with its limits."""
    with runtime().db.transaction() as session:
        return actions.listing(session, include_inactive=query["include_inactive"])


@blp.get("/comparison")
@public
@blp.response(200)
def comparison():
    """The comparison table: `tiers` (columns) and `features` (rows, with a value per tier slug;
    bound features show the tier's own column, "unlimited" for 999 minutes or unlimited access)."""
    with runtime().db.transaction() as session:
        return actions.comparison(session)


@blp.post("")
@admin_only
@blp.arguments(TierCreate)
@blp.response(201, TierOut)
def create_tier(body):
    """Add a tier; publishes membership.tier.created with every limit."""
    with runtime().db.transaction() as session:
        return actions.create(session, runtime(), actor(), body)


@blp.post("/republish")
@admin_only
@blp.response(200, Republished)
def republish():
    """Publish membership.tier.updated for every tier, so other services rebuild their copies."""
    with runtime().db.transaction() as session:
        return {"tiers": actions.republish(session, runtime(), actor())}


@blp.get("/<ref>")
@public
@blp.response(200, TierOut)
def get_tier(ref: str):
    """A tier by slug (a founding slug such as `core-founding` is its tier) or id."""
    with runtime().db.transaction() as session:
        return actions.get(session, ref)


@blp.patch("/<ref>")
@admin_only
@blp.arguments(TierFields)
@blp.response(200, TierOut)
def update_tier(body, ref: str):
    """Change a tier (not its slug); publishes membership.tier.updated. Limits of a tier whose
    limits come from Stripe are read-only (409 LIMITS_FROM_STRIPE)."""
    with runtime().db.transaction() as session:
        tier = actions.get(session, ref, lock=True)
        actions.update(session, runtime(), actor(), tier, body)
        return tier


@blp.delete("/<ref>")
@admin_only
@blp.response(204)
def delete_tier(ref: str):
    """Delete a tier without members (409 TIER_IN_USE otherwise); publishes membership.tier.deleted."""
    with runtime().db.transaction() as session:
        actions.delete(session, runtime(), actor(), actions.get(session, ref, lock=True))
