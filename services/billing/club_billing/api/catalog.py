"""/api/v1/products and /api/v1/discount-rules: what billing sells and the discounts it gives."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from club_shared.audit import publish_audit
from club_shared.problems import Problem
from club_shared.web import runtime

from ..domain.discounts import TAG, Discount, best_discount, coupon_id
from ..flows import catalog
from ..models import DiscountRule, StripeProduct
from ._access import admin_only

products = Blueprint("products", __name__, url_prefix="/api/v1/products", description="Products and prices")
discounts = Blueprint(
    "discount_rules",
    __name__,
    url_prefix="/api/v1/discount-rules",
    description="Discount rules (Stripe coupons)",
)


class _In(Schema):
    class Meta:
        unknown = RAISE


class ProductOut(Schema):
    slug = fields.String()
    name = fields.String()
    price_cents = fields.Integer()
    product_type = fields.String()
    is_active = fields.Boolean()
    stripe_product_id = fields.String(allow_none=True)
    stripe_price_id = fields.String(allow_none=True)


class ProductChange(_In):
    name = fields.String(validate=validate.Length(min=1, max=200))
    price_cents = fields.Integer(validate=validate.Range(min=0, max=10_000_000))
    is_active = fields.Boolean()


class RuleOut(Schema):
    discount_tag = fields.String()
    name = fields.String()
    discount_percent = fields.Integer()
    is_active = fields.Boolean()
    stripe_coupon_id = fields.String(allow_none=True)
    coupon_id = fields.Method("_coupon")

    def _coupon(self, rule):
        return coupon_id(rule.discount_tag, rule.discount_percent)


class RuleIn(_In):
    discount_tag = fields.String(required=True, validate=validate.Regexp(TAG.pattern))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    discount_percent = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    is_active = fields.Boolean(load_default=True)


class BestIn(_In):
    tags = fields.List(
        fields.String(validate=validate.Length(max=40)), required=True, validate=validate.Length(max=20)
    )
    amount_cents = fields.Integer(load_default=None, validate=validate.Range(min=0, max=10_000_000))


class BestOut(Schema):
    discount_tag = fields.String(allow_none=True)
    discount_percent = fields.Integer()
    coupon_id = fields.String(allow_none=True)
    amount_cents = fields.Integer(allow_none=True)


@products.get("")
@products.response(200, ProductOut(many=True))
def list_products():
    """Active products and their prices (public: the day-pass page shows them)."""
    with runtime().db.transaction() as session:
        return session.scalars(
            select(StripeProduct).where(StripeProduct.is_active).order_by(StripeProduct.slug)
        ).all()


@products.patch("/<string(maxlength=100):slug>")
@admin_only
@products.arguments(ProductChange)
@products.response(200, ProductOut)
@products.doc(security=[{"bearerAuth": []}])
def change_product(body, slug: str):
    """Change a product's name or price (a fee price applies to fees at once; Stripe follows)."""
    with runtime().db.transaction() as session:
        product = session.scalars(
            select(StripeProduct).where(StripeProduct.slug == slug).with_for_update()
        ).first()
        if product is None:
            raise Problem(404, "No such product.", code="NOT_FOUND")
        catalog.change_product(session, product, body)
        publish_audit(session, "product_updated", "product", slug, resource_name=product.name, details=body)
        return product


@discounts.get("")
@admin_only
@discounts.response(200, RuleOut(many=True))
@discounts.doc(security=[{"bearerAuth": []}])
def list_rules():
    with runtime().db.transaction() as session:
        return session.scalars(select(DiscountRule).order_by(DiscountRule.discount_tag)).all()


@discounts.put("")
@admin_only
@discounts.arguments(RuleIn)
@discounts.response(200, RuleOut)
@discounts.doc(security=[{"bearerAuth": []}])
def put_rule(body):
    """Create or change a rule; its Stripe coupon `{TAG}_{PCT}PCT` is pushed after the commit."""
    with runtime().db.transaction() as session:
        rule = catalog.upsert_rule(
            session, body["discount_tag"], body["name"], body["discount_percent"], body["is_active"]
        )
        publish_audit(session, "discount_rule_saved", "discount_rule", rule.discount_tag, details=body)
        return rule


@discounts.post("/best")
@admin_only
@discounts.arguments(BestIn)
@discounts.response(200, BestOut)
@discounts.doc(security=[{"bearerAuth": []}])
def best(body):
    """The discount that applies to a purchase with these tags: the highest percentage, no stacking."""
    from ..domain.discounts import discounted_cents

    with runtime().db.transaction() as session:
        rules = [
            Discount(r.discount_tag, r.discount_percent, r.is_active)
            for r in session.scalars(select(DiscountRule))
        ]
    chosen = best_discount(rules, body["tags"])
    amount = body.get("amount_cents")
    return {
        "discount_tag": chosen.tag if chosen else None,
        "discount_percent": chosen.percent if chosen else 0,
        "coupon_id": coupon_id(chosen.tag, chosen.percent) if chosen else None,
        "amount_cents": discounted_cents(amount, chosen) if amount is not None else None,
    }
