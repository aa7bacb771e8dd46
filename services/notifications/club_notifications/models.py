"""The notifications service's tables: the seed's seven (notifications, announcements, notice_types,
user_dismissed_notices, push_subscriptions, email_events, communication_logs), e-mail suppressions,
the read models fed by other services' events, the pending sign-in codes, and the bus and job tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
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


class Notification(Base):
    """An in-app notification to one member or staff user (the seed's `notifications`)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_email_created_at", "user_email", "created_at"),
        Index("ix_notifications_unread", "user_email", postgresql_where=text("NOT is_read")),
        Index("ix_notifications_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320))
    type: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    related_id: Mapped[int | None] = mapped_column(BigInteger)
    related_type: Mapped[str | None] = mapped_column(String(50))
    link: Mapped[str | None] = mapped_column(String(500))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PushSubscription(Base):
    """A browser's web-push subscription (one row per endpoint)."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (Index("ix_push_subscriptions_user_email", "user_email"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    user_email: Mapped[str] = mapped_column(String(320))
    keys: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CommunicationLog(Base):
    """What was said to a member outside the app: e-mails we sent, and calls, meetings, notes and
    SMS logged by staff or pulled from HubSpot."""

    __tablename__ = "communication_logs"
    __table_args__ = (
        Index("ix_communication_logs_member_email", "member_email", "created_at"),
        Index("ix_communication_logs_provider_message_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_email: Mapped[str] = mapped_column(String(320))
    type: Mapped[str] = mapped_column(String(20))  # email|call|meeting|note|sms
    direction: Mapped[str] = mapped_column(String(10))  # inbound|outbound
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    # e-mail: queued|sent|failed|skipped|suppressed|expired|delivered|bounced|complained; others: logged
    status: Mapped[str] = mapped_column(String(20))
    hubspot_engagement_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    template: Mapped[str | None] = mapped_column(String(50))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(320))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PendingSecret(Base):
    """A sign-in code waiting to be e-mailed: kept only until it is sent or 15 minutes have passed,
    and never copied anywhere else (not the job queue, not the communication log, not the logs)."""

    __tablename__ = "pending_secrets"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EmailEvent(Base):
    """A delivery event from the e-mail provider's signed webhook, stored once per event id."""

    __tablename__ = "email_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    event_type: Mapped[str] = mapped_column(String(50))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmailSuppression(Base):
    """An address nothing more is e-mailed to (it bounced, or its owner complained)."""

    __tablename__ = "email_suppressions"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))  # bounced|complained
    event_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Announcement(Base):
    """A club-wide announcement, shown from its first to its last club day."""

    __tablename__ = "announcements"
    __table_args__ = (
        # One banner at a time: setting one unsets the others, and the database insists.
        Index(
            "uq_announcements_one_banner",
            "show_as_banner",
            unique=True,
            postgresql_where=text("show_as_banner"),
        ),
        Index("ix_announcements_closure_id", "closure_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10), default="normal")  # normal|high|urgent
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # first instant of starts_on
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first instant after ends_on
    closure_id: Mapped[int | None] = mapped_column(BigInteger)
    show_as_banner: Mapped[bool] = mapped_column(Boolean, default=False)
    link_type: Mapped[str | None] = mapped_column(String(30))
    link_target: Mapped[str | None] = mapped_column(String(500))
    send_push: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class NoticeType(Base):
    __tablename__ = "notice_types"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class DismissedNotice(Base):
    """A member has dismissed one notice (an announcement or a closure)."""

    __tablename__ = "user_dismissed_notices"
    __table_args__ = (UniqueConstraint("user_email", "notice_type", "notice_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320))
    notice_type: Mapped[str] = mapped_column(String(30))  # announcement|closure
    notice_id: Mapped[int] = mapped_column(BigInteger)
    dismissed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaffRecipient(Base):
    """Read model of staff users (membership.staff.updated): who "notify all staff" reaches."""

    __tablename__ = "staff_recipients"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    role: Mapped[str] = mapped_column(String(30))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Closure(Base):
    """Read model of facility closures (booking.closure.*): today's closures digest and notices."""

    __tablename__ = "closures"

    closure_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    member_notice: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    affected_areas: Mapped[str | None] = mapped_column(String(200))
    notify_members: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Upcoming(Base):
    """Read model of what a person has coming up (bookings, event RSVPs, wellness enrolments), fed
    by booking's events, for the 18:00 reminders of tomorrow's items."""

    __tablename__ = "upcoming_items"
    __table_args__ = (Index("ix_upcoming_items_local_date", "local_date"),)

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # booking|event|wellness
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    local_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[str] = mapped_column(String(5))  # HH:MM club time
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    reminded_on: Mapped[date | None] = mapped_column(Date)


class FeeWaiver(Base):
    """Read model of billing.fee.waived: every waiver waits for an admin's review (§10), and those
    left unreviewed for more than 12 hours are brought to the admins every 4 hours."""

    __tablename__ = "fee_waivers"
    __table_args__ = (
        UniqueConstraint("booking_id", "line_key"),
        Index("ix_fee_waivers_unreviewed", "waived_at", postgresql_where=text("reviewed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger)
    line_key: Mapped[str] = mapped_column(String(12))
    member_email: Mapped[str] = mapped_column(String(320))
    member_name: Mapped[str | None] = mapped_column(String(200))
    participant_name: Mapped[str | None] = mapped_column(String(200))
    club_date: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    waived_by: Mapped[str] = mapped_column(String(320))
    waived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(320))


BUS = bus_tables(Base.metadata)
JOBS = job_tables(Base.metadata)
