"""Events published by the billing service."""

from marshmallow import RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class FeeLine(_Strict):
    """One participant's line, or an empty declared slot's (no participant id, charged to the owner)."""

    participant_id = fields.Integer(required=True, allow_none=True)
    #: stable id of the line across recomputations: "p<participant id>", "s<slot>", "e<slot>" (empty)
    key = fields.String(load_default=None, allow_none=True)
    slot = fields.Integer(load_default=None, allow_none=True)
    email = fields.Email(required=True, allow_none=True)
    display_name = fields.String(load_default=None, allow_none=True)
    participant_type = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["owner", "member", "guest", "empty_slot"]),
    )
    minutes = fields.Integer(required=True, validate=validate.Range(min=0))
    overage_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    guest_fee_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    total_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    guest_pass_used = fields.Boolean(required=True)
    payment_status = fields.String(
        required=True, validate=validate.OneOf(["pending", "paid", "waived", "refunded"])
    )
    tier = fields.String(load_default=None, allow_none=True)
    allowance_minutes = fields.Integer(load_default=None, allow_none=True)
    used_before_minutes = fields.Integer(load_default=None, allow_none=True)
    is_staff = fields.Boolean(load_default=False)


class FeesCalculated(_Strict):
    """The fees of one booking as billing computed them from the fee input of `roster_version`;
    `fees_version` grows with every computation for that booking (a cascade recomputes without a
    roster change), so consumers keep only the newest."""

    booking_request_id = fields.Integer(required=True)
    session_id = fields.Integer(load_default=None, allow_none=True)
    member_email = fields.Email(required=True)
    roster_version = fields.Integer(required=True, validate=validate.Range(min=0))
    fees_version = fields.Integer(required=True, validate=validate.Range(min=0))
    source = fields.String(load_default=None, allow_none=True)
    total_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    participants = fields.List(fields.Nested(FeeLine), required=True)


class Invoice(_Strict):
    """The one Stripe invoice of a booking: created (draft), paid, voided (or deleted: a draft whose
    total fell to 0 is deleted, `status` says which)."""

    booking_request_id = fields.Integer(required=True)
    stripe_invoice_id = fields.String(required=True)
    member_email = fields.Email(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["draft", "open", "paid", "void", "deleted", "refunded"])
    )
    total_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    amount_paid_cents = fields.Integer(load_default=0, validate=validate.Range(min=0))
    paid_out_of_band = fields.Boolean(load_default=False)
    hosted_invoice_url = fields.String(load_default=None, allow_none=True)


class PaidLine(_Strict):
    participant_id = fields.Integer(required=True, allow_none=True)
    #: the fee line's key in billing.fees.calculated ("p<participant id>", "e<slot>" for an empty slot)
    line_key = fields.String(required=True)
    amount_cents = fields.Integer(required=True, validate=validate.Range(min=0))


PAYMENT_METHODS = ["card", "cash", "out_of_band", "account_credit", "invoice", "zero"]


class Payment(_Strict):
    """A payment moved: succeeded (booking marks the participants paid), failed, or refunded (booking
    marks them refunded). Booking fees name the booking and the lines; other payments name neither."""

    payment_intent_id = fields.String(required=True, allow_none=True)
    booking_request_id = fields.Integer(required=True, allow_none=True)
    session_id = fields.Integer(load_default=None, allow_none=True)
    member_email = fields.Email(required=True, allow_none=True)
    amount_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    payment_type = fields.String(required=True)
    payment_method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))
    status = fields.String(required=True)
    participants = fields.List(fields.Nested(PaidLine), load_default=list)
    failure_reason = fields.String(load_default=None, allow_none=True)
    amount_refunded_cents = fields.Integer(load_default=0, validate=validate.Range(min=0))
    paid_at = fields.AwareDateTime(load_default=None, allow_none=True)


class DayPass(_Strict):
    purchase_id = fields.String(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)
    product_type = fields.String(required=True)
    price_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    quantity = fields.Integer(required=True)
    remaining_uses = fields.Integer(required=True, validate=validate.Range(min=0))
    status = fields.String(required=True, validate=validate.OneOf(["active", "exhausted", "refunded"]))
    expires_at = fields.AwareDateTime(required=True, allow_none=True)
    payment_intent_id = fields.String(required=True, allow_none=True)
    #: the QR code content e-mailed to the buyer, `DAYPASS:<purchase id>`
    qr_code = fields.String(required=True)
    #: redeemed: who, where, on which club date, for which booking
    redeemed_by = fields.String(load_default=None, allow_none=True)
    location = fields.String(load_default=None, allow_none=True)
    club_date = fields.Date(load_default=None, allow_none=True)
    booking_id = fields.Integer(load_default=None, allow_none=True)
    amount_refunded_cents = fields.Integer(load_default=0)


SUBSCRIPTION_STATUSES = [
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "canceled",
    "paused",
    "incomplete",
    "incomplete_expired",
]


class SubscriptionUpdated(_Strict):
    """A Stripe subscription changed; membership applies domain.md §2.2–2.3 (only for members whose
    billing provider is stripe). `stripe_event` is the webhook type that caused it."""

    subscription_id = fields.String(required=True)
    customer_id = fields.String(required=True, allow_none=True)
    email = fields.Email(required=True, allow_none=True)
    stripe_status = fields.String(required=True, validate=validate.OneOf(SUBSCRIPTION_STATUSES))
    tier_slug = fields.String(required=True, allow_none=True)
    stripe_event = fields.String(required=True)
    price_id = fields.String(load_default=None, allow_none=True)
    cancel_at_period_end = fields.Boolean(load_default=False)
    current_period_end = fields.AwareDateTime(load_default=None, allow_none=True)
    trial_end = fields.AwareDateTime(load_default=None, allow_none=True)


class MembershipPayment(_Strict):
    """A membership (subscription) invoice was paid or failed; failed starts the grace period."""

    email = fields.Email(required=True, allow_none=True)
    customer_id = fields.String(required=True, allow_none=True)
    subscription_id = fields.String(required=True, allow_none=True)
    invoice_id = fields.String(required=True)
    amount_cents = fields.Integer(required=True)
    tier_slug = fields.String(required=True, allow_none=True)
    failure_count = fields.Integer(load_default=0)
    failure_reason = fields.String(load_default=None, allow_none=True)
    occurred_at = fields.AwareDateTime(required=True)


class GracePeriodExpired(_Strict):
    """The payment-failure grace period ran out (3 reminders, at least 3 club days): membership
    sets `terminated` and clears the tier (domain.md §2.3)."""

    email = fields.Email(required=True)
    customer_id = fields.String(required=True, allow_none=True)
    subscription_id = fields.String(required=True, allow_none=True)
    grace_period_start = fields.AwareDateTime(required=True)
    reminders_sent = fields.Integer(required=True)


class Dispute(_Strict):
    dispute_id = fields.String(required=True)
    charge_id = fields.String(required=True, allow_none=True)
    payment_intent_id = fields.String(required=True, allow_none=True)
    email = fields.Email(required=True, allow_none=True)
    customer_id = fields.String(required=True, allow_none=True)
    amount_cents = fields.Integer(required=True)
    reason = fields.String(required=True, allow_none=True)
    stripe_status = fields.String(required=True)
    #: closed: won | lost
    outcome = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["won", "lost"]))


class CheckoutCompleted(_Strict):
    """A Checkout session completed; `purpose` comes from its metadata (add_funds, company_name,
    activation_link, staff_invite, day_pass, subscription)."""

    checkout_session_id = fields.String(required=True)
    purpose = fields.String(required=True, allow_none=True)
    email = fields.Email(required=True, allow_none=True)
    customer_id = fields.String(required=True, allow_none=True)
    subscription_id = fields.String(required=True, allow_none=True)
    payment_intent_id = fields.String(required=True, allow_none=True)
    amount_total_cents = fields.Integer(required=True, allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class ProductUpdated(_Strict):
    """A product or price changed at Stripe (tiers, café items, fee prices)."""

    slug = fields.String(required=True, allow_none=True)
    stripe_product_id = fields.String(required=True, allow_none=True)
    stripe_price_id = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)
    price_cents = fields.Integer(required=True, allow_none=True)
    product_type = fields.String(required=True, allow_none=True)
    is_active = fields.Boolean(required=True)
    tier_slug = fields.String(load_default=None, allow_none=True)


class GroupItem(_Strict):
    """A billing-group member's subscription item (domain.md §2.4): added (family add-on at the tier's
    price with coupon FAMILY20, or a corporate seat) → membership activates the member with provider
    family_addon; failed → membership puts them back to pending with no tier."""

    group_id = fields.Integer(required=True)
    group_type = fields.String(required=True, validate=validate.OneOf(["family", "corporate"]))
    primary_email = fields.Email(required=True)
    member_email = fields.Email(required=True)
    member_id = fields.String(required=True, allow_none=True)
    subscription_id = fields.String(required=True, allow_none=True)
    subscription_item_id = fields.String(required=True, allow_none=True)
    #: corporate: the seat quantity now on the item
    quantity = fields.Integer(load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True)


class FeeWaived(_Strict):
    """Staff waived a fee line to $0 (domain.md §10): admins review every waiver, and are reminded of
    those left unreviewed for more than 12 hours."""

    booking_request_id = fields.Integer(required=True)
    line_key = fields.String(required=True)
    member_email = fields.Email(required=True)
    member_name = fields.String(required=True, allow_none=True)
    #: whose line it was (the owner, another member, a guest, an empty slot)
    participant_name = fields.String(required=True, allow_none=True)
    club_date = fields.Date(required=True)
    amount_cents = fields.Integer(required=True, validate=validate.Range(min=0))
    reason = fields.String(required=True, allow_none=True)
    waived_by = fields.String(required=True)
    waived_at = fields.AwareDateTime(required=True, format="iso")


SCHEMAS = {
    ("billing.fees.calculated", 1): FeesCalculated,
    ("billing.fee.waived", 1): FeeWaived,
    ("billing.invoice.created", 1): Invoice,
    ("billing.invoice.paid", 1): Invoice,
    ("billing.invoice.voided", 1): Invoice,
    ("billing.payment.succeeded", 1): Payment,
    ("billing.payment.failed", 1): Payment,
    ("billing.payment.refunded", 1): Payment,
    ("billing.day_pass.purchased", 1): DayPass,
    ("billing.day_pass.redeemed", 1): DayPass,
    ("billing.day_pass.refunded", 1): DayPass,
    ("billing.subscription.updated", 1): SubscriptionUpdated,
    ("billing.membership_payment.succeeded", 1): MembershipPayment,
    ("billing.membership_payment.failed", 1): MembershipPayment,
    ("billing.grace_period.expired", 1): GracePeriodExpired,
    ("billing.dispute.opened", 1): Dispute,
    ("billing.dispute.updated", 1): Dispute,
    ("billing.dispute.closed", 1): Dispute,
    ("billing.checkout.completed", 1): CheckoutCompleted,
    ("billing.product.updated", 1): ProductUpdated,
    ("billing.group_item.added", 1): GroupItem,
    ("billing.group_item.failed", 1): GroupItem,
}
