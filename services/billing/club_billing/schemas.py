"""Request and response schemas of billing's HTTP API (money in integer cents)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from club_shared.fields import EmailAddress


class _In(Schema):
    class Meta:
        unknown = RAISE


class FeeLineOut(Schema):
    key = fields.String(metadata={"description": "p<participant id>, s<slot>, or e<slot> for an empty slot"})
    participant_id = fields.Integer(allow_none=True)
    participant_type = fields.String()
    slot = fields.Integer()
    email = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    minutes = fields.Integer()
    overage_cents = fields.Integer()
    guest_fee_cents = fields.Integer()
    total_cents = fields.Integer()
    guest_pass_used = fields.Boolean()
    payment_status = fields.String()
    tier = fields.String(allow_none=True)
    allowance_minutes = fields.Integer(allow_none=True)
    used_before_minutes = fields.Integer()
    is_staff = fields.Boolean()


class InvoiceOut(Schema):
    stripe_invoice_id = fields.String(allow_none=True)
    status = fields.String()
    total_cents = fields.Integer()
    amount_paid_cents = fields.Integer()
    paid_out_of_band = fields.Boolean()
    hosted_invoice_url = fields.String(allow_none=True)


class BookingFees(Schema):
    booking_request_id = fields.Integer()
    status = fields.String()
    resource_type = fields.String()
    date = fields.Date()
    roster_version = fields.Integer()
    fees_version = fields.Integer()
    total_cents = fields.Integer()
    owed_cents = fields.Integer()
    participants = fields.List(fields.Nested(FeeLineOut))
    invoice = fields.Nested(InvoiceOut, allow_none=True)


class PreviewParticipant(_In):
    type = fields.String(required=True, validate=validate.OneOf(["member", "guest"]))
    email = EmailAddress(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    user_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    is_staff = fields.Boolean(load_default=False)
    is_placeholder = fields.Boolean(load_default=False)
    used_guest_pass = fields.Boolean(load_default=False)


class FeePreviewIn(_In):
    member_email = EmailAddress(
        load_default=None, metadata={"description": "staff only: price for this member (default: the caller)"}
    )
    resource_type = fields.String(
        load_default="simulator", validate=validate.OneOf(["simulator", "conference_room"])
    )
    date = fields.Date(required=True)
    start_time = fields.Time(required=True, format="%H:%M")
    duration_minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=480))
    declared_player_count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=4))
    participants = fields.List(
        fields.Nested(PreviewParticipant), load_default=list, validate=validate.Length(max=3)
    )


class FeePreviewOut(Schema):
    member_email = fields.String()
    total_cents = fields.Integer()
    participants = fields.List(fields.Nested(FeeLineOut))


class LineActionIn(_In):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class WaiveIn(_In):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class PaymentStarted(Schema):
    booking_request_id = fields.Integer()
    status = fields.String()
    amount_cents = fields.Integer()
    invoice = fields.Nested(InvoiceOut, allow_none=True)


class BalanceItem(Schema):
    booking_request_id = fields.Integer()
    date = fields.String()
    line_key = fields.String()
    participant_type = fields.String()
    display_name = fields.String(allow_none=True)
    amount_cents = fields.Integer()


class Balance(Schema):
    email = fields.String()
    total_cents = fields.Integer()
    items = fields.List(fields.Nested(BalanceItem))


class BalanceQuery(_In):
    email = EmailAddress(load_default=None, metadata={"description": "staff only: another member's balance"})


class AuditEntry(Schema):
    id = fields.Integer()
    booking_id = fields.Integer()
    participant_id = fields.Integer(allow_none=True)
    line_key = fields.String(allow_none=True)
    action = fields.String()
    staff_email = fields.String(allow_none=True)
    amount_cents = fields.Integer()
    previous_status = fields.String(allow_none=True)
    new_status = fields.String(allow_none=True)
    payment_method = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class BillingStatus(Schema):
    stripe_enabled = fields.Boolean()
    webhooks_enabled = fields.Boolean()
    features_off = fields.List(fields.String())
