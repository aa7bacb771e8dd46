"""No double booking, ever: two replicas (two Runtimes, two apps, two connection pools) race many
clashing approvals and creations at the same moment; exactly one wins each round, the others get a
409, and the database's exclusion constraint backs the check in code."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from club_booking.app import create_app
from club_booking.testing import problem

STAFF = "sam.staff@club.example"
RACERS = 50
ROUNDS = 3


@pytest.fixture
def replicas(service_runtime, clock):
    runtimes = [service_runtime("booking"), service_runtime("booking")]
    yield [create_app(runtime=r, clock=clock) for r in runtimes]
    for r in runtimes:
        r.db.dispose()


def race(calls):
    """Run every call at the same moment (a barrier), each on its own thread; their responses."""
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def members(member, n, tag):
    emails = [f"racer{i}.{tag}@example.com" for i in range(n)]
    for email in emails:
        member(email, "vip")
    return emails


def test_concurrent_approvals_onto_one_bay_have_exactly_one_winner(replicas, member, auth, clock):
    clock.at("2026-06-01")
    staff = auth(STAFF, "staff")
    for round_ in range(ROUNDS):
        emails = members(member, RACERS, f"a{round_}")
        ids = []
        for email in emails:  # requests without a bay: nothing stops them until a bay is assigned
            made = (
                replicas[0]
                .test_client()
                .post(
                    "/api/v1/booking-requests",
                    json={
                        "resource_type": "simulator",
                        "date": "2026-06-12",
                        "start_time": f"{10 + round_}:00",
                        "duration_minutes": 60,
                    },
                    headers=auth(email),
                )
            )
            assert made.status_code == 201, made.get_data(as_text=True)
            ids.append(made.get_json()["id"])
        clients = [app.test_client() for app in replicas]
        calls = [
            (
                lambda i=i, booking_id=booking_id, clients=clients: clients[i % 2].post(
                    f"/api/v1/booking-requests/{booking_id}/approve", json={"resource_id": 2}, headers=staff
                )
            )
            for i, booking_id in enumerate(ids)
        ]
        results = race(calls)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200] + [409] * (RACERS - 1), statuses
        assert {r.get_json()["code"] for r in results if r.status_code == 409} == {"SLOT_TAKEN"}
        day = clients[0].get("/api/v1/availability?date=2026-06-12&resource_id=2", headers=staff).get_json()
        assert len([b for b in day["resources"][0]["busy"] if b["start"][11:13] == f"{10 + round_}"]) == 1


def test_concurrent_creations_of_one_slot_have_exactly_one_winner(replicas, member, auth, clock):
    clock.at("2026-06-01")
    for round_ in range(ROUNDS):
        emails = members(member, RACERS, f"c{round_}")
        clients = [app.test_client() for app in replicas]
        body = {
            "resource_id": 1,
            "date": "2026-06-13",
            "start_time": f"{10 + round_}:00",
            "duration_minutes": 60,
        }
        calls = [
            (
                lambda i=i, email=email, clients=clients, body=body: clients[i % 2].post(
                    "/api/v1/booking-requests", json=body, headers=auth(email)
                )
            )
            for i, email in enumerate(emails)
        ]
        results = race(calls)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] + [409] * (RACERS - 1), statuses
        assert {r.get_json()["code"] for r in results if r.status_code == 409} == {"SLOT_TAKEN"}


def test_one_member_twice_in_the_same_second_makes_one_request(replicas, member, auth, clock):
    # Example 12: two requests in the same second → exactly one is created (different bays, times).
    clock.at("2026-06-01")
    member("ann@example.com", "core")
    clients = [app.test_client() for app in replicas]
    for _ in range(5):
        calls = [
            (
                lambda i=i: clients[i % 2].post(
                    "/api/v1/booking-requests",
                    json={
                        "resource_id": 1 + i,
                        "date": "2026-06-05",
                        "start_time": f"{9 + i}:00",
                        "duration_minutes": 60,
                    },
                    headers=auth("ann@example.com"),
                )
            )
            for i in range(4)
        ]
        results = race(calls)
        created = [r for r in results if r.status_code == 201]
        assert len(created) == 1, [r.get_data(as_text=True) for r in results]
        assert {r.get_json()["code"] for r in results if r.status_code == 409} == {"ONE_PENDING_REQUEST"}
        booking_id = created[0].get_json()["id"]
        assert (
            clients[0]
            .post(f"/api/v1/booking-requests/{booking_id}/cancel", json={}, headers=auth("ann@example.com"))
            .status_code
            == 200
        )


def test_the_database_refuses_overlap_even_without_the_check_in_code(
    rt, client, member, auth, clock, monkeypatch
):
    """The exclusion constraint is the safety net: with the application's check switched off, the
    second booking of the slot is still refused, as a 409 SLOT_TAKEN and never a 500."""
    from club_booking.flows import requests

    clock.at("2026-06-01")
    member("a@example.com", "vip")
    member("b@example.com", "vip")
    body = {"resource_id": 4, "date": "2026-06-13", "start_time": "10:00", "duration_minutes": 60}
    assert (
        client.post("/api/v1/booking-requests", json=body, headers=auth("a@example.com")).status_code == 201
    )
    monkeypatch.setattr(requests, "check_resource_free", lambda *a, **k: None)
    problem(
        client.post(
            "/api/v1/booking-requests", json=body | {"start_time": "10:30"}, headers=auth("b@example.com")
        ),
        409,
        "SLOT_TAKEN",
    )
    with rt.db.transaction() as session:
        sessions_before = session.execute(text("SELECT count(*) FROM booking_sessions")).scalar()
    with pytest.raises(IntegrityError) as caught, rt.db.transaction() as session:
        for minute in (0, 30):
            session.execute(
                text(
                    "INSERT INTO booking_sessions (resource_id, session_date, start_time, end_time, starts_at, ends_at,"
                    " duration_minutes, source) VALUES (2, '2026-06-13', '23:00', '01:00',"
                    " CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '2 hours', 120, 'staff_manual')"
                ),
                {"s": f"2026-06-14T06:{minute:02d}:00+00:00"},
            )
    assert caught.value.orig.sqlstate == "23P01"
    with rt.db.transaction() as session:
        assert session.execute(text("SELECT count(*) FROM booking_sessions")).scalar() == sessions_before
