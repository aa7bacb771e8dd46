"""Announcements over whole club days with one banner at a time; notices a member sees (announcements
and closures) and dismissals; notice types; staff communication logs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from notifications_support import jobs_for
from sqlalchemy import delete, update

from club_notifications.models import Announcement, Closure
from club_shared.clubtime import today


@pytest.fixture
def staff(auth):
    return auth("desk@club.example.com", "staff")


@pytest.fixture(autouse=True)
def fresh_announcements(db):
    with db.transaction() as session:
        session.execute(delete(Announcement))
        session.execute(update(Closure).values(is_active=False))


def _create(client, staff, **body):
    club_today = body.pop("today")
    payload = {
        "title": "Members' night",
        "message": "Drinks at 7.",
        "starts_on": club_today.isoformat(),
        **body,
    }
    response = client.post("/api/v1/announcements", json=payload, headers=staff)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_live_by_club_day_and_ordered_by_priority(client, runtime, staff, auth, email):
    day = today(runtime.tz)
    normal = _create(client, staff, today=day, ends_on=day.isoformat())
    urgent = _create(client, staff, today=day, title="Bay 1 closed", priority="urgent")
    _create(client, staff, today=day + timedelta(days=1), title="Tomorrow")
    _create(
        client,
        staff,
        today=day - timedelta(days=3),
        ends_on=(day - timedelta(days=1)).isoformat(),
        title="Over",
    )
    _create(client, staff, today=day, title="Off", is_active=False)
    live = client.get("/api/v1/announcements", headers=auth(email)).get_json()
    assert [a["id"] for a in live] == [urgent["id"], normal["id"]]
    assert client.get("/api/v1/announcements?all=true", headers=auth(email)).status_code == 403
    assert len(client.get("/api/v1/announcements?all=true", headers=staff).get_json()) == 5


def test_one_banner_at_a_time(client, runtime, staff, auth, email):
    day = today(runtime.tz)
    assert client.get("/api/v1/announcements/banner", headers=auth(email)).status_code == 204
    first = _create(client, staff, today=day, show_as_banner=True)
    second = _create(client, staff, today=day, show_as_banner=True, title="Newer banner")
    assert client.get("/api/v1/announcements/banner", headers=auth(email)).get_json()["id"] == second["id"]
    patched = client.patch(
        f"/api/v1/announcements/{first['id']}", json={"show_as_banner": True}, headers=staff
    )
    assert patched.status_code == 200
    banners = [
        a
        for a in client.get("/api/v1/announcements?all=true", headers=staff).get_json()
        if a["show_as_banner"]
    ]
    assert [a["id"] for a in banners] == [first["id"]]


def test_bad_input_changes_nothing(client, runtime, staff):
    day = today(runtime.tz)
    created = _create(client, staff, today=day)
    for bad in (
        {"title": "", "message": "m", "starts_on": day.isoformat()},
        {
            "title": "t",
            "message": "m",
            "starts_on": day.isoformat(),
            "ends_on": (day - timedelta(days=1)).isoformat(),
        },
        {"title": "t", "message": "m", "starts_on": "tomorrow"},
        {"title": "t", "message": "m", "starts_on": day.isoformat(), "priority": "critical"},
    ):
        assert client.post("/api/v1/announcements", json=bad, headers=staff).status_code == 422, bad
    earlier = (day - timedelta(days=2)).isoformat()
    patch = client.patch(f"/api/v1/announcements/{created['id']}", json={"ends_on": earlier}, headers=staff)
    assert patch.status_code == 422
    assert (
        client.patch("/api/v1/announcements/999999999", json={"title": "x"}, headers=staff).status_code == 404
    )
    [only] = client.get("/api/v1/announcements?all=true", headers=staff).get_json()
    assert only == created


def test_push_to_all_members_when_asked(client, runtime, staff, db):
    created = _create(
        client, staff, today=today(runtime.tz), send_push=True, title=f"Push {uuid.uuid4().hex[:6]}"
    )
    [job] = [j for j in jobs_for(db, "broadcast") if j.payload["related_id"] == created["id"]]
    assert job.payload["title"] == created["title"] and job.payload["type"] == "announcement"


def test_broadcast_reaches_every_browser(live_runtime, push_service, vapid, jobs, db):
    from club_notifications.domain import messages
    from club_notifications.jobs import queue_broadcast
    from club_notifications.models import PushSubscription

    browsers = [push_service.subscribe(vapid[1]) for _ in range(3)]
    with db.transaction() as session:
        for i, browser in enumerate(browsers):
            session.add(
                PushSubscription(
                    endpoint=browser["endpoint"], user_email=f"m{i}@example.com", keys=browser["keys"]
                )
            )
        queue_broadcast(session, messages.announcement(99, "Club closed Monday", "Maintenance day."))
    jobs.drain()
    for browser in browsers:
        [received] = push_service.messages_for(browser["endpoint"])
        assert received.json["tag"] == "announcement-99" and received.json["title"] == "Club closed Monday"


def test_delete(client, runtime, staff):
    created = _create(client, staff, today=today(runtime.tz))
    assert client.delete(f"/api/v1/announcements/{created['id']}", headers=staff).status_code == 204
    assert client.delete(f"/api/v1/announcements/{created['id']}", headers=staff).status_code == 404


def test_notices_and_dismissals(client, runtime, staff, auth, email, db):
    day = today(runtime.tz)
    announcement = _create(client, staff, today=day)
    closure_id = int(uuid.uuid4().int % 10**9)
    with db.transaction() as session:
        session.add(
            Closure(
                closure_id=closure_id,
                title="Bay 2 closed",
                member_notice="Repairs.",
                start_date=day,
                end_date=day + timedelta(days=1),
                notify_members=True,
                is_active=True,
            )
        )
        session.add(
            Closure(
                closure_id=closure_id + 1,
                title="Staff only",
                start_date=day,
                end_date=day,
                notify_members=False,
                is_active=True,
            )
        )
    mine = auth(email)
    notices = client.get("/api/v1/notices", headers=mine).get_json()
    assert [(n["notice_type"], n["notice_id"]) for n in notices] == [
        ("announcement", announcement["id"]),
        ("closure", closure_id),
    ]
    body = {"notice_type": "closure", "notice_id": closure_id}
    assert client.post("/api/v1/notices/dismiss", json=body, headers=mine).status_code == 204
    assert client.post("/api/v1/notices/dismiss", json=body, headers=mine).status_code == 204
    assert (
        client.post(
            "/api/v1/notices/dismiss", json={**body, "notice_id": 999999999}, headers=mine
        ).status_code
        == 404
    )
    assert [n["notice_type"] for n in client.get("/api/v1/notices", headers=mine).get_json()] == [
        "announcement"
    ]
    assert (
        len(client.get("/api/v1/notices", headers=auth("other." + email)).get_json()) == 2
    )  # only mine dismissed
    assert client.post("/api/v1/notices/dismiss-all", headers=mine).get_json() == {"marked": 1}
    assert client.get("/api/v1/notices", headers=mine).get_json() == []


def test_notice_types(client, staff, auth, email):
    name = f"type_{uuid.uuid4().hex[:6]}"
    created = client.post("/api/v1/notices/types", json={"name": name, "description": "d"}, headers=staff)
    assert created.status_code == 201
    assert client.post("/api/v1/notices/types", json={"name": name}, headers=staff).status_code == 409
    assert client.post("/api/v1/notices/types", json={"name": "Bad Name"}, headers=staff).status_code == 422
    patched = client.patch(
        f"/api/v1/notices/types/{created.get_json()['id']}", json={"is_active": False}, headers=staff
    )
    assert patched.get_json() == {**created.get_json(), "is_active": False}
    assert name in [t["name"] for t in client.get("/api/v1/notices/types", headers=auth(email)).get_json()]


def test_communication_logs(client, staff, email):
    logged = client.post(
        "/api/v1/communications",
        json={
            "member_email": email.upper(),
            "type": "call",
            "direction": "outbound",
            "subject": "Renewal",
            "body": "Left a message.",
        },
        headers=staff,
    )
    assert logged.status_code == 201 and logged.get_json()["created_by"] == "desk@club.example.com"
    listed = client.get(
        "/api/v1/communications", query_string={"member_email": email}, headers=staff
    ).get_json()
    assert [entry["subject"] for entry in listed] == ["Renewal"]
    assert (
        client.post(
            "/api/v1/communications",
            json={"member_email": email, "type": "fax", "direction": "outbound"},
            headers=staff,
        ).status_code
        == 422
    )
    assert client.get("/api/v1/communications", headers=staff).status_code == 422


def test_channels_say_what_is_off(client, live_client, staff):
    off = client.get("/api/v1/communications/channels", headers=staff).get_json()
    assert off["email"]["enabled"] is False and "EMAIL_API_KEY" in off["email"]["reason"]
    on = live_client.get("/api/v1/communications/channels", headers=staff).get_json()
    assert on["email"]["enabled"] and on["push"]["enabled"]


def test_announcement_days_are_club_days(client, runtime, staff, db):
    from club_shared.clubtime import day_bounds

    day = date(2031, 3, 9)  # spring forward in Los Angeles: a 23-hour club day
    created = _create(client, staff, today=day, ends_on=day.isoformat())
    with db.transaction() as session:
        row = session.get(Announcement, created["id"])
    assert (row.starts_at, row.ends_at) == day_bounds(day, runtime.tz)
    assert (row.ends_at - row.starts_at) == timedelta(hours=23)
