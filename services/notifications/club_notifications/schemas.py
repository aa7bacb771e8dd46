"""Request and response bodies of the notifications API."""

from club_shared.fields import EmailAddress
from marshmallow import Schema, fields, validate


class NotificationQuery(Schema):
    user_email = EmailAddress(required=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class Notification(Schema):
    id = fields.Integer()
    user_email = fields.Email()
    type = fields.String()
    title = fields.String()
    message = fields.String()
    is_read = fields.Boolean()
    created_at = fields.AwareDateTime()
