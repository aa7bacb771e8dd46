"""Events published by the membership service."""

from marshmallow import RAISE, Schema, fields


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class MemberCreated(_Strict):
    member_id = fields.String(required=True)
    email = fields.Email(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    tier = fields.String(required=True, allow_none=True)
    status = fields.String(required=True)


SCHEMAS = {
    ("membership.member.created", 1): MemberCreated,
}
