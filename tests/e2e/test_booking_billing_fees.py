"""Booking and billing together, each through its real consumer: booking's fee inputs priced by
billing, billing.fees.calculated cached by booking, the check-in 402 until the line is paid (cash at
the desk), and the cascade when an earlier booking of the day is cancelled (domain.md §15, 1 and 4).

The events are carried from one service's outbox to the other's consumer by hand, in order, as the
relay and the broker would."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from club_shared.auth import Identity, sign_access_token
from club_shared.bus import Delivery, Message, Verdict
from club_shared.events import Event
from club_shared.worker import make_consumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAFF = "desk@club.example"


class Relay:
    """Carries events from each service's outbox to the other's consumer, once each, in order."""

    def __init__(self, runtimes: dict, handlers: dict):
        self.runtimes = runtimes
        self.consumers = {name: make_consumer(rt, handlers[name]) for name, rt in runtimes.items()}
        self.seen: dict[str, int] = {}
        for name, rt in runtimes.items():
            with rt.db.transaction() as session:
                self.seen[name] = session.execute(text("SELECT coalesce(max(id), 0) FROM outbox")).scalar()

    def pump(self) -> int:
        moved = 0
        for _ in range(10):
            batch = 0
            for name, rt in self.runtimes.items():
                with rt.db.transaction() as session:
                    rows = session.execute(
                        text("SELECT id, envelope FROM outbox WHERE id > :seen ORDER BY id"),
                        {"seen": self.seen[name]},
                    ).all()
                for row in rows:
                    self.seen[name] = row.id
                    event = Event.from_json(json.dumps(row.envelope).encode())
                    for other, consumer in self.consumers.items():
                        if other != name and event.type in consumer.handlers:
                            message = Message(event.type, event.to_json(), str(event.event_id))
                            [outcome] = consumer.handle_batch([Delivery(message, 0)])
                            assert outcome.verdict is Verdict.ACK, (event.type, outcome)
                            batch += 1
            moved += batch
            if batch == 0:
                return moved
        return moved


@pytest.fixture(scope="module")
def stripe_fake():
    from fakes.stripe_fake import RunningFake

    running = RunningFake().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def world(service_runtime, stripe_fake):
    from club_billing.handlers import HANDLERS as BILLING
    from club_booking.handlers import HANDLERS as BOOKING

    booking = service_runtime("booking")
    billing = service_runtime(
        "billing",
        stripe_api_base=stripe_fake.url,
        stripe_secret_key="sk_test_e2e",
        stripe_webhook_secret="whsec_e2e",
    )
    return {"booking": booking, "billing": billing}, {"booking": BOOKING, "billing": BILLING}


@pytest.fixture
def apps(world, keys):
    from club_billing.app import create_app as billing_app
    from club_booking.app import create_app as booking_app
    from club_booking.testing import Clock

    runtimes, handlers = world
    clock = Clock(datetime(2026, 6, 1, 19, 0, tzinfo=UTC))
    clock.at("2026-09-10", "08:00")
    relay = Relay(runtimes, handlers)

    def auth(email: str, role: str = "member") -> dict[str, str]:
        token = sign_access_token(keys[0], "clubhouse", Identity(f"u-{email}", email, role), 900)
        return {"Authorization": f"Bearer {token}"}

    return {
        "booking": booking_app(runtime=runtimes["booking"], clock=clock).test_client(),
        "billing": billing_app(runtime=runtimes["billing"]).test_client(),
        "relay": relay,
        "auth": auth,
        "runtimes": runtimes,
    }


def _member(apps, tier: str) -> str:
    from club_booking.testing import deliver as to_booking

    email = f"e2e.{uuid.uuid4().hex[:10]}@example.com"
    data = {
        "member_id": f"u-{email}",
        "email": email,
        "first_name": "Eve",
        "last_name": "Member",
        "tier": tier,
        "status": "active",
        "role": "member",
        "waiver_version": 1,
        "waiver_signed_at": "2026-01-01T00:00:00+00:00",
    }
    to_booking(apps["runtimes"]["booking"], "membership.member.created", data)
    from club_billing.handlers import HANDLERS
    from club_shared.events import make_event

    consumer = make_consumer(apps["runtimes"]["billing"], HANDLERS)
    event = make_event("membership.member.created", data, producer="membership")
    consumer.handle_batch([Delivery(Message(event.type, event.to_json(), str(event.event_id)), 0)])
    return email


def _book(apps, email, start: str, minutes: int, resource: int) -> dict:
    client, auth = apps["booking"], apps["auth"]
    body = {"resource_id": resource, "date": "2026-09-15", "start_time": start, "duration_minutes": minutes}
    made = client.post("/api/v1/booking-requests", json=body, headers=auth(email))
    assert made.status_code == 201, made.get_data(as_text=True)
    approved = client.post(
        f"/api/v1/booking-requests/{made.get_json()['id']}/approve", json={}, headers=auth(STAFF, "staff")
    )
    assert approved.status_code == 200, approved.get_data(as_text=True)
    apps["relay"].pump()
    return approved.get_json()


def _fees(apps, booking_id):
    response = apps["billing"].get(
        f"/api/v1/fees/booking-requests/{booking_id}", headers=apps["auth"](STAFF, "staff")
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_social_solo_priced_by_billing_blocks_check_in_until_paid_in_cash(apps):
    email = _member(apps, "social")
    booking = _book(apps, email, "10:00", 60, 1)
    fees = _fees(apps, booking["id"])
    assert fees["total_cents"] == 5000 and fees["roster_version"] == booking["roster_version"]
    client, auth = apps["booking"], apps["auth"]
    refused = client.post(
        f"/api/v1/booking-requests/{booking['id']}/check-in", json={}, headers=auth(STAFF, "staff")
    )
    assert refused.status_code == 402, refused.get_data(as_text=True)
    assert refused.get_json()["code"] == "OUTSTANDING_BALANCE"
    key = fees["participants"][0]["key"]
    paid = apps["billing"].post(
        f"/api/v1/payments/booking-requests/{booking['id']}/lines/{key}/cash",
        json={},
        headers=auth(STAFF, "staff"),
    )
    assert paid.status_code == 200, paid.get_data(as_text=True)
    apps["relay"].pump()
    checked = client.post(
        f"/api/v1/booking-requests/{booking['id']}/check-in", json={}, headers=auth(STAFF, "staff")
    )
    assert checked.status_code == 200, checked.get_data(as_text=True)
    assert checked.get_json()["status"] == "checked_in"


def test_example_4_cancelling_the_morning_booking_cascades_to_the_afternoon(apps):
    email = _member(apps, "core")
    morning = _book(apps, email, "09:00", 60, 2)
    afternoon = _book(apps, email, "14:00", 30, 2)
    assert _fees(apps, morning["id"])["total_cents"] == 0
    assert _fees(apps, afternoon["id"])["total_cents"] == 2500
    client, auth = apps["booking"], apps["auth"]
    cancelled = client.post(f"/api/v1/booking-requests/{morning['id']}/cancel", json={}, headers=auth(email))
    assert cancelled.status_code == 200, cancelled.get_data(as_text=True)
    apps["relay"].pump()
    after = _fees(apps, afternoon["id"])
    assert after["total_cents"] == 0 and after["fees_version"] >= 2
    # booking cached the cascade's lines: nothing owed at check-in
    checked = client.post(
        f"/api/v1/booking-requests/{afternoon['id']}/check-in", json={}, headers=auth(STAFF, "staff")
    )
    assert checked.status_code == 200, checked.get_data(as_text=True)
