"""Outside events, classes and attendees (domain.md §9): integrations' calendar and Eventbrite events
upsert booking's events, wellness classes and RSVPs; a record edited here is not overwritten;
attendees are matched to members by e-mail, then by name."""

from club_booking.testing import deliver, outbox

STAFF = "sam.staff@club.example"


def synced(external_id, kind="event", source="eventbrite", **overrides):
    return {
        "source": source,
        "calendar": None,
        "calendar_id": None,
        "external_id": external_id,
        "etag": None,
        "kind": kind,
        "status": "confirmed",
        "title": "Golf social",
        "description": "Nine holes and drinks",
        "location": "Lounge",
        "all_day": False,
        "start_date": "2026-11-07",
        "end_date": "2026-11-07",
        "start_time": "17:00",
        "end_time": "19:00",
        "starts_at": "2026-11-08T01:00:00+00:00",
        "ends_at": "2026-11-08T03:00:00+00:00",
        "category": "Golf",
        "instructor": None,
        "max_capacity": 40,
        "image_url": None,
        "updated_at": None,
    } | overrides


def attendee(email, **overrides):
    return {
        "eventbrite_event_id": "eb-42",
        "email": email,
        "name": "Ann Member",
        "first_name": "Ann",
        "last_name": "Member",
        "status": "confirmed",
        "guest_count": 2,
        "checked_in": False,
        "ticket_class": "General",
        "order_date": "2026-10-01T10:00:00+00:00",
        "attendee_ids": ["a1", "a2", "a3"],
    } | overrides


def test_eventbrite_event_and_attendees(rt, client, auth, member):
    deliver(rt, "integrations.calendar.event_synced", synced("eb-42"))
    [event] = client.get("/api/v1/events", headers=auth(STAFF, "staff")).get_json()
    assert (event["source"], event["eventbrite_id"], event["category"]) == ("eventbrite", "eb-42", "Golf")
    assert (event["date"], event["start_time"], event["end_time"]) == ("2026-11-07", "17:00", "19:00")

    member("ann@example.com", first_name="Ann")
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("ann@example.com"))
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("ANN@example.com"))  # same person
    member("bo.b@example.com", first_name="Bob", member_id="u-bob")
    deliver(
        rt,
        "integrations.eventbrite.attendee_synced",
        attendee("bob.other@example.com", name="Bob Member", first_name="Bob", guest_count=0),
    )
    deliver(
        rt,
        "integrations.eventbrite.attendee_synced",
        attendee("zed@example.com", first_name="Zed", status="cancelled"),
    )
    rows = client.get(f"/api/v1/events/{event['id']}/rsvps", headers=auth(STAFF, "staff")).get_json()
    got = {r["user_email"]: (r["status"], r["guest_count"], r["matched_user_id"], r["source"]) for r in rows}
    assert got == {
        "ann@example.com": ("confirmed", 2, "u-ann@example.com", "eventbrite"),
        "bo.b@example.com": ("confirmed", 0, "u-bob", "eventbrite"),
        "zed@example.com": ("cancelled", 2, None, "eventbrite"),
    }
    assert [e["member_email"] for e in outbox(rt, "booking.rsvp.confirmed")] == [
        "ann@example.com",
        "bo.b@example.com",
    ]

    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("ann@example.com", status="cancelled"))
    assert [e["member_email"] for e in outbox(rt, "booking.rsvp.cancelled")] == ["ann@example.com"]


def test_locally_edited_events_are_kept_and_cancellations_archive(rt, client, auth):
    deliver(rt, "integrations.calendar.event_synced", synced("g-1", source="google"))
    [event] = client.get("/api/v1/events", headers=auth(STAFF, "staff")).get_json()
    edited = client.patch(
        f"/api/v1/events/{event['id']}", json={"title": "Ours"}, headers=auth(STAFF, "staff")
    )
    assert edited.get_json()["locally_edited"] is True
    deliver(rt, "integrations.calendar.event_synced", synced("g-1", source="google", title="Theirs"))
    assert (
        client.get(f"/api/v1/events/{event['id']}", headers=auth(STAFF, "staff")).get_json()["title"]
        == "Ours"
    )
    deliver(rt, "integrations.calendar.event_synced", synced("g-1", source="google", status="cancelled"))
    assert (
        client.get(f"/api/v1/events/{event['id']}", headers=auth(STAFF, "staff")).get_json()["is_active"]
        is False
    )
    assert len(outbox(rt, "booking.event.cancelled")) == 1


def test_wellness_classes_from_the_calendar(rt, client, auth):
    deliver(
        rt,
        "integrations.calendar.event_synced",
        synced(
            "g-yoga",
            kind="wellness_class",
            source="google",
            title="Yoga flow",
            category="Yoga",
            instructor="Ines",
            max_capacity=12,
        ),
    )
    [cls] = client.get("/api/v1/wellness-classes", headers=auth(STAFF, "staff")).get_json()
    assert (cls["title"], cls["instructor"], cls["category"], cls["capacity"]) == (
        "Yoga flow",
        "Ines",
        "Yoga",
        12,
    )
    assert (cls["date"], cls["start_time"], cls["duration_minutes"]) == ("2026-11-07", "17:00", 120)
    deliver(
        rt,
        "integrations.calendar.event_synced",
        synced("g-yoga", kind="wellness_class", source="google", status="cancelled"),
    )
    [cls] = client.get("/api/v1/wellness-classes", headers=auth(STAFF, "staff")).get_json()
    assert cls["status"] == "cancelled"
