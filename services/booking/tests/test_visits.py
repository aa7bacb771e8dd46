"""Check-in at the door (domain.md §4.8): staff scan `MEMBER:<user id>` (the app's QR code or the
member card). A booking of that member today is checked in by the usual rule (402 while anyone owes
money); otherwise a walk-in visit is recorded once (a repeat scan within 2 minutes is the same visit)
and booking.visit.recorded tells membership, integrations and notifications."""

from datetime import timedelta

import pytest

from club_booking.app import create_app
from club_booking.testing import outbox, problem

from .test_lifecycle import ANN, STAFF, act, book, fees
from .test_wellness import race

ANN_ID = f"u-{ANN}"


def scan(client, auth, code=None, role="staff", **body):
    if code is not None:
        body["code"] = code
    return client.post(
        "/api/v1/booking-requests/check-in", json=body, headers=auth(STAFF if role != "member" else ANN, role)
    )


@pytest.fixture
def ann(member, clock):
    clock.at("2026-05-20", "17:30")
    member(ANN, "premium")


def test_a_scan_checks_in_todays_booking(client, auth, ann, clock, rt):
    clock.at("2026-05-15", "09:00")
    staff = auth(STAFF, "staff")
    booking = act(client, staff, book(client, auth(ANN))["id"], "approve").get_json()
    clock.at("2026-05-20", "17:45")

    problem(scan(client, auth, f"MEMBER:{ANN_ID}"), 409, "FEES_NOT_READY")
    owner = booking["participants"][0]["participant_id"]
    fees(rt, booking, [(owner, ANN, 2500, "pending")])
    owed = problem(scan(client, auth, f"MEMBER:{ANN_ID}"), 402, "OUTSTANDING_BALANCE")
    assert owed["total_cents"] == 2500
    fees(rt, booking, [(owner, ANN, 2500, "paid")], fees_version=2)

    done = scan(client, auth, f" member:{ANN_ID} ")
    assert done.status_code == 200, done.get_data(as_text=True)
    body = done.get_json()
    assert (body["kind"], body["repeated"], body["visit"]) == ("booking", False, None)
    assert (body["booking"]["id"], body["booking"]["status"]) == (booking["id"], "checked_in")
    again = scan(client, auth, f"MEMBER:{ANN_ID}").get_json()
    assert (again["kind"], again["repeated"]) == ("booking", True)
    assert len(outbox(rt, "booking.request.checked_in")) == 1
    assert outbox(rt, "booking.visit.recorded") == []


def test_without_a_booking_today_a_scan_is_a_walk_in_once(client, auth, ann, clock, rt):
    first = scan(client, auth, f"MEMBER:{ANN_ID}")
    assert first.status_code == 201, first.get_data(as_text=True)
    body = first.get_json()
    assert (body["kind"], body["repeated"], body["booking"]) == ("visit", False, None)
    assert (body["visit"]["member_email"], body["visit"]["method"]) == (ANN, "qr")
    assert body["visit"]["visited_at"].endswith("-07:00")  # club time

    clock.instant += timedelta(seconds=119)
    repeat = scan(client, auth, f"MEMBER:{ANN_ID}")
    assert repeat.status_code == 200 and repeat.get_json()["repeated"] is True
    assert repeat.get_json()["visit"]["id"] == body["visit"]["id"]

    clock.at("2026-05-20", "19:00")
    later = scan(client, auth, member_email="ANN@example.com")
    assert later.status_code == 201 and later.get_json()["visit"]["method"] == "manual"

    events = outbox(rt, "booking.visit.recorded")
    assert [(e["member_id"], e["method"], e["first_visit"], e["member_status"]) for e in events] == [
        (ANN_ID, "qr", True, "active"),
        (ANN_ID, "manual", False, "active"),
    ]
    visits = client.get("/api/v1/usage/visits?date=2026-05-20", headers=auth(STAFF, "staff")).get_json()
    assert [v["method"] for v in visits] == ["qr", "manual"]
    assert client.get("/api/v1/usage/visits?date=2026-05-21", headers=auth(STAFF, "staff")).get_json() == []
    assert len(client.get("/api/v1/usage/visits", headers=auth(STAFF, "staff")).get_json()) == 2


def test_a_booking_that_already_ended_today_makes_a_walk_in(client, auth, ann, clock, rt):
    clock.at("2026-05-15", "09:00")
    act(client, auth(STAFF, "staff"), book(client, auth(ANN))["id"], "approve")
    clock.at("2026-05-20", "19:30")
    assert scan(client, auth, f"MEMBER:{ANN_ID}").get_json()["kind"] == "visit"


def test_bad_scans_are_problems(client, auth, ann, member):
    problem(scan(client, auth, "DAYPASS:42"), 422, "INVALID_CODE")
    problem(scan(client, auth, "hello"), 422, "INVALID_CODE")
    problem(scan(client, auth), 422)
    problem(scan(client, auth, f"MEMBER:{ANN_ID}", member_email=ANN), 422)
    problem(scan(client, auth, "MEMBER:nobody"), 404, "UNKNOWN_MEMBER")
    problem(scan(client, auth, member_email="nobody@example.com"), 404, "UNKNOWN_MEMBER")
    problem(scan(client, auth, f"MEMBER:{ANN_ID}", role="member"), 403)
    problem(client.get("/api/v1/usage/visits", headers=auth(ANN)), 403)
    problem(client.get("/api/v1/usage/visits?date=someday", headers=auth(STAFF, "staff")), 422)
    member("gone@example.com", status="cancelled")
    problem(scan(client, auth, "MEMBER:u-gone@example.com"), 409, "MEMBERSHIP_INACTIVE")


def test_scans_racing_on_two_replicas_make_one_visit(auth, ann, service_runtime, clock, rt):
    runtimes = [service_runtime("booking"), service_runtime("booking")]
    try:
        clients = [create_app(runtime=r, clock=clock).test_client() for r in runtimes]
        results = race([lambda i=i: scan(clients[i % 2], auth, f"MEMBER:{ANN_ID}") for i in range(6)])
        assert sorted(r.status_code for r in results) == [200] * 5 + [201]
        assert len({r.get_json()["visit"]["id"] for r in results}) == 1
        assert len(outbox(rt, "booking.visit.recorded")) == 1
    finally:
        for r in runtimes:
            r.db.dispose()


def test_a_repeat_scan_never_checks_in_the_afternoons_booking_early(client, auth, ann, clock, rt):
    clock.at("2026-05-15", "09:00")
    staff = auth(STAFF, "staff")
    morning = act(client, staff, book(client, auth(ANN), start_time="10:00")["id"], "approve").get_json()
    afternoon = act(client, staff, book(client, auth(ANN), start_time="15:00")["id"], "approve").get_json()
    for booking in (morning, afternoon):
        fees(rt, booking, [(booking["participants"][0]["participant_id"], ANN, 0, "paid")])
    clock.at("2026-05-20", "09:50")
    assert scan(client, auth, f"MEMBER:{ANN_ID}").get_json()["booking"]["id"] == morning["id"]
    clock.at("2026-05-20", "09:51")
    again = scan(client, auth, f"MEMBER:{ANN_ID}").get_json()
    assert (again["booking"]["id"], again["repeated"]) == (morning["id"], True)
    clock.at("2026-05-20", "14:55")
    later = scan(client, auth, f"MEMBER:{ANN_ID}").get_json()
    assert (later["booking"]["id"], later["booking"]["status"]) == (afternoon["id"], "checked_in")


def test_a_request_still_awaiting_staff_is_not_taken_for_a_walk_in(client, auth, ann, clock, rt):
    clock.at("2026-05-15", "09:00")
    book(client, auth(ANN))
    clock.at("2026-05-20", "17:45")
    refused = problem(scan(client, auth, f"MEMBER:{ANN_ID}"), 409, "STATE_CONFLICT")
    assert refused["status_now"] == "pending"
    assert outbox(rt, "booking.visit.recorded") == []
