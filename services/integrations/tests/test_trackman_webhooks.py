"""TrackMan webhooks (domain.md §7, acceptance examples 17 and 18): signature, both payload
versions, club time, redaction, dedupe, the events booking matches, the bay-slot cache."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fakes.trackman import TrackmanSender, v1_payload, v2_payload
from sqlalchemy import select

from club_integrations.models import TrackmanBaySlot, TrackmanWebhookDedup, TrackmanWebhookEvent

SECRET = "tm-secret-for-tests"
RECEIVED = "integrations.trackman.booking_received"
CANCELLED = "integrations.trackman.booking_cancelled"


def tm_id() -> str:
    return str(uuid.uuid4().int % 10**9)


@pytest.fixture
def signed_app(make_app):
    return make_app(trackman_webhook_secret=SECRET)


@pytest.fixture
def sender(signed_app) -> TrackmanSender:
    return TrackmanSender(signed_app.test_client().post, SECRET)


def stored(db, **where) -> list[TrackmanWebhookEvent]:
    with db.transaction() as session:
        statement = select(TrackmanWebhookEvent).order_by(TrackmanWebhookEvent.id)
        for key, value in where.items():
            statement = statement.where(getattr(TrackmanWebhookEvent, key) == value)
        return session.scalars(statement).all()


def slots(db, booking_id: str) -> list[TrackmanBaySlot]:
    with db.transaction() as session:
        return session.scalars(
            select(TrackmanBaySlot)
            .where(TrackmanBaySlot.trackman_booking_id == booking_id)
            .order_by(TrackmanBaySlot.id)
        ).all()


# --- signature ---------------------------------------------------------------------------------------


def test_a_signed_event_is_accepted_and_a_bad_or_missing_signature_refused(sender, db, outbox):
    booking = tm_id()
    payload = v2_payload(booking, "2026-07-04T14:00:00-07:00", "2026-07-04T15:00:00-07:00", bay=1)
    missing = sender.send(payload, sign=False)
    assert missing.status_code == 401
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json()["code"] == "INVALID_SIGNATURE"
    wrong = sender.send(payload, signature="0" * 64)
    assert wrong.status_code == 401
    assert stored(db, trackman_booking_id=booking) == []
    assert outbox(RECEIVED, trackman_booking_id=booking) == []

    ok = sender.send(payload)
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json()["status"] == "stored"
    # `sha256=<hex>` is accepted too
    moved = v2_payload(booking, "2026-07-04T14:30:00-07:00", "2026-07-04T15:30:00-07:00", bay=1)
    body = json.dumps(moved).encode()
    assert sender.send(None, raw=body, signature="sha256=" + sender.signature(body)).status_code == 200


def test_without_a_secret_the_webhook_is_off_in_production(make_app):
    app = make_app(env="production", trackman_webhook_secret=None)
    response = TrackmanSender(app.test_client().post, None).send(
        v2_payload(tm_id(), "2026-07-04T14:00:00Z", "2026-07-04T15:00:00Z")
    )
    assert response.status_code == 503
    assert response.get_json()["code"] == "TRACKMAN_DISABLED"


def test_bad_bodies_never_500_and_store_nothing(sender, db):
    before = len(stored(db))
    for raw in (b"not json", b"{", b"[" * 5000):
        response = sender.send(None, raw=raw)
        assert response.status_code == 400, raw[:10]
    assert len(stored(db)) == before


# --- versions, club time, redaction -----------------------------------------------------------------------


def test_example_17_v2_event_becomes_a_booking_received_in_club_time(sender, db, outbox):
    """Webhook booking.created for ann.golf@example.com, bay ref 3, 14:08–15:08 club time."""
    booking = tm_id()
    payload = v2_payload(
        booking,
        "2026-07-04T21:08:00Z",  # 14:08 PDT
        "2026-07-04T22:08:00Z",
        bay=3,
        status="booked",
        email="  Ann.Golf@Example.com ",
        name="Ann Lee",
        players={"adults": 2, "juniors": 1},
    )
    response = sender.send(payload)
    assert response.status_code == 200
    [event] = outbox(RECEIVED, trackman_booking_id=booking)
    assert event["event_type"] == "booking.created"
    assert event["source"] == "webhook"
    assert event["date"] == "2026-07-04"
    assert (event["start_time"], event["end_time"]) == ("14:08", "15:08")
    assert event["duration_minutes"] == 60
    assert event["bay_ref"] == "3" and event["resource_id"] == 3
    assert event["customer_email"] == "ann.golf@example.com"
    assert event["player_count"] == 3
    assert event["status"] == "booked"
    assert event["webhook_event_id"] == response.get_json()["event_id"]

    [row] = stored(db, trackman_booking_id=booking)
    assert row.status == "processed" and row.processed_at is not None
    assert row.payload_version == 2
    text = json.dumps(row.payload)
    assert "ann.golf" not in text.lower() and "Ann Lee" not in text and "555" not in text
    assert row.payload["booking"]["bay"]["ref"] == "3"  # what is not personal stays
    [slot] = slots(db, booking)
    assert (slot.resource_id, str(slot.slot_date), slot.start_time.isoformat("minutes")) == (
        3,
        "2026-07-04",
        "14:08",
    )
    assert slot.status == "booked" and slot.customer_email == "ann.golf@example.com"


def test_v1_events_and_naive_times_are_club_time(sender, outbox, db):
    booking = tm_id()
    response = sender.send(
        v1_payload(
            "booking.created",
            booking,
            start="2026-03-08T01:30:00",  # the night of the spring-forward change: PST
            end="2026-03-08T03:30:00",  # PDT: 60 real minutes later
            bay="Bay 2",
            email="bo@example.com",
            name="Bo Kim",
            player_count=2,
        )
    )
    assert response.status_code == 200
    [event] = outbox(RECEIVED, trackman_booking_id=booking)
    assert event["starts_at"] == "2026-03-08T09:30:00+00:00"
    assert event["ends_at"] == "2026-03-08T10:30:00+00:00"
    assert event["duration_minutes"] == 60
    assert event["bay_ref"] == "2" and event["resource_id"] == 2
    assert event["player_count"] == 2
    [row] = stored(db, trackman_booking_id=booking)
    assert row.payload_version == 1 and row.event_type == "booking.created"


def test_v1_booking_update_with_a_cancelled_status_is_a_cancellation(sender, outbox):
    booking = tm_id()
    sender.send(
        v1_payload(
            "booking.created", booking, start="2026-07-05T10:00:00-07:00", end="2026-07-05T11:00:00-07:00"
        )
    )
    response = sender.send(v1_payload("booking_update", booking, status="Cancelled"))
    assert response.status_code == 200
    [cancelled] = outbox(CANCELLED, trackman_booking_id=booking)
    assert cancelled["event_type"] == "booking.cancelled"


def test_events_that_are_not_bookings_are_stored_and_ignored(sender, db, outbox):
    for event_type in ("purchase_paid", "user_update", "something_new"):
        response = sender.send({"event_type": event_type, "data": {"user": {"email": "x@example.com"}}})
        assert response.status_code == 200
        row = stored(db)[-1]
        assert row.status == "ignored"
        assert row.event_type in ("purchase_paid", "user_update", "unknown")
        assert "x@example.com" not in json.dumps(row.payload)
    assert outbox(RECEIVED) == [] and outbox(CANCELLED) == []


def test_a_booking_event_that_cannot_be_understood_is_kept_for_staff(sender, db, outbox):
    booking = tm_id()
    response = sender.send({"booking": {"id": booking, "status": "booked", "start": "yesterday"}})
    assert response.status_code == 200
    assert response.get_json()["status"] == "failed"
    [row] = stored(db, trackman_booking_id=booking)
    assert row.status == "failed" and "ISO 8601" in row.processing_error
    assert outbox(RECEIVED, trackman_booking_id=booking) == []


def test_placeholder_emails_are_never_passed_on(sender, outbox):
    booking = tm_id()
    sender.send(
        v2_payload(
            booking, "2026-07-04T14:00:00-07:00", "2026-07-04T15:00:00-07:00", email="guest@trackman.local"
        )
    )
    [event] = outbox(RECEIVED, trackman_booking_id=booking)
    assert event["customer_email"] is None


# --- dedupe (example 18) ------------------------------------------------------------------------------


def test_example_18_dedupe_by_status_and_content(signed_app, sender, clock, db, outbox):
    booking = tm_id()
    created = v2_payload(booking, "2026-07-04T18:00:00-07:00", "2026-07-04T19:00:00-07:00", bay=2)
    assert sender.send(created).get_json()["status"] == "stored"
    # The same delivery again at once: not even logged.
    again = sender.send(created)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert len(stored(db, trackman_booking_id=booking)) == 1
    # Again after the 2-minute window: logged as a duplicate, not processed.
    clock.set(clock.now + timedelta(minutes=3))
    late = sender.send(created)
    assert late.get_json()["status"] == "duplicate"
    rows = stored(db, trackman_booking_id=booking)
    assert [r.status for r in rows] == ["processed", "duplicate"]
    assert rows[1].duplicate_of == rows[0].id and rows[1].dedup_key is None
    assert len(outbox(RECEIVED, trackman_booking_id=booking)) == 1

    # Moved to 18:30–19:30: a new key, processed, the old slot freed.
    moved = v2_payload(booking, "2026-07-04T18:30:00-07:00", "2026-07-04T19:30:00-07:00", bay=2)
    assert sender.send(moved).get_json()["status"] == "stored"
    published = outbox(RECEIVED, trackman_booking_id=booking)
    assert [(e["start_time"], e["end_time"]) for e in published] == [("18:00", "19:00"), ("18:30", "19:30")]
    assert [(s.start_time.isoformat("minutes"), s.status) for s in slots(db, booking)] == [
        ("18:00", "cancelled"),
        ("18:30", "booked"),
    ]
    # Cancelled: the status is in the key, so it is processed and goes to booking's cancel path.
    cancelled = v2_payload(
        booking, "2026-07-04T18:30:00-07:00", "2026-07-04T19:30:00-07:00", bay=2, status="cancelled"
    )
    assert sender.send(cancelled).get_json()["status"] == "stored"
    [cancel] = outbox(CANCELLED, trackman_booking_id=booking)
    assert cancel["date"] == "2026-07-04" and cancel["start_time"] == "18:30" and cancel["resource_id"] == 2
    assert {s.status for s in slots(db, booking)} == {"cancelled"}
    keys = [r.dedup_key for r in stored(db, trackman_booking_id=booking) if r.dedup_key]
    assert len(keys) == len(set(keys)) == 3
    assert all(k.startswith(f"{booking}:") for k in keys)


def test_moving_back_to_an_earlier_time_is_a_change_not_a_duplicate(sender, clock, outbox):
    booking = tm_id()
    first = v2_payload(booking, "2026-08-01T10:00:00-07:00", "2026-08-01T11:00:00-07:00")
    second = v2_payload(booking, "2026-08-01T12:00:00-07:00", "2026-08-01T13:00:00-07:00")
    for payload in (first, second, first):
        assert sender.send(payload).get_json()["status"] == "stored"
    assert [e["start_time"] for e in outbox(RECEIVED, trackman_booking_id=booking)] == [
        "10:00",
        "12:00",
        "10:00",
    ]


def test_the_dedup_record_keeps_the_last_signature(sender, db):
    booking = tm_id()
    sender.send(v2_payload(booking, "2026-08-02T10:00:00-07:00", "2026-08-02T11:00:00-07:00"))
    with db.transaction() as session:
        record = session.scalar(
            select(TrackmanWebhookDedup).where(TrackmanWebhookDedup.trackman_booking_id == booking)
        )
    assert record.last_signature.startswith("booked:")
    assert record.last_processed_at.tzinfo is not None


def test_the_webhook_over_real_http(make_app, clock):
    """The sender against the app served on a real socket (as TrackMan reaches it)."""
    from fakes.server import LocalServer

    app = make_app(trackman_webhook_secret=SECRET)
    server = LocalServer(app).start()
    try:
        sender = TrackmanSender.over_http(server.url, SECRET)
        response = sender.send(v2_payload(tm_id(), "2026-07-04T14:00:00Z", "2026-07-04T15:00:00Z"))
        assert response.status_code == 200 and response.json()["status"] == "stored"
        assert sender.send(None, raw=b"{}", signature="bad").status_code == 401
    finally:
        server.stop()


def test_event_times_are_utc_instants(sender, outbox):
    booking = tm_id()
    sender.send(v2_payload(booking, "2026-11-01T01:30:00-07:00", "2026-11-01T01:30:00-08:00"))  # fall back
    [event] = outbox(RECEIVED, trackman_booking_id=booking)
    assert event["duration_minutes"] == 60
    assert datetime.fromisoformat(event["starts_at"]).astimezone(UTC).hour == 8
