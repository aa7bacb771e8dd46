"""Roster and time changes (domain.md §4.6), and the sessions API."""

import pytest

from club_booking.testing import deliver, outbox, problem

STAFF = "sam.staff@club.example"
ANN = "ann@example.com"


def book(client, headers, **fields):
    body = {
        "resource_id": 1,
        "date": "2026-06-12",
        "start_time": "10:00",
        "duration_minutes": 120,
        "declared_player_count": 2,
    }
    body.update(fields)
    made = client.post("/api/v1/booking-requests", json=body, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json()


def roster(client, headers, booking_id, participants, **extra):
    return client.put(
        f"/api/v1/booking-requests/{booking_id}/participants",
        json={"participants": participants, **extra},
        headers=headers,
    )


def act(client, headers, booking_id, action, **body):
    return client.post(f"/api/v1/booking-requests/{booking_id}/{action}", json=body, headers=headers)


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-06-08")
    member(ANN, "core")
    member("bo@example.com", "premium")
    return auth(ANN)


def test_the_owner_changes_the_declared_roster_before_approval(client, ann, rt):
    booking = book(client, ann)
    changed = roster(
        client, ann, booking["id"], [{"type": "guest", "name": "Sam", "email": "sam@example.com"}]
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    body = changed.get_json()
    assert body["roster_version"] == 2
    assert [(p["type"], p["email"], p["used_guest_pass"]) for p in body["participants"]] == [
        ("owner", ANN, False),
        ("guest", "sam@example.com", True),
    ]
    [event] = outbox(rt, "booking.session.roster_changed")
    assert (event["roster_version"], event["previous_roster_version"], event["source"]) == (
        2,
        1,
        "roster_change",
    )
    assert [e["passes"] for e in outbox(rt, "booking.guest_pass.held")] == [1]
    # Swapping the guest for a member releases the hold.
    body = roster(client, ann, booking["id"], [{"type": "member", "email": "bo@example.com"}]).get_json()
    assert [p["type"] for p in body["participants"]] == ["owner", "member"] and body["roster_version"] == 3
    assert [e["passes"] for e in outbox(rt, "booking.guest_pass.released")] == [1]


def test_after_approval_people_who_stay_keep_their_rows(client, ann, auth, rt):
    staff = auth(STAFF, "staff")
    booking = book(client, ann, participants=[{"type": "guest", "name": "Sam", "email": "sam@example.com"}])
    approved = act(client, staff, booking["id"], "approve").get_json()
    sam = approved["participants"][1]
    assert sam["used_guest_pass"]
    body = roster(
        client,
        ann,
        booking["id"],
        [
            {"type": "guest", "name": "Sam", "email": "sam@example.com"},
            {"type": "member", "email": "bo@example.com"},
        ],
        declared_player_count=3,
    ).get_json()
    assert [(p["type"], p["slot"]) for p in body["participants"]] == [
        ("owner", 1),
        ("guest", 2),
        ("member", 3),
    ]
    assert body["participants"][1]["participant_id"] == sam["participant_id"]
    # Dropping Sam gives his pass back.
    passes_before = client.get("/api/v1/guest-passes", headers=ann).get_json()["used_passes"]
    body = roster(client, ann, booking["id"], [{"type": "member", "email": "bo@example.com"}]).get_json()
    assert [p["type"] for p in body["participants"]] == ["owner", "member"]
    assert client.get("/api/v1/guest-passes", headers=ann).get_json()["used_passes"] == passes_before - 1
    sessions = client.get("/api/v1/sessions?date=2026-06-12", headers=staff).get_json()
    assert [(s["booking_ids"], [p["type"] for p in s["participants"]]) for s in sessions] == [
        ([booking["id"]], ["owner", "member"])
    ]
    problem(client.get("/api/v1/sessions?date=2026-06-12", headers=ann), 403)


def test_a_paid_roster_is_locked_unless_staff_override(client, ann, auth, rt):
    staff = auth(STAFF, "staff")
    approved = act(client, staff, book(client, ann)["id"], "approve").get_json()
    owner = approved["participants"][0]["participant_id"]
    deliver(
        rt,
        "billing.fees.calculated",
        {
            "booking_request_id": approved["id"],
            "session_id": approved["session_id"],
            "member_email": ANN,
            "roster_version": 1,
            "fees_version": 1,
            "total_cents": 2500,
            "participants": [
                {
                    "participant_id": owner,
                    "email": ANN,
                    "minutes": 60,
                    "overage_cents": 2500,
                    "guest_fee_cents": 0,
                    "total_cents": 2500,
                    "guest_pass_used": False,
                    "payment_status": "paid",
                }
            ],
        },
    )
    new = [{"type": "member", "email": "bo@example.com"}]
    problem(roster(client, ann, approved["id"], new), 409, "ROSTER_LOCKED")
    problem(roster(client, staff, approved["id"], new), 409, "ROSTER_LOCKED")
    forced = roster(client, staff, approved["id"], new, override_reason="Member asked at the desk")
    assert forced.status_code == 200 and "despite payment" in forced.get_json()["staff_notes"]


def test_roster_refusals(client, ann, member, auth, clock):
    booking = book(client, ann)
    member("cy@example.com", "core")
    problem(roster(client, auth("cy@example.com"), booking["id"], []), 404)
    cy = book(client, auth("cy@example.com"), resource_id=2, start_time="11:00", duration_minutes=60)
    assert cy
    problem(
        roster(client, ann, booking["id"], [{"type": "member", "email": "cy@example.com"}]),
        409,
        "PARTICIPANT_CONFLICT",
    )
    clock.at("2026-06-12", "10:30")
    problem(roster(client, ann, booking["id"], []), 409, "ROSTER_LOCKED")


def test_staff_reschedule_with_every_check(client, ann, auth, rt, member):
    staff = auth(STAFF, "staff")
    approved = act(client, staff, book(client, ann)["id"], "approve").get_json()
    member("cy@example.com", "core")
    book(
        client,
        auth("cy@example.com"),
        resource_id=2,
        date="2026-06-13",
        start_time="10:00",
        duration_minutes=60,
        declared_player_count=1,
    )
    body = {"resource_id": 2, "date": "2026-06-13", "start_time": "10:30", "duration_minutes": 60}
    problem(
        client.post(f"/api/v1/booking-requests/{approved['id']}/reschedule", json=body, headers=staff),
        409,
        "SLOT_TAKEN",
    )
    moved = client.post(
        f"/api/v1/booking-requests/{approved['id']}/reschedule",
        json=body | {"start_time": "11:00"},
        headers=staff,
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    out = moved.get_json()
    assert (out["resource_id"], out["date"], out["start_time"], out["end_time"]) == (
        2,
        "2026-06-13",
        "11:00",
        "12:00",
    )
    assert out["roster_version"] == 2
    [event] = outbox(rt, "booking.request.rescheduled")
    assert event["previous"]["start_time"] == "10:00" and event["source"] == "reschedule"
    session = client.get(f"/api/v1/sessions/{out['session_id']}", headers=staff).get_json()
    assert (session["resource_id"], session["start_time"]) == (2, "11:00")
    problem(client.post(f"/api/v1/booking-requests/{approved['id']}/reschedule", json=body, headers=ann), 403)
