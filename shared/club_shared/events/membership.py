"""Events published by the membership service.

Member events carry a snapshot of the member (the fields below `MemberSnapshot`) so that a consumer
can keep a read model from any one of them. Fields added after an event type was first published
are optional, so events already in flight keep validating.
"""

from marshmallow import RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE


# ------------------------------------------------------------------------------------------------
# Members
# ------------------------------------------------------------------------------------------------

STATUSES = (
    "active",
    "trialing",
    "past_due",
    "pending",
    "suspended",
    "frozen",
    "paused",
    "cancelled",
    "terminated",
    "inactive",
    "expired",
    "non-member",
    "former_member",
    "declined",
    "unpaid",
    "grace_period",
    "visitor",
    "archived",
    "merged",
)


class _MemberFields(_Strict):
    """Everything a consumer may keep about a member; only member_id and email are always there."""

    member_id = fields.String(required=True)
    email = fields.Email(required=True)
    first_name = fields.String()
    last_name = fields.String()
    name = fields.String()
    phone = fields.String(allow_none=True)
    role = fields.String(validate=validate.OneOf(("member", "staff", "admin", "visitor")))
    status = fields.String(validate=validate.OneOf(STATUSES))
    tier = fields.String(allow_none=True)
    tier_id = fields.Integer(allow_none=True)
    billing_provider = fields.String(validate=validate.OneOf(("stripe", "manual", "comped", "family_addon")))
    family_group_id = fields.Integer(allow_none=True)
    linked_emails = fields.List(fields.Email())
    waiver_version = fields.Integer(allow_none=True)
    waiver_signed_at = fields.AwareDateTime(allow_none=True, format="iso")
    trial_ends_at = fields.AwareDateTime(allow_none=True, format="iso")
    stripe_customer_id = fields.String(allow_none=True)
    stripe_subscription_id = fields.String(allow_none=True)
    hubspot_id = fields.String(allow_none=True)
    email_opt_in = fields.Boolean()
    sms_opt_in = fields.Boolean()
    push_opt_in = fields.Boolean()
    marketing_opt_in = fields.Boolean()
    email_delivery_status = fields.String()
    archived_at = fields.AwareDateTime(allow_none=True, format="iso")
    created_at = fields.AwareDateTime(format="iso")


class MemberCreated(_MemberFields):
    # The first slice's fields stay required (notifications reads email and first_name).
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    tier = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))


class MemberUpdated(_MemberFields):
    changed = fields.List(fields.String(), required=True)


class MemberStatusChanged(_MemberFields):
    old_status = fields.String(required=True)
    new_status = fields.String(required=True)
    reason = fields.String(allow_none=True)


class MemberTierChanged(_MemberFields):
    old_tier = fields.String(required=True, allow_none=True)
    new_tier = fields.String(required=True, allow_none=True)
    #: upgrade | downgrade (by tier rank), assigned (from none), cleared (to none)
    direction = fields.String(
        required=True, validate=validate.OneOf(("upgrade", "downgrade", "assigned", "cleared"))
    )


class MemberEmailChanged(_Strict):
    """Every service rewrites every row it keys by `old_email` to `new_email`, in one transaction."""

    member_id = fields.String(required=True)
    old_email = fields.Email(required=True)
    new_email = fields.Email(required=True)


class LinkedEmail(_Strict):
    member_id = fields.String(required=True)
    email = fields.Email(required=True)
    linked_email = fields.Email(required=True)
    source = fields.String(required=True)


class MemberArchived(_MemberFields):
    previous_status = fields.String(required=True)


class MemberMerged(_Strict):
    member_id = fields.String(required=True)
    email = fields.Email(required=True)
    into_member_id = fields.String(required=True)
    into_email = fields.Email(required=True)
    #: every address of the merged member, now linked e-mails of the survivor
    moved_emails = fields.List(fields.Email(), required=True)


class MemberDeleted(_Strict):
    """Erase or anonymise everything about these addresses (account deletion, domain.md §2.3)."""

    member_id = fields.String(required=True)
    email = fields.Email(required=True)
    linked_emails = fields.List(fields.Email(), required=True)


# ------------------------------------------------------------------------------------------------
# Tiers, settings, staff, content
# ------------------------------------------------------------------------------------------------


class Tier(_Strict):
    """A tier with every limit, so booking and billing can keep local copies."""

    tier_id = fields.Integer(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    rank = fields.Integer(required=True)
    is_active = fields.Boolean(required=True)
    tier_type = fields.String(required=True)
    monthly_price_cents = fields.Integer(required=True)
    billing_interval = fields.String(required=True)
    daily_sim_minutes = fields.Integer(required=True)
    guest_passes_per_period = fields.Integer(required=True)
    booking_window_days = fields.Integer(required=True)
    daily_conf_room_minutes = fields.Integer(required=True)
    can_book_simulators = fields.Boolean(required=True)
    can_book_conference = fields.Boolean(required=True)
    can_book_wellness = fields.Boolean(required=True)
    has_group_lessons = fields.Boolean(required=True)
    has_extended_sessions = fields.Boolean(required=True)
    has_private_lesson = fields.Boolean(required=True)
    has_simulator_guest_passes = fields.Boolean(required=True)
    has_discounted_merch = fields.Boolean(required=True)
    unlimited_access = fields.Boolean(required=True)
    #: derived: unlimited_access or daily_sim_minutes >= 999
    unlimited_sim_minutes = fields.Boolean(required=True)
    #: derived: unlimited_access or daily_conf_room_minutes >= 999
    unlimited_conf_room_minutes = fields.Boolean(required=True)
    guest_fee_cents = fields.Integer(required=True)
    stripe_product_id = fields.String(required=True, allow_none=True)
    stripe_price_id = fields.String(required=True, allow_none=True)
    founding_price_id = fields.String(required=True, allow_none=True)
    family_add_on_price_cents = fields.Integer(allow_none=True)


class TierDeleted(_Strict):
    tier_id = fields.Integer(required=True)
    slug = fields.String(required=True)


class SettingUpdated(_Strict):
    key = fields.String(required=True)
    value = fields.Raw(required=True, allow_none=True)
    category = fields.String(required=True)
    updated_by = fields.String(required=True, allow_none=True)


class StaffUpdated(_Strict):
    staff_id = fields.Integer(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(("staff", "admin", "golf_instructor")))
    is_active = fields.Boolean(required=True)
    member_id = fields.String(allow_none=True)


class CafeItemUpdated(_Strict):
    """A café item changed (billing mirrors café items to Stripe as one-time products)."""

    item_id = fields.Integer(required=True)
    name = fields.String(required=True)
    category = fields.String(required=True)
    price_cents = fields.Integer(required=True)
    description = fields.String(required=True, allow_none=True)
    is_active = fields.Boolean(required=True)
    deleted = fields.Boolean(required=True)
    stripe_product_id = fields.String(required=True, allow_none=True)


# ------------------------------------------------------------------------------------------------
# Billing groups
# ------------------------------------------------------------------------------------------------


class GroupMemberSnapshot(_Strict):
    email = fields.Email(required=True)
    member_id = fields.String(required=True, allow_none=True)
    is_primary = fields.Boolean(required=True)
    member_tier = fields.String(required=True, allow_none=True)
    relationship = fields.String(required=True, allow_none=True)


class GroupUpdated(_Strict):
    group_id = fields.Integer(required=True)
    type = fields.String(required=True, validate=validate.OneOf(("family", "corporate")))
    primary_email = fields.Email(required=True)
    group_name = fields.String(required=True, allow_none=True)
    company_name = fields.String(required=True, allow_none=True)
    max_seats = fields.Integer(required=True, allow_none=True)
    is_active = fields.Boolean(required=True)
    primary_stripe_customer_id = fields.String(required=True, allow_none=True)
    primary_stripe_subscription_id = fields.String(required=True, allow_none=True)
    #: the active members, primary included
    members = fields.List(fields.Nested(GroupMemberSnapshot), required=True)


class GroupMemberAdded(_Strict):
    """Billing adds a subscription item (family add-on at `add_on_price_cents`, or a corporate seat)."""

    group_id = fields.Integer(required=True)
    group_type = fields.String(required=True, validate=validate.OneOf(("family", "corporate")))
    primary_email = fields.Email(required=True)
    primary_stripe_customer_id = fields.String(required=True, allow_none=True)
    primary_stripe_subscription_id = fields.String(required=True, allow_none=True)
    member_id = fields.String(required=True)
    member_email = fields.Email(required=True)
    tier = fields.String(required=True, allow_none=True)
    relationship = fields.String(required=True, allow_none=True)
    add_on_price_cents = fields.Integer(required=True, allow_none=True)
    add_on_stripe_price_id = fields.String(required=True, allow_none=True)
    #: active members other than the primary, after the change (corporate: the seat quantity)
    seat_count = fields.Integer(required=True)
    max_seats = fields.Integer(required=True, allow_none=True)


class GroupMemberRemoved(_Strict):
    group_id = fields.Integer(required=True)
    group_type = fields.String(required=True, validate=validate.OneOf(("family", "corporate")))
    primary_email = fields.Email(required=True)
    primary_stripe_subscription_id = fields.String(required=True, allow_none=True)
    member_id = fields.String(required=True, allow_none=True)
    member_email = fields.Email(required=True)
    stripe_subscription_item_id = fields.String(required=True, allow_none=True)
    seat_count = fields.Integer(required=True)


# ------------------------------------------------------------------------------------------------
# Sign-in, sessions, data export
# ------------------------------------------------------------------------------------------------


class SigninCodeIssued(_Strict):
    """For notifications to e-mail. Carries a secret: never log it; dropped from our outbox once sent
    (or after `expires_at`)."""

    email = fields.Email(required=True)
    first_name = fields.String(required=True, allow_none=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$"))
    link_token = fields.String(required=True)
    link_url = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True, format="iso")


class SessionRevoked(_Strict):
    email = fields.Email(required=True)
    member_id = fields.String(required=True, allow_none=True)
    #: the one session revoked, or null when every session of the e-mail was
    session_id = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True)


class DataExportRequested(_Strict):
    """Each service answers with `<service>.data_export.part_written` for `request_id`."""

    request_id = fields.Integer(required=True)
    member_id = fields.String(required=True)
    email = fields.Email(required=True)
    #: the primary e-mail and every linked e-mail: rows keyed by any of them belong in the export
    emails = fields.List(fields.Email(), required=True)
    requested_at = fields.AwareDateTime(required=True, format="iso")


SCHEMAS = {
    ("membership.member.created", 1): MemberCreated,
    ("membership.member.updated", 1): MemberUpdated,
    ("membership.member.status_changed", 1): MemberStatusChanged,
    ("membership.member.tier_changed", 1): MemberTierChanged,
    ("membership.member.email_changed", 1): MemberEmailChanged,
    ("membership.member.linked_email_added", 1): LinkedEmail,
    ("membership.member.linked_email_removed", 1): LinkedEmail,
    ("membership.member.archived", 1): MemberArchived,
    ("membership.member.merged", 1): MemberMerged,
    ("membership.member.deleted", 1): MemberDeleted,
    ("membership.tier.created", 1): Tier,
    ("membership.tier.updated", 1): Tier,
    ("membership.tier.deleted", 1): TierDeleted,
    ("membership.setting.updated", 1): SettingUpdated,
    ("membership.staff.updated", 1): StaffUpdated,
    ("membership.cafe_item.updated", 1): CafeItemUpdated,
    ("membership.group.updated", 1): GroupUpdated,
    ("membership.group.member_added", 1): GroupMemberAdded,
    ("membership.group.member_removed", 1): GroupMemberRemoved,
    ("membership.signin.code_issued", 1): SigninCodeIssued,
    ("membership.session.revoked", 1): SessionRevoked,
    ("membership.data_export.requested", 1): DataExportRequested,
}
