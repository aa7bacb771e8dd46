"""The booking service's tables (it owns these and no other service reads them).

Booked times are kept twice: as the club-time date and wall-clock times people entered, and as the
UTC instants `starts_at`/`ends_at` that every comparison uses (domain.md §1, §4.3). Two PostgreSQL
exclusion constraints (btree_gist) make a double booking impossible whatever the application does:
one over requests in the statuses that hold a bay, one over sessions that are not cancelled.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from club_shared.bus import bus_tables
from club_shared.jobs import job_tables
from club_shared.models import ServiceBase, new_metadata

from .domain.status import DB_EXCLUSIVE, STATUSES


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


def _created():
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --- resources, hours, closures, blocks --------------------------------------------------------


class Resource(Base):
    """A bookable bay or room (capacity 1). TrackMan bay refs 1–4 are bays 1–4."""

    __tablename__ = "resources"
    __table_args__ = (CheckConstraint("type IN ('simulator', 'conference_room')", name="type"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(30))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    sort_order: Mapped[int] = mapped_column(Integer, server_default="100")
    capacity: Mapped[int] = mapped_column(Integer, server_default="1")
    slot_minutes: Mapped[int] = mapped_column(Integer, server_default="30")
    trackman_bay_ref: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = _created()


class ClubSetting(Base):
    """Settings booking uses: seeded with the defaults of domain.md, kept up to date from
    membership.setting.updated (membership owns the settings)."""

    __tablename__ = "club_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[object] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ClosureReason(Base):
    __tablename__ = "closure_reasons"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), unique=True)
    sort_order: Mapped[int] = mapped_column(Integer, server_default="100")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class FacilityClosure(Base):
    """A closure over a date range, whole days or a daily time range (which may wrap past midnight).
    The seed's `closure_date`, `is_full_day` and `affects_all_resources` are kept consistent."""

    __tablename__ = "facility_closures"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(100))
    member_notice: Mapped[str | None] = mapped_column(Text)
    notice_type: Mapped[str | None] = mapped_column(String(50))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    affected_areas: Mapped[str] = mapped_column(String(500))
    notify_members: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    needs_review: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    calendar_event_id: Mapped[str | None] = mapped_column(String(200))
    closure_date: Mapped[date] = mapped_column(Date)
    is_full_day: Mapped[bool] = mapped_column(Boolean)
    affects_all_resources: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AvailabilityBlock(Base):
    """A resource unavailable from `start_time` to `end_time` on `block_date` (end ≤ start: the
    next day); `starts_at`/`ends_at` are the same range in UTC."""

    __tablename__ = "availability_blocks"
    __table_args__ = (
        UniqueConstraint(
            "resource_id",
            "block_date",
            "start_time",
            "end_time",
            "closure_id",
            name="uq_availability_blocks_slot",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("block_type IN ('blocked', 'event', 'wellness', 'lesson', 'closure')", name="type"),
        CheckConstraint("ends_at > starts_at", name="range"),
        Index("ix_availability_blocks_resource_range", "resource_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    block_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    block_type: Mapped[str] = mapped_column(String(20))
    closure_id: Mapped[int | None] = mapped_column(ForeignKey("facility_closures.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(Integer)
    wellness_class_id: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()


# --- bookings ----------------------------------------------------------------------------------


class BookingSession(Base):
    """Occupancy of one resource for one range; requests point to it by `session_id`."""

    __tablename__ = "booking_sessions"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="range"),
        CheckConstraint(
            "source IN ('member_request', 'staff_manual', 'trackman_import', 'trackman_webhook')",
            name="source",
        ),
        ExcludeConstraint(
            (text("resource_id"), "="),
            (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            name="booking_sessions_no_overlap",
            using="gist",
            where=text("cancelled_at IS NULL"),
        ),
        Index("ix_booking_sessions_resource_date", "resource_id", "session_date"),
        Index("ix_booking_sessions_resource_starts_at", "resource_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    session_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(30))
    trackman_booking_id: Mapped[str | None] = mapped_column(String(50), unique=True)
    needs_review: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_unmatched: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BookingRequest(Base):
    """What a member, staff or TrackMan asked for (domain.md §4.1)."""

    __tablename__ = "booking_requests"
    # updated_at comes back in the UPDATE's RETURNING, not in a second SELECT when the response reads it.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(STATUSES)})", name="status"),
        CheckConstraint("resource_type IN ('simulator', 'conference_room')", name="resource_type"),
        CheckConstraint("declared_player_count BETWEEN 1 AND 4", name="players"),
        CheckConstraint("duration_minutes BETWEEN 1 AND 1440", name="duration"),
        CheckConstraint("ends_at > starts_at", name="range"),
        ExcludeConstraint(
            (text("resource_id"), "="),
            (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            name="booking_requests_no_overlap",
            using="gist",
            where=text(f"resource_id IS NOT NULL AND status IN ({_in(DB_EXCLUSIVE)})"),
        ),
        Index("ix_booking_requests_user_email_status", "user_email", "status"),
        Index("ix_booking_requests_starts_at", "starts_at"),
        Index("ix_booking_requests_resource_starts_at", "resource_id", "starts_at"),
        Index("ix_booking_requests_session_id", "session_id"),
        Index(
            "uq_booking_requests_trackman_booking_id",
            "trackman_booking_id",
            unique=True,
            postgresql_where=text("trackman_booking_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    user_email: Mapped[str] = mapped_column(String(320))
    user_name: Mapped[str | None] = mapped_column(String(200))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    resource_type: Mapped[str] = mapped_column(String(30))
    request_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(30), server_default="pending")
    declared_player_count: Mapped[int] = mapped_column(Integer, server_default="1")
    request_participants: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    notes: Mapped[str | None] = mapped_column(String(1000))
    member_notes: Mapped[str | None] = mapped_column(String(280))
    staff_notes: Mapped[str | None] = mapped_column(Text)
    guardian_name: Mapped[str | None] = mapped_column(String(200))
    guardian_relationship: Mapped[str | None] = mapped_column(String(100))
    guardian_consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closure_id: Mapped[int | None] = mapped_column(ForeignKey("facility_closures.id", ondelete="SET NULL"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("booking_sessions.id"))
    trackman_booking_id: Mapped[str | None] = mapped_column(String(50))
    is_event: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source: Mapped[str] = mapped_column(String(30), server_default="member_request")
    created_by: Mapped[str | None] = mapped_column(String(320))
    reviewed_by: Mapped[str | None] = mapped_column(String(320))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancellation_pending_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(String(320))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[str | None] = mapped_column(String(320))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(100))
    invoice_status: Mapped[str | None] = mapped_column(String(30))
    roster_version: Mapped[int] = mapped_column(Integer, server_default="1")
    fees_version: Mapped[int | None] = mapped_column(Integer)
    fees_roster_version: Mapped[int | None] = mapped_column(Integer)
    fees_total_cents: Mapped[int | None] = mapped_column(Integer)
    fee_lines: Mapped[list | None] = mapped_column(JSONB)
    passes_refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unpaid_alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    was_auto_linked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_unmatched: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    player_count_mismatch: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    calendar_event_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BookingMember(Base):
    """The declared roster's members before a session exists (slot 1 = the owner)."""

    __tablename__ = "booking_members"
    __table_args__ = (UniqueConstraint("booking_id", "slot_number", name="uq_booking_members_slot"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    user_email: Mapped[str] = mapped_column(String(320), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    slot_number: Mapped[int] = mapped_column(Integer)
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    trackman_booking_id: Mapped[str | None] = mapped_column(String(50))


class BookingGuest(Base):
    """The declared roster's guests before a session exists."""

    __tablename__ = "booking_guests"
    __table_args__ = (UniqueConstraint("booking_id", "slot_number", name="uq_booking_guests_slot"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True)
    guest_name: Mapped[str | None] = mapped_column(String(200))
    guest_email: Mapped[str | None] = mapped_column(String(320))
    slot_number: Mapped[int] = mapped_column(Integer)
    is_placeholder: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    trackman_booking_id: Mapped[str | None] = mapped_column(String(50))


class Guest(Base):
    __tablename__ = "guests"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = _created()


class BookingParticipant(Base):
    """The frozen roster of a session: the only roster for fees, conflicts and check-in."""

    __tablename__ = "booking_participants"
    __table_args__ = (
        CheckConstraint("participant_type IN ('owner', 'member', 'guest')", name="type"),
        CheckConstraint("payment_status IN ('pending', 'paid', 'waived', 'refunded')", name="payment_status"),
        CheckConstraint("invite_status IN ('accepted', 'pending', 'declined')", name="invite_status"),
        Index("ix_booking_participants_email", "email"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("booking_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    guest_id: Mapped[int | None] = mapped_column(ForeignKey("guests.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    participant_type: Mapped[str] = mapped_column(String(10))
    display_name: Mapped[str | None] = mapped_column(String(200))
    slot_number: Mapped[int] = mapped_column(Integer)
    payment_status: Mapped[str] = mapped_column(String(10), server_default="pending")
    invite_status: Mapped[str] = mapped_column(String(10), server_default="accepted")
    cached_fee_cents: Mapped[int | None] = mapped_column(Integer)
    used_guest_pass: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    pass_consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_staff: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_placeholder: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    amount_paid_cents: Mapped[int | None] = mapped_column(Integer)
    waiver_reason: Mapped[str | None] = mapped_column(Text)
    waiver_reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


# --- guest passes ------------------------------------------------------------------------------


class GuestPass(Base):
    """A member's guest passes in the current period; available = total − used − active holds."""

    __tablename__ = "guest_passes"
    __table_args__ = (
        CheckConstraint("used_passes >= 0", name="used_not_negative"),
        CheckConstraint("used_passes <= total_passes", name="used_within_total"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320), unique=True)
    total_passes: Mapped[int] = mapped_column(Integer, server_default="0")
    used_passes: Mapped[int] = mapped_column(Integer, server_default="0")
    last_reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_key: Mapped[str | None] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class GuestPassHold(Base):
    """Passes put aside for a request's named guests until its session exists."""

    __tablename__ = "guest_pass_holds"
    __table_args__ = (CheckConstraint("passes_held > 0", name="positive"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320), index=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), unique=True
    )
    passes_held: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class GuestCheckIn(Base):
    __tablename__ = "guest_check_ins"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320), index=True)
    guest_name: Mapped[str | None] = mapped_column(String(200))
    guest_email: Mapped[str | None] = mapped_column(String(320))
    check_in_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    checked_in_by: Mapped[str | None] = mapped_column(String(320))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking_requests.id", ondelete="SET NULL"))
    day_pass_purchase_id: Mapped[str | None] = mapped_column(String(100))


class WalkInVisit(Base):
    """A member who came in without a booking today (domain.md §4.8): scanned or looked up by staff."""

    __tablename__ = "walk_in_visits"
    __table_args__ = (
        CheckConstraint("method IN ('qr', 'manual')", name="method"),
        Index("ix_walk_in_visits_member_id_visited_at", "member_id", "visited_at"),
        Index("ix_walk_in_visits_visited_at", "visited_at"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64))
    member_email: Mapped[str] = mapped_column(String(320))
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[str] = mapped_column(String(320))
    method: Mapped[str] = mapped_column(String(10))


class PassRedemptionLog(Base):
    """Every change to a member's guest passes, signed (domain.md §14)."""

    __tablename__ = "pass_redemption_logs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320), index=True)
    pass_type: Mapped[str] = mapped_column(String(20), server_default="guest_pass")
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(30))
    booking_id: Mapped[int | None] = mapped_column(Integer)
    participant_id: Mapped[int | None] = mapped_column(Integer)
    purchase_id: Mapped[str | None] = mapped_column(String(100))
    redeemed_by: Mapped[str | None] = mapped_column(String(320))
    location: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = _created()


class UsageLedger(Base):
    """One row per session per member (keyed by e-mail): minutes and fees as billing computed them."""

    __tablename__ = "usage_ledger"
    __table_args__ = (UniqueConstraint("session_id", "user_email", name="uq_usage_ledger_session_member"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320), index=True)
    usage_type: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    booking_id: Mapped[int | None] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(Integer)
    minutes_charged: Mapped[int] = mapped_column(Integer, server_default="0")
    overage_fee_cents: Mapped[int] = mapped_column(Integer, server_default="0")
    guest_fee_cents: Mapped[int] = mapped_column(Integer, server_default="0")
    tier_at_booking: Mapped[str | None] = mapped_column(String(50))
    payment_method: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(30))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- club events, RSVPs, wellness classes, calendar feeds (domain.md §9) ----------------------

EVENT_CATEGORIES = ("Social", "Golf", "Wellness", "Business", "Member", "Community")


class ClubEvent(Base):
    """A club event; `block_bays` / `block_conference_room` keep availability blocks (block_type
    'event', `event_id` set) over its time, rewritten when it moves and removed when it goes."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(f"category IN ({_in(EVENT_CATEGORIES)})", name="category"),
        CheckConstraint("visibility IN ('public', 'members', 'staff')", name="visibility"),
        CheckConstraint("source IN ('manual', 'eventbrite', 'google')", name="source"),
        CheckConstraint("ends_at > starts_at", name="range"),
        CheckConstraint("max_capacity IS NULL OR max_capacity >= 0", name="capacity"),
        Index("ix_events_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    event_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(30), server_default="Social")
    image_url: Mapped[str | None] = mapped_column(String(1000))
    max_capacity: Mapped[int | None] = mapped_column(Integer)
    visibility: Mapped[str] = mapped_column(String(20), server_default="public")
    requires_rsvp: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source: Mapped[str] = mapped_column(String(20), server_default="manual")
    eventbrite_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    google_calendar_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    block_bays: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    block_conference_room: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    needs_review: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    conflict_detected: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    locally_edited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class EventRsvp(Base):
    """One member's answer to one event (unique per event and e-mail)."""

    __tablename__ = "event_rsvps"
    __table_args__ = (
        UniqueConstraint("event_id", "user_email", name="uq_event_rsvps_event_email"),
        CheckConstraint("status IN ('confirmed', 'cancelled', 'waitlisted')", name="status"),
        CheckConstraint("source IN ('local', 'eventbrite')", name="source"),
        CheckConstraint("guest_count BETWEEN 0 AND 20", name="guests"),
        Index("ix_event_rsvps_user_email", "user_email"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_email: Mapped[str] = mapped_column(String(320))
    matched_user_id: Mapped[str | None] = mapped_column(String(64))
    attendee_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), server_default="confirmed")
    source: Mapped[str] = mapped_column(String(20), server_default="local")
    guest_count: Mapped[int] = mapped_column(Integer, server_default="0")
    checked_in: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    ticket_class: Mapped[str | None] = mapped_column(String(200))
    order_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PendingEventbriteAttendee(Base):
    """An Eventbrite attendee that arrived before its event (integrations syncs the two separately):
    kept here, in arrival order, and applied when the event arrives."""

    __tablename__ = "pending_eventbrite_attendees"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    eventbrite_event_id: Mapped[str] = mapped_column(String(100), index=True)
    attendee: Mapped[dict] = mapped_column(JSONB)
    received_at: Mapped[datetime] = _created()


class IdempotencyKey(Base):
    """The first outcome of a create sent with an `Idempotency-Key` (status and body, a booking or a
    4xx problem), written in the transaction that made it, so a retry of a request cut off
    mid-flight replays it instead of booking twice. Pruned after 24 hours."""

    __tablename__ = "idempotency_keys"

    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: SHA-256 of the canonical JSON body: the same key with another body is refused
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class WellnessClass(Base):
    """A wellness class occurrence; a recurring class is a series of occurrences sharing `series_id`."""

    __tablename__ = "wellness_classes"
    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status"),
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("ends_at > starts_at", name="range"),
        Index("ix_wellness_classes_starts_at", "starts_at"),
        Index("ix_wellness_classes_series_id", "series_id"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    google_calendar_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    series_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    instructor: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50))
    class_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    waitlist_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(20), server_default="scheduled")
    location: Mapped[str | None] = mapped_column(String(200))
    #: Keep availability blocks (block_type 'wellness', `wellness_class_id` set) over the class's time.
    block_bays: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    block_conference_room: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    locally_edited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()


class WellnessEnrollment(Base):
    """A member's seat (or waitlist place) in a class: one row per class and e-mail, re-used on
    re-enrolment. The oldest `waitlisted_at` is promoted first."""

    __tablename__ = "wellness_enrollments"
    __table_args__ = (
        UniqueConstraint("class_id", "user_email", name="uq_wellness_enrollments_class_email"),
        CheckConstraint("status IN ('confirmed', 'waitlisted', 'cancelled')", name="status"),
        Index("ix_wellness_enrollments_class_status", "class_id", "status"),
        Index("ix_wellness_enrollments_user_email", "user_email"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("wellness_classes.id", ondelete="CASCADE"))
    user_email: Mapped[str] = mapped_column(String(320))
    member_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    waitlisted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class CalendarFeed(Base):
    """An iCalendar feed token (only its SHA-256 is kept): a member's own calendar or one bay's."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (CheckConstraint("(member_email IS NULL) <> (resource_id IS NULL)", name="owner"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_email: Mapped[str | None] = mapped_column(String(320), index=True)
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- read models fed by membership events -------------------------------------------------------


class MemberProfile(Base):
    """What booking knows of a member, from membership events (it keeps booking while membership
    is down). `email` is the member's primary e-mail, trimmed and lower-cased."""

    __tablename__ = "member_profiles"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(30), server_default="pending")
    role: Mapped[str] = mapped_column(String(20), server_default="member")
    waiver_version: Mapped[str | None] = mapped_column(String(50))
    waiver_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class MemberEmail(Base):
    """Every e-mail of a member (primary and linked), so each lookup resolves through them."""

    __tablename__ = "member_emails"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    member_id: Mapped[str] = mapped_column(
        ForeignKey("member_profiles.member_id", ondelete="CASCADE"), index=True
    )
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class TierLimits(Base):
    """A tier's booking limits, from membership.tier.updated (seeded with domain.md §2.1)."""

    __tablename__ = "tier_limits"

    slug: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer, server_default="0")
    daily_sim_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    daily_conf_room_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    guest_passes_per_period: Mapped[int] = mapped_column(Integer, server_default="0")
    booking_window_days: Mapped[int] = mapped_column(Integer, server_default="7")
    can_book_simulators: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    can_book_conference: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    can_book_wellness: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    unlimited_access: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    guest_fee_cents: Mapped[int] = mapped_column(Integer, server_default="2500")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


BUS = bus_tables(Base.metadata)
JOBS = job_tables(Base.metadata)
