"""One member reading or changing another's data (issue 10 item 5), through the gateway: member B's
real data is made through the APIs (profile, sign-in session, booking and its fees, welcome
notification, push subscription, data export), then member A tries every route that names it: 404
(or 403 where the service documents a refusal), and B's data is as it was."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from club_shared.testing.bus import latest_outbox_event, wait_for_handled


def _delivered(suite, service: str, event_type: str, consumers: tuple[str, ...], **match):
    row = latest_outbox_event(suite.runtimes[service], event_type, **match)
    for consumer in consumers:
        wait_for_handled(suite.runtimes[consumer], consumer, row.event_id, timeout=20)
    return row


@pytest.fixture(scope="module")
def two_members(suite, client, make_member, admin_headers):
    a, a_headers = make_member("Ann", "Intruder", status="active", tier="premium")
    b, b_headers = make_member("Bo", "Victim", status="active", tier="premium")
    for member in (a, b):
        _delivered(
            suite,
            "membership",
            "membership.member.created",
            ("booking", "billing", "notifications"),
            member_id=member["id"],
        )
    return (a, a_headers), (b, b_headers)


@pytest.fixture(scope="module")
def b_data(suite, client, two_members, admin_headers):
    (_, _), (b, b_headers) = two_members
    data: dict = {"member": b}
    # a sign-in session of B's (the code from membership's outbox, as the e-mail would carry it)
    ip = {"REMOTE_ADDR": "203.0.113.77"}
    assert client.post("/api/v1/auth/codes", json={"email": b["email"]}, environ_base=ip).status_code == 202
    code = latest_outbox_event(
        suite.runtimes["membership"], "membership.signin.code_issued", email=b["email"]
    ).envelope["data"]["code"]
    signed = client.post("/api/v1/auth/sessions", json={"email": b["email"], "code": code}, environ_base=ip)
    assert signed.status_code == 201, signed.get_data(as_text=True)
    data["refresh_token"] = signed.get_json()["refresh_token"]
    b_headers = {"Authorization": f"Bearer {signed.get_json()['access_token']}"}
    data["headers"] = b_headers
    sessions = client.get("/api/v1/auth/sessions", headers=b_headers).get_json()
    data["sid"] = (sessions[0] if isinstance(sessions, list) else sessions["sessions"][0])["id"]
    # the waiver, then a booking (approved, so billing prices it)
    waiver = client.get("/api/v1/me/waiver", headers=b_headers).get_json()
    if waiver.get("needs_signature"):
        signed_waiver = client.post(
            "/api/v1/me/waiver", headers=b_headers, json={"version": waiver["current_version"]}
        )
        assert signed_waiver.status_code == 200, signed_waiver.get_data(as_text=True)
        _delivered(suite, "membership", "membership.member.updated", ("booking",), member_id=b["id"])
    day = (datetime.now(ZoneInfo("America/Los_Angeles")) + timedelta(days=2)).date().isoformat()
    made = None
    for start in ("12:00", "13:00", "14:00", "15:00", "16:00"):
        made = client.post(
            "/api/v1/booking-requests",
            headers=b_headers,
            json={"resource_id": 1, "date": day, "start_time": start, "duration_minutes": 60},
        )
        if made.status_code == 201:
            break
    assert made.status_code == 201, made.get_data(as_text=True)
    booking = made.get_json()
    approved = client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve", json={}, headers=admin_headers
    )
    assert approved.status_code == 200, approved.get_data(as_text=True)
    data["booking"] = approved.get_json()
    # the welcome notification, through the bus
    notices = client.get("/api/v1/notifications", headers=b_headers).get_json()
    assert notices, "B has no welcome notification"
    data["notification"] = notices[0]
    # a push subscription
    endpoint = f"https://push.example.com/send/{uuid.uuid4().hex}"
    subscription = {
        "endpoint": endpoint,
        "keys": {
            "p256dh": base64.urlsafe_b64encode(b"\x04" + os.urandom(64)).decode().rstrip("="),
            "auth": base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="),
        },
    }
    subscribed = client.post("/api/v1/push-subscriptions", json=subscription, headers=b_headers)
    assert subscribed.status_code in (200, 201), subscribed.get_data(as_text=True)
    data["push"] = client.get("/api/v1/push-subscriptions", headers=b_headers).get_json()[0]
    # an RSVP to a club event
    event = client.post(
        "/api/v1/events",
        headers=admin_headers,
        json={
            "title": "Member mixer",
            "date": day,
            "start_time": "18:00",
            "end_time": "20:00",
            "visibility": "members",
            "requires_rsvp": True,
            "max_capacity": 50,
        },
    )
    assert event.status_code == 201, event.get_data(as_text=True)
    data["event"] = event.get_json()
    rsvp = client.post(
        f"/api/v1/events/{data['event']['id']}/rsvp", json={"guest_count": 1}, headers=b_headers
    )
    assert rsvp.status_code == 201, rsvp.get_data(as_text=True)
    data["rsvp"] = rsvp.get_json()
    # a calendar feed (its token is shown once)
    feed = client.post("/api/v1/events/feeds", headers=b_headers)
    assert feed.status_code == 201, feed.get_data(as_text=True)
    data["feed"] = feed.get_json()
    # a data export
    export = client.post("/api/v1/account/exports", headers=b_headers)
    assert export.status_code == 202, export.get_data(as_text=True)
    data["export"] = export.get_json()
    return data


def test_member_a_cannot_read_or_change_member_bs_data(suite, client, two_members, b_data):
    (a, a_headers), (b, _) = two_members
    booking, notification, push, export = (
        b_data["booking"],
        b_data["notification"],
        b_data["push"],
        b_data["export"],
    )
    attempts = [
        ("GET", f"/api/v1/members/{b['id']}", None),
        ("PATCH", f"/api/v1/members/{b['id']}", {"first_name": "Pwned"}),
        ("GET", f"/api/v1/members/{b['id']}/linked-emails", None),
        ("DELETE", f"/api/v1/auth/sessions/{b_data['sid']}", None),
        ("GET", f"/api/v1/booking-requests/{booking['id']}", None),
        ("POST", f"/api/v1/booking-requests/{booking['id']}/cancel", {}),
        ("PUT", f"/api/v1/booking-requests/{booking['id']}/participants", {"participants": []}),
        ("GET", f"/api/v1/fees/booking-requests/{booking['id']}", None),
        ("POST", f"/api/v1/payments/booking-requests/{booking['id']}/pay", {}),
        ("POST", f"/api/v1/notifications/{notification['id']}/read", {}),
        ("DELETE", f"/api/v1/push-subscriptions/{push['id']}", None),
        ("GET", f"/api/v1/account/exports/{export['id']}", None),
        ("GET", f"/api/v1/account/exports/{export['id']}/download", None),
        # on B's behalf: only staff may name another member
        ("POST", f"/api/v1/events/{b_data['event']['id']}/rsvp/cancel", {"member_email": b["email"]}),
        (
            "POST",
            f"/api/v1/events/{b_data['event']['id']}/rsvp",
            {"guest_count": 5, "member_email": b["email"]},
        ),
        ("GET", f"/api/v1/events/{b_data['event']['id']}/rsvps", None),
        ("POST", f"/api/v1/events/feeds/{b_data['feed']['id']}/revoke", None),
        ("GET", f"/api/v1/events/feed/{uuid.uuid4().hex}.ics", None),  # a guessed token
    ]
    leaks = []
    for method, path, body in attempts:
        response = client.open(path, method=method, json=body, headers=a_headers)
        if response.status_code not in (403, 404) or response.mimetype != "application/problem+json":
            leaks.append(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:200]}")
    assert not leaks, "\n".join(leaks)
    # asking for B by e-mail where staff may: refused, or A's own answer — never B's
    balance = client.get("/api/v1/billing/balance", query_string={"email": b["email"]}, headers=a_headers)
    assert balance.status_code in (403, 404) or balance.get_json().get("email") == a["email"], (
        balance.get_data(as_text=True)
    )
    # A's lists hold nothing of B's
    for path in (
        "/api/v1/booking-requests",
        "/api/v1/notifications",
        "/api/v1/push-subscriptions",
        "/api/v1/account/exports",
        "/api/v1/auth/sessions",
        "/api/v1/events/feeds",
        "/api/v1/invoices",
        "/api/v1/billing/payments",
    ):
        listed = client.get(path, headers=a_headers)
        assert listed.status_code == 200, (path, listed.get_data(as_text=True)[:200])
        text_ = listed.get_data(as_text=True)
        assert b["email"] not in text_ and b_data["sid"] not in text_ and push["endpoint"] not in text_, path


def test_bs_data_is_as_it_was(suite, client, two_members, b_data):
    (_, _), (b, _) = two_members
    headers = b_data["headers"]
    assert client.get("/api/v1/me", headers=headers).get_json()["first_name"] == "Bo"
    booking = client.get(f"/api/v1/booking-requests/{b_data['booking']['id']}", headers=headers).get_json()
    assert booking["status"] == b_data["booking"]["status"]
    [notice] = [
        n
        for n in client.get("/api/v1/notifications", headers=headers).get_json()
        if n["id"] == b_data["notification"]["id"]
    ]
    assert notice.get("is_read", notice.get("read")) == b_data["notification"].get(
        "is_read", b_data["notification"].get("read")
    )
    assert [p["id"] for p in client.get("/api/v1/push-subscriptions", headers=headers).get_json()] == [
        b_data["push"]["id"]
    ]
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": b_data["refresh_token"]}).status_code
        == 200
    )
    # B's calendar feed still works
    feed = client.get(f"/api/v1/events/feed/{b_data['feed']['token']}.ics")
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.get_data(as_text=True)
    # B's RSVP stands as B made it (re-sending it is the documented no-op)
    again = client.post(
        f"/api/v1/events/{b_data['event']['id']}/rsvp", json={"guest_count": 1}, headers=headers
    )
    assert again.status_code == 200, again.get_data(as_text=True)
