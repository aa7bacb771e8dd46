"""What integrations does with booking's answers (booking.trackman_match.*): unmatched bookings for
staff, staff resolution, the 09:00 alert; retry, backfill and the log clean-up (domain.md §7,
acceptance examples 17 and 18)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fakes.trackman import TrackmanSender, v2_payload
from sqlalchemy import select

from club_integrations.jobs import make_jobs
from club_integrations.models import TrackmanUnmatchedBooking, TrackmanWebhookEvent

PT = ZoneInfo("America/Los_Angeles")
RESOLVED = "integrations.trackman.unmatched_resolved"


def tm_id() -> str:
    return str(uuid.uuid4().int % 10**9)


@pytest.fixture
def sender(client) -> TrackmanSender:
    return TrackmanSender(client.post, None)  # test env: no secret needed


def item_for(db, booking: str) -> TrackmanUnmatchedBooking | None:
    with db.transaction() as session:
        return session.scalar(
            select(TrackmanUnmatchedBooking).where(TrackmanUnmatchedBooking.trackman_booking_id == booking)
        )


def test_example_17_no_match_is_kept_for_staff_and_alerted_after_24_hours(
    runtime, client, sender, clock, deliver, outbox, db, auth
):
    """14:11 is 660 s from Ann's 14:00 request: booking finds no match and makes an unmatched
    session; integrations lists it for staff and alerts at 09:00 on 07-06 (first after 24 h)."""
    clock.set(datetime(2026, 7, 4, 9, 30, tzinfo=PT))
    booking = tm_id()
    response = sender.send(
        v2_payload(
            booking,
            "2026-07-04T14:11:00-07:00",
            "2026-07-04T15:11:00-07:00",
            bay=3,
            email="ann.golf@example.com",
        )
    )
    webhook_event_id = response.get_json()["event_id"]
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": booking,
            "reason": "no_match",
            "candidate_booking_ids": [],
            "booking_id": 5001,
            "session_id": 7001,
            "webhook_event_id": webhook_event_id,
        },
    )
    item = item_for(db, booking)
    assert item.status == "unresolved" and item.reason == "no_match"
    assert (item.resource_id, item.bay_ref, str(item.booking_date)) == (3, "3", "2026-07-04")
    assert (item.start_time.isoformat("minutes"), item.end_time.isoformat("minutes")) == ("14:11", "15:11")
    assert item.customer_email == "ann.golf@example.com"
    assert (item.booking_id, item.session_id) == (5001, 7001)
    # it was created "now" by the consumer; put it at the webhook's time for the alert's clock
    with db.transaction() as session:
        session.get(TrackmanUnmatchedBooking, item.id).created_at = clock.now

    listed = client.get("/api/v1/trackman/unmatched?date=2026-07-04", headers=auth())
    assert listed.status_code == 200
    assert booking in [i["trackman_booking_id"] for i in listed.get_json()]

    jobs = make_jobs(runtime, clock)

    def alert_at(when: datetime) -> list[dict]:
        clock.set(when)
        jobs.fire_due(when)
        while jobs.run_due():
            pass
        return [
            a
            for a in outbox("integrations.notification.requested", type="trackman_unmatched")
            if booking in a["message"] or "14:11" in a["message"]
        ]

    assert alert_at(datetime(2026, 7, 5, 9, 0, tzinfo=PT)) == []  # 23.5 h: not yet
    [alert] = alert_at(datetime(2026, 7, 6, 9, 0, tzinfo=PT))
    assert alert["audience"] == "staff"
    assert "2026-07-04 14:11 bay 3" in alert["message"]


def test_example_18_ambiguous_match_lists_both_candidates(sender, deliver, db, outbox):
    booking = tm_id()
    sender.send(v2_payload(booking, "2026-07-04T18:00:00-07:00", "2026-07-04T19:00:00-07:00", bay=2))
    [received] = outbox("integrations.trackman.booking_received", trackman_booking_id=booking)
    assert received["customer_email"] is None  # V2 without e-mail: booking matches by bay + time
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": booking,
            "reason": "ambiguous",
            "candidate_booking_ids": [301, 302],
            "webhook_event_id": received["webhook_event_id"],
        },
    )
    item = item_for(db, booking)
    assert item.reason == "ambiguous" and item.candidate_booking_ids == [301, 302]
    assert item.resource_id == 2 and item.customer_email is None


def test_a_match_is_noted_on_the_webhook_event_and_closes_an_open_item(sender, deliver, db, outbox):
    booking = tm_id()
    event_id = sender.send(
        v2_payload(booking, "2026-07-10T10:00:00-07:00", "2026-07-10T11:00:00-07:00", email="bo@example.com")
    ).get_json()["event_id"]
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": booking,
            "reason": "no_match",
            "candidate_booking_ids": [],
            "webhook_event_id": event_id,
        },
    )
    deliver(
        "booking.trackman_match.succeeded",
        {
            "trackman_booking_id": booking,
            "booking_id": 42,
            "session_id": 9,
            "member_email": "bo@example.com",
            "rule": "linked",
            "newly_linked": True,
            "webhook_event_id": event_id,
        },
    )
    with db.transaction() as session:
        row = session.get(TrackmanWebhookEvent, event_id)
        assert (row.matched_booking_id, row.matched_member_email, row.match_rule) == (
            42,
            "bo@example.com",
            "linked",
        )
    item = item_for(db, booking)
    assert item.status == "matched" and item.resolved_booking_id == 42


def test_a_trackman_cancellation_closes_the_unmatched_item(sender, deliver, db):
    booking = tm_id()
    event_id = sender.send(
        v2_payload(booking, "2026-07-11T10:00:00-07:00", "2026-07-11T11:00:00-07:00")
    ).get_json()["event_id"]
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": booking,
            "reason": "no_email",
            "candidate_booking_ids": [],
            "webhook_event_id": event_id,
        },
    )
    sender.send(
        v2_payload(booking, "2026-07-11T10:00:00-07:00", "2026-07-11T11:00:00-07:00", status="deleted")
    )
    assert item_for(db, booking).status == "cancelled"


def _unmatched(sender, deliver, email="ann.golf@example.com") -> str:
    booking = tm_id()
    event_id = sender.send(
        v2_payload(
            booking,
            "2026-07-12T10:00:00-07:00",
            "2026-07-12T11:00:00-07:00",
            bay=1,
            email=email,
            players={"adults": 2},
        )
    ).get_json()["event_id"]
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": booking,
            "reason": "no_match",
            "candidate_booking_ids": [],
            "booking_id": 888,
            "session_id": 999,
            "webhook_event_id": event_id,
        },
    )
    return booking


def test_staff_assign_a_member_by_email_and_remember_the_address(
    client, sender, deliver, db, auth, outbox, member
):
    ann = member(f"ann.{uuid.uuid4().hex[:6]}@example.com")
    stranger = f"golfer.{uuid.uuid4().hex[:6]}@example.com"
    booking = _unmatched(sender, deliver, email=stranger)
    item = item_for(db, booking)
    url = f"/api/v1/trackman/unmatched/{item.id}/resolve"

    unknown = client.post(url, json={"member_email": "nobody@example.com"}, headers=auth())
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "UNKNOWN_MEMBER"
    by_name = client.post(url, json={"member_name": "Ann Lee"}, headers=auth())
    assert by_name.status_code == 422  # by e-mail only, never by name
    assert item_for(db, booking).status == "unresolved"
    assert outbox(RESOLVED) == []

    body = {"member_email": ann["email"].upper(), "remember_email": True, "note": "regular"}
    resolved = client.post(url, json=body, headers=auth("desk@club.example"))
    assert resolved.status_code == 200, resolved.get_data(as_text=True)
    assert resolved.get_json()["status"] == "resolved"
    [event] = outbox(RESOLVED, trackman_booking_id=booking)
    assert event["resolution"] == "member"
    assert event["member_email"] == ann["email"] and event["member_id"] == ann["member_id"]
    assert event["customer_email"] == stranger and event["remember_email"] is True
    assert (event["booking_id"], event["session_id"]) == (888, 999)
    assert (event["date"], event["start_time"], event["player_count"]) == ("2026-07-12", "10:00", 2)
    assert event["resolved_by"] == "desk@club.example"
    [audited] = outbox(
        "integrations.audit.recorded", action="trackman_unmatched_resolved", resource_id=booking
    )
    assert audited["actor_email"] == "desk@club.example"

    # the same again is a no-op; something else is a conflict
    assert client.post(url, json=body, headers=auth()).status_code == 200
    assert len(outbox(RESOLVED, trackman_booking_id=booking)) == 1
    other = client.post(url, json={"resolution": "event"}, headers=auth())
    assert other.status_code == 409 and other.get_json()["code"] == "STATE_CONFLICT"


def test_a_linked_email_finds_the_member(client, sender, deliver, db, auth, outbox, member):
    golf = f"golf.{uuid.uuid4().hex[:6]}@example.com"
    ann = member(linked=[golf])
    booking = _unmatched(sender, deliver)
    item = item_for(db, booking)
    response = client.post(
        f"/api/v1/trackman/unmatched/{item.id}/resolve", json={"member_email": golf}, headers=auth()
    )
    assert response.status_code == 200
    [event] = outbox(RESOLVED, trackman_booking_id=booking)
    assert event["member_email"] == ann["email"]


def test_private_event_and_day_pass_resolutions(client, sender, deliver, db, auth, outbox):
    event_booking = _unmatched(sender, deliver)
    item = item_for(db, event_booking)
    response = client.post(
        f"/api/v1/trackman/unmatched/{item.id}/resolve", json={"resolution": "event"}, headers=auth()
    )
    assert response.status_code == 200 and response.get_json()["is_event"] is True
    [event] = outbox(RESOLVED, trackman_booking_id=event_booking)
    assert event["resolution"] == "event" and event["member_email"] is None

    pass_booking = _unmatched(sender, deliver)
    item = item_for(db, pass_booking)
    url = f"/api/v1/trackman/unmatched/{item.id}/resolve"
    assert client.post(url, json={"resolution": "day_pass"}, headers=auth()).status_code == 422
    assert (
        client.post(
            url, json={"resolution": "day_pass", "day_pass_purchase_id": 77}, headers=auth()
        ).status_code
        == 200
    )
    [event] = outbox(RESOLVED, trackman_booking_id=pass_booking)
    assert event["day_pass_purchase_id"] == 77


def test_members_may_not_see_or_resolve(client, auth):
    assert (
        client.get("/api/v1/trackman/unmatched", headers=auth("ann@example.com", "member")).status_code == 403
    )
    assert client.get("/api/v1/trackman/unmatched").status_code == 401


def test_retry_republishes_and_backfill_sends_the_unmatched_again(client, sender, clock, auth, outbox, db):
    booking = tm_id()
    event_id = sender.send(
        v2_payload(booking, "2026-07-13T10:00:00-07:00", "2026-07-13T11:00:00-07:00")
    ).get_json()["event_id"]
    retried = client.post(f"/api/v1/trackman/webhook-events/{event_id}/retry", headers=auth())
    assert retried.status_code == 200 and retried.get_json()["outcome"] == "republished"
    sources = [
        e["source"] for e in outbox("integrations.trackman.booking_received", trackman_booking_id=booking)
    ]
    assert sources == ["webhook", "retry"]
    assert client.post("/api/v1/trackman/webhook-events/999999999/retry", headers=auth()).status_code == 404

    since = (clock.now - timedelta(minutes=1)).isoformat()
    until = (clock.now + timedelta(minutes=1)).isoformat()
    done = client.post(
        "/api/v1/trackman/webhook-events/backfill", json={"since": since, "until": until}, headers=auth()
    )
    assert done.status_code == 200 and done.get_json()["count"] >= 1
    assert "backfill" in [
        e["source"] for e in outbox("integrations.trackman.booking_received", trackman_booking_id=booking)
    ]
    bad = client.post(
        "/api/v1/trackman/webhook-events/backfill", json={"since": until, "until": since}, headers=auth()
    )
    assert bad.status_code == 422

    listed = client.get(f"/api/v1/trackman/webhook-events?trackman_booking_id={booking}", headers=auth())
    assert [e["retry_count"] for e in listed.get_json()] == [2]


def test_bay_slots_for_a_date(client, sender, auth):
    booking = tm_id()
    sender.send(v2_payload(booking, "2031-01-02T10:00:00-08:00", "2031-01-02T11:30:00-08:00", bay=4))
    listed = client.get("/api/v1/trackman/bay-slots?date=2031-01-02", headers=auth())
    assert listed.status_code == 200
    [slot] = [s for s in listed.get_json() if s["trackman_booking_id"] == booking]
    assert (slot["resource_id"], slot["start_time"], slot["end_time"], slot["status"]) == (
        4,
        "10:00",
        "11:30",
        "booked",
    )
    assert client.get("/api/v1/trackman/bay-slots", headers=auth()).status_code == 422


def test_webhook_logs_older_than_30_days_are_deleted_at_04_00(runtime, sender, clock, db):
    booking = tm_id()
    clock.set(datetime(2026, 1, 1, 12, 0, tzinfo=PT))
    sender.send(v2_payload(booking, "2026-01-02T10:00:00-08:00", "2026-01-02T11:00:00-08:00"))
    jobs = make_jobs(runtime, clock)
    later = datetime(2026, 2, 5, 4, 0, tzinfo=PT)
    clock.set(later)
    jobs.fire_due(later)
    while jobs.run_due():
        pass
    with db.transaction() as session:
        assert (
            session.scalars(
                select(TrackmanWebhookEvent).where(TrackmanWebhookEvent.trackman_booking_id == booking)
            ).all()
            == []
        )
