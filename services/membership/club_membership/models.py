"""The membership service's tables (it owns these and no other service reads them).

The seed's columns (`../shared/spec/schema-er.md`) are all here with their meaning; domain.md §14
adds the rest. E-mails are stored trimmed and lower-cased; instants are UTC (`timestamptz`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm import relationship as orm_relationship

from club_shared.bus import bus_tables
from club_shared.jobs import job_tables
from club_shared.models import ServiceBase, new_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


def _uuid() -> str:
    return str(uuid.uuid4())


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


# ---------------------------------------------------------------------------------------------
# Tiers
# ---------------------------------------------------------------------------------------------


class MembershipTier(Base):
    """A membership tier and every limit other services need (they keep copies from events)."""

    __tablename__ = "membership_tiers"
    __table_args__ = (
        CheckConstraint("daily_sim_minutes >= 0", name="sim_minutes_nonnegative"),
        CheckConstraint("daily_conf_room_minutes >= 0", name="conf_minutes_nonnegative"),
        CheckConstraint("guest_passes_per_period >= 0", name="guest_passes_nonnegative"),
        CheckConstraint("booking_window_days BETWEEN 0 AND 365", name="booking_window_range"),
        CheckConstraint("guest_fee_cents >= 0", name="guest_fee_nonnegative"),
        CheckConstraint("monthly_price_cents >= 0", name="price_nonnegative"),
        CheckConstraint("tier_type IN ('individual', 'corporate')", name="tier_type_known"),
        CheckConstraint("limits_source IN ('manual', 'stripe')", name="limits_source_known"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    monthly_price_cents: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    price_string: Mapped[str | None] = mapped_column(String(100))
    billing_interval: Mapped[str] = mapped_column(String(20), default="month")
    product_type: Mapped[str] = mapped_column(String(20), default="subscription")
    tier_type: Mapped[str] = mapped_column(String(20), default="individual")
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    # display
    tagline: Mapped[str | None] = mapped_column(String(200))
    highlighted_features: Mapped[list[str]] = mapped_column(JSONB, default=list)
    button_text: Mapped[str | None] = mapped_column(String(50))
    is_popular: Mapped[bool] = mapped_column(Boolean, default=False)
    show_in_comparison: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # limits (domain.md §2.1; 999 minutes or unlimited_access mean unlimited)
    daily_sim_minutes: Mapped[int] = mapped_column(Integer, default=0)
    guest_passes_per_period: Mapped[int] = mapped_column(Integer, default=0)
    booking_window_days: Mapped[int] = mapped_column(Integer, default=7)
    daily_conf_room_minutes: Mapped[int] = mapped_column(Integer, default=0)
    can_book_simulators: Mapped[bool] = mapped_column(Boolean, default=True)
    can_book_conference: Mapped[bool] = mapped_column(Boolean, default=True)
    can_book_wellness: Mapped[bool] = mapped_column(Boolean, default=True)
    has_group_lessons: Mapped[bool] = mapped_column(Boolean, default=False)
    has_extended_sessions: Mapped[bool] = mapped_column(Boolean, default=False)
    has_private_lesson: Mapped[bool] = mapped_column(Boolean, default=False)
    has_simulator_guest_passes: Mapped[bool] = mapped_column(Boolean, default=False)
    has_discounted_merch: Mapped[bool] = mapped_column(Boolean, default=False)
    unlimited_access: Mapped[bool] = mapped_column(Boolean, default=False)
    guest_fee_cents: Mapped[int] = mapped_column(Integer, default=2500)
    # Stripe
    stripe_product_id: Mapped[str | None] = mapped_column(String(100))
    stripe_price_id: Mapped[str | None] = mapped_column(String(100))
    founding_price_id: Mapped[str | None] = mapped_column(String(100))
    #: `stripe` when the limit columns come from the product's entitlements (read-only in admin)
    limits_source: Mapped[str] = mapped_column(String(10), default="manual")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class TierFeature(Base):
    """A row of the tier comparison table."""

    __tablename__ = "tier_features"
    __table_args__ = (
        CheckConstraint("value_type IN ('boolean', 'number', 'text')", name="value_type_known"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    feature_key: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    display_label: Mapped[str] = mapped_column(String(100))
    value_type: Mapped[str] = mapped_column(String(10), default="boolean")
    #: the membership_tiers column it displays (then it has no per-tier values)
    bound_column: Mapped[str | None] = mapped_column(String(50))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class TierFeatureValue(Base):
    __tablename__ = "tier_feature_values"
    __table_args__ = (UniqueConstraint("tier_id", "feature_id", name="uq_tier_feature_values_tier_feature"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("membership_tiers.id", ondelete="CASCADE"), index=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey("tier_features.id", ondelete="CASCADE"), index=True)
    #: the value as text (the seed's column), kept equal to the typed one
    value: Mapped[str | None] = mapped_column(Text)
    value_boolean: Mapped[bool | None] = mapped_column(Boolean)
    value_number: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    value_text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = _updated()


# ---------------------------------------------------------------------------------------------
# Members, linked e-mails, groups, staff
# ---------------------------------------------------------------------------------------------


class BillingGroup(Base):
    """A family or corporate billing group: one per primary member."""

    __tablename__ = "billing_groups"
    __table_args__ = (
        CheckConstraint("type IN ('family', 'corporate')", name="type_known"),
        CheckConstraint("max_seats IS NULL OR max_seats > 0", name="max_seats_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    primary_email: Mapped[str] = mapped_column(String(320), unique=True)
    primary_stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    primary_stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))
    group_name: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(Text, default="family")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    hubspot_company_id: Mapped[str | None] = mapped_column(String(100))
    max_seats: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    members: Mapped[list[GroupMember]] = orm_relationship(
        back_populates="group", order_by="GroupMember.id", lazy="selectin"
    )


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (
        # A person is in at most one active group, and each group has exactly one primary.
        Index(
            "uq_group_members_active_email",
            "member_email",
            unique=True,
            postgresql_where=text("is_active"),
        ),
        Index(
            "uq_group_members_one_primary",
            "billing_group_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    billing_group_id: Mapped[int] = mapped_column(
        ForeignKey("billing_groups.id", ondelete="CASCADE"), index=True
    )
    member_email: Mapped[str] = mapped_column(String(320), index=True)
    relationship: Mapped[str | None] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    member_tier: Mapped[str | None] = mapped_column(String(50))
    stripe_subscription_item_id: Mapped[str | None] = mapped_column(String(100))
    add_on_price_cents: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = _created()
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    group: Mapped[BillingGroup] = orm_relationship(back_populates="members")


class FamilyAddOnProduct(Base):
    """What a family add-on costs per tier (billing adds it to the primary's subscription)."""

    __tablename__ = "family_add_on_products"
    __table_args__ = (CheckConstraint("price_cents >= 0", name="price_nonnegative"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    tier_name: Mapped[str] = mapped_column(String(50), unique=True)  # the tier's slug
    stripe_product_id: Mapped[str | None] = mapped_column(String(100))
    stripe_price_id: Mapped[str | None] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _updated()


class User(Base):
    """A member (the seed's `users`); staff have one too. E-mail is the identity key."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
        CheckConstraint(
            "billing_provider IN ('stripe', 'manual', 'comped', 'family_addon')",
            name="billing_provider_known",
        ),
        CheckConstraint("lifetime_visits >= 0", name="visits_nonnegative"),
        Index("ix_users_status", "status"),
        Index("ix_users_tier", "tier"),
        Index("ix_users_lower_name", func.lower(text("name"))),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(201), default="")
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    tier: Mapped[str | None] = mapped_column(String(50))
    tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("membership_tiers.id", ondelete="RESTRICT"), index=True
    )
    last_tier: Mapped[str | None] = mapped_column(String(50))
    family_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_groups.id", ondelete="SET NULL"), index=True
    )
    billing_provider: Mapped[str] = mapped_column(String(20), default="stripe")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))
    #: the Stripe status of that subscription, as billing last reported it
    stripe_subscription_status: Mapped[str | None] = mapped_column(String(30))
    hubspot_id: Mapped[str | None] = mapped_column(String(100))
    trial_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grace_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grace_email_count: Mapped[int] = mapped_column(Integer, default=0)
    waiver_version: Mapped[int | None] = mapped_column(Integer)
    waiver_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_booking_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    app_installed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    nudge_count: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_visits: Mapped[int] = mapped_column(Integer, default=0)
    email_delivery_status: Mapped[str] = mapped_column(String(20), default="ok")
    email_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    push_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    linked_emails: Mapped[list[UserLinkedEmail]] = orm_relationship(
        primaryjoin="foreign(UserLinkedEmail.primary_email) == User.email",
        order_by="UserLinkedEmail.id",
        lazy="selectin",
        viewonly=True,
    )


class UserLinkedEmail(Base):
    """An alternate e-mail of a member: every look-up by e-mail resolves through these."""

    __tablename__ = "user_linked_emails"
    __table_args__ = (
        CheckConstraint("linked_email = lower(btrim(linked_email))", name="email_normalised"),
        CheckConstraint(
            "source IN ('manual', 'trackman_resolution', 'hubspot_merge', 'merge', 'email_change')",
            name="source_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    primary_email: Mapped[str] = mapped_column(String(320), index=True)
    linked_email: Mapped[str] = mapped_column(String(320), unique=True)
    source: Mapped[str] = mapped_column(String(30), default="manual")
    linked_at: Mapped[datetime] = _created()


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('staff', 'admin', 'golf_instructor')", name="role_known"),
        CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="staff")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class MemberDispute(Base):
    """A payment dispute of a member, as billing reports it: a won dispute reactivates a member only
    when no other is open (domain.md §2.3)."""

    __tablename__ = "member_disputes"

    dispute_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(20))  # open | won | lost
    amount_cents: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SyncExclusion(Base):
    """E-mails of deleted people: no sync or import may recreate them."""

    __tablename__ = "sync_exclusions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()


# ---------------------------------------------------------------------------------------------
# Sign-in
# ---------------------------------------------------------------------------------------------


class MagicLink(Base):
    """A sign-in code: `token` is a keyed hash of e-mail and code, `link_token` of the link secret."""

    __tablename__ = "magic_links"
    __table_args__ = (Index("ix_magic_links_email_created_at", "email", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    link_token: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    is_used: Mapped[bool] = mapped_column(Boolean, default=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    request_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefreshSession(Base):
    """A refresh session (the seed's `sessions`): stored, revocable, absolute expiry 7 days."""

    __tablename__ = "sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: what the session knows: user id, user agent, IP at sign-in, the refresh secret's hash
    sess: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    expire: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    subject_email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimit(Base):
    """A fixed-window counter shared by every replica (sign-in limits, domain.md §2.6)."""

    __tablename__ = "rate_limits"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    limit_type: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reset_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------------------------------
# Waiver, audit, admin
# ---------------------------------------------------------------------------------------------


class WaiverVersion(Base):
    """The liability waiver's text, one row per published version (the newest is current)."""

    __tablename__ = "waiver_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published_by: Mapped[str | None] = mapped_column(String(320))
    published_at: Mapped[datetime] = _created()


class AdminAuditLog(Base):
    """The club-wide audit log: every staff action of every service."""

    __tablename__ = "admin_audit_log"
    __table_args__ = (
        Index("ix_admin_audit_log_actor_created", "actor_email", "created_at"),
        Index("ix_admin_audit_log_resource", "resource_type", "resource_id"),
        CheckConstraint("actor_type IN ('staff', 'member', 'system')", name="actor_type_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    staff_email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str | None] = mapped_column(String(100))
    resource_name: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    actor_type: Mapped[str] = mapped_column(String(10), default="staff")
    actor_email: Mapped[str | None] = mapped_column(String(320))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    source_service: Mapped[str] = mapped_column(String(30))
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class MemberNote(Base):
    __tablename__ = "member_notes"
    __table_args__ = (
        UniqueConstraint("member_email", "content_hash", name="uq_member_notes_member_content"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320), index=True)
    note: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(320))
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class AccountDeletionRequest(Base):
    __tablename__ = "account_deletion_requests"
    __table_args__ = (
        Index(
            "uq_account_deletion_one_pending",
            "email",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        CheckConstraint("status IN ('pending', 'completed', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processed_by: Mapped[str | None] = mapped_column(String(320))


class DataExportRequest(Base):
    __tablename__ = "data_export_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'processing', 'completed', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    download_url: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)


class DataExportPart(Base):
    """One service's share of a data export, as its `<service>.data_export.part_written` carried it."""

    __tablename__ = "data_export_parts"
    __table_args__ = (UniqueConstraint("request_id", "service", name="uq_data_export_parts_request_service"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("data_export_requests.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = _created()


class BugReport(Base):
    __tablename__ = "bug_reports"
    __table_args__ = (CheckConstraint("status IN ('open', 'resolved')", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320), index=True)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    page_url: Mapped[str | None] = mapped_column(String(2000))
    staff_notes: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class AppSetting(Base):
    """An admin-edited setting; its JSON-encoded value is validated against the registry."""

    __tablename__ = "app_settings"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(50))
    updated_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = _updated()


class SystemSetting(Base):
    """A machine-kept key (e.g. `last_guest_pass_reset`)."""

    __tablename__ = "system_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _updated()


# ---------------------------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------------------------


class Faq(Base):
    __tablename__ = "faqs"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    question: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = _updated()


class GalleryImage(Base):
    __tablename__ = "gallery_images"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = _updated()


class TrainingSection(Base):
    __tablename__ = "training_sections"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    guide_id: Mapped[str] = mapped_column(String(100), unique=True)
    content: Mapped[str] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    admin_only: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = _updated()


class CafeItem(Base):
    __tablename__ = "cafe_items"
    __table_args__ = (CheckConstraint("price_cents >= 0", name="price_nonnegative"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    category: Mapped[str] = mapped_column(String(50), index=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    #: the seed's `price` in dollars, derived from the cents (money is integer cents)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), Computed("price_cents / 100.0", persisted=True))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    stripe_product_id: Mapped[str | None] = mapped_column(String(100))
    stripe_price_id: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = _updated()


BUS = bus_tables(Base.metadata)
JOBS = job_tables(Base.metadata)

#: Sign-in codes travel to notifications in the outbox; this index lets us purge those rows cheaply.
SIGNIN_OUTBOX_INDEX = Index(
    "outbox_signin_code_idx",
    BUS.outbox.c.created_at,
    postgresql_where=text("event_type = 'membership.signin.code_issued'"),
)
