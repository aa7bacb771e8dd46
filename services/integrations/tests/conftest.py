"""Fixtures for the integrations service's tests: its runtime on a private database, apps (with a
settable clock and settings), tokens, the real consumer and job runner, and the outbox."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from club_shared.auth import Identity, sign_access_token
from club_shared.bus import Delivery, Message
from club_shared.events import make_event
from club_shared.worker import make_consumer

REPO = Path(__file__).resolve().parents[3]
for folder in (REPO / "tests", Path(__file__).resolve().parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


class Clock:
    """The time the app and the jobs see; tests move it."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self.now = when


@pytest.fixture(scope="session")
def runtime(service_runtime):
    return service_runtime("integrations")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(runtime, clock):
    """An app on the shared database with some settings changed (e.g. the TrackMan secret)."""
    from club_integrations.app import create_app, make_runtime

    def make(**settings):
        rt = make_runtime(replace(runtime.settings, **settings)) if settings else runtime
        if settings:
            rt.__dict__["db"] = runtime.db  # one engine for the whole run
        app = create_app(runtime=rt)
        app.config["CLUB_CLOCK"] = clock
        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def token(keys) -> Callable[..., str]:
    def make(email: str, role: str = "member", subject: str | None = None) -> str:
        return sign_access_token(
            keys[0], "clubhouse", Identity(subject or uuid.uuid4().hex, email, role), 900
        )

    return make


@pytest.fixture(scope="session")
def auth(token) -> Callable[..., dict[str, str]]:
    def headers(email: str = "desk@club.example", role: str = "staff") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(email, role)}"}

    return headers


@pytest.fixture(scope="session")
def deliver(runtime):
    """Hand an event to the service's real consumer (as the broker would), as often as asked."""
    from club_integrations.handlers import HANDLERS

    consumer = make_consumer(runtime, HANDLERS)

    def send(event_type: str, data: dict, *, times: int = 2, producer: str | None = None):
        event = make_event(event_type, data, producer=producer or event_type.split(".")[0])
        delivery = Delivery(Message(event.type, event.to_json(), str(event.event_id)), previous_failures=0)
        outcomes = []
        for _ in range(times):
            outcomes += consumer.handle_batch([delivery])
        assert all(o.verdict.value == "ack" for o in outcomes), outcomes
        return event

    return send


@pytest.fixture(scope="session")
def db(runtime):
    return runtime.db


@pytest.fixture
def outbox(runtime):
    """Events published since the test started: `outbox("integrations.trackman.booking_received")`."""
    from sqlalchemy import func, select

    table = runtime.tables.outbox
    with runtime.db.transaction() as session:
        start = session.scalar(select(func.coalesce(func.max(table.c.id), 0)))

    def published(event_type: str | None = None, **match) -> list[dict]:
        statement = select(table.c.envelope).where(table.c.id > start).order_by(table.c.id)
        if event_type:
            statement = statement.where(table.c.event_type == event_type)
        with runtime.db.transaction() as session:
            envelopes = session.scalars(statement).all()
        return [e["data"] for e in envelopes if all(e["data"].get(k) == v for k, v in match.items())]

    return published


@pytest.fixture
def member(deliver, db):
    """A member in the read model: `member("ann@example.com", linked=["ann.golf@example.com"])`.
    The HubSpot job their creation queues is closed unless `keep_jobs`."""
    from sqlalchemy import update

    from club_integrations.models import HubspotSyncQueue

    def make(email: str | None = None, *, linked=(), keep_jobs: bool = False, **fields) -> dict:
        email = email or f"m.{uuid.uuid4().hex[:8]}@example.com"
        data = {
            "member_id": uuid.uuid4().hex,
            "email": email,
            "first_name": fields.pop("first_name", "Ann"),
            "last_name": fields.pop("last_name", "Lee"),
            "tier": fields.pop("tier", "core"),
            "status": fields.pop("status", "active"),
            "linked_emails": list(linked),
            **fields,
        }
        deliver("membership.member.created", data)
        if not keep_jobs:
            with db.transaction() as session:
                session.execute(
                    update(HubspotSyncQueue)
                    .where(HubspotSyncQueue.entity_id == email, HubspotSyncQueue.status == "pending")
                    .values(status="completed", outcome="test_cleared")
                )
        return data

    return make


@pytest.fixture(scope="session")
def hubspot_server():
    from fakes.hubspot import FakeHubSpot

    fake = FakeHubSpot().start()
    yield fake
    fake.stop()


@pytest.fixture
def hubspot_fake(hubspot_server):
    hubspot_server.reset()
    return hubspot_server


@pytest.fixture
def hubspot_settings(hubspot_fake) -> dict:
    return {
        "hubspot_access_token": hubspot_fake.token,
        "hubspot_api_base": hubspot_fake.url,
        "hubspot_webhook_secret": hubspot_fake.client_secret,
        "hubspot_portal_id": "62515",
        "hubspot_writes": "on",
        "hubspot_requests_per_10s": 100_000,
    }


@pytest.fixture
def hubspot_runtime(runtime, hubspot_settings):
    from club_integrations.app import make_runtime

    rt = make_runtime(replace(runtime.settings, **hubspot_settings))
    rt.__dict__["db"] = runtime.db
    return rt


class Sleeps(list):
    """Records the waits a job asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def hubspot_jobs(hubspot_runtime, clock, sleeps):
    """The worker's job functions against the fake HubSpot (no jitter unless a test sets one)."""
    from club_integrations.jobs import Jobs

    return Jobs(hubspot_runtime, clock, sleep=sleeps, jitter=lambda: 0.0)


@pytest.fixture
def empty_queue(db):
    """Close every open HubSpot job other tests left, so a worker run here sees only this test's."""
    from sqlalchemy import update

    from club_integrations.models import HubspotSyncQueue

    with db.transaction() as session:
        session.execute(
            update(HubspotSyncQueue)
            .where(HubspotSyncQueue.status.in_(("pending", "processing", "failed")))
            .values(status="completed", outcome="test_cleared")
        )


@pytest.fixture(scope="session")
def google_server():
    from fakes.google_calendar import FakeGoogleCalendar

    fake = FakeGoogleCalendar().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def eventbrite_server():
    from fakes.eventbrite import FakeEventbrite

    fake = FakeEventbrite().start()
    yield fake
    fake.stop()


@pytest.fixture
def google_fake(google_server, db):
    from sqlalchemy import delete

    from club_integrations.models import CalendarSyncState

    google_server.reset()
    with db.transaction() as session:
        session.execute(delete(CalendarSyncState))
    return google_server


@pytest.fixture
def eventbrite_fake(eventbrite_server):
    eventbrite_server.reset()
    return eventbrite_server


@pytest.fixture
def calendar_settings(google_fake, eventbrite_fake) -> dict:
    from integrations_support import CALENDAR_IDS

    return {
        "google_calendar_access_token": google_fake.token,
        "google_calendar_api_base": google_fake.url,
        "google_calendar_ids": ",".join(f"{k}={v}" for k, v in CALENDAR_IDS.items()),
        "eventbrite_token": eventbrite_fake.token,
        "eventbrite_api_base": eventbrite_fake.url,
        "eventbrite_organization_id": eventbrite_fake.organization_id,
    }


@pytest.fixture
def calendar_jobs(runtime, calendar_settings, clock, sleeps):
    from club_integrations.app import make_runtime
    from club_integrations.jobs import Jobs

    rt = make_runtime(replace(runtime.settings, **calendar_settings))
    rt.__dict__["db"] = runtime.db
    return Jobs(rt, clock, sleep=sleeps)
