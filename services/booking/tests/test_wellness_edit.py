"""Staff edit a wellness class (PATCH /api/v1/wellness-classes/<id>): a move recomputes its instants
and moves its availability blocks; the capacity never drops below the seats taken; added seats go to
the waitlist at once; booking.wellness_class.updated tells who is enrolled."""

from club_booking.testing import deliver, outbox, problem

from .test_event_imports import synced
from .test_wellness import STAFF, enrol, make_class


def patch(client, auth, class_id, body, role="staff"):
    email = STAFF if role != "member" else "ann@example.com"
    return client.patch(f"/api/v1/wellness-classes/{class_id}", json=body, headers=auth(email, role))


def blocks(client, auth, day):
    got = client.get(f"/api/v1/availability-blocks?date={day}", headers=auth(STAFF, "staff")).get_json()
    return sorted(
        (b["resource_id"], b["start_time"], b["end_time"]) for b in got if b["block_type"] == "wellness"
    )


def test_moving_a_class_moves_its_blocks_and_tells_the_enrolled(client, auth, member, rt):
    cls = make_class(client, auth, block_conference_room=True)
    member("ann@example.com")
    enrol(client, auth, cls["id"], "ann@example.com")
    assert blocks(client, auth, "2026-06-12") == [(5, "10:00", "11:00")]

    moved = patch(client, auth, cls["id"], {"date": "2026-06-13", "start_time": "17:30", "instructor": "Kai"})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    body = moved.get_json()
    assert (body["date"], body["start_time"], body["instructor"]) == ("2026-06-13", "17:30", "Kai")
    assert body["starts_at"].startswith("2026-06-14T00:30") and body["ends_at"].startswith("2026-06-14T01:30")
    assert blocks(client, auth, "2026-06-12") == []
    assert blocks(client, auth, "2026-06-13") == [(5, "17:30", "18:30")]

    [event] = outbox(rt, "booking.wellness_class.updated")
    assert sorted(event["changed_fields"]) == ["date", "instructor", "start_time"]
    assert event["enrolled_emails"] == ["ann@example.com"] and event["blocked_resource_ids"] == [5]
    assert event["changed_by"] == STAFF

    # The same values again change nothing and publish nothing.
    assert patch(client, auth, cls["id"], {"date": "2026-06-13"}).status_code == 200
    assert len(outbox(rt, "booking.wellness_class.updated")) == 1


def test_capacity_never_drops_below_seats_and_added_seats_go_to_the_waitlist(client, auth, member, rt):
    cls = make_class(client, auth, capacity=2)
    for name in ("ann", "bob", "cat", "dan"):
        member(f"{name}@example.com")
        enrol(client, auth, cls["id"], f"{name}@example.com")

    problem(patch(client, auth, cls["id"], {"capacity": 1}), 409, "CAPACITY_BELOW_ENROLMENTS")
    assert (
        client.get(f"/api/v1/wellness-classes/{cls['id']}", headers=auth(STAFF, "staff")).get_json()[
            "capacity"
        ]
        == 2
    )

    grown = patch(client, auth, cls["id"], {"capacity": 3}).get_json()
    assert (grown["confirmed_count"], grown["waitlist_count"]) == (3, 1)
    [promoted] = outbox(rt, "booking.enrollment.promoted")
    assert promoted["member_email"] == "cat@example.com"
    [event] = outbox(rt, "booking.wellness_class.updated")
    assert event["enrolled_emails"] == ["ann@example.com", "bob@example.com", "cat@example.com"]
    assert event["waitlisted_emails"] == ["dan@example.com"]


def test_inside_the_late_window_added_seats_stay_free(client, auth, member, clock, rt):
    cls = make_class(client, auth, capacity=1)
    for name in ("ann", "bob"):
        member(f"{name}@example.com")
        enrol(client, auth, cls["id"], f"{name}@example.com")
    clock.at("2026-06-12", "09:30")
    grown = patch(client, auth, cls["id"], {"capacity": 2}).get_json()
    assert (grown["confirmed_count"], grown["waitlist_count"]) == (1, 1)
    assert outbox(rt, "booking.enrollment.promoted") == []


def test_bad_edits_are_problems(client, auth, member):
    cls = make_class(client, auth)
    problem(patch(client, auth, cls["id"], {"capacity": -1}), 422)
    problem(patch(client, auth, cls["id"], {"start_time": "25:00"}), 422)
    problem(patch(client, auth, cls["id"], {"surprise": 1}), 422)
    problem(
        patch(client, auth, cls["id"], {"date": "2027-03-14", "start_time": "02:30"}),
        422,
        "INVALID_LOCAL_TIME",
    )
    problem(patch(client, auth, 999999, {"title": "x"}), 404, "UNKNOWN_CLASS")
    problem(patch(client, auth, cls["id"], {"title": "x"}, role="member"), 403)
    client.post(f"/api/v1/wellness-classes/{cls['id']}/cancel", headers=auth(STAFF, "staff"))
    problem(patch(client, auth, cls["id"], {"title": "x"}), 409, "STATE_CONFLICT")


def test_an_edited_imported_class_is_not_overwritten_by_the_calendar(client, auth, rt):
    cls = make_class(client, auth, google_calendar_id="gcal-yoga-1")
    assert patch(client, auth, cls["id"], {"capacity": 12}).status_code == 200
    deliver(
        rt,
        "integrations.calendar.event_synced",
        synced("gcal-yoga-1", kind="wellness_class", source="google", title="Renamed upstream"),
    )
    got = client.get(f"/api/v1/wellness-classes/{cls['id']}", headers=auth(STAFF, "staff")).get_json()
    assert (got["title"], got["capacity"], got["start_time"]) == ("Yoga flow", 12, "10:00")
