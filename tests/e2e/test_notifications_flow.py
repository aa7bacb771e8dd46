"""Issue 7, done when: a member signs in with the code the fake e-mail provider received, subscribes a
browser to push, books, staff approve, and the member has the in-app notification, the push reached
the fake push service (decrypted, VAPID checked) and the e-mail the fake provider — each exactly once,
even when the relay sends the approval and the welcome a second time (at-least-once delivery).

The whole suite runs in one process on RabbitMQ with every worker on its threads, as `make stack`
runs it across processes."""

from __future__ import annotations

import re
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from werkzeug.test import Client

from club_shared.auth import Identity, sign_access_token
from club_shared.config import SERVICES
from club_shared.testing.bus import latest_outbox_event, wait_for_handled
from club_suite.suite import start_suite

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

IP = {"REMOTE_ADDR": "203.0.113.41"}


@pytest.fixture(scope="module")
def fakes():
    from fakes.email_provider import FakeEmailProvider
    from fakes.webpush import FakePushService, vapid_key_pair

    provider, push = FakeEmailProvider().start(), FakePushService().start()
    yield provider, push, vapid_key_pair()
    push.stop()
    provider.stop()


@pytest.fixture(scope="module")
def suite(settings_for, migrated, amqp_url, fakes):
    provider, _push, vapid = fakes
    notifications = {
        "email_api_base": provider.url,
        "email_api_key": provider.api_key,
        "email_from": "Clubhouse <club@example.com>",
        "vapid_private_key": vapid[0],
        "vapid_public_key": vapid[1],
        "vapid_subject": "mailto:tech@club.example.com",
        "app_base_url": "https://app.club.example.com",
    }
    for service in SERVICES:
        migrated(service)
    running = start_suite(
        {
            s: settings_for(
                s,
                amqp_url=amqp_url,
                bus_namespace=settings_for(s).bus_namespace + ".notify-e2e",
                **(notifications if s == "notifications" else {}),
            )
            for s in SERVICES
        }
    )
    yield running
    running.shutdown()


def _until(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)
    return result


def _send_again(runtime, row) -> None:
    """The relay forgets it sent the row (as after a crash between publishing and marking it sent),
    so the broker carries the same event a second time."""
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        session.execute(update(outbox).where(outbox.c.id == row.id).values(sent_at=None))

    def resent():
        with runtime.db.transaction() as session:
            return session.execute(outbox.select().where(outbox.c.id == row.id)).one().sent_at is not None

    _until(resent)


def test_sign_in_book_approve_reaches_every_channel_once(suite, fakes, keys):
    provider, push_service, vapid = fakes
    client = Client(suite.app)
    admin = {
        "Authorization": "Bearer "
        + sign_access_token(
            keys[0], "clubhouse", Identity("e2e-admin", "e2e-admin@club.example.com", "admin"), 900
        )
    }

    def new_member(first_name: str) -> dict:
        created = client.post(
            "/api/v1/members",
            json={
                "email": f"e2e.{uuid.uuid4().hex[:10]}@example.com",
                "first_name": first_name,
                "last_name": "Member",
                "status": "active",
                "tier": "premium",
            },
            headers=admin,
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        member = created.get_json()
        row = latest_outbox_event(
            suite.runtimes["membership"], "membership.member.created", member_id=member["id"]
        )
        for consumer in ("booking", "billing", "notifications"):
            wait_for_handled(suite.runtimes[consumer], consumer, row.event_id, timeout=30)
        return member

    member = new_member("Nia")
    address = member["email"]

    # 1. sign in with the code the e-mail carried
    assert client.post("/api/v1/auth/codes", json={"email": address}, environ_base=IP).status_code == 202
    code_mail = _until(lambda: [m for m in provider.sent_to(address) if "sign-in code" in m.body["subject"]])
    [code] = re.findall(r"\b(\d{6})\b", code_mail[0].body["subject"])
    signed = client.post("/api/v1/auth/sessions", json={"email": address, "code": code}, environ_base=IP)
    assert signed.status_code == 201, signed.get_data(as_text=True)
    me = {"Authorization": f"Bearer {signed.get_json()['access_token']}"}

    # 2. a browser subscribes to push
    browser = push_service.subscribe(vapid[1])
    subscribed = client.post("/api/v1/push-subscriptions", json=browser, headers=me)
    assert subscribed.status_code in (200, 201), subscribed.get_data(as_text=True)

    # 3. sign the waiver, and book; staff approve. The run's databases are shared with every other
    # test, so a waiver is published here: membership and booking then agree on the current version
    # whatever earlier tests left behind.
    published = client.post(
        "/api/v1/content/waiver", json={"title": "Liability waiver", "body": "Play safely."}, headers=admin
    )
    assert published.status_code == 201, published.get_data(as_text=True)
    version = published.get_json()["version"]
    row = latest_outbox_event(
        suite.runtimes["membership"], "membership.setting.updated", key="waiver.current_version"
    )
    assert row.envelope["data"]["value"] == version
    wait_for_handled(suite.runtimes["booking"], "booking", row.event_id, timeout=30)
    signed_waiver = client.post("/api/v1/me/waiver", headers=me, json={"version": version})
    assert signed_waiver.status_code == 200, signed_waiver.get_data(as_text=True)
    row = latest_outbox_event(
        suite.runtimes["membership"], "membership.member.updated", member_id=member["id"]
    )
    wait_for_handled(suite.runtimes["booking"], "booking", row.event_id, timeout=30)
    day = (datetime.now(ZoneInfo("America/Los_Angeles")) + timedelta(days=2)).date().isoformat()
    for start in ("11:00", "12:00", "13:00", "14:00", "15:00"):
        made = client.post(
            "/api/v1/booking-requests",
            headers=me,
            json={"resource_id": 1, "date": day, "start_time": start, "duration_minutes": 60},
        )
        if made.status_code == 201:
            break
    assert made.status_code == 201, made.get_data(as_text=True)
    booking_id = made.get_json()["id"]
    approved = client.post(f"/api/v1/booking-requests/{booking_id}/approve", json={}, headers=admin)
    assert approved.status_code == 200, approved.get_data(as_text=True)
    approval = latest_outbox_event(
        suite.runtimes["booking"], "booking.request.approved", booking_id=booking_id
    )
    wait_for_handled(suite.runtimes["notifications"], "notifications", approval.event_id, timeout=30)

    # 4. the approval and the welcome travel a second time (the sign-in code cannot: membership drops
    # it from its outbox once sent); a later event marks when notifications has worked past both
    _send_again(suite.runtimes["booking"], approval)
    _send_again(
        suite.runtimes["membership"],
        latest_outbox_event(
            suite.runtimes["membership"], "membership.member.created", member_id=member["id"]
        ),
    )
    new_member("Marker")

    # in-app: the approval once, linked to the booking
    listed = client.get("/api/v1/notifications", headers=me)
    assert listed.status_code == 200
    approvals = [n for n in listed.get_json() if n["type"] == "booking_approved"]
    assert len(approvals) == 1 and approvals[0]["related_id"] == booking_id, listed.get_json()

    # push: decrypted by the fake (RFC 8291) under a valid VAPID token, once
    [pushed] = push_service.wait_for(lambda s: s.messages_for(browser["endpoint"]) or None, timeout=30)
    assert (pushed.json["type"], pushed.json["tag"], pushed.json["url"]) == (
        "booking_approved",
        f"booking-{booking_id}",
        f"/bookings/{booking_id}",
    )
    assert pushed.claims["sub"] == "mailto:tech@club.example.com"

    # e-mail: the welcome, the sign-in code and the approval, once each
    from club_notifications.models import CommunicationLog

    with suite.runtimes["notifications"].db.transaction() as session:
        logged = session.scalars(
            select(CommunicationLog.template).where(CommunicationLog.member_email == address)
        ).all()
    assert sorted(logged) == ["booking_approved", "signin_code", "welcome"], logged
    _until(lambda: len(provider.sent_to(address)) >= len(logged))
    subjects = [m.body["subject"] for m in provider.sent_to(address)]
    assert len([s for s in subjects if s.startswith("Booking approved")]) == 1, subjects
    assert len([s for s in subjects if "sign-in code" in s]) == 1, subjects
    assert len([s for s in subjects if s.startswith("Welcome")]) == 1, subjects
    assert len([n for n in listed.get_json() if n["type"] == "new_member"]) == 1
    assert len(push_service.messages_for(browser["endpoint"])) == 1
