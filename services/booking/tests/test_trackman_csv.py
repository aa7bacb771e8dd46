"""TrackMan CSV rows (domain.md §7): integrations parses the file and says, per row, the status it
should end in (`target_status`: approved if in the future, attended if past) and whether it is
`record_as_paid` (past rows); booking applies both to the request the row matches."""

from datetime import UTC, datetime

import pytest

from club_booking.testing import deliver, outbox

from .test_trackman import ANN, STAFF, book, received

PLAYED = datetime(2026, 7, 6, 17, 0, tzinfo=UTC)  # the import ran two days after the round


@pytest.fixture
def ann(member, auth, clock, rt):
    clock.at("2026-07-01")
    member(ANN, "core", member_id="u-ann")
    deliver(
        rt,
        "membership.member.linked_email_added",
        {"member_id": "u-ann", "email": ANN, "linked_email": "ann.golf@example.com", "source": "manual"},
    )
    return auth(ANN)


def csv_row(tm_id, *, past, **extra):
    return received(
        tm_id,
        3,
        "2026-07-04",
        "14:05",
        email="ann.golf@example.com",
        source="csv_import",
        webhook_event_id=None,
        import_run_id=9,
        target_status="attended" if past else "approved",
        record_as_paid=past,
        **extra,
    )


def booking(client, auth, booking_id):
    return client.get(f"/api/v1/booking-requests/{booking_id}", headers=auth(STAFF, "staff")).get_json()


def test_a_past_row_is_attended_and_recorded_as_paid(client, auth, ann, rt):
    mine = book(client, ann, declared_player_count=2, participants=[{"type": "guest", "name": "Sam"}])
    deliver(rt, "integrations.trackman.booking_received", csv_row("8001", past=True), occurred_at=PLAYED)

    got = booking(client, auth, mine["id"])
    assert (got["status"], got["trackman_booking_id"], got["resource_id"]) == ("attended", "8001", 3)
    assert {p["payment_status"] for p in got["participants"]} == {"paid"}
    [approved] = outbox(rt, "booking.request.approved")
    assert {p["payment_status"] for p in approved["participants"]} == {"paid"}  # billing invoices nobody
    [attended] = outbox(rt, "booking.request.attended")
    assert attended["booking_id"] == mine["id"]


def test_a_future_row_stands_approved_and_unpaid(client, auth, ann, rt, clock):
    mine = book(client, ann)
    deliver(rt, "integrations.trackman.booking_received", csv_row("8002", past=False), occurred_at=clock())

    got = booking(client, auth, mine["id"])
    assert (got["status"], got["trackman_booking_id"]) == ("confirmed", "8002")
    assert {p["payment_status"] for p in got["participants"]} == {"pending"}
    assert outbox(rt, "booking.request.attended") == []

    # The same row imported again once played: attended and paid, through its TrackMan id.
    deliver(rt, "integrations.trackman.booking_received", csv_row("8002", past=True), occurred_at=PLAYED)
    got = booking(client, auth, mine["id"])
    assert got["status"] == "attended"
    assert {p["payment_status"] for p in got["participants"]} == {"paid"}
    assert len(outbox(rt, "booking.request.attended")) == 1


def test_a_past_row_linking_an_approved_request(client, auth, ann, rt):
    mine = book(client, ann)
    approved = client.post(
        f"/api/v1/booking-requests/{mine['id']}/approve",
        json={"resource_id": 3},
        headers=auth(STAFF, "staff"),
    )
    assert approved.status_code == 200, approved.get_data(as_text=True)
    deliver(rt, "integrations.trackman.booking_received", csv_row("8003", past=True), occurred_at=PLAYED)
    got = booking(client, auth, mine["id"])
    assert (got["status"], got["trackman_booking_id"]) == ("attended", "8003")
    assert {p["payment_status"] for p in got["participants"]} == {"paid"}


def test_a_webhook_row_changes_no_status_or_payment(client, auth, ann, rt):
    mine = book(client, ann)
    deliver(
        rt, "integrations.trackman.booking_received", received("8004", 3, "2026-07-04", "14:05", email=ANN)
    )
    got = booking(client, auth, mine["id"])
    assert got["status"] == "confirmed"
    assert {p["payment_status"] for p in got["participants"]} == {"pending"}
