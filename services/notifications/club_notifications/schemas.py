"""Request and response bodies of the notifications API."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from club_shared.fields import EmailAddress


class _Strict(Schema):
    class Meta:
        unknown = "raise"


class NotificationQuery(_Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))
    #: time: newest first; unread_first: unread (newest first), then read (newest first)
    order = fields.String(load_default="time", validate=validate.OneOf(("time", "unread_first")))
    unread_only = fields.Boolean(load_default=False)
    #: only notifications created after this instant (for polling)
    since = fields.AwareDateTime(format="iso")


class Notification(Schema):
    id = fields.Integer()
    user_email = fields.Email()
    type = fields.String()
    title = fields.String()
    message = fields.String()
    is_read = fields.Boolean()
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)
    related_id = fields.Integer(allow_none=True)
    related_type = fields.String(allow_none=True)
    link = fields.String(allow_none=True)


class UnreadCount(Schema):
    unread = fields.Integer()


class Marked(Schema):
    marked = fields.Integer()


class SendNotification(_Strict):
    """Staff send an ad-hoc in-app (and optionally push) notification to one member."""

    user_email = EmailAddress(required=True)
    type = fields.String(load_default="info", validate=validate.Length(min=1, max=50))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    message = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    link = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    push = fields.Boolean(load_default=False)


# --- push subscriptions --------------------------------------------------------------------------


class PushKeys(_Strict):
    # base64url: p256dh is a 65-byte P-256 point (87 characters), auth a 16-byte secret (22)
    p256dh = fields.String(
        required=True, validate=[validate.Length(min=80, max=100), validate.Regexp(r"^[A-Za-z0-9_-]+=*$")]
    )
    auth = fields.String(
        required=True, validate=[validate.Length(min=16, max=40), validate.Regexp(r"^[A-Za-z0-9_-]+=*$")]
    )


class PushSubscriptionIn(_Strict):
    endpoint = fields.URL(
        required=True, schemes={"https", "http"}, require_tld=False, validate=validate.Length(max=2048)
    )
    keys = fields.Nested(PushKeys, required=True)
    expirationTime = fields.Raw(load_default=None, allow_none=True)  # noqa: N815 - the browser's own name


class PushSubscriptionOut(Schema):
    id = fields.Integer()
    endpoint = fields.String()
    created_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)


class Unsubscribe(_Strict):
    endpoint = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class PushConfig(Schema):
    enabled = fields.Boolean()
    public_key = fields.String(allow_none=True)


# --- announcements and notices -------------------------------------------------------------------

PRIORITIES = ("normal", "high", "urgent")


class AnnouncementIn(_Strict):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    message = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(load_default=None, allow_none=True)
    is_active = fields.Boolean(load_default=True)
    show_as_banner = fields.Boolean(load_default=False)
    link_type = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(("url", "booking", "event", "wellness", "closure", "page")),
    )
    link_target = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    send_push = fields.Boolean(load_default=False)
    closure_id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))

    @validates_schema
    def _dates(self, data, **_):
        if data.get("ends_on") and data.get("starts_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("ends_on is before starts_on.", "ends_on")


class AnnouncementPatch(_Strict):
    title = fields.String(validate=validate.Length(min=1, max=200))
    message = fields.String(validate=validate.Length(min=1, max=5000))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    is_active = fields.Boolean()
    show_as_banner = fields.Boolean()
    link_type = fields.String(
        allow_none=True, validate=validate.OneOf(("url", "booking", "event", "wellness", "closure", "page"))
    )
    link_target = fields.String(allow_none=True, validate=validate.Length(max=500))
    closure_id = fields.Integer(allow_none=True, validate=validate.Range(min=1))


class AnnouncementOut(Schema):
    id = fields.Integer()
    title = fields.String()
    message = fields.String()
    priority = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    is_active = fields.Boolean()
    show_as_banner = fields.Boolean()
    link_type = fields.String(allow_none=True)
    link_target = fields.String(allow_none=True)
    send_push = fields.Boolean()
    closure_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()


class AnnouncementQuery(_Strict):
    #: staff only: every announcement, not only those live today
    all = fields.Boolean(load_default=False)


class Notice(Schema):
    notice_type = fields.String()  # announcement|closure
    notice_id = fields.Integer()
    title = fields.String()
    message = fields.String()
    priority = fields.String()
    show_as_banner = fields.Boolean()
    link_type = fields.String(allow_none=True)
    link_target = fields.String(allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)


class Dismiss(_Strict):
    notice_type = fields.String(required=True, validate=validate.OneOf(("announcement", "closure")))
    notice_id = fields.Integer(required=True, validate=validate.Range(min=1))


class NoticeTypeIn(_Strict):
    name = fields.String(
        required=True, validate=[validate.Length(min=1, max=50), validate.Regexp(r"^[a-z0-9_]+$")]
    )
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    is_active = fields.Boolean(load_default=True)


class NoticeTypePatch(_Strict):
    name = fields.String(validate=[validate.Length(min=1, max=50), validate.Regexp(r"^[a-z0-9_]+$")])
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    is_active = fields.Boolean()


class NoticeTypeOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    is_active = fields.Boolean()


# --- communication logs --------------------------------------------------------------------------


class CommunicationQuery(_Strict):
    member_email = EmailAddress(required=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class CommunicationIn(_Strict):
    member_email = EmailAddress(required=True)
    type = fields.String(required=True, validate=validate.OneOf(("call", "meeting", "note", "sms", "email")))
    direction = fields.String(required=True, validate=validate.OneOf(("inbound", "outbound")))
    subject = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    body = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20_000))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")


class CommunicationOut(Schema):
    id = fields.Integer()
    member_email = fields.String()
    type = fields.String()
    direction = fields.String()
    subject = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    status = fields.String()
    template = fields.String(allow_none=True)
    hubspot_engagement_id = fields.String(allow_none=True)
    provider_message_id = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    occurred_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class ChannelsOut(Schema):
    email = fields.Dict()
    push = fields.Dict()


class FeeWaiverQuery(_Strict):
    #: false: the review queue (oldest first); true: what was reviewed (newest review first)
    reviewed = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class FeeWaiverOut(Schema):
    id = fields.Integer()
    booking_id = fields.Integer()
    line_key = fields.String()
    member_email = fields.Email()
    member_name = fields.String(allow_none=True)
    participant_name = fields.String(allow_none=True)
    club_date = fields.Date()
    amount_cents = fields.Integer()
    reason = fields.String(allow_none=True)
    waived_by = fields.String()
    waived_at = fields.AwareDateTime()
    reviewed_at = fields.AwareDateTime(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
