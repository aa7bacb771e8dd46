"""TrackMan bookings matched in booking (domain.md §7): examples 17 and 18, and TrackMan's cancel
completing a member's pending cancellation (example 14)."""

from datetime import UTC, datetime, timedelta

import pytest

from club_booking.testing import LA, deliver, outbox

STAFF = "sam.staff@club.example"
ANN = "ann@example.com"


def at(day, wall):
    return datetime.fromisoformat(f"{day}T{wall}").replace(tzinfo=LA).astimezone(UTC)


def received(tm_id, bay, day, start, minutes=60, email=None, **extra):
    starts = at(day, start)
    ends = starts + timedelta(minutes=minutes)
    return {
        "trackman_booking_id": tm_id,
        "event_type": "booking.created",
        "source": "webhook",
        "webhook_event_id": 1,
        "import_run_id": None,
        "bay_ref": str(bay),
        "resource_id": bay,
        "date": day,
        "start_time": start,
        "end_time": ends.astimezone(LA).strftime("%H:%M"),
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "duration_minutes": minutes,
        "customer_email": email,
        "customer_name": None,
        "player_count": 1,
        "status": "booked",
        "is_block": False,
        "external_booking_id": None,
        **extra,
    }


def cancelled(tm_id, when):
    return {
        "trackman_booking_id": tm_id,
        "event_type": "booking.cancelled",
        "source": "webhook",
        "webhook_event_id": 2,
        "import_run_id": None,
        "bay_ref": None,
        "resource_id": None,
        "date": None,
        "start_time": None,
        "end_time": None,
        "starts_at": None,
        "ends_at": None,
        "customer_email": None,
        "cancelled_at": when.isoformat(),
    }


def book(client, headers, **fields):
    body = {"resource_type": "simulator", "date": "2026-07-04", "start_time": "14:00", "duration_minutes": 60}
    body.update(fields)
    made = client.post("/api/v1/booking-requests", json=body, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json()


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


def test_example_17_a_start_within_ten_minutes_auto_approves(client, ann, rt):
    booking = book(client, ann)
    deliver(
        rt,
        "integrations.trackman.booking_received",
        received("7001", 3, "2026-07-04", "14:08", email="ann.golf@example.com"),
    )
    got = client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).get_json()
    assert (got["status"], got["resource_id"], got["start_time"], got["end_time"]) == (
        "confirmed",
        3,
        "14:08",
        "15:08",
    )
    assert got["reviewed_by"] == "trackman_webhook" and got["trackman_booking_id"] == "7001"
    assert "Linked via Trackman webhook" in got["staff_notes"] and got["session_id"]
    [answer] = outbox(rt, "booking.trackman_match.succeeded")
    assert (answer["rule"], answer["booking_id"], answer["newly_linked"]) == (
        "auto_approved",
        booking["id"],
        True,
    )
    assert [e["source"] for e in outbox(rt, "booking.request.approved")] == ["trackman_webhook"]


def test_example_17_eleven_minutes_off_is_unmatched(client, ann, rt, auth):
    booking = book(client, ann)
    deliver(
        rt,
        "integrations.trackman.booking_received",
        received("7002", 3, "2026-07-04", "14:11", email="ann.golf@example.com"),
    )
    assert (
        client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).get_json()["status"] == "pending"
    )
    [failed] = outbox(rt, "booking.trackman_match.failed")
    assert (failed["reason"], failed["candidate_booking_ids"]) == ("no_match", [])
    [session] = client.get("/api/v1/sessions?date=2026-07-04", headers=auth(STAFF, "staff")).get_json()
    assert (session["resource_id"], session["start_time"], session["end_time"], session["is_unmatched"]) == (
        3,
        "14:11",
        "15:11",
        True,
    )
    day = client.get("/api/v1/availability?date=2026-07-04&resource_id=3", headers=ann).get_json()
    assert [(b["kind"], b["start"][11:16]) for b in day["resources"][0]["busy"]] == [("session", "14:11")]
    # Staff give it its owner: it becomes Ann's confirmed booking.
    deliver(
        rt,
        "integrations.trackman.unmatched_resolved",
        {
            "unmatched_id": 1,
            "trackman_booking_id": "7002",
            "booking_id": None,
            "session_id": session["id"],
            "resolution": "member",
            "member_email": ANN,
            "member_id": "u-ann",
            "customer_email": "ann.golf@example.com",
            "remember_email": False,
            "day_pass_purchase_id": None,
            "resource_id": 3,
            "date": "2026-07-04",
            "start_time": "14:11",
            "end_time": "15:11",
            "player_count": 1,
            "resolved_by": STAFF,
            "note": None,
        },
    )
    mine = [
        b
        for b in client.get("/api/v1/booking-requests", headers=ann).get_json()
        if b["session_id"] == session["id"]
    ]
    assert [(b["status"], b["trackman_booking_id"]) for b in mine] == [("confirmed", "7002")]


def test_example_18_ambiguity_updates_and_cancel(client, member, auth, rt, clock):
    clock.at("2026-07-01")
    for email in ("bo@example.com", "cy@example.com", "dee@example.com"):
        member(email, "vip")
    bo = book(client, auth("bo@example.com"), start_time="18:00")
    cy = book(client, auth("cy@example.com"), start_time="18:00")
    deliver(rt, "integrations.trackman.booking_received", received("8001", 2, "2026-07-04", "18:00"))
    [failed] = outbox(rt, "booking.trackman_match.failed")
    assert (failed["reason"], sorted(failed["candidate_booking_ids"])) == (
        "ambiguous",
        sorted([bo["id"], cy["id"]]),
    )
    for b in (bo, cy):
        assert (
            client.get(f"/api/v1/booking-requests/{b['id']}", headers=auth(STAFF, "staff")).get_json()[
                "status"
            ]
            == "pending"
        )

    # 9001 for Dee, whose approved request waits for TrackMan: linked; then moved; then cancelled.
    dee = book(client, auth("dee@example.com"), resource_type=None, resource_id=4, start_time="18:00")
    client.post(f"/api/v1/booking-requests/{dee['id']}/approve", json={}, headers=auth(STAFF, "staff"))
    deliver(
        rt,
        "integrations.trackman.booking_received",
        received("9001", 4, "2026-07-04", "18:00", email="dee@example.com"),
    )
    got = client.get(f"/api/v1/booking-requests/{dee['id']}", headers=auth("dee@example.com")).get_json()
    assert (got["status"], got["trackman_booking_id"]) == ("confirmed", "9001")
    assert (
        "[PENDING_TRACKMAN_SYNC]" not in got["staff_notes"]
        and "Linked via Trackman webhook" in got["staff_notes"]
    )
    deliver(
        rt,
        "integrations.trackman.booking_received",
        received("9001", 4, "2026-07-04", "18:30", email="dee@example.com", event_type="booking.updated"),
    )
    got = client.get(f"/api/v1/booking-requests/{dee['id']}", headers=auth("dee@example.com")).get_json()
    assert (got["start_time"], got["end_time"], got["roster_version"]) == ("18:30", "19:30", 2)
    [moved] = outbox(rt, "booking.request.rescheduled")
    assert (moved["source"], moved["previous"]["start_time"]) == ("trackman_webhook", "18:00")
    deliver(rt, "integrations.trackman.booking_cancelled", cancelled("9001", at("2026-07-02", "09:00")))
    got = client.get(f"/api/v1/booking-requests/{dee['id']}", headers=auth("dee@example.com")).get_json()
    assert got["status"] == "cancelled"
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["actor_type"], event["refund_eligible"]) == ("trackman", True)


def test_example_14_trackman_cancel_completes_the_members_cancel(client, member, auth, rt, clock):
    clock.at("2026-05-15")
    member("pat@example.com", "premium")
    pat = auth("pat@example.com")
    booking = book(
        client,
        pat,
        resource_type=None,
        resource_id=3,
        date="2026-05-20",
        start_time="18:00",
        duration_minutes=120,
    )
    client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve",
        json={"trackman_booking_id": "555"},
        headers=auth(STAFF, "staff"),
    )
    clock.at("2026-05-20", "16:30")
    assert client.post(f"/api/v1/booking-requests/{booking['id']}/cancel", json={}, headers=pat).get_json()[
        "status"
    ] == ("cancellation_pending")
    deliver(rt, "integrations.trackman.booking_cancelled", cancelled("555", at("2026-05-20", "17:20")))
    assert (
        client.get(f"/api/v1/booking-requests/{booking['id']}", headers=pat).get_json()["status"]
        == "cancelled"
    )
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["late"], event["refund_eligible"], event["actor_type"]) == (False, True, "member")


def test_an_instructors_own_booking_is_a_lesson(client, member, auth, rt, clock):
    clock.at("2026-07-01")
    member("pro@example.com", "vip", role="member", member_id="u-pro")
    deliver(
        rt,
        "membership.staff.updated",
        {
            "staff_id": 3,
            "email": "pro@example.com",
            "name": "Pat Pro",
            "role": "golf_instructor",
            "is_active": True,
            "member_id": "u-pro",
        },
    )
    deliver(
        rt,
        "integrations.trackman.booking_received",
        received("6001", 1, "2026-07-04", "09:00", email="pro@example.com"),
    )
    [answer] = outbox(rt, "booking.trackman_match.succeeded")
    assert answer["rule"] == "lesson" and answer["booking_id"] is None
    assert outbox(rt, "booking.request.created") == []  # never billed
    deliver(rt, "integrations.trackman.booking_cancelled", cancelled("6001", at("2026-07-02", "09:00")))
    [session] = client.get("/api/v1/sessions?date=2026-07-04", headers=auth(STAFF, "staff")).get_json()
    assert session["cancelled_at"] is not None
