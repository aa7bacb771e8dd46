"""`Idempotency-Key` on POST /api/v1/booking-requests: a create cut off mid-flight is retried with
the same key and done once; the first answer (a booking or a 4xx problem) is replayed."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from club_booking.app import create_app
from club_booking.jobs import prune_idempotency_keys
from club_booking.models import BookingRequest, IdempotencyKey
from club_booking.testing import problem

ANN = "ann@example.com"
BO = "bo@example.com"
BODY = {"resource_id": 1, "date": "2026-06-12", "start_time": "10:00", "duration_minutes": 60}


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-06-08", "09:00")
    member(ANN, "core")
    member(BO, "core")
    return auth(ANN)


def book(client, headers, key=None, **fields):
    extra = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/api/v1/booking-requests", json=BODY | fields, headers=headers | extra)


def bookings(rt) -> int:
    with rt.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(BookingRequest))


def test_a_retry_with_the_same_key_replays_the_booking_and_creates_nothing(client, ann, rt):
    key = str(uuid.uuid4())
    first = book(client, ann, key)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    again = book(client, ann, key)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.get_json()["status"] == "pending"
    assert bookings(rt) == 1
    # The body's key order and spacing do not make it another request.
    reordered = client.post(
        "/api/v1/booking-requests",
        data='{"duration_minutes": 60, "start_time": "10:00", "date": "2026-06-12", "resource_id": 1}',
        content_type="application/json",
        headers=ann | {"Idempotency-Key": key},
    )
    assert reordered.status_code == 201 and reordered.get_json()["id"] == first.get_json()["id"]
    assert bookings(rt) == 1


def test_the_same_key_with_another_body_is_refused(client, ann, rt):
    key = "order-42"
    assert book(client, ann, key).status_code == 201
    problem(book(client, ann, key, start_time="14:00"), 422, "IDEMPOTENCY_KEY_REUSED")
    assert bookings(rt) == 1


def test_a_refusal_is_replayed_too(client, ann, auth, rt):
    bo = auth(BO)
    taken = book(client, bo)
    assert taken.status_code == 201
    key = str(uuid.uuid4())
    first = problem(book(client, ann, key), 409, "SLOT_TAKEN")
    # The bay is free again, but the key's answer was given: the retry hears it again.
    assert (
        client.post(
            f"/api/v1/booking-requests/{taken.get_json()['id']}/cancel", json={}, headers=bo
        ).status_code
        == 200
    )
    again = book(client, ann, key)
    assert problem(again, 409, "SLOT_TAKEN") == first
    assert again.headers["Idempotent-Replayed"] == "true"
    assert bookings(rt) == 1
    # A new key is a new attempt.
    assert book(client, ann, str(uuid.uuid4())).status_code == 201


def test_keys_belong_to_their_caller(client, ann, auth, rt):
    key = "shared-key"
    mine = book(client, ann, key)
    theirs = book(client, auth(BO), key)
    assert mine.status_code == 201 and theirs.status_code == 409  # Bo's own attempt: the bay is Ann's
    assert "Idempotent-Replayed" not in theirs.headers
    assert problem(theirs, 409)["code"] == "SLOT_TAKEN"


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_a_422_and_books_nothing(client, ann, rt, key):
    body = problem(book(client, ann, key), 422)
    assert "Idempotency-Key" in str(body)
    assert bookings(rt) == 0


def test_the_longest_key_is_accepted(client, ann):
    assert book(client, ann, "~" * 255).status_code == 201


def test_authorization_is_unchanged_by_a_key(client, ann, auth, rt):
    problem(client.post("/api/v1/booking-requests", json=BODY, headers={"Idempotency-Key": "k1"}), 401)
    plain = book(client, ann, member_email=BO)
    keyed = book(client, ann, "k2", member_email=BO)
    assert keyed.status_code == plain.status_code and keyed.status_code in (403, 422)
    assert keyed.get_json()["code"] == plain.get_json()["code"]
    assert bookings(rt) == 0


@pytest.fixture
def replicas(service_runtime, clock):
    runtimes = [service_runtime("booking"), service_runtime("booking")]
    yield [create_app(runtime=r, clock=clock) for r in runtimes]
    for r in runtimes:
        r.db.dispose()


def test_concurrent_repeats_of_one_key_make_one_booking(replicas, member, auth, clock, rt):
    clock.at("2026-06-08", "09:00")
    racers = 8
    for round_ in range(3):
        key = str(uuid.uuid4())
        email = f"racer{round_}@example.com"
        member(email, "core")
        who = auth(email)
        barrier = threading.Barrier(racers)
        clients = [app.test_client() for app in replicas]

        def go(i, key=key, barrier=barrier, clients=clients, round_=round_, who=who):
            barrier.wait()
            return book(clients[i % 2], who, key, start_time=f"{10 + round_}:00")

        with ThreadPoolExecutor(racers) as pool:
            results = list(pool.map(go, range(racers)))
        made = [r for r in results if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
        replayed = [r for r in results if r.headers.get("Idempotent-Replayed") == "true"]
        in_use = [r for r in results if r.status_code == 409]
        assert len(made) == 1, [(r.status_code, r.get_data(as_text=True)) for r in results]
        assert len(made) + len(replayed) + len(in_use) == racers, [r.status_code for r in results]
        assert {r.get_json()["id"] for r in replayed} <= {made[0].get_json()["id"]}
        assert {problem(r, 409)["code"] for r in in_use} <= {"IDEMPOTENCY_KEY_IN_USE"}
        assert all(r.headers["Retry-After"] == "1" for r in in_use)
        assert bookings(rt) == round_ + 1


def test_a_key_costs_five_statements_and_none_without(client, ann, member, auth, rt):
    member("cy@example.com", "core")
    cy = auth("cy@example.com")
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    assert book(client, auth(BO), start_time="09:00").status_code == 201  # warm
    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        assert book(client, ann, start_time="12:00").status_code == 201
        plain = len(sent)
        sent.clear()
        assert book(client, cy, "k", start_time="15:00").status_code == 201
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)
    # the lock, the look-up, SAVEPOINT, RELEASE, the stored answer
    assert len(sent) == plain + 5, "\n".join(sent)


def test_keys_are_forgotten_after_24_hours(client, ann, rt, clock):
    assert book(client, ann, "old").status_code == 201
    with rt.db.transaction() as session:
        stored = session.scalars(select(IdempotencyKey)).one()
        made_at = stored.created_at
        assert stored.status_code == 201 and stored.subject == f"u-{ANN}"
    with rt.db.transaction() as session:
        assert prune_idempotency_keys(session, made_at + timedelta(hours=23)) == 0
        assert prune_idempotency_keys(session, made_at + timedelta(hours=24, seconds=1)) == 1
        assert session.scalars(select(IdempotencyKey)).all() == []
