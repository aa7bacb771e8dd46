"""In-app notifications: the caller's own list, unread count, mark read; the 60-second dedupe rule;
placeholders; the nightly retention clean-up."""

from __future__ import annotations

from datetime import timedelta

from notifications_support import jobs_for
from sqlalchemy import func, select, text, update

from club_notifications import notify
from club_notifications.domain.messages import Message
from club_notifications.jobs import Deliveries
from club_notifications.models import Notification


def _notify(db, email, title="Hello", related_id=None, push=False, email_spec=None):
    message = Message(
        type="info", title=title, message="m", related_id=related_id, push=push, email=email_spec
    )
    with db.transaction() as session:
        return notify.notify_member(session, email, message)


def test_the_list_is_the_callers_own(client, db, email, auth):
    _notify(db, email, "for ann")
    _notify(db, "bo." + email, "for bo")
    assert client.get("/api/v1/notifications").status_code == 401
    assert (
        client.get("/api/v1/notifications", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    )
    mine = client.get("/api/v1/notifications", headers=auth(email)).get_json()
    assert [n["title"] for n in mine] == ["for ann"]
    # the first slice's stand-in parameter is gone: it is refused, not obeyed
    response = client.get(
        "/api/v1/notifications", query_string={"user_email": "bo." + email}, headers=auth(email)
    )
    assert response.status_code == 422


def test_order_pagination_since_and_unread(client, db, email, auth):
    ids = [_notify(db, email, f"n{i}").id for i in range(5)]
    headers = auth(email)
    assert client.post(f"/api/v1/notifications/{ids[4]}/read", headers=headers).get_json()["is_read"] is True

    by_time = client.get("/api/v1/notifications", headers=headers).get_json()
    assert [n["id"] for n in by_time] == ids[::-1]
    unread_first = client.get("/api/v1/notifications?order=unread_first", headers=headers).get_json()
    assert [n["id"] for n in unread_first] == [ids[3], ids[2], ids[1], ids[0], ids[4]]
    page = client.get("/api/v1/notifications?limit=2&offset=2", headers=headers).get_json()
    assert [n["id"] for n in page] == [ids[2], ids[1]]
    unread = client.get("/api/v1/notifications?unread_only=true", headers=headers).get_json()
    assert ids[4] not in [n["id"] for n in unread]
    assert client.get("/api/v1/notifications/unread-count", headers=headers).get_json() == {"unread": 4}

    with db.transaction() as session:
        cutoff = session.get(Notification, ids[2]).created_at
    since = client.get(
        "/api/v1/notifications", query_string={"since": cutoff.isoformat()}, headers=headers
    ).get_json()
    assert {n["id"] for n in since} <= set(ids[2:]) and ids[2] not in {n["id"] for n in since}

    for bad in ("limit=0", "limit=500", "order=random", "since=yesterday", "offset=-1"):
        response = client.get(f"/api/v1/notifications?{bad}", headers=headers)
        assert response.status_code == 422, bad
        assert response.mimetype == "application/problem+json"


def test_mark_read_and_read_all(client, db, email, auth):
    mine = [_notify(db, email, f"r{i}").id for i in range(3)]
    theirs = _notify(db, "cy." + email, "theirs").id
    headers = auth(email)
    assert client.post(f"/api/v1/notifications/{theirs}/read", headers=headers).status_code == 404
    assert client.post("/api/v1/notifications/999999999/read", headers=headers).status_code == 404
    first = client.post(f"/api/v1/notifications/{mine[0]}/read", headers=headers).get_json()
    again = client.post(f"/api/v1/notifications/{mine[0]}/read", headers=headers).get_json()
    assert first["read_at"] and again["read_at"] == first["read_at"]  # repeating changes nothing
    assert client.post("/api/v1/notifications/read-all", headers=headers).get_json() == {"marked": 2}
    assert client.post("/api/v1/notifications/read-all", headers=headers).get_json() == {"marked": 0}
    assert client.get("/api/v1/notifications/unread-count", headers=headers).get_json() == {"unread": 0}
    with db.transaction() as session:
        assert session.get(Notification, theirs).is_read is False


def test_same_title_user_and_related_id_within_60_s_is_dropped(db, email):
    assert _notify(db, email, "Booking approved", related_id=7) is not None
    assert _notify(db, email, "Booking approved", related_id=7) is None
    assert _notify(db, email, "Booking approved", related_id=8) is not None  # another booking
    assert _notify(db, email, "Booking declined", related_id=7) is not None  # another title
    assert _notify(db, "other." + email, "Booking approved", related_id=7) is not None  # another person
    assert _notify(db, email, "No related id") is not None
    assert _notify(db, email, "No related id") is None
    with db.transaction() as session:  # a minute later the same message is news again
        session.execute(
            update(Notification)
            .where(Notification.user_email == email, Notification.related_id == 7)
            .values(created_at=func.now() - timedelta(seconds=61))
        )
    assert _notify(db, email, "Booking approved", related_id=7) is not None
    with db.transaction() as session:
        count = session.scalar(select(func.count()).where(Notification.user_email == email))
    assert count == 5


def test_a_duplicate_queues_no_second_push_or_email(db, email):
    from club_notifications.domain.messages import Email

    with db.transaction() as session:
        session.execute(  # a subscription, so that push is queued at all
            text("INSERT INTO push_subscriptions (endpoint, user_email, keys) VALUES (:e, :u, '{}'::jsonb)"),
            {"e": f"https://push.example.com/{email}", "u": email},
        )
    message = {"push": True, "email_spec": Email("welcome", {"first_name": "Ann"})}
    first = _notify(db, email, "Twice", related_id=1, **message)
    assert _notify(db, email, "Twice", related_id=1, **message) is None
    assert len(jobs_for(db, "push", notification_id=first.id)) == 1
    from club_notifications.models import CommunicationLog

    with db.transaction() as session:
        logs = session.scalars(select(CommunicationLog).where(CommunicationLog.member_email == email)).all()
    assert [entry.template for entry in logs] == ["welcome"]


def test_placeholder_addresses_are_never_notified(db):
    for address in ("anonymous@club.example", "unmatched-1234@club.example", "bay3@trackman.local", "  "):
        assert _notify(db, address, "Hi") is None


def test_staff_can_send_a_member_a_notification(client, email, auth):
    body = {
        "user_email": email.upper(),
        "title": "Your locker",
        "message": "Locker 12 is ready.",
        "push": False,
    }
    assert client.post("/api/v1/notifications", json=body, headers=auth("m@example.com")).status_code == 403
    sent = client.post("/api/v1/notifications", json=body, headers=auth("desk@example.com", "staff"))
    assert sent.status_code == 201 and sent.get_json()["user_email"] == email
    assert (
        client.post("/api/v1/notifications", json=body, headers=auth("desk@example.com", "admin")).status_code
        == 200
    )
    bad = client.post(
        "/api/v1/notifications", json={**body, "title": ""}, headers=auth("d@example.com", "staff")
    )
    assert bad.status_code == 422


def test_retention_cleanup_deletes_only_old_rows(runtime, db, email):
    old = _notify(db, email, "old").id
    recent = _notify(db, email, "recent").id
    with db.transaction() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == old)
            .values(
                created_at=func.now()
                - timedelta(days=runtime.settings.notification_retention_days, seconds=1)
            )
        )
    with db.transaction() as session:
        Deliveries(runtime).cleanup(session, {})
    with db.transaction() as session:
        assert session.get(Notification, old) is None
        assert session.get(Notification, recent) is not None


def test_cleanup_is_scheduled_nightly_and_runs_once_per_club_day(runtime):
    from datetime import UTC, datetime

    from club_notifications.jobs import make_jobs

    runner = make_jobs(runtime)
    midnight_la = datetime(2031, 1, 15, 8, 0, 30, tzinfo=UTC)  # 00:00:30 PST
    fired = runner.fire_due(midnight_la)
    assert "cleanup" in fired
    assert "cleanup" not in runner.fire_due(midnight_la + timedelta(hours=3))
    assert "cleanup" not in runner.fire_due(
        datetime(2031, 1, 16, 7, 59, tzinfo=UTC)
    )  # 23:59 the same club day
