"""/api/v1/billing/subscriptions and /portal-session: joining or changing a tier, and Stripe's portal."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import text

from club_shared.audit import publish_audit
from club_shared.fields import EmailAddress
from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import subscriptions
from ..models import TierRule
from ..stripe_gateway import gateway_for
from ._access import caller, is_staff, signed_in

blp = Blueprint(
    "subscriptions", __name__, url_prefix="/api/v1/billing", description="Membership subscriptions at Stripe"
)

LIVE = ("active", "trialing", "past_due")


class _In(Schema):
    class Meta:
        unknown = RAISE


class SubscribeIn(_In):
    tier_slug = fields.String(required=True, validate=validate.Length(min=1, max=50))
    email = EmailAddress(load_default=None, metadata={"description": "staff only: for another member"})
    success_url = fields.Url(load_default="http://localhost:8080/welcome", require_tld=False)
    cancel_url = fields.Url(load_default="http://localhost:8080/join", require_tld=False)


class SubscribeOut(Schema):
    status = fields.String(metadata={"description": "checkout | unchanged | upgraded | downgrade_scheduled"})
    checkout_url = fields.String(allow_none=True)
    checkout_session_id = fields.String(allow_none=True)
    subscription_id = fields.String(allow_none=True)
    tier_slug = fields.String()


class PortalOut(Schema):
    url = fields.String()


def _email(body) -> str:
    identity = caller()
    email = (body.get("email") or identity.email).lower()
    if email != identity.email.lower() and not is_staff(identity):
        raise Problem(403, "Only staff may subscribe another member.", code="FORBIDDEN")
    return email


@blp.post("/subscriptions")
@signed_in
@blp.arguments(SubscribeIn)
@blp.response(200, SubscribeOut)
@blp.alt_response(503, description="Stripe is not configured (PAYMENTS_UNAVAILABLE).")
@blp.doc(security=[{"bearerAuth": []}])
def subscribe(body):
    """Join a tier (a Stripe Checkout in subscription mode) or change tier: an existing live
    subscription is reused; an upgrade applies at once with a proration invoice, a downgrade at the
    end of the period. One at a time per e-mail; retries reuse the same Checkout (idempotency key)."""
    gateway = gateway_for(runtime().settings)
    gateway.require()
    email = _email(body)
    with runtime().db.transaction() as session:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"subscription:{email}"})
        tier = session.get(TierRule, body["tier_slug"])
        if tier is None or not tier.is_active:
            raise Problem(422, f"No tier called {body['tier_slug']}.", code="UNKNOWN_TIER")
        if not tier.stripe_price_id:
            raise Problem(409, "This tier has no Stripe price yet.", code="TIER_NOT_SOLD")
        customer = subscriptions.customer_by(session, email=email)
        v1 = gateway.v1
        if customer is not None and customer.stripe_subscription_id and customer.subscription_status in LIVE:
            if customer.tier_slug == tier.slug:
                return {
                    "status": "unchanged",
                    "subscription_id": customer.stripe_subscription_id,
                    "tier_slug": tier.slug,
                }
            current = session.get(TierRule, customer.tier_slug) if customer.tier_slug else None
            upgrade = current is None or tier.rank > current.rank
            remote = v1.subscriptions.retrieve(customer.stripe_subscription_id)
            item_id = remote["items"]["data"][0]["id"]
            key = f"subscription:{customer.stripe_subscription_id}:to:{tier.slug}"
            if upgrade:
                v1.subscriptions.update(
                    customer.stripe_subscription_id,
                    params={
                        "items": [{"id": item_id, "price": tier.stripe_price_id}],
                        "proration_behavior": "always_invoice",
                        "metadata": {"tier_slug": tier.slug},
                    },
                    options={"idempotency_key": key},
                )
                status = "upgraded"
            else:
                v1.subscriptions.update(
                    customer.stripe_subscription_id,
                    params={"metadata": {"pending_tier_slug": tier.slug}},
                    options={"idempotency_key": key},
                )
                status = "downgrade_scheduled"
            subscriptions.audit(session, email, f"subscription_{status}", {"tier": tier.slug}, caller().email)
            publish_audit(
                session,
                f"subscription_{status}",
                "subscription",
                customer.stripe_subscription_id,
                resource_name=email,
                details={"tier": tier.slug},
            )
            return {
                "status": status,
                "subscription_id": customer.stripe_subscription_id,
                "tier_slug": tier.slug,
            }
        who = (
            {"customer": customer.stripe_customer_id}
            if customer is not None and customer.stripe_customer_id
            else {"customer_email": email}
        )
        checkout = v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                **who,
                "line_items": [{"price": tier.stripe_price_id, "quantity": 1}],
                "metadata": {"purpose": "subscription", "email": email, "tier_slug": tier.slug},
                "subscription_data": {"metadata": {"tier_slug": tier.slug, "email": email}},
                "success_url": body["success_url"],
                "cancel_url": body["cancel_url"],
            },
            options={"idempotency_key": f"subscription-checkout:{email}:{tier.slug}"},
        )
        return {
            "status": "checkout",
            "checkout_url": checkout.url,
            "checkout_session_id": checkout.id,
            "tier_slug": tier.slug,
        }


@blp.post("/portal-session")
@signed_in
@blp.response(201, PortalOut)
@blp.alt_response(503, description="Stripe is not configured (PAYMENTS_UNAVAILABLE).")
@blp.doc(security=[{"bearerAuth": []}])
def portal_session():
    """A link to Stripe's billing portal for the caller (update the card, see invoices)."""
    gateway = gateway_for(runtime().settings)
    gateway.require()
    email = caller().email.lower()
    with runtime().db.transaction() as session:
        customer = subscriptions.customer_by(session, email=email)
        if customer is None or not customer.stripe_customer_id:
            raise Problem(404, "You have no billing account yet.", code="NOT_FOUND")
        customer_id = customer.stripe_customer_id
    portal = gateway.v1.billing_portal.sessions.create(
        params={"customer": customer_id, "return_url": runtime().settings.app_base_url}
    )
    return {"url": portal.url}
