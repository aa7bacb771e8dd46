"""The integrations service's tables: TrackMan, HubSpot, forms, tours, integrity checks and legacy
imports (DESIGN.md's ownership table), the read models fed by other services' events, and the bus
and job tables."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Time,
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


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --- read models ----------------------------------------------------------------------------------


class ClubSetting(Base):
    """Club settings integrations uses (membership owns them), from membership.setting.updated;
    a key without a row has its default (domain/settings.py)."""

    __tablename__ = "club_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Member(Base):
    """Members as membership last published them (membership.member.*): for HubSpot contacts, for
    staff resolving TrackMan bookings by e-mail, for tours and forms."""

    __tablename__ = "members"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(30))
    tier: Mapped[str | None] = mapped_column(String(60))
    billing_provider: Mapped[str | None] = mapped_column(String(30))
    hubspot_id: Mapped[str | None] = mapped_column(String(40))
    #: the whole last snapshot (opt-ins, Stripe ids, start date …), for the HubSpot properties
    snapshot: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    archived: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: fingerprint of what HubSpot last told us about this member (publish only changes)
    hubspot_contact_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MemberEmail(Base):
    """Every address of a member (primary and linked), for lookups through linked e-mails."""

    __tablename__ = "member_emails"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class SyncExclusion(Base):
    """Addresses of deleted people (membership's sync_exclusions, from membership.member.deleted):
    nothing we send to HubSpot or take from it may bring them back (domain.md §2.3)."""

    __tablename__ = "sync_exclusions"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()


# --- TrackMan (domain.md §7) ----------------------------------------------------------------------

WEBHOOK_STATUSES = ("received", "processed", "duplicate", "ignored", "failed")


class TrackmanWebhookEvent(Base):
    """Every TrackMan webhook delivery, personal data redacted in `payload`; the normalised booking
    fields (with the customer's e-mail, as `trackman_bay_slots` keeps it) are what was published."""

    __tablename__ = "trackman_webhook_events"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(WEBHOOK_STATUSES)})", name="status"),
        Index("ix_trackman_webhook_events_booking", "trackman_booking_id"),
        Index("ix_trackman_webhook_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(50))
    raw_event_type: Mapped[str | None] = mapped_column(String(100))
    payload_version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default="received")
    #: TrackMan booking id + status + content signature (start, end, bay); unique
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    trackman_booking_id: Mapped[str | None] = mapped_column(String(50))
    #: what was understood from the payload (the event's data as published), e-mail included
    booking: Mapped[dict | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processing_error: Mapped[str | None] = mapped_column(Text)
    matched_booking_id: Mapped[int | None] = mapped_column(Integer)
    matched_member_email: Mapped[str | None] = mapped_column(String(320))
    match_rule: Mapped[str | None] = mapped_column(String(50))
    retry_count: Mapped[int] = mapped_column(Integer, server_default="0")


class TrackmanWebhookDedup(Base):
    """The last processed signature per TrackMan booking: an identical event within 2 minutes is
    not even logged."""

    __tablename__ = "trackman_webhook_dedup"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    trackman_booking_id: Mapped[str] = mapped_column(String(50), unique=True)
    last_signature: Mapped[str] = mapped_column(String(200))
    last_processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrackmanBaySlot(Base):
    """The bay-slot cache: what TrackMan says occupies each bay."""

    __tablename__ = "trackman_bay_slots"
    __table_args__ = (
        UniqueConstraint(
            "resource_id", "slot_date", "start_time", "trackman_booking_id", name="uq_trackman_bay_slots_slot"
        ),
        CheckConstraint("status IN ('booked', 'cancelled', 'completed')", name="status"),
        Index("ix_trackman_bay_slots_date", "slot_date"),
        Index("ix_trackman_bay_slots_booking", "trackman_booking_id"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    resource_id: Mapped[int | None] = mapped_column(Integer)
    trackman_bay_id: Mapped[str | None] = mapped_column(String(20))
    bay_name: Mapped[str | None] = mapped_column(String(100))
    slot_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), server_default="booked")
    trackman_booking_id: Mapped[str] = mapped_column(String(50))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    player_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


UNMATCHED_STATUSES = ("unresolved", "resolved", "matched", "cancelled")
UNMATCHED_REASONS = ("no_match", "ambiguous", "no_email")


class TrackmanUnmatchedBooking(Base):
    """A TrackMan booking booking could not match (booking.trackman_match.failed), for staff."""

    __tablename__ = "trackman_unmatched_bookings"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(UNMATCHED_STATUSES)})", name="status"),
        CheckConstraint(f"reason IN ({_in(UNMATCHED_REASONS)})", name="reason"),
        Index(
            "ix_trackman_unmatched_bookings_open",
            "created_at",
            postgresql_where=text("status = 'unresolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    trackman_booking_id: Mapped[str] = mapped_column(String(50), unique=True)
    booking_data: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), server_default="unresolved")
    reason: Mapped[str] = mapped_column(String(20))
    candidate_booking_ids: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    bay_ref: Mapped[str | None] = mapped_column(String(20))
    booking_date: Mapped[date | None] = mapped_column(Date)
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    player_count: Mapped[int | None] = mapped_column(Integer)
    #: booking's unmatched request and session that block the bay
    booking_id: Mapped[int | None] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(Integer)
    webhook_event_id: Mapped[int | None] = mapped_column(BigInteger)
    import_run_id: Mapped[int | None] = mapped_column(Integer)
    is_event: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_email: Mapped[str | None] = mapped_column(String(320))
    remember_email: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolved_booking_id: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TrackmanImportRun(Base):
    """One upload of a TrackMan CSV export. `records_matched` / `unmatched` / `skipped` grow as
    booking answers each row (booking.trackman_match.*); rows already imported are `unchanged`."""

    __tablename__ = "trackman_import_runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'completed', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), server_default="running")
    started_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    records_processed: Mapped[int] = mapped_column(Integer, server_default="0")
    records_published: Mapped[int] = mapped_column(Integer, server_default="0")
    records_matched: Mapped[int] = mapped_column(Integer, server_default="0")
    unmatched: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    invalid: Mapped[int] = mapped_column(Integer, server_default="0")
    errors: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    imported_by: Mapped[str | None] = mapped_column(String(320))
    legacy_import_job_id: Mapped[int | None] = mapped_column(Integer)


class TrackmanImportRow(Base):
    """A row of an import run as it was published (what booking matched), for staff and for the
    unmatched item booking's answer creates."""

    __tablename__ = "trackman_import_rows"
    __table_args__ = (UniqueConstraint("run_id", "line", name="uq_trackman_import_rows_line"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    line: Mapped[int] = mapped_column(Integer)
    trackman_booking_id: Mapped[str] = mapped_column(String(50), index=True)
    #: published | unchanged
    outcome: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict | None] = mapped_column(JSONB)


# --- HubSpot (domain.md §8) -------------------------------------------------------------------------

QUEUE_STATUSES = ("pending", "processing", "completed", "failed", "dead")


class HubspotSyncQueue(Base):
    """Our app → HubSpot: durable jobs with priorities (lower first), idempotency keys, back-off."""

    __tablename__ = "hubspot_sync_queue"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(QUEUE_STATUSES)})", name="status"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority"),
        Index(
            "uq_hubspot_sync_queue_open_key",
            "idempotency_key",
            unique=True,
            postgresql_where=text(
                "status IN ('pending', 'processing', 'failed') AND idempotency_key IS NOT NULL"
            ),
        ),
        Index(
            "ix_hubspot_sync_queue_due",
            "priority",
            "created_at",
            postgresql_where=text("status IN ('pending', 'failed')"),
        ),
        Index("ix_hubspot_sync_queue_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    #: sent | deleted | superseded | blocked (writes off outside production) | skipped | excluded
    #: (a deleted person's address) | erased | gave_up
    outcome: Mapped[str | None] = mapped_column(String(30))
    priority: Mapped[int] = mapped_column(Integer, server_default="5")
    idempotency_key: Mapped[str | None] = mapped_column(String(400))
    retry_count: Mapped[int] = mapped_column(Integer, server_default="0")
    max_retries: Mapped[int] = mapped_column(Integer, server_default="5")
    next_retry_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HubspotRateLimit(Base):
    """A token bucket every replica shares, so that together they stay under HubSpot's limit."""

    __tablename__ = "hubspot_rate_limit"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HubspotPullState(Base):
    """Where each pull from HubSpot (members, forms, engagements, meetings) got to."""

    __tablename__ = "hubspot_pull_state"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class HubspotDeal(Base):
    """The member's deal as HubSpot has it (we never create deals)."""

    __tablename__ = "hubspot_deals"
    __table_args__ = (
        CheckConstraint(
            "last_payment_status IN ('current', 'overdue', 'failed', 'unknown')", name="payment_status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    hubspot_deal_id: Mapped[str] = mapped_column(String(40), unique=True)
    member_email: Mapped[str | None] = mapped_column(String(320), index=True)
    hubspot_contact_id: Mapped[str | None] = mapped_column(String(40))
    deal_name: Mapped[str | None] = mapped_column(String(300))
    stage: Mapped[str | None] = mapped_column(String(60))
    stage_name: Mapped[str | None] = mapped_column(String(60))
    pipeline: Mapped[str | None] = mapped_column(String(60))
    amount: Mapped[Any] = mapped_column(Numeric(12, 2), nullable=True)  # as HubSpot holds it: dollars
    close_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_payment_status: Mapped[str] = mapped_column(String(20), server_default="unknown")
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def amount_cents(self) -> int | None:
        """The deal's amount the way the suite states money: integer cents."""
        return None if self.amount is None else int((self.amount * 100).to_integral_value())


class HubspotLineItem(Base):
    __tablename__ = "hubspot_line_items"
    __table_args__ = (CheckConstraint("status IN ('pending', 'synced', 'error')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    hubspot_line_item_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    hubspot_deal_id: Mapped[str] = mapped_column(String(40), index=True)
    hubspot_product_id: Mapped[str | None] = mapped_column(String(40))
    product_name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer, server_default="1")
    amount: Mapped[Any] = mapped_column(Numeric(12, 2), nullable=True)
    unit_price_cents: Mapped[int | None] = mapped_column(Integer)
    discount_percent: Mapped[Any] = mapped_column(Numeric(5, 2), nullable=True)
    discount_reason: Mapped[str | None] = mapped_column(String(200))
    tier_slug: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HubspotProductMapping(Base):
    __tablename__ = "hubspot_product_mappings"
    __table_args__ = (
        CheckConstraint("internal_product_type IN ('membership', 'fee', 'pass')", name="product_type"),
        CheckConstraint(
            "billing_frequency IS NULL OR billing_frequency IN ('monthly', 'quarterly', 'annually', 'one_time')",
            name="frequency",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    hubspot_product_id: Mapped[str] = mapped_column(String(40), unique=True)
    internal_product_type: Mapped[str] = mapped_column(String(20))
    tier_slug: Mapped[str | None] = mapped_column(String(60))
    product_name: Mapped[str | None] = mapped_column(String(300))
    unit_price_cents: Mapped[int | None] = mapped_column(Integer)
    billing_frequency: Mapped[str | None] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _created()


class HubspotFormConfig(Base):
    __tablename__ = "hubspot_form_configs"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    form_type: Mapped[str] = mapped_column(String(40), unique=True)
    hubspot_form_id: Mapped[str] = mapped_column(String(64))
    hubspot_portal_id: Mapped[str | None] = mapped_column(String(40))
    form_name: Mapped[str | None] = mapped_column(String(300))
    fields: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


FORM_TYPES = ("membership", "private-hire", "event-inquiry", "guest-checkin", "contact", "tour-request")
SUBMISSION_STATUSES = ("new", "read", "reviewing", "approved", "invited", "converted", "declined", "archived")


class FormSubmission(Base):
    __tablename__ = "form_submissions"
    __table_args__ = (
        CheckConstraint(f"form_type IN ({_in(FORM_TYPES)})", name="form_type"),
        CheckConstraint(f"status IN ({_in(SUBMISSION_STATUSES)})", name="status"),
        Index("ix_form_submissions_email_type", "email", "form_type", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    form_type: Mapped[str] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    #: fields beyond the known ones, and where the submission came from
    metadata_: Mapped[dict] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hubspot_submission_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(20), server_default="hubspot")
    status: Mapped[str] = mapped_column(String(20), server_default="new")
    requested_tier: Mapped[str | None] = mapped_column(String(60))
    reviewed_by: Mapped[str | None] = mapped_column(String(320))
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class DismissedHubspotMeeting(Base):
    __tablename__ = "dismissed_hubspot_meetings"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    hubspot_meeting_id: Mapped[str] = mapped_column(String(40), unique=True)
    dismissed_by: Mapped[str | None] = mapped_column(String(320))
    dismissed_at: Mapped[datetime] = _created()
    reason: Mapped[str | None] = mapped_column(String(500))


class HubspotWebhookEvent(Base):
    """HubSpot webhook events, stored once (event id) and applied before the delivery is answered."""

    __tablename__ = "hubspot_webhook_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(60), unique=True)
    subscription_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSONB)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = _created()
    outcome: Mapped[str | None] = mapped_column(String(50))


# --- tours (domain.md §8.3) -------------------------------------------------------------------------

TOUR_STATUSES = ("pending", "scheduled", "checked_in", "completed", "no_show", "cancelled")


class Tour(Base):
    __tablename__ = "tours"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(TOUR_STATUSES)})", name="status"),
        CheckConstraint("source IN ('public', 'staff', 'hubspot', 'google', 'form')", name="source"),
        CheckConstraint("status = 'pending' OR scheduled_at IS NOT NULL", name="scheduled"),
        Index("ix_tours_scheduled_at", "scheduled_at"),
        Index("ix_tours_visitor_email", "visitor_email"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    google_calendar_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    hubspot_meeting_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    visitor_name: Mapped[str] = mapped_column(String(200))
    visitor_email: Mapped[str | None] = mapped_column(String(320))
    visitor_phone: Mapped[str | None] = mapped_column(String(40))
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tour_date: Mapped[date | None] = mapped_column(Date)
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    source: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    form_submission_id: Mapped[int | None] = mapped_column(Integer)
    calendar_etag: Mapped[str | None] = mapped_column(String(100))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[str | None] = mapped_column(String(320))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- calendars and Eventbrite (domain.md §9) -------------------------------------------------------


class CalendarSyncState(Base):
    """Where each Google calendar's incremental sync got to (its sync token), and Eventbrite's."""

    __tablename__ = "calendar_sync_state"

    calendar: Mapped[str] = mapped_column(String(30), primary_key=True)
    calendar_id: Mapped[str | None] = mapped_column(String(300))
    sync_token: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class CalendarEvent(Base):
    """An outside event as last seen (Google Calendar by event id and etag, Eventbrite by event id):
    what was published to booking, and the tours calendar's busy times."""

    __tablename__ = "calendar_events"
    __table_args__ = (
        UniqueConstraint("source", "calendar", "external_id", name="uq_calendar_events_external"),
        Index("ix_calendar_events_busy", "calendar", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    calendar: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str] = mapped_column(String(200))
    etag: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(500))
    all_day: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: a record of ours pushed to the calendar (tour, closure, event, wellness_class) and its id
    record_type: Mapped[str | None] = mapped_column(String(30))
    record_id: Mapped[int | None] = mapped_column(Integer)
    published_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EventbriteAttendeeState(Base):
    """What was last published for one person's tickets to one Eventbrite event (publish changes only)."""

    __tablename__ = "eventbrite_attendees"
    __table_args__ = (
        UniqueConstraint("eventbrite_event_id", "email", name="uq_eventbrite_attendees_person"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    eventbrite_event_id: Mapped[str] = mapped_column(String(60))
    email: Mapped[str] = mapped_column(String(320))
    published_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- integrity (domain.md §11) ------------------------------------------------------------------------

SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = ("orphan_record", "sync_mismatch", "data_quality", "booking_issue", "billing_issue")


class IntegrityCheckHistory(Base):
    """One service's run of its checks (its <service>.integrity.checked, or ours)."""

    __tablename__ = "integrity_check_history"
    __table_args__ = (UniqueConstraint("service", "run_id", name="uq_integrity_check_history_run"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(30))
    trigger: Mapped[str] = mapped_column(String(20))
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = _created()
    issues_found: Mapped[int] = mapped_column(Integer)
    new_issues: Mapped[int] = mapped_column(Integer, server_default="0")
    resolved_issues: Mapped[int] = mapped_column(Integer, server_default="0")
    #: per check: name, category, severity, status (ok|issues|error), issue count, error
    summary: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class IntegrityIssue(Base):
    """An issue found by a check (`<table>_<record id>`): first and last seen, resolved when a run no
    longer finds it or staff resolve it."""

    __tablename__ = "integrity_issues_tracking"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint(f"severity IN ({_in(SEVERITIES)})", name="severity"),
        CheckConstraint(f"category IN ({_in(CATEGORIES)})", name="category"),
        Index(
            "ix_integrity_issues_tracking_open", "source_service", postgresql_where=text("status = 'open'")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    issue_key: Mapped[str] = mapped_column(String(250), unique=True)
    issue_type: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    severity: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))
    source_service: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    first_detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    times_seen: Mapped[int] = mapped_column(Integer, server_default="1")


class IntegrityIgnore(Base):
    __tablename__ = "integrity_ignores"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    issue_key: Mapped[str] = mapped_column(String(250), unique=True)
    ignored_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    ignored_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntegrityAuditLog(Base):
    __tablename__ = "integrity_audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    action: Mapped[str] = mapped_column(String(30))
    issue_key: Mapped[str | None] = mapped_column(String(250), index=True)
    details: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    performed_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()


# --- legacy imports ---------------------------------------------------------------------------------


class LegacyImportJob(Base):
    """Every import this service runs (TrackMan CSV, legacy purchases, …)."""

    __tablename__ = "legacy_import_jobs"
    __table_args__ = (CheckConstraint("status IN ('running', 'completed', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    import_type: Mapped[str] = mapped_column(String(50))
    filename: Mapped[str | None] = mapped_column(String(255))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), server_default="running")
    records_processed: Mapped[int] = mapped_column(Integer, server_default="0")
    records_imported: Mapped[int] = mapped_column(Integer, server_default="0")
    records_skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    failed_rows: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    started_by: Mapped[str | None] = mapped_column(String(320))
    started_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


BUS = bus_tables(Base.metadata)
JOBS = job_tables(Base.metadata)
