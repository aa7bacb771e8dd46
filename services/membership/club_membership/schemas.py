"""Request and response bodies of the membership API."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from club_shared.fields import EmailAddress

from .domain import settings as settings_registry
from .domain.statuses import FINAL_STATUSES, STATUSES

SLUG = validate.Regexp(
    r"^[a-z][a-z0-9-]{0,49}$", error="Lower-case letters, digits and hyphens, starting with a letter."
)
NOT_FINAL = [s for s in STATUSES if s not in FINAL_STATUSES]


class Int(fields.Integer):
    """An integer in a JSON body: "25" is not 25."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)


class Text(fields.String):
    """A string, trimmed before it is validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        return value.strip()


def _name(required: bool = False, **kwargs) -> Text:
    return Text(required=required, validate=validate.Length(min=1, max=100), **kwargs)


class Page(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


# ------------------------------------------------------------------------------------------------
# Members
# ------------------------------------------------------------------------------------------------


class MemberCreate(Schema):
    email = EmailAddress(required=True)
    first_name = _name(required=True)
    last_name = _name(required=True)
    phone = Text(load_default=None, allow_none=True, validate=validate.Length(max=40))
    tier = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=50))
    status = fields.String(
        load_default=None, validate=validate.OneOf(("pending", "active", "trialing", "visitor"))
    )
    billing_provider = fields.String(
        load_default="stripe", validate=validate.OneOf(("stripe", "manual", "comped", "family_addon"))
    )
    trial_days = Int(load_default=None, allow_none=True, validate=validate.OneOf((7, 14, 30)))

    @validates_schema
    def _trial(self, data, **kwargs):
        if data.get("trial_days") and data.get("status") not in ("trialing", None):
            raise ValidationError("A trial makes the member trialing.", "trial_days")


class ProfileUpdate(Schema):
    first_name = _name()
    last_name = _name()
    phone = Text(allow_none=True, validate=validate.Length(max=40))
    email_opt_in = fields.Boolean()
    sms_opt_in = fields.Boolean()
    push_opt_in = fields.Boolean()
    marketing_opt_in = fields.Boolean()


class MeUpdate(ProfileUpdate):
    app_installed = fields.Boolean(metadata={"description": "true records that the app is installed"})


class MemberUpdate(ProfileUpdate):
    billing_provider = fields.String(validate=validate.OneOf(("stripe", "manual", "comped", "family_addon")))
    stripe_customer_id = Text(allow_none=True, validate=validate.Length(max=100))
    stripe_subscription_id = Text(allow_none=True, validate=validate.Length(max=100))
    hubspot_id = Text(allow_none=True, validate=validate.Length(max=100))
    trial_ends_at = fields.AwareDateTime(allow_none=True)


class Member(Schema):
    id = fields.String()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    name = fields.String()
    phone = fields.String(allow_none=True)
    role = fields.String()
    status = fields.String()
    tier = fields.String(allow_none=True)
    tier_id = Int(allow_none=True)
    last_tier = fields.String(allow_none=True)
    billing_provider = fields.String()
    family_group_id = Int(allow_none=True)
    linked_emails = fields.Method("_linked")
    stripe_customer_id = fields.String(allow_none=True)
    stripe_subscription_id = fields.String(allow_none=True)
    hubspot_id = fields.String(allow_none=True)
    trial_ends_at = fields.AwareDateTime(allow_none=True)
    waiver_version = Int(allow_none=True)
    waiver_signed_at = fields.AwareDateTime(allow_none=True)
    first_booking_at = fields.AwareDateTime(allow_none=True)
    app_installed_at = fields.AwareDateTime(allow_none=True)
    lifetime_visits = Int()
    email_delivery_status = fields.String()
    email_opt_in = fields.Boolean()
    sms_opt_in = fields.Boolean()
    push_opt_in = fields.Boolean()
    marketing_opt_in = fields.Boolean()
    archived_at = fields.AwareDateTime(allow_none=True)
    merged_into = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()

    def _linked(self, user) -> list[str]:
        return [link.linked_email for link in user.linked_emails]


class MemberSearch(Page):
    q = Text(validate=validate.Length(min=1, max=100))
    email = EmailAddress()
    tier = fields.String(validate=validate.Length(min=1, max=50))
    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)))
    include_archived = fields.Boolean(load_default=False)


class MemberPage(Schema):
    items = fields.List(fields.Nested(Member))
    total = Int()
    page = Int()
    page_size = Int()


class StatusChange(Schema):
    status = fields.String(required=True, validate=validate.OneOf(NOT_FINAL))
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class TierChange(Schema):
    tier = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=50))


class EmailChange(Schema):
    email = EmailAddress(required=True)


class LinkedEmailCreate(Schema):
    email = EmailAddress(required=True)
    source = fields.String(
        load_default="manual", validate=validate.OneOf(("manual", "trackman_resolution", "hubspot_merge"))
    )


class LinkedEmailOut(Schema):
    linked_email = fields.String()
    source = fields.String()
    linked_at = fields.AwareDateTime()


class Archive(Schema):
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class Merge(Schema):
    into_member_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


# ------------------------------------------------------------------------------------------------
# Tiers
# ------------------------------------------------------------------------------------------------


def _minutes():
    return Int(validate=validate.Range(min=0, max=999))


class TierFields(Schema):
    name = Text(validate=validate.Length(min=1, max=100))
    description = Text(allow_none=True, validate=validate.Length(max=5000))
    monthly_price_cents = Int(validate=validate.Range(min=0, max=10_000_000))
    is_active = fields.Boolean()
    rank = Int(validate=validate.Range(min=0, max=1000))
    price_string = Text(allow_none=True, validate=validate.Length(max=100))
    billing_interval = fields.String(validate=validate.OneOf(("month", "year")))
    product_type = fields.String(validate=validate.OneOf(("subscription", "one_time")))
    tier_type = fields.String(validate=validate.OneOf(("individual", "corporate")))
    min_quantity = Int(validate=validate.Range(min=1, max=10_000))
    tagline = Text(allow_none=True, validate=validate.Length(max=200))
    highlighted_features = fields.List(
        Text(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=20)
    )
    button_text = Text(allow_none=True, validate=validate.Length(max=50))
    is_popular = fields.Boolean()
    show_in_comparison = fields.Boolean()
    sort_order = Int(validate=validate.Range(min=0, max=10_000))
    daily_sim_minutes = _minutes()
    guest_passes_per_period = Int(validate=validate.Range(min=0, max=999))
    booking_window_days = Int(validate=validate.Range(min=0, max=365))
    daily_conf_room_minutes = _minutes()
    can_book_simulators = fields.Boolean()
    can_book_conference = fields.Boolean()
    can_book_wellness = fields.Boolean()
    has_group_lessons = fields.Boolean()
    has_extended_sessions = fields.Boolean()
    has_private_lesson = fields.Boolean()
    has_simulator_guest_passes = fields.Boolean()
    has_discounted_merch = fields.Boolean()
    unlimited_access = fields.Boolean()
    guest_fee_cents = Int(validate=validate.Range(min=0, max=1_000_000))
    stripe_product_id = Text(allow_none=True, validate=validate.Length(max=100))
    stripe_price_id = Text(allow_none=True, validate=validate.Length(max=100))
    founding_price_id = Text(allow_none=True, validate=validate.Length(max=100))
    limits_source = fields.String(validate=validate.OneOf(("manual", "stripe")))


class TierCreate(TierFields):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    slug = fields.String(required=True, validate=SLUG)


class TierOut(TierFields):
    id = Int()
    slug = fields.String()
    unlimited_sim_minutes = fields.Method("_unlimited_sim")
    unlimited_conf_room_minutes = fields.Method("_unlimited_conf")
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()

    def _unlimited_sim(self, tier) -> bool:
        return tier.unlimited_access or tier.daily_sim_minutes >= 999

    def _unlimited_conf(self, tier) -> bool:
        return tier.unlimited_access or tier.daily_conf_room_minutes >= 999


class TierQuery(Schema):
    include_inactive = fields.Boolean(load_default=False)


class FeatureCreate(Schema):
    feature_key = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,49}$"))
    display_label = Text(required=True, validate=validate.Length(min=1, max=100))
    name = Text(validate=validate.Length(min=1, max=100))
    description = Text(allow_none=True, validate=validate.Length(max=2000))
    value_type = fields.String(load_default="boolean", validate=validate.OneOf(("boolean", "number", "text")))
    sort_order = Int(load_default=0, validate=validate.Range(min=0, max=10_000))
    is_active = fields.Boolean(load_default=True)


class FeatureUpdate(Schema):
    display_label = Text(validate=validate.Length(min=1, max=100))
    name = Text(validate=validate.Length(min=1, max=100))
    description = Text(allow_none=True, validate=validate.Length(max=2000))
    value_type = fields.String(validate=validate.OneOf(("boolean", "number", "text")))
    sort_order = Int(validate=validate.Range(min=0, max=10_000))
    is_active = fields.Boolean()


class FeatureOut(Schema):
    id = Int()
    feature_key = fields.String()
    name = fields.String()
    display_label = fields.String()
    description = fields.String(allow_none=True)
    value_type = fields.String()
    bound_column = fields.String(allow_none=True)
    sort_order = Int()
    is_active = fields.Boolean()


class FeatureValueSet(Schema):
    value = fields.Raw(
        required=True,
        allow_none=True,
        metadata={"description": "boolean, number or text, by the feature's value_type; null clears"},
    )


class FeatureValueOut(Schema):
    tier = fields.String()
    feature_key = fields.String()
    value = fields.Raw(allow_none=True)


class AddOnSet(Schema):
    price_cents = Int(required=True, validate=validate.Range(min=0, max=10_000_000))
    stripe_product_id = Text(allow_none=True, validate=validate.Length(max=100))
    stripe_price_id = Text(allow_none=True, validate=validate.Length(max=100))


class AddOnOut(Schema):
    tier = fields.String(attribute="tier_name")
    price_cents = Int()
    stripe_product_id = fields.String(allow_none=True)
    stripe_price_id = fields.String(allow_none=True)


class Republished(Schema):
    tiers = Int()


# ------------------------------------------------------------------------------------------------
# Sign-in
# ------------------------------------------------------------------------------------------------


class CodeRequest(Schema):
    email = EmailAddress(required=True)


class CodeAccepted(Schema):
    message = fields.String()
    dev_code = fields.String(
        metadata={"description": "only with CLUB_ENV=development, and only for an account that may sign in"}
    )


class SessionCreate(Schema):
    email = EmailAddress()
    code = fields.String(validate=validate.Regexp(r"^\d{6}$", error="Six digits."))
    token = fields.String(validate=validate.Length(min=10, max=200))

    @validates_schema
    def _one_way(self, data, **kwargs):
        if "token" in data:
            if "code" in data:
                raise ValidationError("Send a token, or an e-mail and a code, not both.", "token")
        elif "email" not in data or "code" not in data:
            raise ValidationError("Send an e-mail and a code, or a link token.", "code")


class SessionUser(Schema):
    id = fields.String()
    email = fields.String()
    role = fields.String()
    tier = fields.String(allow_none=True)
    status = fields.String()
    first_name = fields.String()
    last_name = fields.String()


class TokenPair(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = Int()
    user = fields.Nested(SessionUser)


class RefreshRequest(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=300))


class SessionOut(Schema):
    id = fields.String(attribute="sid")
    created_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)
    expires_at = fields.AwareDateTime(attribute="expire")
    ip = fields.Method("_ip")
    user_agent = fields.Method("_agent")
    current = fields.Boolean()

    def _ip(self, row):
        return row.sess.get("ip")

    def _agent(self, row):
        return row.sess.get("user_agent")


class Jwks(Schema):
    keys = fields.List(fields.Dict())


# ------------------------------------------------------------------------------------------------
# Waiver
# ------------------------------------------------------------------------------------------------


class WaiverOut(Schema):
    version = Int()
    title = fields.String()
    body = fields.String()
    published_at = fields.AwareDateTime()


class WaiverPublish(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    body = Text(required=True, validate=validate.Length(min=1, max=50_000))


class WaiverSign(Schema):
    version = Int(required=True, validate=validate.Range(min=1, max=1_000_000))


class WaiverStatus(Schema):
    current_version = Int()
    signed_version = Int(allow_none=True)
    signed_at = fields.AwareDateTime(allow_none=True)
    needs_signature = fields.Boolean()


# ------------------------------------------------------------------------------------------------
# Staff
# ------------------------------------------------------------------------------------------------


class StaffCreate(Schema):
    email = EmailAddress(required=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(load_default="staff", validate=validate.OneOf(("staff", "admin", "golf_instructor")))


class StaffUpdate(Schema):
    name = Text(validate=validate.Length(min=1, max=200))
    role = fields.String(validate=validate.OneOf(("staff", "admin", "golf_instructor")))
    is_active = fields.Boolean()


class StaffOut(Schema):
    id = Int()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class StaffQuery(Schema):
    include_inactive = fields.Boolean(load_default=False)


# ------------------------------------------------------------------------------------------------
# Billing groups
# ------------------------------------------------------------------------------------------------


class GroupCreate(Schema):
    primary_member_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    type = fields.String(required=True, validate=validate.OneOf(("family", "corporate")))
    group_name = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    company_name = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    max_seats = Int(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10_000))

    @validates_schema
    def _corporate(self, data, **kwargs):
        if data.get("type") == "corporate" and not data.get("company_name"):
            raise ValidationError("A corporate group needs the company's name.", "company_name")


class GroupUpdate(Schema):
    group_name = Text(allow_none=True, validate=validate.Length(max=200))
    company_name = Text(allow_none=True, validate=validate.Length(max=200))
    max_seats = Int(allow_none=True, validate=validate.Range(min=1, max=10_000))
    hubspot_company_id = Text(allow_none=True, validate=validate.Length(max=100))


class GroupMemberAdd(Schema):
    email = EmailAddress(required=True)
    first_name = _name()
    last_name = _name()
    relationship = Text(load_default=None, allow_none=True, validate=validate.Length(max=50))
    tier = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=50))


class GroupMemberOut(Schema):
    id = Int()
    member_email = fields.String()
    relationship = fields.String(allow_none=True)
    is_primary = fields.Boolean()
    member_tier = fields.String(allow_none=True)
    add_on_price_cents = Int(allow_none=True)
    stripe_subscription_item_id = fields.String(allow_none=True)
    is_active = fields.Boolean()
    added_at = fields.AwareDateTime()
    removed_at = fields.AwareDateTime(allow_none=True)


class GroupOut(Schema):
    id = Int()
    type = fields.String()
    primary_email = fields.String()
    group_name = fields.String(allow_none=True)
    company_name = fields.String(allow_none=True)
    hubspot_company_id = fields.String(allow_none=True)
    max_seats = Int(allow_none=True)
    is_active = fields.Boolean()
    primary_stripe_customer_id = fields.String(allow_none=True)
    primary_stripe_subscription_id = fields.String(allow_none=True)
    seat_count = fields.Method("_seats")
    members = fields.Method("_members")
    created_at = fields.AwareDateTime()

    def _seats(self, group) -> int:
        return sum(1 for m in group.members if m.is_active and not m.is_primary)

    def _members(self, group):
        return GroupMemberOut(many=True).dump([m for m in group.members if m.is_active])


class GroupQuery(Page):
    type = fields.String(validate=validate.OneOf(("family", "corporate")))
    include_inactive = fields.Boolean(load_default=False)


# ------------------------------------------------------------------------------------------------
# Notes, audit, bug reports, account, settings, content
# ------------------------------------------------------------------------------------------------


class NoteCreate(Schema):
    note = Text(required=True, validate=validate.Length(min=1, max=5000))
    is_pinned = fields.Boolean(load_default=False)


class NoteUpdate(Schema):
    note = Text(validate=validate.Length(min=1, max=5000))
    is_pinned = fields.Boolean()


class NoteOut(Schema):
    id = Int()
    member_email = fields.String()
    note = fields.String()
    created_by = fields.String()
    is_pinned = fields.Boolean()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class AuditQuery(Page):
    actor = EmailAddress()
    action = fields.String(validate=validate.Length(min=1, max=100))
    resource_type = fields.String(validate=validate.Length(min=1, max=50))
    resource_id = fields.String(validate=validate.Length(min=1, max=100))
    source_service = fields.String(validate=validate.Length(min=1, max=30))
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()

    @validates_schema
    def _range(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ValidationError("since must not be after until.", "since")


class AuditOut(Schema):
    id = Int()
    actor_type = fields.String()
    actor_email = fields.String(allow_none=True)
    action = fields.String()
    resource_type = fields.String()
    resource_id = fields.String(allow_none=True)
    resource_name = fields.String(allow_none=True)
    details = fields.Dict()
    ip_address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    source_service = fields.String()
    event_id = fields.UUID()
    created_at = fields.AwareDateTime()


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditOut))
    total = Int()
    page = Int()
    page_size = Int()


class BugReportCreate(Schema):
    description = Text(required=True, validate=validate.Length(min=1, max=5000))
    page_url = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class BugReportUpdate(Schema):
    status = fields.String(validate=validate.OneOf(("open", "resolved")))
    staff_notes = Text(allow_none=True, validate=validate.Length(max=5000))


class BugReportOut(Schema):
    id = Int()
    user_email = fields.String()
    description = fields.String()
    status = fields.String()
    page_url = fields.String(allow_none=True)
    staff_notes = fields.String(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class BugReportQuery(Page):
    status = fields.String(validate=validate.OneOf(("open", "resolved")))


class DeletionCreate(Schema):
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class DeletionOut(Schema):
    id = Int()
    user_id = fields.String()
    email = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    requested_at = fields.AwareDateTime()
    processed_at = fields.AwareDateTime(allow_none=True)
    processed_by = fields.String(allow_none=True)
    due_by = fields.Date(allow_none=True)


class DeletionQuery(Page):
    status = fields.String(validate=validate.OneOf(("pending", "completed", "cancelled")))


class ExportOut(Schema):
    id = Int()
    status = fields.String()
    requested_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)
    expires_at = fields.AwareDateTime(allow_none=True)
    download_url = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    parts_received = fields.List(fields.String())
    parts_missing = fields.List(fields.String())


class SettingOut(Schema):
    key = fields.String()
    value = fields.Raw(allow_none=True)
    default = fields.Raw(allow_none=True)
    category = fields.String()
    description = fields.String()
    public = fields.Boolean()
    read_only = fields.Boolean()
    is_default = fields.Boolean()
    updated_by = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class SettingPut(Schema):
    value = fields.Raw(required=True, allow_none=True)


class SettingKey(Schema):
    """Checked in the view: the key must be in the registry."""

    key = fields.String(validate=validate.OneOf(tuple(settings_registry.REGISTRY)))


class SystemSettingOut(Schema):
    key = fields.String()
    value = fields.String()
    updated_at = fields.AwareDateTime()


class FaqIn(Schema):
    question = Text(required=True, validate=validate.Length(min=1, max=500))
    answer = Text(required=True, validate=validate.Length(min=1, max=10_000))
    category = Text(load_default=None, allow_none=True, validate=validate.Length(max=50))
    sort_order = Int(load_default=0, validate=validate.Range(min=0, max=10_000))
    is_active = fields.Boolean(load_default=True)


class FaqOut(Schema):
    id = Int()
    question = fields.String()
    answer = fields.String()
    category = fields.String(allow_none=True)
    sort_order = Int()
    is_active = fields.Boolean()


class GalleryIn(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    url = fields.Url(required=True, schemes={"http", "https"}, validate=validate.Length(max=2000))
    category = Text(load_default=None, allow_none=True, validate=validate.Length(max=50))
    sort_order = Int(load_default=0, validate=validate.Range(min=0, max=10_000))
    is_active = fields.Boolean(load_default=True)


class GalleryOut(Schema):
    id = Int()
    title = fields.String()
    url = fields.String()
    category = fields.String(allow_none=True)
    sort_order = Int()
    is_active = fields.Boolean()


CAFE_CATEGORIES = (
    "Breakfast",
    "Lunch",
    "Sides",
    "Kids",
    "Dessert",
    "Shareables",
    "Coffee",
    "Drinks",
    "Bar",
    "Snacks",
)


class CafeIn(Schema):
    category = fields.String(required=True, validate=validate.OneOf(CAFE_CATEGORIES))
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    price_cents = Int(required=True, validate=validate.Range(min=0, max=1_000_000))
    description = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    is_active = fields.Boolean(load_default=True)
    sort_order = Int(load_default=0, validate=validate.Range(min=0, max=10_000))


class CafeOut(Schema):
    id = Int()
    category = fields.String()
    name = fields.String()
    price_cents = Int()
    description = fields.String(allow_none=True)
    is_active = fields.Boolean()
    sort_order = Int()
    stripe_product_id = fields.String(allow_none=True)


class TrainingIn(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    guide_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,99}$"))
    content = Text(required=True, validate=validate.Length(min=1, max=100_000))
    sort_order = Int(load_default=0, validate=validate.Range(min=0, max=10_000))
    admin_only = fields.Boolean(load_default=False)


class TrainingOut(Schema):
    id = Int()
    title = fields.String()
    guide_id = fields.String()
    content = fields.String()
    sort_order = Int()
    admin_only = fields.Boolean()
