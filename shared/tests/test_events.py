import json
import uuid

import pytest

from club_shared.events import Event, EventSchemaError, make_event

MEMBER = {
    "member_id": "m-1",
    "email": "ann@example.com",
    "first_name": "Ann",
    "last_name": "Lee",
    "tier": None,
    "status": "pending",
}


def test_an_event_round_trips_through_json():
    event = make_event("membership.member.created", MEMBER, producer="membership", correlation_id="req-1")
    again = Event.from_json(event.to_json())
    assert again == event
    assert again.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    "data",
    [
        {**MEMBER, "email": "not-an-email"},
        {k: v for k, v in MEMBER.items() if k != "member_id"},
        {**MEMBER, "surprise": 1},
    ],
)
def test_data_that_breaks_the_catalog_is_refused_at_publish(data):
    with pytest.raises(EventSchemaError):
        make_event("membership.member.created", data, producer="membership")


def test_unknown_types_are_refused():
    with pytest.raises(EventSchemaError, match="unknown event type"):
        make_event("membership.member.teleported", MEMBER, producer="membership")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"event_id": "x", "type": "membership.member.created"}).encode(),
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "membership.member.created",
                "version": 1,
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "producer": "membership",
                "correlation_id": None,
                "data": {"member_id": 5},
            }
        ).encode(),
    ],
)
def test_malformed_messages_are_refused_at_consume(body):
    with pytest.raises(EventSchemaError):
        Event.from_json(body)


def test_an_event_keeps_its_data_in_the_json_form_consumers_read(monkeypatch):
    from datetime import date

    from marshmallow import RAISE, Schema, fields

    from club_shared.events import CATALOG

    class DayBooked(Schema):
        class Meta:
            unknown = RAISE

        day = fields.Date(required=True)

    monkeypatch.setitem(CATALOG, ("booking.day.booked", 1), DayBooked)
    event = make_event("booking.day.booked", {"day": date(2026, 3, 8)}, producer="booking")
    assert event.data == {"day": "2026-03-08"}
    assert Event.from_json(event.to_json()) == event
