"""Membership → integrations → HubSpot through the whole plumbing: a member created at the gateway,
membership.member.created carried by the bus (in memory and on RabbitMQ) to integrations' consumer,
the HubSpot job it queued sent by the queue worker to the fake HubSpot; and a TrackMan webhook
through the gateway landing in integrations' outbox for booking."""

from __future__ import annotations

import json
import sys
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


@pytest.fixture(params=["memory", "rabbitmq"])
def suite(request, settings_for, migrated, hubspot):
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
