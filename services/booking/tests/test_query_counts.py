"""The number of SQL statements of the hottest requests, pinned: a round trip added to creating,
approving or reading availability shows up here before it shows up in the benchmark (bench/booking).

A test that fails here after a deliberate change: check the new statements are needed, then update
the number."""

from contextlib import contextmanager

import pytest
from sqlalchemy import event

ANN = "ann@example.com"
BO = "bo@example.com"
STAFF = "sam.staff@club.example"


@contextmanager
def statements(rt):
    """Every statement sent to booking's database inside the block (BEGIN/COMMIT are not statements)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-06-08", "09:00")
    member(ANN, "core")
    member(BO, "core")
    return auth(ANN)


def book(client, headers, **fields):
    body = {"resource_id": 1, "date": "2026-06-12", "start_time": "10:00", "duration_minutes": 60}
    return client.post("/api/v1/booking-requests", json=body | fields, headers=headers)


def test_a_member_creates_a_booking_with_a_member_and_a_guest_in_15_statements(client, ann, rt):
    # Warm (the first request of a process loads more), then cancelled: one pending request each.
    warm = book(client, ann, start_time="12:00").get_json()["id"]
    assert client.post(f"/api/v1/booking-requests/{warm}/cancel", json={}, headers=ann).status_code == 200
    participants = [{"type": "member", "email": BO}, {"type": "guest", "name": "Gus Guest"}]
    with statements(rt) as sent:
        made = book(client, ann, declared_player_count=3, duration_minutes=90, participants=participants)
    assert made.status_code == 201, made.get_data(as_text=True)
    assert [p["type"] for p in made.get_json()["participants"]] == ["owner", "member", "guest"]
    # Nothing written is read back: the roster the event and the response list is the one just written.
    assert not [s for s in sent if s.startswith(("SELECT booking_members", "SELECT booking_guests"))], sent
    assert len(sent) == 15, "\n".join(sent)


def test_staff_create_then_approve_in_10_and_22_statements(client, auth, rt, clock):
    clock.at("2026-06-08", "09:00")
    staff = auth(STAFF, "staff")
    book(client, staff, start_time="12:00")  # warm
    with statements(rt) as created:
        made = book(client, staff, duration_minutes=30)
    assert made.status_code == 201, made.get_data(as_text=True)
    assert len(created) == 10, "\n".join(created)
    with statements(rt) as approved:
        done = client.post(
            f"/api/v1/booking-requests/{made.get_json()['id']}/approve", json={}, headers=staff
        )
    assert done.status_code == 200 and done.get_json()["status"] == "approved", done.get_data(as_text=True)
    assert len(approved) == 22, "\n".join(approved)


def test_availability_of_a_day_in_4_statements_however_busy(client, ann, auth, rt):
    for start in ("10:00", "12:00", "14:00"):
        book(client, auth(STAFF, "staff"), start_time=start, resource_id=2)
    with statements(rt) as sent:
        day = client.get("/api/v1/availability?date=2026-06-12", headers=ann)
    assert day.status_code == 200
    assert sum(len(r["busy"]) for r in day.get_json()["resources"]) == 3
    # resources, settings, the caller's profile, and one query for every booking, session and block
    assert len(sent) == 4, "\n".join(sent)
