"""/api/v1/day-passes: buying a day pass (Stripe Checkout), and the front desk's redemption and refunds."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from club_shared.audit import publish_audit
from club_shared.clubtime import today
from club_shared.fields import EmailAddress
from club_shared.web import runtime

from ..flows import day_passes
from ..models import DayPassPurchase
from ..stripe_gateway import gateway_for
from ._access import caller, not_found, staff_only

blp = Blueprint(
    "day_passes", __name__, url_prefix="/api/v1/day-passes", description="Day passes for non-members"
)


class _In(Schema):
    class Meta:
        unknown = RAISE


# Name and phone travel to Stripe as metadata and come back in the webhook to be stored: a control
# character (NUL above all, which PostgreSQL refuses) would make the paid pass impossible to record.
_PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="Control characters are not allowed.")


class CheckoutIn(_In):
    email = EmailAddress(required=True)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _PRINTABLE])
    phone = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=40), _PRINTABLE])
    product = fields.String(
        load_default="day-pass-golf-sim", validate=validate.OneOf(day_passes.DAY_PASS_SLUGS)
    )
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10))
    success_url = fields.Url(load_default="http://localhost:8080/day-pass/thanks", require_tld=False)
    cancel_url = fields.Url(load_default="http://localhost:8080/day-pass", require_tld=False)


class CheckoutOut(Schema):
    checkout_session_id = fields.String()
    checkout_url = fields.String()
    amount_cents = fields.Integer()


class DayPassOut(Schema):
    id = fields.String()
    email = fields.String()
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    product_type = fields.String()
    price_cents = fields.Integer()
    quantity = fields.Integer()
    remaining_uses = fields.Integer()
    status = fields.String()
    purchased_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    last_redeemed_on = fields.Date(allow_none=True)
    stripe_payment_intent_id = fields.String(allow_none=True)
    booking_id = fields.Integer(allow_none=True)


class ListQuery(_In):
    email = EmailAddress(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["active", "exhausted", "refunded"]))


class RedeemIn(_In):
    location = fields.String(load_default="front_desk", validate=validate.Length(min=1, max=50))
    booking_id = fields.Integer(load_default=None, allow_none=True)


@blp.post("/checkout")
@blp.arguments(CheckoutIn)
@blp.response(201, CheckoutOut)
@blp.alt_response(503, description="Stripe is not configured: Checkout is off (PAYMENTS_UNAVAILABLE).")
def checkout(body):
    """Start a Stripe Checkout for a day pass (anyone; rate-limited by the gateway; 100% promotion
    codes allowed). The purchase is recorded from Stripe's webhook, once per payment intent."""
    gateway = gateway_for(runtime().settings)
    gateway.require()
    with runtime().db.transaction() as session:
        product = day_passes.product(session, body["product"])
        price = (
            {"price": product.stripe_price_id}
            if product.stripe_price_id
            else {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": product.price_cents,
                    "product_data": {"name": product.name},
                }
            }
        )
    metadata = {
        "purpose": "day_pass",
        "product": body["product"],
        "quantity": str(body["quantity"]),
        "email": body["email"],
        "name": body["name"],
        "phone": body.get("phone") or "",
    }
    session_obj = gateway.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer_email": body["email"],
            "line_items": [{**price, "quantity": body["quantity"]}],
            "allow_promotion_codes": True,
            "metadata": metadata,
            "success_url": body["success_url"],
            "cancel_url": body["cancel_url"],
        }
    )
    return {
        "checkout_session_id": session_obj.id,
        "checkout_url": session_obj.url,
        "amount_cents": session_obj.amount_total,
    }


@blp.get("")
@staff_only
@blp.arguments(ListQuery, location="query", unknown=RAISE)
@blp.response(200, DayPassOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_passes(query):
    statement = select(DayPassPurchase).order_by(DayPassPurchase.purchased_at.desc()).limit(200)
    if query.get("email"):
        statement = statement.where(DayPassPurchase.email == query["email"])
    if query.get("status"):
        statement = statement.where(DayPassPurchase.status == query["status"])
    with runtime().db.transaction() as session:
        return session.scalars(statement).all()


@blp.get("/<string(maxlength=80):code>")
@staff_only
@blp.response(200, DayPassOut)
@blp.doc(security=[{"bearerAuth": []}])
def get_pass(code: str):
    """A pass by id or by its QR code `DAYPASS:<id>`."""
    with runtime().db.transaction() as session:
        purchase = session.get(DayPassPurchase, day_passes.parse_code(code))
        if purchase is None:
            raise not_found("day pass")
        return purchase


@blp.post("/<string(maxlength=80):code>/redeem")
@staff_only
@blp.arguments(RedeemIn)
@blp.response(200, DayPassOut)
@blp.doc(security=[{"bearerAuth": []}])
def redeem(body, code: str):
    """Front desk: use the pass today (once per club date; 0 left → exhausted)."""
    identity = caller()
    with runtime().db.transaction() as session:
        purchase = day_passes.redeem(
            session,
            day_passes.parse_code(code),
            club_date=today(runtime().tz),
            staff_email=identity.email,
            location=body["location"],
            booking_id=body.get("booking_id"),
        )
        publish_audit(
            session,
            "day_pass_redeemed",
            "day_pass",
            purchase.id,
            resource_name=purchase.email,
            details={"location": body["location"], "remaining_uses": purchase.remaining_uses},
        )
        return purchase


@blp.post("/<string(maxlength=80):code>/refund")
@staff_only
@blp.response(200, DayPassOut)
@blp.doc(security=[{"bearerAuth": []}])
def refund(code: str):
    """Refund an active pass (key refund:<payment intent>); refunding again changes nothing."""
    identity = caller()
    with runtime().db.transaction() as session:
        purchase = session.get(DayPassPurchase, day_passes.parse_code(code))
        already = purchase is not None and purchase.status == "refunded"
        purchase = day_passes.refund(session, day_passes.parse_code(code), identity.email)
        if not already:
            publish_audit(session, "day_pass_refunded", "day_pass", purchase.id, resource_name=purchase.email)
        return purchase
