"""Tours (domain.md §8.3): free 30-minute slots within tour hours in club time, public booking with
one tour per slot, the status machine, staff check-in (audited), stale past tours."""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from club_integrations.domain import tours as rules
from club_integrations.models import CalendarEvent

PT = ZoneInfo("America/Los_Angeles")


def a_day() -> date:
    """A club date of its own for each test (tours share the database)."""
    return date(2030, 1, 1) + timedelta(days=uuid.uuid4().int % 3000)


def book(client, day: date, start: str, **extra):
    body = {
        "name": "Val Visitor",
        "email": "val@example.com",
        "date": day.isoformat(),
        "start_time": start,
        **extra,
    }
    return client.post("/api/v1/tours", json=body)


def slots(client, day: date) -> list[str]:
    response = client.get(f"/api/v1/tours/availability?date={day.isoformat()}")
    assert response.status_code == 200
    return [s["start_time"] for s in response.get_json()]


def test_slots_are_the_tour_hours_in_half_hours(client, clock):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(12), tzinfo=PT))
    free = slots(client, day)
    assert free[0] == "10:00" and free[-1] == "16:30" and len(free) == 14


def test_a_visitor_books_a_slot_and_it_is_no_longer_free(client, clock, outbox, auth):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=2), time(9), tzinfo=PT))
    response = book(client, day, "14:30", phone="+1 555 0100", email="  Val@Example.COM ")
    assert response.status_code == 201, response.get_data(as_text=True)
    tour = response.get_json()
    assert (tour["status"], tour["start_time"], tour["end_time"]) == ("scheduled", "14:30", "15:00")
    assert "visitor_email" not in tour  # the public answer carries no personal data back
    assert "14:30" not in slots(client, day)
    taken = book(client, day, "14:30", name="Someone Else")
    assert taken.status_code == 409 and taken.get_json()["code"] == "SLOT_TAKEN"
    [alert] = outbox("integrations.notification.requested", type="tour_scheduled")
    assert alert["audience"] == "staff" and "Val Visitor" in alert["title"]
    # notifications e-mails the visitor their confirmation from this
    [booked] = outbox("integrations.tour.booked", tour_id=tour["id"])
    assert booked["visitor_email"] == "val@example.com" and booked["source"] == "public"
    assert (booked["date"], booked["start_time"], booked["end_time"]) == (day.isoformat(), "14:30", "15:00")
    stored = client.get(f"/api/v1/tours/{tour['id']}", headers=auth()).get_json()
    assert stored["visitor_email"] == "val@example.com" and stored["source"] == "public"


@pytest.mark.parametrize(
    ("start", "code"),
    [("09:30", "OUTSIDE_TOUR_HOURS"), ("16:45", "OUTSIDE_TOUR_HOURS"), ("17:00", "OUTSIDE_TOUR_HOURS")],
)
def test_outside_the_hours_or_off_the_half_hour(client, clock, start, code):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    response = book(client, day, start)
    assert response.status_code == 422 and response.get_json()["code"] == code


def test_past_slots_are_neither_free_nor_bookable(client, clock):
    day = a_day()
    clock.set(datetime.combine(day, time(13, 10), tzinfo=PT))
    assert slots(client, day)[0] == "13:30"
    response = book(client, day, "13:00")
    assert response.status_code == 422 and response.get_json()["code"] == "TOUR_IN_PAST"


def test_bad_input_never_changes_anything(client, clock):
    day = a_day()
    for body in (
        {"name": "X", "email": "not-an-email", "date": day.isoformat(), "start_time": "10:00"},
        {"name": "", "email": "a@example.com", "date": day.isoformat(), "start_time": "10:00"},
        {"name": "X", "email": "a@example.com", "date": "2030-13-01", "start_time": "10:00"},
        {"name": "X", "email": "a@example.com", "date": day.isoformat(), "start_time": "25:00"},
    ):
        assert client.post("/api/v1/tours", json=body).status_code == 422
    assert client.get("/api/v1/tours/availability").status_code == 422
    assert len(slots(client, day)) == 14


def test_two_visitors_racing_for_one_slot_one_wins(app, clock):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    results: list[int] = []
    barrier = threading.Barrier(6)

    def go(i: int):
        client = app.test_client()
        barrier.wait()
        results.append(book(client, day, "11:00", name=f"Racer {i}", email=f"r{i}@example.com").status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 5


def test_busy_times_on_the_tours_calendar_are_not_offered(client, clock, db):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    start = datetime.combine(day, time(12, 15), tzinfo=PT)
    with db.transaction() as session:
        session.add(
            CalendarEvent(
                source="google",
                calendar="tours",
                external_id=f"busy-{uuid.uuid4().hex}",
                status="confirmed",
                title="Staff meeting",
                starts_at=start,
                ends_at=start + timedelta(minutes=45),
            )
        )
    free = slots(client, day)
    assert "12:00" not in free and "12:30" not in free and "11:30" in free and "13:00" in free
    assert book(client, day, "12:30").status_code == 409


def test_statuses_and_staff_check_in(client, clock, auth, outbox):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    tour = book(client, day, "10:00").get_json()
    url = f"/api/v1/tours/{tour['id']}"
    assert client.post(f"{url}/complete", headers=auth()).status_code == 409  # not checked in yet
    checked = client.post(f"{url}/check-in", headers=auth("host@club.example"))
    assert checked.status_code == 200
    body = checked.get_json()
    assert body["status"] == "checked_in" and body["checked_in_by"] == "host@club.example"
    assert client.post(f"{url}/check-in", headers=auth()).status_code == 200  # again: no change
    [audited] = outbox("integrations.audit.recorded", action="tour_check_in")
    assert audited["resource_id"] == str(tour["id"]) and audited["actor_email"] == "host@club.example"
    assert client.post(f"{url}/no-show", headers=auth()).status_code == 409
    assert client.post(f"{url}/complete", headers=auth()).get_json()["status"] == "completed"
    assert client.post(f"{url}/cancel", json={}, headers=auth()).status_code == 409
    assert client.post(f"{url}/check-in", headers=auth("ann@example.com", "member")).status_code == 403


def test_cancelling_frees_the_slot_and_no_shows_are_final(client, clock, auth):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    first = book(client, day, "15:00").get_json()
    cancelled = client.post(f"/api/v1/tours/{first['id']}/cancel", json={"reason": "rain"}, headers=auth())
    assert cancelled.get_json()["status"] == "cancelled" and cancelled.get_json()["cancel_reason"] == "rain"
    second = book(client, day, "15:00").get_json()
    assert (
        client.post(f"/api/v1/tours/{second['id']}/no-show", headers=auth()).get_json()["status"] == "no_show"
    )
    assert client.post(f"/api/v1/tours/{second['id']}/check-in", headers=auth()).status_code == 409


def test_a_past_tour_still_scheduled_is_stale(client, clock, auth):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    tour = book(client, day, "16:00").get_json()
    clock.set(datetime.combine(day, time(16, 31), tzinfo=PT))
    listed = client.get(f"/api/v1/tours?date={day.isoformat()}", headers=auth()).get_json()
    assert [t["stale"] for t in listed if t["id"] == tour["id"]] == [True]
    stale = client.get("/api/v1/tours?stale_only=true&limit=500", headers=auth()).get_json()
    assert tour["id"] in [t["id"] for t in stale]


def test_staff_reschedule_and_the_tour_list_is_theirs(client, clock, auth):
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=1), time(9), tzinfo=PT))
    a = book(client, day, "10:30").get_json()
    book(client, day, "11:30")
    url = f"/api/v1/tours/{a['id']}"
    assert (
        client.patch(url, json={"date": day.isoformat(), "start_time": "11:30"}, headers=auth()).status_code
        == 409
    )
    moved = client.patch(
        url, json={"date": day.isoformat(), "start_time": "13:00", "notes": "bring shoes"}, headers=auth()
    )
    assert moved.status_code == 200 and moved.get_json()["start_time"] == "13:00"
    assert "10:30" in slots(client, day) and "13:00" not in slots(client, day)
    assert client.patch(url, json={"date": day.isoformat()}, headers=auth()).status_code == 422
    assert client.get("/api/v1/tours").status_code == 401
    assert client.get("/api/v1/tours", headers=auth("ann@example.com", "member")).status_code == 403


def test_dst_days_have_real_slots():
    slots_ = rules.day_slots(date(2026, 3, 8), (time(1, 0), time(4, 0)), PT)
    assert [s.start_time for s in slots_] == ["01:00", "01:30", "03:00", "03:30"]  # 02:xx does not exist
