"""Events published by the notifications service."""

from marshmallow import RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class EmailBounced(_Strict):
    """The provider could not deliver to `email` (a permanent bounce): nothing more is sent to it, and
    membership marks the member's `email_delivery_status = bounced`."""

    email = fields.Email(required=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    bounce_type = fields.String(required=True, allow_none=True, validate=validate.Length(max=50))
    detail = fields.String(required=True, allow_none=True, validate=validate.Length(max=1000))
    provider_message_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=200))


class EmailComplained(_Strict):
    """The recipient marked our e-mail as spam: nothing more is sent, and membership opts the member
    out of marketing."""

    email = fields.Email(required=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    provider_message_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=200))


SCHEMAS = {
    ("notifications.email.bounced", 1): EmailBounced,
    ("notifications.email.complained", 1): EmailComplained,
}
