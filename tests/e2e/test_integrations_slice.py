"""Membership → integrations → HubSpot through the whole plumbing: a member created at the gateway,
membership.member.created carried by the bus (in memory and on RabbitMQ) to integrations' consumer,
the HubSpot job it queued sent by the queue worker to the fake HubSpot; a TrackMan webhook
through the gateway landing in integrations' outbox for booking; and an event pulled from the fake
Google Calendar (an event and a wellness class) and an Eventbrite event with a member's attendee
ending up as booking's events, class and RSVP; and a member's account deletion, completed by an
admin, reaching HubSpot as the contact's GDPR deletion."""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from club_shared.auth import Identity, sign_access_token
from club_shared.config import SERVICES
from club_shared.testing.bus import wait_for_handled
from club_suite.suite import start_suite

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="module")
def hubspot():
    from fakes.hubspot import FakeHubSpot

    fake = FakeHubSpot().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def google():
    from fakes.google_calendar import FakeGoogleCalendar

    fake = FakeGoogleCalendar().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def eventbrite():
    from fakes.eventbrite import FakeEventbrite

    fake = FakeEventbrite().start()
    yield fake
    fake.stop()


EVENTS_CALENDAR = "events@group.calendar.google.com"
WELLNESS_CALENDAR = "wellness@group.calendar.google.com"


@pytest.fixture(params=["memory", "rabbitmq"])
def suite(request, settings_for, migrated, hubspot, google, eventbrite):
    amqp_url = "memory://" if request.param == "memory" else request.getfixturevalue("amqp_url")
    for service in SERVICES:
        migrated(service)
    suffix = f".integrations-{request.param}"
    settings = {
        s: settings_for(s, amqp_url=amqp_url, bus_namespace=settings_for(s).bus_namespace + suffix)
        for s in SERVICES
    }
    settings["integrations"] = replace(
        settings["integrations"],
        hubspot_access_token=hubspot.token,
        hubspot_api_base=hubspot.url,
        hubspot_writes="on",
        trackman_webhook_secret="tm-e2e-secret",
        google_calendar_access_token=google.token,
        google_calendar_api_base=google.url,
        google_calendar_ids=f"events={EVENTS_CALENDAR},wellness={WELLNESS_CALENDAR}",
        eventbrite_token=eventbrite.token,
        eventbrite_api_base=eventbrite.url,
        eventbrite_organization_id=eventbrite.organization_id,
    )
    running = start_suite(settings)
    yield running
    running.shutdown()


def test_a_new_member_reaches_hubspot_and_a_trackman_booking_is_published(suite, keys, hubspot):
    from werkzeug.test import Client

    from club_integrations.jobs import Jobs

    client = Client(suite.app)
    admin = sign_access_token(keys[0], "clubhouse", Identity("1", "desk@club.example.com", "admin"), 900)
    address = f"erin.{uuid.uuid4().hex[:8]}@example.com"
    created = client.post(
        "/api/v1/members",
        json={"email": address, "first_name": "Erin", "last_name": "Moss"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)

    membership = suite.runtimes["membership"]
    outbox = membership.tables.outbox
    with membership.db.transaction() as session:
        row = session.execute(
            outbox.select()
            .where(outbox.c.event_type == "membership.member.created")
            .order_by(outbox.c.id.desc())
        ).first()
    integrations = suite.runtimes["integrations"]
    wait_for_handled(integrations, "integrations", row.event_id, timeout=15)

    worker = Jobs(integrations, sleep=lambda s: None).queue_worker()
    for _ in range(50):  # the queue may hold other work of this test run (other tests share the database)
        if worker.run_once().claimed == 0 or hubspot.contact(address):
            break
    contact = hubspot.contact(address)
    assert contact is not None and contact["properties"]["firstname"] == "Erin"
    assert contact["properties"]["membership_status"] == "Pending"

    # TrackMan, signed, through the gateway: stored, and booking_received in integrations' outbox
    body = json.dumps(
        {
            "booking": {
                "id": f"e2e{uuid.uuid4().hex[:6]}",
                "start": "2031-07-04T14:00:00-07:00",
                "end": "2031-07-04T15:00:00-07:00",
                "status": "booked",
                "bay": {"ref": "2"},
                "customer": {"email": address},
            }
        }
    ).encode()
    import hashlib
    import hmac

    signature = hmac.new(b"tm-e2e-secret", body, hashlib.sha256).hexdigest()
    answer = client.post(
        "/api/v1/webhooks/trackman",
        data=body,
        headers={"Content-Type": "application/json", "x-trackman-signature": signature},
    )
    assert answer.status_code == 200 and answer.get_json()["status"] == "stored"
    outbox = integrations.tables.outbox
    with integrations.db.transaction() as session:
        published = session.execute(
            outbox.select()
            .where(outbox.c.event_type == "integrations.trackman.booking_received")
            .order_by(outbox.c.id.desc())
        ).first()
    assert published.envelope["data"]["customer_email"] == address
    assert published.envelope["data"]["resource_id"] == 2


def _published(runtime, event_type: str, **match):
    """Envelopes of `event_type` in a service's outbox whose data has `match`, oldest first."""
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        rows = session.execute(
            outbox.select().where(outbox.c.event_type == event_type).order_by(outbox.c.id)
        ).all()
    return [r.envelope for r in rows if all(r.envelope["data"].get(k) == v for k, v in match.items())]


def _handled_by_booking(suite, envelopes) -> None:
    assert envelopes, "integrations published nothing"
    for envelope in envelopes:
        wait_for_handled(suite.runtimes["booking"], "booking", envelope["event_id"], timeout=15)


def test_calendar_and_eventbrite_reach_bookings_events_and_rsvps(suite, keys, google, eventbrite):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy import select
    from werkzeug.test import Client

    from club_booking.models import ClubEvent, EventRsvp, WellnessClass
    from club_integrations.jobs import Jobs

    pt = ZoneInfo("America/Los_Angeles")
    client = Client(suite.app)
    admin = sign_access_token(keys[0], "clubhouse", Identity("1", "desk@club.example.com", "admin"), 900)
    address = f"gail.{uuid.uuid4().hex[:8]}@example.com"
    created = client.post(
        "/api/v1/members",
        json={"email": address, "first_name": "Gail", "last_name": "Stone"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    [member_created] = _published(suite.runtimes["membership"], "membership.member.created", email=address)
    wait_for_handled(suite.runtimes["booking"], "booking", member_created["event_id"], timeout=15)

    integrations = suite.runtimes["integrations"]
    jobs = Jobs(integrations, sleep=lambda s: None)
    start = datetime(2031, 10, 2, 18, tzinfo=pt) + timedelta(days=uuid.uuid4().int % 300)
    google_id = google.add(
        EVENTS_CALENDAR, "Wine Night", start, start + timedelta(hours=3), description="Category: Social"
    )
    yoga_id = google.add(WELLNESS_CALENDAR, "Yoga - Morning Flow with Kim", start, start + timedelta(hours=1))
    jobs.calendar_sync(None, {})
    for external_id in (google_id, yoga_id):
        _handled_by_booking(
            suite, _published(integrations, "integrations.calendar.event_synced", external_id=external_id)
        )

    # the Eventbrite event first, then its attendee (an attendee ahead of its event is booking's own case)
    gala = eventbrite.add_event(
        f"Gala {uuid.uuid4().hex[:6]}", start, start + timedelta(hours=4), capacity=80
    )
    jobs.eventbrite_sync(None, {})
    _handled_by_booking(
        suite, _published(integrations, "integrations.calendar.event_synced", external_id=gala)
    )
    eventbrite.add_attendee(gala, address, "Gail Stone", ticket_class="VIP", created="2031-08-01T10:00:00Z")
    eventbrite.add_attendee(gala, address, "Gail Stone", created="2031-08-01T10:00:01Z")  # a guest
    jobs.eventbrite_sync(None, {})
    _handled_by_booking(
        suite, _published(integrations, "integrations.eventbrite.attendee_synced", email=address)
    )

    booking = suite.runtimes["booking"]
    with booking.db.transaction() as session:
        wine = session.scalar(select(ClubEvent).where(ClubEvent.google_calendar_id == google_id))
        assert (wine.title, wine.source, wine.category) == ("Wine Night", "google", "Social")
        assert wine.starts_at == start and wine.ends_at == start + timedelta(hours=3)
        yoga = session.scalar(select(WellnessClass).where(WellnessClass.google_calendar_id == yoga_id))
        assert (yoga.category, yoga.title, yoga.instructor, yoga.starts_at) == (
            "Yoga",
            "Morning Flow",
            "Kim",
            start,
        )
        event = session.scalar(select(ClubEvent).where(ClubEvent.eventbrite_id == gala))
        assert (event.source, event.max_capacity, event.starts_at) == ("eventbrite", 80, start)
        [rsvp] = session.scalars(select(EventRsvp).where(EventRsvp.event_id == event.id)).all()
        assert (rsvp.user_email, rsvp.source, rsvp.status) == (address, "eventbrite", "confirmed")
        assert (rsvp.guest_count, rsvp.ticket_class) == (1, "VIP")
        assert rsvp.matched_user_id == created.get_json()["id"]


def test_a_deleted_member_is_erased_from_hubspot_through_the_queue(suite, keys, hubspot):
    from werkzeug.test import Client

    from club_integrations.jobs import Jobs
    from club_integrations.models import SyncExclusion

    client = Client(suite.app)
    admin = sign_access_token(keys[0], "clubhouse", Identity("1", "desk@club.example.com", "admin"), 900)
    address = f"hana.{uuid.uuid4().hex[:8]}@example.com"
    created = client.post(
        "/api/v1/members",
        json={"email": address, "first_name": "Hana", "last_name": "Ito"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    integrations = suite.runtimes["integrations"]
    [member_created] = _published(suite.runtimes["membership"], "membership.member.created", email=address)
    wait_for_handled(integrations, "integrations", member_created["event_id"], timeout=15)
    worker = Jobs(integrations, sleep=lambda s: None).queue_worker()
    for _ in range(50):
        if worker.run_once().claimed == 0 or hubspot.contact(address):
            break
    assert hubspot.contact(address) is not None

    member = sign_access_token(
        keys[0], "clubhouse", Identity(created.get_json()["id"], address, "member"), 900
    )
    asked = client.post(
        "/api/v1/account/deletion",
        json={"reason": "Moving away"},
        headers={"Authorization": f"Bearer {member}"},
    )
    assert asked.status_code == 201, asked.get_data(as_text=True)
    done = client.post(
        f"/api/v1/account/deletion-requests/{asked.get_json()['id']}/complete",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    [deleted] = _published(suite.runtimes["membership"], "membership.member.deleted", email=address)
    wait_for_handled(integrations, "integrations", deleted["event_id"], timeout=15)
    with integrations.db.transaction() as session:
        assert session.get(SyncExclusion, address).reason == "account_deleted"
    deadline = time.monotonic() + 15  # the suite's own worker may be the one sending it
    while hubspot.contact(address) is not None and time.monotonic() < deadline:
        if worker.run_once().claimed == 0:
            time.sleep(0.2)
    assert hubspot.contact(address) is None
    assert address in hubspot.blocklist
