"""Web push: subscriptions (one per endpoint), delivery with VAPID through pywebpush to a push service
that decrypts the payload and checks the token, 404/410 delete, 429 backs off, failures never
touch the in-app notification."""

from __future__ import annotations

import time
from datetime import timedelta

from notifications_support import jobs_for
from sqlalchemy import func, select

from club_notifications import notify
from club_notifications.channels import PushChannel
from club_notifications.domain import messages, push
from club_notifications.models import Notification, PushSubscription
from club_shared.config import Settings


def _subscribe(client, auth, email, subscription):
    response = client.post("/api/v1/push-subscriptions", json=subscription, headers=auth(email))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _approved(db, email, booking_id=7):
    with db.transaction() as session:
        return notify.notify_member(
            session, email, messages.booking_approved(booking_id, "Bay 3", "2031-06-12", "18:00")
        )


def test_config_tells_browsers_the_vapid_key(client, live_client, vapid):
    assert client.get("/api/v1/push-subscriptions/config").get_json() == {
        "enabled": False,
        "public_key": None,
    }
    assert live_client.get("/api/v1/push-subscriptions/config").get_json() == {
        "enabled": True,
        "public_key": vapid[1],
    }


def test_subscribe_is_one_row_per_endpoint(live_client, live_runtime, auth, email, push_service, vapid):
    browser = push_service.subscribe(vapid[1])
    first = _subscribe(live_client, auth, email, browser)
    again = _subscribe(live_client, auth, email, browser)
    assert again["id"] == first["id"]
    other = "bo." + email  # someone else signs in on the same browser: the endpoint moves to them
    moved = _subscribe(live_client, auth, other, {**browser, "expirationTime": None})
    assert moved["id"] == first["id"]
    assert live_client.get("/api/v1/push-subscriptions", headers=auth(email)).get_json() == []
    assert [
        s["id"] for s in live_client.get("/api/v1/push-subscriptions", headers=auth(other)).get_json()
    ] == [first["id"]]
    assert (
        live_client.delete(f"/api/v1/push-subscriptions/{first['id']}", headers=auth(email)).status_code
        == 404
    )
    assert (
        live_client.delete(f"/api/v1/push-subscriptions/{first['id']}", headers=auth(other)).status_code
        == 204
    )
    with live_runtime.db.transaction() as session:
        assert session.get(PushSubscription, first["id"]) is None


def test_unsubscribe_by_endpoint(live_client, auth, email, push_service, vapid):
    browser = push_service.subscribe(vapid[1])
    _subscribe(live_client, auth, email, browser)
    body = {"endpoint": browser["endpoint"]}
    assert (
        live_client.post("/api/v1/push-subscriptions/unsubscribe", json=body, headers=auth(email)).status_code
        == 204
    )
    assert (
        live_client.post("/api/v1/push-subscriptions/unsubscribe", json=body, headers=auth(email)).status_code
        == 204
    )
    assert live_client.get("/api/v1/push-subscriptions", headers=auth(email)).get_json() == []


def test_bad_subscriptions_are_refused_and_change_nothing(live_client, auth, email, push_service, vapid):
    good = push_service.subscribe(vapid[1])
    for bad in (
        {**good, "endpoint": "not a url"},
        {**good, "endpoint": "ftp://push.example.com/x"},
        {**good, "keys": {"p256dh": "short", "auth": good["keys"]["auth"]}},
        {**good, "keys": {"p256dh": good["keys"]["p256dh"]}},
        {**good, "keys": {**good["keys"], "auth": "not base64!!!!!!!!!"}},
        {"endpoint": good["endpoint"]},
        {**good, "extra": 1},
    ):
        response = live_client.post("/api/v1/push-subscriptions", json=bad, headers=auth(email))
        assert response.status_code == 422, bad
    assert live_client.get("/api/v1/push-subscriptions", headers=auth(email)).get_json() == []


def test_only_https_endpoints_in_production():
    production = PushChannel(Settings(service="notifications"))
    assert production.endpoint_allowed("https://fcm.googleapis.com/fcm/send/abc")
    assert not production.endpoint_allowed("http://10.0.0.1/push/abc")
    assert not production.endpoint_allowed("file:///etc/passwd")
    assert PushChannel(Settings(service="notifications", env="test")).endpoint_allowed("http://127.0.0.1:9/x")


def test_a_notification_is_pushed_encrypted_with_tag_and_deep_link(
    live_client, live_runtime, auth, email, push_service, vapid, jobs
):
    browsers = [push_service.subscribe(vapid[1]) for _ in range(2)]
    for browser in browsers:
        _subscribe(live_client, auth, email, browser)
    notification = _approved(live_runtime.db, email)
    jobs.drain()
    for browser in browsers:
        [received] = push_service.messages_for(browser["endpoint"])
        assert received.json == {
            "title": "Booking approved",
            "body": notification.message,
            "tag": "booking-7",
            "url": "/bookings/7",
            "type": "booking_approved",
            "notification_id": notification.id,
        }
        assert received.claims["sub"] == "mailto:tech@club.example.com"
        assert received.claims["aud"] == push_service.url
        assert 11 * 3600 < received.claims["exp"] - time.time() <= 12 * 3600
        assert int(received.headers["Ttl"]) > 0
    # One VAPID token per push service, reused until near its expiry (RFC 8292 allows it).
    tokens = {push_service.messages_for(b["endpoint"])[0].headers["Authorization"] for b in browsers}
    assert len(tokens) == 1
    with live_runtime.db.transaction() as session:
        used = session.scalars(
            select(PushSubscription.last_used_at).where(PushSubscription.user_email == email)
        ).all()
    assert all(used)


def test_gone_subscriptions_are_deleted(live_client, live_runtime, auth, email, push_service, vapid, jobs):
    gone, not_found, fine = (push_service.subscribe(vapid[1]) for _ in range(3))
    ids = {}
    for name, browser in (("gone", gone), ("not_found", not_found), ("fine", fine)):
        ids[name] = _subscribe(live_client, auth, email, browser)["id"]
    push_service.expire(gone["endpoint"])
    push_service.answer_next(not_found["endpoint"], 404)
    notification = _approved(live_runtime.db, email)
    jobs.drain()
    with live_runtime.db.transaction() as session:
        assert session.get(PushSubscription, ids["gone"]) is None
        assert session.get(PushSubscription, ids["not_found"]) is None
        assert session.get(PushSubscription, ids["fine"]) is not None
        assert session.get(Notification, notification.id) is not None  # the in-app row stays
    assert len(push_service.messages_for(fine["endpoint"])) == 1


def test_429_backs_off_as_asked_and_500_retries_later(
    live_client, live_runtime, auth, email, push_service, vapid, jobs
):
    busy, broken = push_service.subscribe(vapid[1]), push_service.subscribe(vapid[1])
    busy_id = _subscribe(live_client, auth, email, busy)["id"]
    broken_id = _subscribe(live_client, auth, email, broken)["id"]
    push_service.answer_next(busy["endpoint"], 429, {"Retry-After": "120"})
    push_service.answer_next(broken["endpoint"], 503)
    notification = _approved(live_runtime.db, email)
    jobs.drain()
    assert push_service.messages_for(busy["endpoint"]) == []
    [busy_retry] = jobs_for(live_runtime.db, "push_one", subscription_id=busy_id)
    [broken_retry] = jobs_for(live_runtime.db, "push_one", subscription_id=broken_id)
    with live_runtime.db.transaction() as session:
        now = session.scalar(select(func.now()))
        assert session.get(PushSubscription, busy_id) is not None  # kept: it is busy, not gone
        assert session.get(Notification, notification.id).is_read is False
    assert timedelta(seconds=110) < busy_retry.run_at - now <= timedelta(seconds=121)
    assert timedelta(seconds=20) < broken_retry.run_at - now < timedelta(seconds=40)
    assert busy_retry.status == "pending" and busy_retry.payload["attempt"] == 1

    # when the time comes, the retry goes through
    from club_notifications.models import JOBS

    with live_runtime.db.transaction() as session:
        session.execute(
            JOBS.job_queue.update()
            .where(JOBS.job_queue.c.id.in_([busy_retry.id, broken_retry.id]))
            .values(scheduled_for=func.now())
        )
    jobs.drain()
    assert len(push_service.messages_for(busy["endpoint"])) == 1
    assert len(push_service.messages_for(broken["endpoint"])) == 1


def test_push_off_keeps_the_in_app_notification(runtime, client, auth, email, push_service, vapid):
    """Without VAPID keys the service runs, says push is off, and the job does nothing."""
    from club_notifications.jobs import make_jobs

    browser = push_service.subscribe(vapid[1])
    _subscribe(client, auth, email, browser)
    notification = _approved(runtime.db, email)
    [job] = jobs_for(runtime.db, "push", notification_id=notification.id)
    with runtime.db.transaction() as session:
        make_jobs(runtime).jobs["push"](session, job.payload)
        assert session.get(Notification, notification.id) is not None
    assert push_service.messages_for(browser["endpoint"]) == []


def test_payloads_stay_under_3_kb_and_keep_tag_and_link():
    message = push.for_notification(
        notification_id=1,
        type="announcement",
        title="T" * 500,
        message="é" * 5000,
        related_type="booking",
        related_id=42,
        link=None,
    )
    raw = push.encode(message)
    assert len(raw) <= push.MAX_PAYLOAD_BYTES
    import json

    doc = json.loads(raw)
    assert doc["tag"] == "booking-42" and doc["url"] == "/bookings/42" and doc["body"].endswith("…")
    assert push.tag_for(None, None, 9) == "notification-9"
    assert push.deep_link("/events/3", "booking", 1) == "/events/3"
