"""Issue 7, done when, on `make stack`'s layout: membership, booking and notifications as gunicorn
web processes and workers from the generated Procfile, nginx from the generated config with its
production limits, in this run's own databases and bus namespace, and every request through nginx.

A member asks for a sign-in code, reads it at the e-mail fake (tests/fakes/email_provider.py, where
notifications' worker sends its e-mail), signs in, subscribes a browser of the push fake, books;
staff approve; then the member has the in-app notification, the push fake decrypted the push under
a valid VAPID token, and the e-mail fake got the approval — each once. The in-process version of
the same flow, with redelivered events, is tests/e2e/test_notifications_flow.py.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from club_shared.auth import Identity, sign_access_token
from club_shared.clubtime import zone
from club_shared.config import Settings
from club_shared.db import drop_database
from club_shared.testing.services import delete_bus_namespace
from club_shared.testing.stack import LocalStack, service_settings, stack_env

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

SERVICES = ("membership", "booking", "notifications")
SUBJECT = "mailto:tech@club.example.com"


def _until(predicate, what: str, timeout: float = 30.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)
    return result


@pytest.fixture(scope="module")
def fakes():
    from fakes.email_provider import FakeEmailProvider
    from fakes.webpush import FakePushService, vapid_key_pair

    provider, push = FakeEmailProvider().start(), FakePushService().start()
    yield provider, push, vapid_key_pair()
    push.stop()
    provider.stop()


@pytest.fixture(scope="module")
def stack(pg_url, amqp_url, run_id, keys, nginx_bin, fakes, tmp_path_factory):
    provider, _push, vapid = fakes
    namespace = f"club_t{run_id}_notify_stack"
    env = {
        **stack_env(pg_url, amqp_url, f"club_t{run_id}_nstack_", namespace, keys[1]),
        "JWT_PRIVATE_KEY": keys[0],
        "EMAIL_API_BASE": provider.url,
        "EMAIL_API_KEY": provider.api_key,
        "EMAIL_FROM": "Clubhouse <club@example.com>",
        "VAPID_PRIVATE_KEY": vapid[0],
        "VAPID_PUBLIC_KEY": vapid[1],
        "VAPID_SUBJECT": SUBJECT,
    }
    local = LocalStack(
        tmp_path_factory.mktemp("notifications-stack"),
        env,
        web=dict.fromkeys(SERVICES, 1),
        workers=SERVICES,
        nginx_bin=nginx_bin,
    )
    try:
        local.start()
        yield local
    finally:
        local.stop()
        for service in SERVICES:
            settings = service_settings(service, env)
            with contextlib.suppress(Exception):
                drop_database(settings.service_database_url)
            delete_bus_namespace(amqp_url, namespace, service, settings.bus_retry_delays_ms)


def _booking_knows(stack: LocalStack, member_id: str, waiver_signed: bool) -> bool:
    """Whether booking's worker has taken in the member (and the signature) from membership's events."""
    engine = create_engine(service_settings("booking", stack.env).service_database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT waiver_signed_at FROM member_profiles WHERE member_id = :id"), {"id": member_id}
            ).first()
    finally:
        engine.dispose()
    return row is not None and (not waiver_signed or row.waiver_signed_at is not None)


def _open_slots() -> list[tuple[str, str]]:
    # days the club is open (not Mondays), inside every tier's booking window
    today = datetime.now(zone(Settings.from_env("booking").club_timezone)).date()
    days = [today + timedelta(days=n) for n in range(2, 5) if (today + timedelta(days=n)).weekday() != 0]
    return [(d.isoformat(), f"{hour:02d}:00") for d in days for hour in range(11, 16)]


def test_sign_in_book_approve_reaches_every_channel_once_through_nginx(stack, fakes, keys):
    provider, push_service, vapid = fakes
    gateway = requests.Session()
    api = f"{stack.gateway}/api/v1"
    admin = {
        "Authorization": "Bearer "
        + sign_access_token(
            keys[0], "clubhouse", Identity("stack-admin", "stack-admin@club.example.com", "admin"), 900
        )
    }

    created = gateway.post(
        f"{api}/members",
        json={
            "email": f"stack.{uuid.uuid4().hex[:10]}@example.com",
            "first_name": "Noor",
            "last_name": "Member",
            "status": "active",
            "tier": "premium",
        },
        headers=admin,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    member = created.json()
    address = member["email"]

    # 1. sign in with the code the e-mail fake received from notifications' worker
    asked = gateway.post(f"{api}/auth/codes", json={"email": address}, timeout=10)
    assert asked.status_code == 202, asked.text
    code_mail = _until(
        lambda: [m for m in provider.sent_to(address) if "sign-in code" in m.body["subject"]],
        "the sign-in code e-mail",
    )
    [code] = re.findall(r"\b(\d{6})\b", code_mail[0].body["subject"])
    signed = gateway.post(f"{api}/auth/sessions", json={"email": address, "code": code}, timeout=10)
    assert signed.status_code == 201, signed.text
    me = {"Authorization": f"Bearer {signed.json()['access_token']}"}

    # 2. a browser subscribes to push with the club's application server key
    browser = push_service.subscribe(vapid[1])
    subscribed = gateway.post(f"{api}/push-subscriptions", json=browser, headers=me, timeout=10)
    assert subscribed.status_code in (200, 201), subscribed.text

    # 3. book (after the waiver, if the club asks for one, once booking has heard of it)
    waiver = gateway.get(f"{api}/me/waiver", headers=me, timeout=10).json()
    if waiver.get("needs_signature"):
        signing = gateway.post(
            f"{api}/me/waiver", json={"version": waiver["current_version"]}, headers=me, timeout=10
        )
        assert signing.status_code == 200, signing.text
    _until(
        lambda: _booking_knows(stack, member["id"], bool(waiver.get("needs_signature"))),
        "booking hears of the member",
    )
    for day, start in _open_slots():
        made = gateway.post(
            f"{api}/booking-requests",
            json={"resource_id": 1, "date": day, "start_time": start, "duration_minutes": 60},
            headers=me,
            timeout=10,
        )
        if made.status_code == 201:
            break
    assert made.status_code == 201, made.text
    booking_id = made.json()["id"]

    # 4. staff approve
    approved = gateway.post(
        f"{api}/booking-requests/{booking_id}/approve", json={}, headers=admin, timeout=10
    )
    assert approved.status_code == 200, approved.text

    # the push, decrypted by the fake (RFC 8291) under a valid VAPID token (RFC 8292)
    [pushed] = push_service.wait_for(lambda s: s.messages_for(browser["endpoint"]) or None, timeout=30)
    assert (pushed.json["type"], pushed.json["tag"], pushed.json["url"]) == (
        "booking_approved",
        f"booking-{booking_id}",
        f"/bookings/{booking_id}",
    )
    assert pushed.claims["sub"] == SUBJECT and pushed.claims["aud"] == push_service.url

    def approval_mails():
        return [m for m in provider.sent_to(address) if m.body["subject"].startswith("Booking approved")]

    _until(approval_mails, "the approval e-mail")

    def in_app():
        listed = gateway.get(f"{api}/notifications", headers=me, timeout=10)
        assert listed.status_code == 200, listed.text
        return [n for n in listed.json() if n["type"] == "booking_approved"]

    _until(in_app, "the in-app notification", every=0.5)

    # a second copy would come from the same consumers within moments: give it the time to
    time.sleep(2)
    [notification] = in_app()
    assert notification["related_id"] == booking_id
    assert len(push_service.messages_for(browser["endpoint"])) == 1
    [mail] = approval_mails()
    assert mail.body.get("text") and mail.body.get("html")
    assert not [refused for refused in push_service.refused if refused[0] in browser["endpoint"]]
    subjects = [m.body["subject"] for m in provider.sent_to(address)]
    assert len([s for s in subjects if "sign-in code" in s]) == 1, subjects
    # what a developer on `make stack` reads in a browser
    inbox = requests.get(f"{provider.url}/inbox", timeout=10).json()
    assert [m["id"] for m in inbox if address in m["to"] and m["subject"].startswith("Booking approved")] == [
        mail.id
    ], inbox
