"""Calendar feeds (RFC 5545): a member's bookings, RSVPs and enrolments and a bay's sessions and
blocks, behind unguessable revocable tokens; parsed back with `icalendar`, they show the club's
wall-clock times on both sides of the fall-back change (1 November 2026, America/Los_Angeles)."""

from datetime import timedelta

import icalendar

from club_booking.testing import problem

STAFF = "sam.staff@club.example"


def staff(auth):
    return auth(STAFF, "staff")


def parse(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(response.get_data())
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "America/Los_Angeles"
    return cal, {str(e["UID"]): e for e in cal.walk("VEVENT")}


def wall(vevent, key="DTSTART"):
    assert vevent[key].params["TZID"] == "America/Los_Angeles"
    value = vevent[key].dt
    return value.strftime("%Y-%m-%d %H:%M"), value.utcoffset()


def test_member_feed_across_dst_and_revocation(client, auth, member, clock):
    clock.at("2026-10-27")
    member("ann@example.com", "vip")
    ann = auth("ann@example.com")
    events = []
    for day in ("2026-10-31", "2026-11-07"):
        made = client.post(
            "/api/v1/events",
            json={"title": f"Supper {day}", "date": day, "start_time": "18:00", "end_time": "20:00"},
            headers=staff(auth),
        ).get_json()
        events.append(made)
        assert client.post(f"/api/v1/events/{made['id']}/rsvp", json={}, headers=ann).status_code == 201
    classes = client.post(
        "/api/v1/wellness-classes",
        json={
            "title": "Yoga",
            "instructor": "Ines",
            "category": "Yoga",
            "date": "2026-10-31",
            "start_time": "09:00",
            "duration_minutes": 60,
            "capacity": 5,
            "repeat": {"every_days": 7, "count": 2},
        },
        headers=staff(auth),
    ).get_json()
    for cls in classes:
        assert (
            client.post(f"/api/v1/wellness-classes/{cls['id']}/enroll", json={}, headers=ann).status_code
            == 201
        )
    booking = client.post(
        "/api/v1/booking-requests",
        json={
            "resource_type": "simulator",
            "date": "2026-11-03",
            "start_time": "11:30",
            "duration_minutes": 60,
        },
        headers=ann,
    )
    assert booking.status_code == 201, booking.get_data(as_text=True)
    booking_id = booking.get_json()["id"]

    issued = client.post("/api/v1/events/feeds", headers=ann)
    assert issued.status_code == 201
    token, url = issued.get_json()["token"], issued.get_json()["url"]
    assert len(token) >= 40 and url == f"/api/v1/events/feed/{token}.ics"

    _cal, vevents = parse(client.get(url))
    pdt, pst = timedelta(hours=-7), timedelta(hours=-8)
    assert wall(vevents[f"event-{events[0]['id']}@clubhouse"]) == ("2026-10-31 18:00", pdt)
    assert wall(vevents[f"event-{events[1]['id']}@clubhouse"]) == ("2026-11-07 18:00", pst)
    assert wall(vevents[f"event-{events[1]['id']}@clubhouse"], "DTEND") == ("2026-11-07 20:00", pst)
    assert wall(vevents[f"wellness-{classes[0]['id']}@clubhouse"]) == ("2026-10-31 09:00", pdt)
    assert wall(vevents[f"wellness-{classes[1]['id']}@clubhouse"]) == ("2026-11-07 09:00", pst)
    assert str(vevents[f"wellness-{classes[1]['id']}@clubhouse"]["SUMMARY"]) == "Yoga with Ines"
    assert wall(vevents[f"booking-{booking_id}@clubhouse"]) == ("2026-11-03 11:30", pst)
    assert str(vevents[f"booking-{booking_id}@clubhouse"]["STATUS"]) == "TENTATIVE"

    # a cancelled RSVP leaves the feed; another member's token shows only their own calendar
    client.post(f"/api/v1/events/{events[0]['id']}/rsvp/cancel", json={}, headers=ann)
    _cal, vevents = parse(client.get(url))
    assert f"event-{events[0]['id']}@clubhouse" not in vevents
    member("bob@example.com")
    bob_url = client.post("/api/v1/events/feeds", headers=auth("bob@example.com")).get_json()["url"]
    assert parse(client.get(bob_url))[1] == {}

    # revoked: the token stops working; bob cannot revoke ann's feed
    feed_id = issued.get_json()["id"]
    problem(client.post(f"/api/v1/events/feeds/{feed_id}/revoke", headers=auth("bob@example.com")), 404)
    assert [f["id"] for f in client.get("/api/v1/events/feeds", headers=ann).get_json()] == [feed_id]
    revoked = client.post(f"/api/v1/events/feeds/{feed_id}/revoke", headers=ann)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    problem(client.get(url), 404, "UNKNOWN_FEED")
    problem(client.get("/api/v1/events/feed/not-a-token.ics"), 404, "UNKNOWN_FEED")


def test_bay_feed_shows_sessions_and_blocks_across_dst(client, auth, member, clock):
    clock.at("2026-10-27")
    for day in ("2026-10-31", "2026-11-07"):
        made = client.post(
            "/api/v1/events",
            json={
                "title": "Club night",
                "date": day,
                "start_time": "18:00",
                "end_time": "22:00",
                "block_bays": True,
            },
            headers=staff(auth),
        )
        assert made.status_code == 201
    member("ann@example.com", "vip")
    booking = client.post(
        "/api/v1/booking-requests",
        json={"resource_id": 1, "date": "2026-11-03", "start_time": "12:00", "duration_minutes": 60},
        headers=auth("ann@example.com"),
    ).get_json()
    approved = client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve", json={"resource_id": 1}, headers=staff(auth)
    )
    assert approved.status_code == 200, approved.get_data(as_text=True)

    issued = client.post("/api/v1/resources/1/calendar-feeds", headers=staff(auth)).get_json()
    assert issued["url"] == f"/api/v1/resources/1/calendar.ics?token={issued['token']}"
    _cal, vevents = parse(client.get(issued["url"]))
    starts = sorted(wall(v) for v in vevents.values())
    assert starts == [
        ("2026-10-31 18:00", timedelta(hours=-7)),
        ("2026-11-03 12:00", timedelta(hours=-8)),
        ("2026-11-07 18:00", timedelta(hours=-8)),
    ]
    assert sorted(str(v["SUMMARY"]) for v in vevents.values()) == [
        "Booked",
        "Event: Club night",
        "Event: Club night",
    ]
    # the token is this bay's only, and needed
    problem(client.get(f"/api/v1/resources/2/calendar.ics?token={issued['token']}"), 404, "UNKNOWN_FEED")
    problem(client.get("/api/v1/resources/1/calendar.ics"), 404, "UNKNOWN_FEED")
    client.post(f"/api/v1/events/feeds/{issued['id']}/revoke", headers=staff(auth))
    problem(client.get(issued["url"]), 404, "UNKNOWN_FEED")
