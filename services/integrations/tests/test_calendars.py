"""Calendars and Eventbrite (domain.md §9) against fake Google Calendar and Eventbrite servers:
incremental pulls by sync token, etags, what booking is told, tours and closures pushed (our version
winning), busy times for tours, attendees grouped by e-mail, and every integration off without
credentials."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from integrations_support import CALENDAR_IDS, queued_jobs
from sqlalchemy import select

from club_integrations.domain import calendars as rules
from club_integrations.models import CalendarSyncState, Tour

PT = ZoneInfo("America/Los_Angeles")
SYNCED = "integrations.calendar.event_synced"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PT)


def test_calendars_are_pulled_and_booking_told_only_of_changes(calendar_jobs, google_fake, outbox, clock):
    day = date(2031, 3, 3)
    clock.set(at(day - timedelta(days=7), 9))
    wine = google_fake.add(
        CALENDAR_IDS["events"],
        "Wine Night",
        at(day, 18),
        at(day, 21),
        description="Category: Social\nBring a friend",
        location="Lounge",
    )
    yoga = google_fake.add(CALENDAR_IDS["wellness"], "Yoga - Morning Flow with Kim", at(day, 7), at(day, 8))
    google_fake.add(CALENDAR_IDS["internal"], "Closed for maintenance", "2031-03-04", "2031-03-06")
    google_fake.add(CALENDAR_IDS["conference"], "Board meeting (outside)", at(day, 9), at(day, 11))
    calendar_jobs.calendar_sync(None, {})
    published = {e["external_id"]: e for e in outbox(SYNCED)}
    assert len(published) == 4
    event = published[wine]
    assert (event["kind"], event["calendar"], event["source"], event["category"]) == (
        "event",
        "events",
        "google",
        "Social",
    )
    assert (event["start_date"], event["start_time"], event["end_time"]) == ("2031-03-03", "18:00", "21:00")
    assert event["location"] == "Lounge" and event["etag"]
    klass = published[yoga]
    assert (klass["kind"], klass["category"], klass["title"], klass["instructor"]) == (
        "wellness_class",
        "Yoga",
        "Morning Flow",
        "Kim",
    )
    [closure] = [e for e in published.values() if e["kind"] == "closure"]
    assert closure["all_day"] is True and (closure["start_date"], closure["end_date"]) == (
        "2031-03-04",
        "2031-03-05",
    )
    assert [e["kind"] for e in published.values() if e["calendar"] == "conference"] == ["block"]

    calendar_jobs.calendar_sync(None, {})  # nothing changed: nothing told
    assert len(outbox(SYNCED)) == 4
    google_fake.edit(CALENDAR_IDS["events"], wine, summary="Wine & Cheese Night")
    google_fake.remove(CALENDAR_IDS["wellness"], yoga)
    calendar_jobs.calendar_sync(None, {})
    later = outbox(SYNCED)[4:]
    assert {(e["external_id"], e["title"], e["status"]) for e in later} == {
        (wine, "Wine & Cheese Night", "confirmed"),
        (yoga, "Morning Flow", "cancelled"),
    }
    incremental = [c for c in google_fake.calls if c[0] == "GET" and "syncToken" in c[2]]
    assert incremental, "the second and third syncs were incremental"


def test_an_expired_sync_token_means_a_full_sync_without_repeats(calendar_jobs, google_fake, outbox, db):
    google_fake.add(
        CALENDAR_IDS["events"],
        "Golf Clinic",
        datetime(2031, 4, 1, 17, tzinfo=PT),
        datetime(2031, 4, 1, 19, tzinfo=PT),
    )
    calendar_jobs.calendar_sync(None, {})
    assert len(outbox(SYNCED)) == 1
    google_fake.expire_sync_tokens()
    calendar_jobs.calendar_sync(None, {})
    assert len(outbox(SYNCED)) == 1  # read again in full, told nothing new
    with db.transaction() as session:
        state = session.get(CalendarSyncState, "events")
    assert state.sync_token and state.last_error is None


def test_an_outage_is_recorded_and_the_next_sync_catches_up(calendar_jobs, google_fake, outbox, db):
    google_fake.add(
        CALENDAR_IDS["events"],
        "Member Mixer",
        datetime(2031, 5, 1, 18, tzinfo=PT),
        datetime(2031, 5, 1, 20, tzinfo=PT),
    )
    google_fake.fail_next(503, times=5)
    calendar_jobs.calendar_sync(None, {})
    with db.transaction() as session:
        errors = [s.last_error for s in session.scalars(select(CalendarSyncState))]
    assert any(e and "503" in e for e in errors)
    calendar_jobs.calendar_sync(None, {})
    assert [e["title"] for e in outbox(SYNCED)] == ["Member Mixer"]


def test_the_tours_calendar_is_busy_time_for_tours(calendar_jobs, google_fake, client, clock, outbox):
    day = date(2031, 6, 10)
    clock.set(at(day - timedelta(days=1), 9))
    google_fake.add(CALENDAR_IDS["tours"], "Staff training", at(day, 13), at(day, 14))
    calendar_jobs.calendar_sync(None, {})
    free = [s["start_time"] for s in client.get(f"/api/v1/tours/availability?date={day}").get_json()]
    assert "13:00" not in free and "13:30" not in free and "12:30" in free and "14:00" in free
    assert outbox(SYNCED) == []  # the tours calendar is ours alone


def test_tours_are_pushed_and_our_version_wins(calendar_jobs, google_fake, client, clock, auth, db):
    day = date(2031, 7, 15)
    clock.set(at(day - timedelta(days=2), 9))
    booked = client.post(
        "/api/v1/tours",
        json={
            "name": "Val Visitor",
            "email": f"v{uuid.uuid4().hex[:6]}@example.com",
            "date": day.isoformat(),
            "start_time": "11:00",
        },
    ).get_json()
    [job] = [j for j in queued_jobs(db, "calendar_push_tour") if j.payload["tour_id"] == booked["id"]]
    calendar_jobs.calendar_push_tour(None, job.payload)
    [event] = google_fake.events(CALENDAR_IDS["tours"])
    assert event["summary"] == "Tour: Val Visitor"
    assert event["extendedProperties"]["private"]["clubRecord"] == f"tour:{booked['id']}"
    assert datetime.fromisoformat(event["start"]["dateTime"]) == at(day, 11)
    with db.transaction() as session:
        tour = session.get(Tour, booked["id"])
    assert tour.google_calendar_id == event["id"] and tour.calendar_etag == event["etag"]

    # someone moves it in Google: the sync notices, and the push puts our version back
    google_fake.edit(
        CALENDAR_IDS["tours"], event["id"], summary="Moved by someone", start=at(day, 15), end=at(day, 15, 30)
    )
    calendar_jobs.calendar_sync(None, {})
    pushes = [j for j in queued_jobs(db, "calendar_push_tour") if j.payload["tour_id"] == booked["id"]]
    assert len(pushes) == 2
    calendar_jobs.calendar_push_tour(None, pushes[-1].payload)
    [event] = google_fake.events(CALENDAR_IDS["tours"])
    assert event["summary"] == "Tour: Val Visitor"
    assert datetime.fromisoformat(event["start"]["dateTime"]) == at(day, 11)
    calendar_jobs.calendar_sync(None, {})  # our own write is not a change
    assert (
        len([j for j in queued_jobs(db, "calendar_push_tour") if j.payload["tour_id"] == booked["id"]]) == 2
    )

    # cancelled here → cancelled in Google
    client.post(f"/api/v1/tours/{booked['id']}/cancel", json={}, headers=auth())
    pushes = [j for j in queued_jobs(db, "calendar_push_tour") if j.payload["tour_id"] == booked["id"]]
    calendar_jobs.calendar_push_tour(None, pushes[-1].payload)
    assert google_fake.events(CALENDAR_IDS["tours"])[0]["status"] == "cancelled"


def test_closures_go_on_the_internal_calendar_and_booking_learns_the_event_id(
    calendar_jobs, google_fake, deliver, db, outbox
):
    closure_id = uuid.uuid4().int % 10**6
    closure = {
        "closure_id": closure_id,
        "title": "Resurfacing",
        "reason": "Maintenance",
        "notice_type": None,
        "member_notice": "Bays closed",
        "start_date": "2031-08-01",
        "end_date": "2031-08-02",
        "start_time": None,
        "end_time": None,
        "affected_areas": "all_bays",
        "resource_ids": [1, 2, 3, 4],
        "notify_members": True,
        "needs_review": False,
        "affected_booking_ids": [],
        "created_by": "desk@club.example",
    }
    deliver("booking.closure.created", closure)
    jobs = [j for j in queued_jobs(db, "calendar_push_closure") if j.payload["closure_id"] == closure_id]
    assert len(jobs) == 1  # delivered twice, queued once
    calendar_jobs.calendar_push_closure(None, jobs[0].payload)
    calendar_jobs.calendar_push_closure(None, jobs[0].payload)  # a retried job adds no second event
    [event] = google_fake.events(CALENDAR_IDS["internal"])
    assert event["summary"] == "Closed: Resurfacing"
    assert (event["start"], event["end"]) == ({"date": "2031-08-01"}, {"date": "2031-08-03"})
    [created] = outbox("integrations.calendar.event_created", record_id=closure_id)
    assert created == {
        "record_type": "closure",
        "record_id": closure_id,
        "calendar": "internal",
        "calendar_id": CALENDAR_IDS["internal"],
        "calendar_event_id": event["id"],
        "etag": event["etag"],
    }
    deliver(
        "booking.closure.deleted",
        {
            "closure_id": closure_id,
            "title": "Resurfacing",
            "resource_ids": [1],
            "calendar_event_id": event["id"],
            "deleted_by": "desk@club.example",
        },
    )
    [job] = [j for j in queued_jobs(db, "calendar_delete_closure") if j.payload["closure_id"] == closure_id]
    calendar_jobs.calendar_delete_closure(None, job.payload)
    assert google_fake.events(CALENDAR_IDS["internal"])[0]["status"] == "cancelled"
    calendar_jobs.calendar_sync(None, {})
    assert [e for e in outbox(SYNCED) if e["external_id"] == event["id"]] == []  # ours: not echoed to booking


def test_without_credentials_calendars_and_eventbrite_are_off(runtime, clock, sleeps, db):
    from club_integrations.jobs import Jobs

    jobs = Jobs(runtime, clock, sleep=sleeps)
    jobs.calendar_sync(None, {})
    jobs.calendar_push_tour(None, {"tour_id": 1})
    jobs.eventbrite_sync(None, {})
    assert jobs.google is None


def test_wellness_titles():
    assert rules.wellness_title("Pilates - Core Strength with Dana Lee") == (
        "Pilates",
        "Core Strength",
        "Dana Lee",
    )
    assert rules.wellness_title("Breathwork") == (None, "Breathwork", None)
    assert rules.wellness_title("Sound Bath with Ray") == (None, "Sound Bath", "Ray")


# --- Eventbrite -----------------------------------------------------------------------------------------


def test_eventbrite_events_and_attendees(calendar_jobs, eventbrite_fake, outbox):
    start = datetime(2031, 9, 5, 18, tzinfo=PT)
    gala = eventbrite_fake.add_event("Autumn Gala", start, start + timedelta(hours=3), capacity=120)
    eventbrite_fake.add_event(
        "Old Mixer", start - timedelta(days=60), start - timedelta(days=60, hours=-2), status="ended"
    )
    eventbrite_fake.add_event("Draft", start, start + timedelta(hours=1), status="draft")  # not synced
    ann, bo, cy = (f"{n}.{uuid.uuid4().hex[:6]}@example.com" for n in ("ann", "bo", "cy"))
    eventbrite_fake.add_attendee(
        gala, ann.upper(), "Ann Lee", created="2031-08-01T10:00:00Z", ticket_class="VIP"
    )
    eventbrite_fake.add_attendee(gala, ann, "Ann Lee", created="2031-08-01T10:00:01Z")
    eventbrite_fake.add_attendee(gala, ann, "Ann Lee", cancelled=True, created="2031-08-01T10:00:02Z")
    eventbrite_fake.add_attendee(gala, bo, "Bo Kim", status="Not Attending", refunded=True)
    eventbrite_fake.add_attendee(gala, cy, "Cy Park", checked_in=True)
    calendar_jobs.eventbrite_sync(None, {})

    events = {e["title"]: e for e in outbox(SYNCED, source="eventbrite")}
    assert set(events) == {"Autumn Gala", "Old Mixer"}
    assert events["Autumn Gala"]["max_capacity"] == 120 and events["Autumn Gala"]["start_time"] == "18:00"
    rsvps = {r["email"]: r for r in outbox("integrations.eventbrite.attendee_synced")}
    assert (rsvps[ann]["status"], rsvps[ann]["guest_count"], rsvps[ann]["ticket_class"]) == (
        "confirmed",
        1,
        "VIP",
    )
    assert len(rsvps[ann]["attendee_ids"]) == 3 and rsvps[ann]["order_date"] == "2031-08-01T10:00:00+00:00"
    assert (rsvps[bo]["status"], rsvps[bo]["guest_count"]) == ("cancelled", 0)
    assert rsvps[cy]["checked_in"] is True and rsvps[cy]["first_name"] == "Cy"

    calendar_jobs.eventbrite_sync(None, {})  # nothing changed
    assert len(outbox("integrations.eventbrite.attendee_synced")) == 3
    assert len(outbox(SYNCED, source="eventbrite")) == 2
    eventbrite_fake.add_attendee(gala, bo, "Bo Kim")  # Bo buys again
    calendar_jobs.eventbrite_sync(None, {})
    later = outbox("integrations.eventbrite.attendee_synced")[3:]
    assert [(r["email"], r["status"]) for r in later] == [(bo, "confirmed")]
