"""/api/v1/billing: a member's outstanding balance, and which Stripe features are on."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from club_shared.clubtime import today
from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import payments, readmodels
from ..schemas import Balance, BalanceQuery, BillingStatus
from ..stripe_gateway import gateway_for
from ._access import caller, is_staff, signed_in, staff_only

blp = Blueprint("billing", __name__, url_prefix="/api/v1/billing", description="Balances and billing status")


@blp.get("/balance")
@signed_in
@blp.arguments(BalanceQuery, location="query", unknown=RAISE)
@blp.response(200, Balance)
@blp.doc(security=[{"bearerAuth": []}])
def balance(query):
    """What the caller owes (unpaid lines of the last 90 days); staff may ask for `email`."""
    identity = caller()
    email = query.get("email") or identity.email.lower()
    if email != identity.email.lower() and not is_staff(identity):
        raise Problem(404, "No such balance.", code="NOT_FOUND")
    with runtime().db.transaction() as session:
        member = readmodels.find_member(session, email)
        return payments.outstanding(session, member.email if member else email, today(runtime().tz))


@blp.get("/status")
@staff_only
@blp.response(200, BillingStatus)
@blp.doc(security=[{"bearerAuth": []}])
def status():
    """Which Stripe features are on (off without STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET)."""
    gateway = gateway_for(runtime().settings)
    return {
        "stripe_enabled": gateway.enabled,
        "webhooks_enabled": bool(gateway.webhook_secret),
        "features_off": gateway.off_features(),
    }
