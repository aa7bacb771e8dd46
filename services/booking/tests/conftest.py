"""Fixtures for the booking tests: the booking service migrated in this run's database, an app on a
clock the test sets, signed tokens, and membership events delivered through booking's consumer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from club_booking.app import create_app
from club_booking.models import ClubSetting, TierLimits
from club_booking.testing import Clock, deliver
from club_shared.auth import Identity, sign_access_token
from club_shared.clubtime import zone

LA = zone("America/Los_Angeles")

#: Tables a test fills; the seeded reference data (resources, settings, tiers, reasons) is restored.
DYNAMIC = (
    "event_rsvps",
    "events",
    "wellness_enrollments",
    "wellness_classes",
    "calendar_feeds",
    "booking_participants",
    "booking_members",
    "booking_guests",
    "guest_pass_holds",
    "guest_check_ins",
    "walk_in_visits",
    "pending_eventbrite_attendees",
    "pass_redemption_logs",
    "usage_ledger",
    "booking_requests",
    "booking_sessions",
    "guests",
    "guest_passes",
    "availability_blocks",
    "facility_closures",
    "member_emails",
    "member_profiles",
    "outbox",
    "inbox",
    "job_queue",
    "scheduler_claims",
    "idempotency_keys",
)


@pytest.fixture(scope="session")
def rt(service_runtime):
    return service_runtime("booking")


@pytest.fixture(scope="session")
def seeded(rt):
    """The reference rows as the migration left them (taken once, restored after every test)."""
    with rt.db.transaction() as session:
        settings = {row.key: row.value for row in session.query(ClubSetting)}
        tiers = [
            {c.key: getattr(t, c.key) for c in TierLimits.__table__.columns if c.key not in ("updated_at",)}
            for t in session.query(TierLimits)
        ]
    return settings, tiers


@pytest.fixture(autouse=True)
def clean(rt, seeded):
    yield
    settings, tiers = seeded
    with rt.db.transaction() as session:
        session.execute(text(f"TRUNCATE {', '.join(DYNAMIC)} RESTART IDENTITY CASCADE"))
        session.execute(text("DELETE FROM club_settings"))
        for key, value in settings.items():
            session.add(ClubSetting(key=key, value=value))
        session.execute(text("DELETE FROM tier_limits"))
        for row in tiers:
            session.add(TierLimits(**row))
        session.execute(text("UPDATE resources SET is_active = true WHERE id <= 5"))
        session.execute(text("DELETE FROM resources WHERE id > 5"))
        session.execute(text("UPDATE closure_reasons SET is_active = true"))


@pytest.fixture
def clock():
    c = Clock(datetime(2026, 6, 1, 19, 0, tzinfo=UTC))
    return c


@pytest.fixture
def app(rt, clock):
    return create_app(runtime=rt, clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(keys):
    """`auth("ann@example.com")` → headers with a bearer token for that member (or role)."""

    def make(email: str, role: str = "member", subject: str | None = None) -> dict[str, str]:
        identity = Identity(subject or f"u-{email}", email, role)
        return {"Authorization": "Bearer " + sign_access_token(keys[0], "clubhouse", identity, 900)}

    return make


@pytest.fixture
def member(rt):
    """`member("ann@example.com", tier="core")`: tell booking about a member through membership's
    event, waiver signed unless `waiver=False`."""

    def make(
        email: str,
        tier: str | None = "core",
        *,
        status: str = "active",
        waiver: bool = True,
        role: str = "member",
        first_name: str | None = None,
        member_id: str | None = None,
    ) -> str:
        member_id = member_id or f"u-{email}"
        data = {
            "member_id": member_id,
            "email": email,
            "first_name": first_name or email.split("@")[0].split(".")[0].title(),
            "last_name": "Member",
            "tier": tier,
            "status": status,
            "role": role,
        }
        if waiver:
            data.update(waiver_version=1, waiver_signed_at="2026-01-01T00:00:00+00:00")
        deliver(rt, "membership.member.created", data)
        return member_id

    return make
