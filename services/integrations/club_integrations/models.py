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
    Identity,
    Index,
    Integer,
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
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MemberEmail(Base):
    """Every address of a member (primary and linked), for lookups through linked e-mails."""

    __tablename__ = "member_emails"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


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
