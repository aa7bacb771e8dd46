"""Request and response bodies of the membership API."""

from club_shared.fields import EmailAddress
from marshmallow import Schema, fields, validate


class MemberCreate(Schema):
    email = EmailAddress(required=True)
    first_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    last_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    tier = fields.String(load_default=None, validate=validate.Length(min=1, max=50))


class Member(Schema):
    id = fields.String()
    email = fields.Email()
    first_name = fields.String()
    last_name = fields.String()
    name = fields.String()
    status = fields.String()
    tier = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
