"""Club events and RSVPs (domain.md §9): staff create, edit and archive events, whose block flags
keep availability blocks over their time; members RSVP within capacity (a row lock on the event:
50 members racing two replicas for the last 5 places get exactly 5), with guests, and cancel."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from club_booking.app import create_app
from club_booking.testing import outbox, problem

STAFF = "sam.staff@club.example"


def make_event(client, auth, **overrides):
    body = {
        "title": "Wine night",
        "date": "2026-06-12",
        "start_time": "18:00",
        "end_time": "21:00",
        "category": "Social",
        "location": "Lounge",
        "max_capacity": 10,
        "requires_rsvp": True,
    } | overrides
    made = client.post("/api/v1/events", json=body, headers=auth(STAFF, "staff"))
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json()


def blocks(client, auth, day="2026-06-12"):
    got = client.get(f"/api/v1/availability-blocks?date={day}", headers=auth(STAFF, "staff"))
    assert got.status_code == 200
    return [b for b in got.get_json() if b["block_type"] == "event"]


def test_staff_create_edit_and_archive_an_event_with_its_blocks(client, auth, rt):
    event = make_event(client, auth, block_bays=True, block_conference_room=True)
    assert event["starts_at"] == "2026-06-13T01:00:00+00:00"
    assert event["is_active"] and event["seats_taken"] == 0
    made = blocks(client, auth)
    assert sorted(b["resource_id"] for b in made) == [1, 2, 3, 4, 5]
    assert {(b["start_time"], b["end_time"]) for b in made} == {("18:00", "21:00")}
    [created] = outbox(rt, "booking.event.created")
    assert created["blocked_resource_ids"] == [1, 2, 3, 4, 5] and created["title"] == "Wine night"

    moved = client.patch(
        f"/api/v1/events/{event['id']}",
        json={"date": "2026-06-13", "start_time": "17:00", "block_conference_room": False},
        headers=auth(STAFF, "staff"),
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert blocks(client, auth) == []
    now_blocked = blocks(client, auth, "2026-06-13")
    assert sorted(b["resource_id"] for b in now_blocked) == [1, 2, 3, 4]
    assert {b["start_time"] for b in now_blocked} == {"17:00"}
    [updated] = outbox(rt, "booking.event.updated")
    assert updated["date"] == "2026-06-13" and updated["blocked_resource_ids"] == [1, 2, 3, 4]

    for _ in range(2):  # archiving twice: one effect
        archived = client.post(f"/api/v1/events/{event['id']}/archive", headers=auth(STAFF, "staff"))
        assert archived.status_code == 200 and archived.get_json()["is_active"] is False
    assert blocks(client, auth, "2026-06-13") == []
    [cancelled] = outbox(rt, "booking.event.cancelled")
    assert cancelled["archived"] is True and cancelled["blocked_resource_ids"] == []
    assert client.get("/api/v1/events", headers=auth("ann@example.com")).get_json() == []
    problem(
        client.patch(f"/api/v1/events/{event['id']}", json={"title": "x"}, headers=auth(STAFF, "staff")),
        409,
        "STATE_CONFLICT",
    )


def test_event_input_is_checked(client, auth):
    staff = auth(STAFF, "staff")
    problem(client.post("/api/v1/events", json={"title": "x"}, headers=staff), 422)
    problem(
        client.post(
            "/api/v1/events",
            json={"title": "x", "date": "2026-03-08", "start_time": "02:30", "end_time": "04:00"},
            headers=staff,
        ),
        422,
        "INVALID_LOCAL_TIME",
    )
    make_event(client, auth, eventbrite_id="eb-1", source="eventbrite")
    problem(
        client.post(
            "/api/v1/events",
            json={
                "title": "x",
                "date": "2026-06-12",
                "start_time": "10:00",
                "end_time": "11:00",
                "eventbrite_id": "eb-1",
            },
            headers=staff,
        ),
        409,
        "DUPLICATE_EVENT",
    )


def test_rsvp_with_guests_capacity_cancel_and_waiver(client, auth, member, rt):
    event = make_event(client, auth, max_capacity=3)
    url = f"/api/v1/events/{event['id']}/rsvp"
    member("ann@example.com")
    member("bob@example.com")
    member("cat@example.com", waiver=False)
    ann = client.post(url, json={"guest_count": 1}, headers=auth("ann@example.com"))
    assert ann.status_code == 201 and ann.get_json()["status"] == "confirmed"
    again = client.post(url, json={"guest_count": 1}, headers=auth("ann@example.com"))
    assert again.status_code == 200
    problem(client.post(url, json={"guest_count": 1}, headers=auth("bob@example.com")), 409, "AT_CAPACITY")
    problem(client.post(url, json={}, headers=auth("cat@example.com")), 403, "WAIVER_REQUIRED")
    assert client.post(url, json={}, headers=auth("bob@example.com")).status_code == 201
    got = client.get(f"/api/v1/events/{event['id']}", headers=auth("ann@example.com")).get_json()
    assert got["seats_taken"] == 3 and got["my_rsvp_status"] == "confirmed"

    for _ in range(2):
        cancelled = client.post(url + "/cancel", json={}, headers=auth("ann@example.com"))
        assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert [e["member_email"] for e in outbox(rt, "booking.rsvp.cancelled")] == ["ann@example.com"]
    confirmed = outbox(rt, "booking.rsvp.confirmed")
    assert [(e["member_email"], e["guest_count"]) for e in confirmed] == [
        ("ann@example.com", 1),
        ("bob@example.com", 0),
    ]
    # the freed places are taken again; the re-RSVP re-uses the row
    assert client.post(url, json={"guest_count": 1}, headers=auth("ann@example.com")).status_code == 201
    rows = client.get(f"/api/v1/events/{event['id']}/rsvps", headers=auth(STAFF, "staff")).get_json()
    assert sorted((r["user_email"], r["status"]) for r in rows) == [
        ("ann@example.com", "confirmed"),
        ("bob@example.com", "confirmed"),
    ]
    problem(client.post("/api/v1/events/999999/rsvp", json={}, headers=auth("ann@example.com")), 404)


def test_members_do_not_see_staff_events(client, auth, member):
    event = make_event(client, auth, visibility="staff")
    member("ann@example.com")
    problem(client.get(f"/api/v1/events/{event['id']}", headers=auth("ann@example.com")), 404)
    problem(client.post(f"/api/v1/events/{event['id']}/rsvp", json={}, headers=auth("ann@example.com")), 404)
    assert client.get(f"/api/v1/events/{event['id']}", headers=auth(STAFF, "staff")).status_code == 200


@pytest.fixture
def replicas(service_runtime, clock):
    runtimes = [service_runtime("booking"), service_runtime("booking")]
    yield [create_app(runtime=r, clock=clock) for r in runtimes]
    for r in runtimes:
        r.db.dispose()


def race(calls):
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def test_fifty_members_race_two_replicas_for_the_last_five_places(replicas, client, auth, member, rt):
    event = make_event(client, auth, max_capacity=8)
    url = f"/api/v1/events/{event['id']}/rsvp"
    for i in range(3):  # 3 of the 8 places taken before the race
        member(f"early{i}@example.com")
        assert client.post(url, json={}, headers=auth(f"early{i}@example.com")).status_code == 201
    emails = [f"racer{i}@example.com" for i in range(50)]
    for email in emails:
        member(email)
    clients = [app.test_client() for app in replicas]
    results = race(
        [lambda i=i, e=e: clients[i % 2].post(url, json={}, headers=auth(e)) for i, e in enumerate(emails)]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 5 + [409] * 45, codes
    for r in results:
        if r.status_code == 409:
            assert r.get_json()["code"] == "AT_CAPACITY"
    got = client.get(f"/api/v1/events/{event['id']}", headers=auth(STAFF, "staff")).get_json()
    assert got["seats_taken"] == 8
    assert len(outbox(rt, "booking.rsvp.confirmed")) == 8


def test_two_events_at_the_same_time_share_the_blocks(client, auth):
    first = make_event(client, auth, block_bays=True)
    second = make_event(client, auth, title="Quiz", block_bays=True, block_conference_room=True)
    made = blocks(client, auth)
    assert sorted(b["resource_id"] for b in made) == [1, 2, 3, 4, 5]
    archived = client.post(f"/api/v1/events/{first['id']}/archive", headers=auth(STAFF, "staff"))
    assert archived.status_code == 200
    assert sorted(b["resource_id"] for b in blocks(client, auth)) == [1, 2, 3, 4, 5]  # the quiz still blocks
    client.post(f"/api/v1/events/{second['id']}/archive", headers=auth(STAFF, "staff"))
    assert blocks(client, auth) == []
