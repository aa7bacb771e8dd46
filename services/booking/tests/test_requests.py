"""Creating booking requests: every rule of domain.md §4.4 and the acceptance examples 8–13."""

import pytest

from club_booking.testing import outbox, problem

STAFF = "sam.staff@club.example"
ANN = "ann@example.com"


def book(client, headers, **fields):
    body = {"resource_id": 1, "date": "2026-06-12", "start_time": "10:00", "duration_minutes": 60}
    body.update(fields)
    return client.post("/api/v1/booking-requests", json=body, headers=headers)


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-06-08", "09:00")
    member(ANN, "core")
    return auth(ANN)


def test_a_member_books_a_bay_and_it_is_pending(client, ann, rt):
    made = book(client, ann, declared_player_count=1, notes="Working on my slice")
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["status"] == "pending" and body["user_email"] == ANN
    assert (body["date"], body["start_time"], body["end_time"]) == ("2026-06-12", "10:00", "11:00")
    assert body["starts_at"] == "2026-06-12T10:00:00-07:00"
    assert [p["type"] for p in body["participants"]] == ["owner"]
    [event] = outbox(rt, "booking.request.created")
    assert event["booking_id"] == body["id"] and event["source"] == "booking_preview"
    assert event["resource_type"] == "simulator" and event["duration_minutes"] == 60
    assert event["starts_at"] == "2026-06-12T17:00:00+00:00"
    assert event["participants"][0] | {"participant_id": None} == event["participants"][0]
    # The member sees it; another member does not (404), staff do.
    assert client.get(f"/api/v1/booking-requests/{body['id']}", headers=ann).status_code == 200
    problem(client.get(f"/api/v1/booking-requests/{body['id']}", headers={"Authorization": "x"}), 401)


def test_members_only_see_their_own(client, ann, member, auth):
    member("bo@example.com", "premium")
    mine = book(client, ann).get_json()
    problem(client.get(f"/api/v1/booking-requests/{mine['id']}", headers=auth("bo@example.com")), 404)
    assert client.get("/api/v1/booking-requests", headers=auth("bo@example.com")).get_json() == []
    assert [b["id"] for b in client.get("/api/v1/booking-requests", headers=ann).get_json()] == [mine["id"]]
    staff_view = client.get(f"/api/v1/booking-requests?member_email={ANN}", headers=auth(STAFF, "staff"))
    assert [b["id"] for b in staff_view.get_json()] == [mine["id"]]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"duration_minutes": 45}, 422, "INVALID_DURATION"),  # solo choices are 30-minute steps
        ({"duration_minutes": 90, "declared_player_count": 2}, 422, "INVALID_DURATION"),
        ({"duration_minutes": 481}, 422, "VALIDATION_FAILED"),
        ({"declared_player_count": 5}, 422, "VALIDATION_FAILED"),
        ({"start_time": "07:30"}, 422, "OUTSIDE_HOURS"),
        ({"start_time": "21:30"}, 422, "OUTSIDE_HOURS"),  # Friday closes at 22:00
        ({"date": "2026-06-15"}, 422, "OUTSIDE_HOURS"),  # Monday: closed
        ({"date": "2026-06-05"}, 422, "START_IN_PAST"),
        ({"date": "2026-06-16"}, 422, "BOOKING_WINDOW"),  # Core: 7 days from 06-08
        ({"resource_id": 42}, 404, "UNKNOWN_RESOURCE"),
        ({"resource_id": None}, 422, "RESOURCE_REQUIRED"),
        ({"start_time": "10:0"}, 422, "VALIDATION_FAILED"),
        ({"notes": "x" * 1001}, 422, "VALIDATION_FAILED"),
        ({"member_notes": "x" * 281}, 422, "VALIDATION_FAILED"),
        (
            {"participants": [{"type": "member", "email": "nobody@example.com"}], "declared_player_count": 2},
            422,
            "UNKNOWN_MEMBER",
        ),
        ({"participants": [{"type": "guest", "name": "Sam"}]}, 422, "PLAYER_COUNT"),
        ({"participants": [{"type": "guest"}], "declared_player_count": 2}, 422, "VALIDATION_FAILED"),
        ({"member_email": "bo@example.com"}, 403, "FORBIDDEN"),
        ({"surprise": 1}, 422, "VALIDATION_FAILED"),
    ],
)
def test_refusals_change_nothing(client, ann, rt, fields, status, code):
    problem(book(client, ann, **fields), status, code)
    assert client.get("/api/v1/booking-requests", headers=ann).get_json() == []
    assert outbox(rt, "booking.request.created") == []


def test_more_than_three_others_is_refused_and_duplicates_and_the_owner_are_dropped(client, ann, member):
    member("bo@example.com", "premium")
    guests = [{"type": "guest", "name": f"G{i}", "email": f"g{i}@example.com"} for i in range(4)]
    problem(
        book(client, ann, declared_player_count=4, duration_minutes=120, participants=guests),
        422,
        "TOO_MANY_PARTICIPANTS",
    )
    made = book(
        client,
        ann,
        declared_player_count=3,
        duration_minutes=90,
        participants=[
            {"type": "member", "email": "BO@example.com"},
            {"type": "member", "email": "bo@example.com"},
            {"type": "member", "email": ANN},
            {"type": "guest", "name": "Sam", "email": "sam@example.com"},
        ],
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    assert [(p["type"], p["email"], p["slot"]) for p in made.get_json()["participants"]] == [
        ("owner", ANN, 1),
        ("member", "bo@example.com", 2),
        ("guest", "sam@example.com", 3),
    ]


def test_the_waiver_status_and_tier_gate_booking(client, member, auth, clock):
    clock.at("2026-06-08", "09:00")
    member("nowaiver@example.com", "core", waiver=False)
    problem(book(client, auth("nowaiver@example.com")), 403, "WAIVER_REQUIRED")
    problem(
        book(client, auth("stranger@example.com")), 403, "WAIVER_REQUIRED"
    )  # unknown to booking: fail closed
    member("paused@example.com", "core", status="frozen")
    problem(book(client, auth("paused@example.com")), 403, "MEMBERSHIP_INACTIVE")
    member("notier@example.com", None)
    problem(book(client, auth("notier@example.com")), 403, "TIER_NOT_ALLOWED")
    member("trial@example.com", "social", status="trialing")
    assert book(client, auth("trial@example.com")).status_code == 201


def test_staff_book_for_a_member_and_for_themselves(client, ann, auth, rt):
    staff = auth(STAFF, "staff")
    for_ann = book(
        client, staff, member_email=ANN, start_time="07:00", duration_minutes=75
    )  # outside hours, any length
    assert for_ann.status_code == 201, for_ann.get_data(as_text=True)
    assert for_ann.get_json()["user_email"] == ANN and for_ann.get_json()["created_by"] == STAFF
    own = book(client, staff, resource_id=2, date="2026-06-30", start_time="23:00", duration_minutes=120)
    assert own.status_code == 201 and own.get_json()["end_time"] == "01:00"
    assert [e["action"] for e in outbox(rt, "booking.audit.recorded")] == ["booking_created_for_member"]


def test_the_conference_room_is_confirmed_at_once_with_its_session(client, ann, rt):
    made = book(
        client,
        ann,
        resource_id=None,
        resource_type="conference_room",
        duration_minutes=90,
        declared_player_count=4,
        participants=[
            {"type": "guest", "name": f"Attendee {i}", "email": f"a{i}@example.com"} for i in range(3)
        ],
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["status"] == "confirmed" and body["resource_id"] == 5 and body["session_id"]
    assert all(p["participant_id"] for p in body["participants"])
    types = [e["_type"] for e in outbox(rt)]
    assert types.index("booking.request.created") < types.index("booking.request.confirmed")
    assert "booking.session.created" in types
    assert outbox(rt, "booking.guest_pass.held") == []  # conference guests never take passes


# --- acceptance examples ---------------------------------------------------------------------


def test_example_8_overlap_across_midnight(client, auth, clock):
    clock.at("2026-06-01")
    staff = auth(STAFF, "staff")
    other = auth("kim.staff@club.example", "staff")
    assert (
        book(
            client, staff, resource_id=2, date="2026-06-12", start_time="23:00", duration_minutes=120
        ).status_code
        == 201
    )
    problem(
        book(client, other, resource_id=2, date="2026-06-13", start_time="00:30", duration_minutes=60),
        409,
        "SLOT_TAKEN",
    )
    assert (
        book(
            client, other, resource_id=2, date="2026-06-12", start_time="22:00", duration_minutes=60
        ).status_code
        == 201
    )
    assert (
        book(
            client, other, resource_id=2, date="2026-06-13", start_time="01:00", duration_minutes=60
        ).status_code
        == 201
    )
    problem(
        book(client, other, resource_id=2, date="2026-06-12", start_time="23:30", duration_minutes=30),
        409,
        "SLOT_TAKEN",
    )
    # The spill shows on 06-13's availability.
    day = client.get("/api/v1/availability?date=2026-06-13&resource_id=2", headers=other).get_json()
    assert [(b["start"][11:16], b["end"][11:16]) for b in day["resources"][0]["busy"]] == [
        ("23:00", "01:00"),
        ("01:00", "02:00"),
    ]


def test_example_9_midnight_ends_and_overnight_closures(client, auth, clock):
    clock.at("2026-06-01")
    staff = auth(STAFF, "staff")
    other = auth("kim.staff@club.example", "staff")
    made = book(client, staff, resource_id=1, date="2026-06-12", start_time="22:00", duration_minutes=120)
    assert made.get_json()["end_time"] == "00:00"
    problem(
        book(client, other, resource_id=1, date="2026-06-12", start_time="23:30", duration_minutes=60),
        409,
        "SLOT_TAKEN",
    )
    closure = client.post(
        "/api/v1/closures",
        json={
            "title": "Night works",
            "start_date": "2026-06-12",
            "start_time": "22:00",
            "end_time": "06:00",
            "affected_areas": "all_bays",
            "notice_type": "Maintenance",
        },
        headers=staff,
    ).get_json()
    assert closure["affected_booking_ids"] == [made.get_json()["id"]]
    assert (
        client.get(f"/api/v1/booking-requests/{made.get_json()['id']}", headers=staff).get_json()["status"]
        == "pending"
    )
    problem(
        book(client, other, resource_id=3, date="2026-06-13", start_time="05:30", duration_minutes=60),
        409,
        "RESOURCE_CLOSED",
    )
    assert (
        book(
            client, other, resource_id=3, date="2026-06-13", start_time="06:00", duration_minutes=60
        ).status_code
        == 201
    )


def test_example_10_the_booking_window_counts_club_days(client, member, auth, clock):
    clock.at("2026-03-03", "23:30")  # PST: already 03-04 07:30 in UTC
    member(ANN, "core")
    problem(book(client, auth(ANN), date="2026-03-11", start_time="10:00"), 422, "BOOKING_WINDOW")
    assert book(client, auth(ANN), date="2026-03-10", start_time="10:00").status_code == 201


def test_example_11_the_window_on_a_dst_day_and_bookings_across_the_change(client, member, auth, clock, rt):
    clock.at("2026-03-08", "23:30")  # spring-forward day, PDT
    member("pat@example.com", "premium")
    problem(
        book(client, auth("pat@example.com"), date="2026-03-19", start_time="10:00"), 422, "BOOKING_WINDOW"
    )
    assert book(client, auth("pat@example.com"), date="2026-03-18", start_time="10:00").status_code == 201

    clock.at("2026-03-01")
    staff = auth(STAFF, "staff")
    made = book(client, staff, resource_id=1, date="2026-03-07", start_time="23:30", duration_minutes=240)
    body = made.get_json()
    assert (body["starts_at"], body["ends_at"]) == ("2026-03-07T23:30:00-08:00", "2026-03-08T04:30:00-07:00")
    assert body["duration_minutes"] == 240 and body["end_time"] == "04:30"
    [event] = [e for e in outbox(rt, "booking.request.created") if e["booking_id"] == body["id"]]
    assert (event["starts_at"], event["ends_at"]) == (
        "2026-03-08T07:30:00+00:00",
        "2026-03-08T11:30:00+00:00",
    )
    assert event["duration_minutes"] == 240
    problem(
        book(client, staff, resource_id=2, date="2026-03-08", start_time="02:30", duration_minutes=60),
        422,
        "INVALID_LOCAL_TIME",
    )


def test_example_12_one_pending_simulator_request(client, ann, auth):
    friday = book(client, ann, date="2026-06-12").get_json()
    problem(book(client, ann, date="2026-06-13", resource_id=3), 409, "ONE_PENDING_REQUEST")
    conference = book(client, ann, date="2026-06-13", resource_id=5)
    assert conference.status_code == 201 and conference.get_json()["status"] == "confirmed"
    staff = auth(STAFF, "staff")
    assert (
        client.post(f"/api/v1/booking-requests/{friday['id']}/decline", json={}, headers=staff).status_code
        == 200
    )
    assert book(client, ann, date="2026-06-13", resource_id=3, start_time="14:00").status_code == 201


def test_example_13_participant_conflict_on_another_bay(client, member, auth, clock):
    clock.at("2026-06-08", "09:00")
    for email, tier in ((ANN, "core"), ("bo@example.com", "premium"), ("cy@example.com", "core")):
        member(email, tier)
    bo = book(
        client,
        auth("bo@example.com"),
        resource_id=1,
        date="2026-06-13",
        start_time="10:00",
        duration_minutes=60,
        declared_player_count=2,
        participants=[{"type": "member", "email": ANN}],
    ).get_json()
    assert (
        client.post(
            f"/api/v1/booking-requests/{bo['id']}/approve", json={}, headers=auth(STAFF, "staff")
        ).status_code
        == 200
    )
    clash = book(
        client,
        auth("cy@example.com"),
        resource_id=2,
        date="2026-06-13",
        start_time="10:30",
        duration_minutes=60,
        declared_player_count=2,
        participants=[{"type": "member", "email": ANN}],
    )
    body = problem(clash, 409, "PARTICIPANT_CONFLICT")
    assert body["person"]["email"] == ANN and "Ann" in body["detail"]
    later = book(
        client,
        auth("cy@example.com"),
        resource_id=2,
        date="2026-06-13",
        start_time="11:00",
        duration_minutes=60,
        declared_player_count=2,
        participants=[{"type": "member", "email": ANN}],
    )
    assert later.status_code == 201, later.get_data(as_text=True)


def test_availability_shows_my_pending_request_as_mine_and_others_as_taken(client, ann, member, auth):
    mine = book(client, ann, resource_id=2, start_time="15:00").get_json()
    member("bo@example.com", "premium")
    as_ann = client.get("/api/v1/availability?date=2026-06-12&resource_id=2", headers=ann).get_json()
    [busy] = as_ann["resources"][0]["busy"]
    assert busy["mine"] and busy["booking_id"] == mine["id"] and busy["status"] == "pending"
    as_bo = client.get(
        "/api/v1/availability?date=2026-06-12&resource_id=2", headers=auth("bo@example.com")
    ).get_json()
    [busy] = as_bo["resources"][0]["busy"]
    assert busy["kind"] == "booking" and not busy["mine"] and busy.get("booking_id") is None
    assert busy.get("owner_email") is None
    slots = {s["start"][11:16]: s["available"] for s in as_bo["resources"][0]["slots"]}
    assert slots["14:30"] and not slots["15:00"] and not slots["15:30"] and slots["16:00"]
