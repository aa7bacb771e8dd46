"""/api/v1/family-add-ons: what adding a family member costs, per tier."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.web import runtime

from ..actions import tiers as actions
from ..context import actor, admin_only, public
from ..models import FamilyAddOnProduct
from ..schemas import AddOnOut, AddOnSet

blp = Blueprint(
    "family_add_ons", __name__, url_prefix="/api/v1/family-add-ons", description="Family add-on prices"
)


@blp.get("")
@public
@blp.response(200, AddOnOut(many=True))
def list_add_ons():
    with runtime().db.transaction() as session:
        return session.scalars(select(FamilyAddOnProduct).order_by(FamilyAddOnProduct.tier_name)).all()


@blp.put("/<tier_ref>")
@admin_only
@blp.arguments(AddOnSet)
@blp.response(200, AddOnOut)
def set_add_on(body, tier_ref: str):
    """Set a tier's family add-on price (billing's copy follows from membership.tier.updated)."""
    with runtime().db.transaction() as session:
        tier = actions.get(session, tier_ref, lock=True)
        return actions.set_add_on(session, runtime(), actor(), tier, body)
