"""The billing service's tables: the seed's eleven (booking_fee_snapshots, booking_payment_audit,
stripe_payment_intents, stripe_products, stripe_transaction_cache, discount_rules, day_pass_purchases,
pass_redemption_logs, billing_audit_log, legacy_purchases, webhook_processed_events) with the columns
of domain.md §14, the new booking_invoices and billing_customers, the read models fed by membership's
and booking's events (tiers, members, bookings and their day usage), and the bus and job tables.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
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

from club_shared.bus import bus_tables
from club_shared.jobs import job_tables
from club_shared.models import ServiceBase, new_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


def _now():
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _updated():
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


# ------------------------------------------------------------------------------------------------
# Read models (from membership's and booking's events)
# ------------------------------------------------------------------------------------------------


class TierRule(Base):
    """Each tier's limits and prices as membership last told us (seeded with domain.md §2.1)."""

    __tablename__ = "tier_rules"

    slug: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    daily_sim_minutes: Mapped[int] = mapped_column(Integer)
    daily_conf_room_minutes: Mapped[int] = mapped_column(Integer)
    unlimited_access: Mapped[bool] = mapped_column(Boolean, default=False)
    guest_passes_per_period: Mapped[int] = mapped_column(Integer, default=0)
    guest_fee_cents: Mapped[int] = mapped_column(Integer, default=2500)
    monthly_price_cents: Mapped[int | None] = mapped_column(Integer)
    stripe_product_id: Mapped[str | None] = mapped_column(String(100))
    stripe_price_id: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = _updated()


class BillingMember(Base):
    """A member as membership last told us: enough to price, bill and route subscription events."""

    __tablename__ = "billing_members"
    __table_args__ = (Index("ix_billing_members_linked_emails", "linked_emails", postgresql_using="gin"),)

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    member_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str | None] = mapped_column(String(30))
    tier: Mapped[str | None] = mapped_column(String(50))
    billing_provider: Mapped[str | None] = mapped_column(String(20))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))
    linked_emails: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    updated_at: Mapped[datetime] = _updated()


class BillingBooking(Base):
    """A booking as booking's events describe it, with the fees billing computed for it."""

    __tablename__ = "billing_bookings"
    __table_args__ = (Index("ix_billing_bookings_member_date", "member_email", "club_date"),)

    booking_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    member_email: Mapped[str] = mapped_column(String(320))
    member_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))
    resource_type: Mapped[str] = mapped_column(String(30))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    club_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    declared_player_count: Mapped[int] = mapped_column(Integer)
    roster_version: Mapped[int] = mapped_column(Integer, default=0)
    fees_version: Mapped[int] = mapped_column(Integer, default=0)
    trackman_booking_id: Mapped[str | None] = mapped_column(String(50))
    #: the last fee input (booking's event data) and when it happened
    fee_input: Mapped[dict[str, Any]] = mapped_column(JSONB)
    input_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: the current lines (FeeLine.as_dict) and their total
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _updated()


class BookingUsage(Base):
    """Minutes allocated to a member by one booking (for later bookings' overage that day)."""

    __tablename__ = "booking_usage"
    __table_args__ = (Index("ix_booking_usage_day", "email", "club_date", "resource_type"),)

    booking_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    club_date: Mapped[date] = mapped_column(Date)
    resource_type: Mapped[str] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    minutes: Mapped[int] = mapped_column(Integer)
    counts: Mapped[bool] = mapped_column(Boolean, default=True)


# ------------------------------------------------------------------------------------------------
# Fees, invoices, payments
# ------------------------------------------------------------------------------------------------


class BookingFeeSnapshot(Base):
    """One computation of a booking's fees. The newest of a booking is `pending` until it is paid
    (`completed`), refunded, cancelled or failed; older ones are `superseded`."""

    __tablename__ = "booking_fee_snapshots"
    __table_args__ = (Index("ix_booking_fee_snapshots_booking", "booking_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    participant_fees: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    total_cents: Mapped[int] = mapped_column(Integer)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30), default="pending")
    fee_input: Mapped[dict[str, Any]] = mapped_column(JSONB)
    roster_version: Mapped[int] = mapped_column(Integer)
    fees_version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _updated()


class BookingInvoice(Base):
    """The one Stripe invoice of a booking (§6.2)."""

    __tablename__ = "booking_invoices"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    member_email: Mapped[str] = mapped_column(String(320))
    #: wanted: what our side wants (draft|open|paid|void|deleted|refunded); stripe status mirrors it
    status: Mapped[str] = mapped_column(String(20), default="draft")
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    amount_paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    paid_out_of_band: Mapped[bool] = mapped_column(Boolean, default=False)
    #: line key → Stripe invoice item id, with the amount it carries
    items: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    fees_version: Mapped[int] = mapped_column(Integer, default=0)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(500))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _updated()


class BillingCustomer(Base):
    """A member's Stripe customer and subscription."""

    __tablename__ = "billing_customers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))
    subscription_status: Mapped[str | None] = mapped_column(String(30))
    tier_slug: Mapped[str | None] = mapped_column(String(50))
    requires_card_update: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_failure_count: Mapped[int] = mapped_column(Integer, default=0)
    grace_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grace_reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_grace_reminder_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _updated()


class StripePaymentIntent(Base):
    __tablename__ = "stripe_payment_intents"
    __table_args__ = (Index("ix_stripe_payment_intents_booking", "booking_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(40), default="pending")
    payment_type: Mapped[str] = mapped_column(String(40))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    booking_id: Mapped[int | None] = mapped_column(BigInteger)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(100))
    #: the fee lines this payment settles
    line_keys: Mapped[list[str]] = mapped_column(JSONB, default=list)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    amount_refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _updated()


class BookingPaymentAudit(Base):
    __tablename__ = "booking_payment_audit"
    __table_args__ = (Index("ix_booking_payment_audit_booking", "booking_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    participant_id: Mapped[int | None] = mapped_column(BigInteger)
    line_key: Mapped[str | None] = mapped_column(String(20))
    #: payment_confirmed, payment_waived, tier_override, staff_direct_add, checkin_guard_triggered,
    #: reconciliation_adjusted, refunded, marked_paid
    action: Mapped[str] = mapped_column(String(40))
    staff_email: Mapped[str | None] = mapped_column(String(320))
    amount_affected: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    previous_status: Mapped[str | None] = mapped_column(String(30))
    new_status: Mapped[str | None] = mapped_column(String(30))
    payment_method: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class StripeProduct(Base):
    """Products and prices kept in sync with Stripe; fee prices are read from here (§5.1)."""

    __tablename__ = "stripe_products"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stripe_product_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    hubspot_product_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(Integer)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    #: subscription | one_time | fee
    product_type: Mapped[str] = mapped_column(String(20))
    stripe_price_id: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = _updated()


class StripeTransactionCache(Base):
    __tablename__ = "stripe_transaction_cache"
    __table_args__ = (Index("ix_stripe_transaction_cache_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stripe_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cached_at: Mapped[datetime] = _updated()
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(100))
    payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    invoice_id: Mapped[str | None] = mapped_column(String(100))


class DiscountRule(Base):
    __tablename__ = "discount_rules"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    discount_tag: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    discount_percent: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    stripe_coupon_id: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = _updated()


class DayPassPurchase(Base):
    __tablename__ = "day_pass_purchases"
    __table_args__ = (Index("ix_day_pass_purchases_email", "email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    booking_id: Mapped[int | None] = mapped_column(BigInteger)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    hubspot_deal_id: Mapped[str | None] = mapped_column(String(100))
    #: active | exhausted | refunded
    status: Mapped[str] = mapped_column(String(20), default="active")
    product_type: Mapped[str] = mapped_column(String(50))
    price_cents: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    remaining_uses: Mapped[int] = mapped_column(Integer, default=1)
    purchased_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_redeemed_on: Mapped[date | None] = mapped_column(Date)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PassRedemptionLog(Base):
    __tablename__ = "pass_redemption_logs"
    __table_args__ = (
        # a day pass is redeemed at most once per club date
        Index(
            "uq_pass_redemption_logs_day_pass_date",
            "purchase_id",
            "club_date",
            unique=True,
            postgresql_where=text("reason = 'day_pass_redeemed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320))
    pass_type: Mapped[str] = mapped_column(String(20))  # guest_pass | day_pass
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(30))
    booking_id: Mapped[int | None] = mapped_column(BigInteger)
    participant_id: Mapped[int | None] = mapped_column(BigInteger)
    purchase_id: Mapped[str | None] = mapped_column(String(40))
    redeemed_by: Mapped[str | None] = mapped_column(String(320))
    location: Mapped[str | None] = mapped_column(String(50))
    club_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _now()


class BillingAuditLog(Base):
    __tablename__ = "billing_audit_log"
    __table_args__ = (Index("ix_billing_audit_log_member", "member_email"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_email: Mapped[str | None] = mapped_column(String(320))
    hubspot_deal_id: Mapped[str | None] = mapped_column(String(100))
    action_type: Mapped[str] = mapped_column(String(60))
    action_details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    performed_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _now()


class LegacyImportRun(Base):
    """One upload of a legacy purchases CSV: counts and the rejected rows with their reasons."""

    __tablename__ = "legacy_import_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    filename: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="running")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported_rows: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_rows: Mapped[int] = mapped_column(Integer, default=0)
    failed_rows: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    imported_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LegacyPurchase(Base):
    __tablename__ = "legacy_purchases"
    __table_args__ = (UniqueConstraint("source_sale_id", "line_no", name="uq_legacy_purchases_sale_line"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    product_type: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    purchase_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_sale_id: Mapped[str] = mapped_column(String(100))
    line_no: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(100))
    amount_cents: Mapped[int] = mapped_column(Integer)
    is_comp: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_session_id: Mapped[int | None] = mapped_column(BigInteger)
    import_job_id: Mapped[int | None] = mapped_column(BigInteger)


class WebhookProcessedEvent(Base):
    """Each Stripe event id claimed once; the ordering check reads the object's applied events."""

    __tablename__ = "webhook_processed_events"
    __table_args__ = (Index("ix_webhook_processed_events_object", "family", "object_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(20), default="stripe")
    processed_at: Mapped[datetime] = _now()
    event_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(100))
    family: Mapped[str | None] = mapped_column(String(30))
    priority: Mapped[int | None] = mapped_column(Integer)
    stripe_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: processed | duplicate | skipped_out_of_order | failed
    outcome: Mapped[str] = mapped_column(String(30), default="processed")


class FailedSideEffect(Base):
    __tablename__ = "failed_side_effects"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


BUS = bus_tables(Base.metadata)
JOBS = job_tables(Base.metadata)
