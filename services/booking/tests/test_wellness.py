"""Wellness classes and enrolments (domain.md §9): recurring classes as occurrences; enrol, waitlist
when full, CLASS_FULL without a waitlist; a cancelled seat promotes the oldest waitlisted member at
once (exactly once under races across two replicas), but not inside the late-cancel window."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from club_booking.app import create_app
from club_booking.testing import outbox, problem

STAFF = "sam.staff@club.example"


def make_class(client, auth, **overrides):
    body = {
        "title": "Yoga flow",
        "instructor": "Ines",
        "category": "Yoga",
        "date": "2026-06-12",
        "start_time": "10:00",
        "duration_minutes": 60,
        "capacity": 2,
    } | overrides
    made = client.post("/api/v1/wellness-classes", json=body, headers=auth(STAFF, "staff"))
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json() if "repeat" in body else made.get_json()[0]


def enrol(client, auth, class_id, email):
    return client.post(f"/api/v1/wellness-classes/{class_id}/enroll", json={}, headers=auth(email))


def cancel(client, auth, class_id, email):
    return client.post(f"/api/v1/wellness-classes/{class_id}/enroll/cancel", json={}, headers=auth(email))


def test_recurring_class_occurrences_keep_local_time_across_dst(client, auth):
    made = make_class(client, auth, date="2026-10-25", repeat={"every_days": 7, "count": 3})
    assert [c["date"] for c in made] == ["2026-10-25", "2026-11-01", "2026-11-08"]
    assert {c["start_time"] for c in made} == {"10:00"}
    assert [c["starts_at"][11:16] for c in made] == ["17:00", "18:00", "18:00"]  # PDT, then PST
    assert len({c["series_id"] for c in made}) == 1 and made[0]["series_id"]
    problem(
        client.post(
            "/api/v1/wellness-classes",
            json={
                "title": "x",
                "category": "Yoga",
                "date": "2026-03-08",
                "start_time": "02:30",
                "duration_minutes": 30,
                "capacity": 3,
            },
            headers=auth(STAFF, "staff"),
        ),
        422,
        "INVALID_LOCAL_TIME",
    )


def test_enrol_waitlist_cancel_promotes_oldest(client, auth, member, rt):
    cls = make_class(client, auth)
    for name in ("ann", "bob", "cat", "dan"):
        member(f"{name}@example.com")
    assert enrol(client, auth, cls["id"], "ann@example.com").get_json()["status"] == "confirmed"
    assert enrol(client, auth, cls["id"], "bob@example.com").get_json()["status"] == "confirmed"
    cat = enrol(client, auth, cls["id"], "cat@example.com")
    assert cat.status_code == 201 and cat.get_json()["status"] == "waitlisted"
    assert enrol(client, auth, cls["id"], "dan@example.com").get_json()["status"] == "waitlisted"
    assert enrol(client, auth, cls["id"], "dan@example.com").status_code == 200  # repeat: unchanged

    for _ in range(2):
        gone = cancel(client, auth, cls["id"], "ann@example.com")
        assert gone.status_code == 200 and gone.get_json()["status"] == "cancelled"
    rows = client.get(
        f"/api/v1/wellness-classes/{cls['id']}/enrollments", headers=auth(STAFF, "staff")
    ).get_json()
    assert {r["user_email"]: r["status"] for r in rows} == {
        "ann@example.com": "cancelled",
        "bob@example.com": "confirmed",
        "cat@example.com": "confirmed",
        "dan@example.com": "waitlisted",
    }
    [promoted] = outbox(rt, "booking.enrollment.promoted")
    assert promoted["member_email"] == "cat@example.com" and promoted["previous_status"] == "waitlisted"
    assert [e["member_email"] for e in outbox(rt, "booking.enrollment.waitlisted")] == [
        "cat@example.com",
        "dan@example.com",
    ]
    [cancelled] = outbox(rt, "booking.enrollment.cancelled")
    assert cancelled["late"] is False and cancelled["previous_status"] == "confirmed"
    # a waitlisted member leaving promotes nobody
    cancel(client, auth, cls["id"], "dan@example.com")
    assert len(outbox(rt, "booking.enrollment.promoted")) == 1
    got = client.get(f"/api/v1/wellness-classes/{cls['id']}", headers=auth("bob@example.com")).get_json()
    assert (got["confirmed_count"], got["waitlist_count"]) == (2, 0)


def test_no_waitlist_is_class_full_and_tier_and_waiver_checked(client, auth, member):
    cls = make_class(client, auth, capacity=1, waitlist_enabled=False)
    member("ann@example.com")
    member("bob@example.com")
    member("cat@example.com", waiver=False)
    assert enrol(client, auth, cls["id"], "ann@example.com").status_code == 201
    problem(enrol(client, auth, cls["id"], "bob@example.com"), 409, "CLASS_FULL")
    problem(enrol(client, auth, cls["id"], "cat@example.com"), 403, "WAIVER_REQUIRED")
    problem(enrol(client, auth, 999999, "ann@example.com"), 404, "UNKNOWN_CLASS")


def test_no_promotion_inside_the_late_cancel_window(client, auth, member, rt, clock):
    cls = make_class(client, auth, capacity=1)
    member("ann@example.com")
    member("bob@example.com")
    member("cat@example.com")
    enrol(client, auth, cls["id"], "ann@example.com")
    assert enrol(client, auth, cls["id"], "bob@example.com").get_json()["status"] == "waitlisted"
    clock.at("2026-06-12", "09:30")  # 30 min before; the window is 60
    cancel(client, auth, cls["id"], "ann@example.com")
    assert outbox(rt, "booking.enrollment.promoted") == []
    [cancelled] = outbox(rt, "booking.enrollment.cancelled")
    assert cancelled["late"] is True
    # the free seat is anyone's to take
    assert enrol(client, auth, cls["id"], "cat@example.com").get_json()["status"] == "confirmed"
    rows = client.get(
        f"/api/v1/wellness-classes/{cls['id']}/enrollments", headers=auth(STAFF, "staff")
    ).get_json()
    assert {r["user_email"]: r["status"] for r in rows}["bob@example.com"] == "waitlisted"


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


def test_cancellations_racing_enrolments_promote_each_waitlisted_member_exactly_once(
    replicas, client, auth, member, rt, clock
):
    cls = make_class(client, auth, capacity=5)
    seated = [f"seat{i}@example.com" for i in range(5)]
    waiting = [f"wait{i}@example.com" for i in range(8)]
    latecomers = [f"late{i}@example.com" for i in range(10)]
    for email in seated + waiting + latecomers:
        member(email)
    for email in seated + waiting:  # the waitlist in order (each enrolment a moment later)
        clock.instant = clock.instant.replace(microsecond=clock.instant.microsecond + 1)
        assert enrol(client, auth, cls["id"], email).status_code == 201
    clients = [app.test_client() for app in replicas]
    calls = [lambda i=i, e=e: cancel(clients[i % 2], auth, cls["id"], e) for i, e in enumerate(seated)]
    calls += [lambda i=i, e=e: enrol(clients[i % 2], auth, cls["id"], e) for i, e in enumerate(latecomers)]
    results = race(calls)
    assert all(r.status_code in (200, 201) for r in results), [r.get_data(as_text=True) for r in results]
    rows = client.get(
        f"/api/v1/wellness-classes/{cls['id']}/enrollments", headers=auth(STAFF, "staff")
    ).get_json()
    status = {r["user_email"]: r["status"] for r in rows}
    assert [e for e in waiting if status[e] == "confirmed"] == waiting[:5]
    assert all(status[e] == "waitlisted" for e in waiting[5:] + latecomers)
    assert sum(1 for s in status.values() if s == "confirmed") == 5
    promoted = [e["member_email"] for e in outbox(rt, "booking.enrollment.promoted")]
    assert sorted(promoted) == sorted(waiting[:5])


def test_a_tier_without_wellness_is_refused(client, auth, member, rt):
    with rt.db.transaction() as session:  # as membership.tier.updated would leave it
        session.execute(text("UPDATE tier_limits SET can_book_wellness = false WHERE slug = 'social'"))
    cls = make_class(client, auth)
    member("sol@example.com", "social")
    problem(enrol(client, auth, cls["id"], "sol@example.com"), 403, "TIER_NOT_ALLOWED")


def test_staff_cancel_a_class_and_its_enrolments(client, auth, member, rt):
    cls = make_class(client, auth, capacity=1)
    member("ann@example.com")
    member("bob@example.com")
    enrol(client, auth, cls["id"], "ann@example.com")
    enrol(client, auth, cls["id"], "bob@example.com")
    for _ in range(2):
        done = client.post(f"/api/v1/wellness-classes/{cls['id']}/cancel", headers=auth(STAFF, "staff"))
        assert done.status_code == 200 and done.get_json()["status"] == "cancelled"
    cancelled = outbox(rt, "booking.enrollment.cancelled")
    assert sorted((e["member_email"], e["previous_status"]) for e in cancelled) == [
        ("ann@example.com", "confirmed"),
        ("bob@example.com", "waitlisted"),
    ]
    assert outbox(rt, "booking.enrollment.promoted") == []
    problem(enrol(client, auth, cls["id"], "ann@example.com"), 409, "CLASS_CANCELLED")


def test_staff_enrol_a_member_audited(client, auth, member, rt):
    cls = make_class(client, auth)
    member("ann@example.com")
    made = client.post(
        f"/api/v1/wellness-classes/{cls['id']}/enroll",
        json={"member_email": "ann@example.com"},
        headers=auth(STAFF, "staff"),
    )
    assert made.status_code == 201 and made.get_json()["user_email"] == "ann@example.com"
    problem(
        client.post(
            f"/api/v1/wellness-classes/{cls['id']}/enroll",
            json={"member_email": "bob@example.com"},
            headers=auth("ann@example.com"),
        ),
        403,
        "FORBIDDEN",
    )
    audits = [e for e in outbox(rt, "booking.audit.recorded") if e["action"] == "enrollment_added"]
    assert [(a["actor_email"], a["resource_id"]) for a in audits] == [(STAFF, str(made.get_json()["id"]))]


def test_a_class_flagged_to_block_the_room_blocks_it_until_cancelled(client, auth):
    cls = make_class(client, auth, block_conference_room=True)
    assert cls["block_conference_room"] is True

    def wellness_blocks():
        got = client.get(
            "/api/v1/availability-blocks?date=2026-06-12", headers=auth(STAFF, "staff")
        ).get_json()
        return [
            (b["resource_id"], b["start_time"], b["end_time"]) for b in got if b["block_type"] == "wellness"
        ]

    assert wellness_blocks() == [(5, "10:00", "11:00")]
    client.post(f"/api/v1/wellness-classes/{cls['id']}/cancel", headers=auth(STAFF, "staff"))
    assert wellness_blocks() == []
