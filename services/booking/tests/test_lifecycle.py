"""The lifecycle: approve, decline, cancel (late-cancel, cancellation_pending), check-in (402),
no-show, attended; the status machine in code and in the database."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from club_booking.domain.status import STATUSES, TRANSITIONS, can_transition, sources_of
from club_booking.testing import deliver, outbox, problem

STAFF = "sam.staff@club.example"
ANN = "ann@example.com"


def book(client, headers, **fields):
    body = {"resource_id": 3, "date": "2026-05-20", "start_time": "18:00", "duration_minutes": 60}
    body.update(fields)
    made = client.post("/api/v1/booking-requests", json=body, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json()


def act(client, headers, booking_id, action, **body):
    return client.post(f"/api/v1/booking-requests/{booking_id}/{action}", json=body, headers=headers)


def fees(rt, booking, lines, *, roster_version=None, fees_version=1):
    """billing.fees.calculated for the booking: lines as (participant_id, email, total, payment_status)."""
    participants = [
        {
            "participant_id": pid,
            "email": email,
            "minutes": 60,
            "overage_cents": total,
            "guest_fee_cents": 0,
            "total_cents": total,
            "guest_pass_used": False,
            "payment_status": status,
        }
        for pid, email, total, status in lines
    ]
    deliver(
        rt,
        "billing.fees.calculated",
        {
            "booking_request_id": booking["id"],
            "session_id": booking["session_id"],
            "member_email": booking["user_email"],
            "roster_version": roster_version or booking["roster_version"],
            "fees_version": fees_version,
            "total_cents": sum(p["total_cents"] for p in participants),
            "participants": participants,
        },
    )


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-05-15", "09:00")
    member(ANN, "premium")
    return auth(ANN)


@pytest.fixture
def staff(auth):
    return auth(STAFF, "staff")


# --- the machine -------------------------------------------------------------------------------


def test_the_transition_table_is_domain_md_4_2():
    assert set(TRANSITIONS) == set(STATUSES)
    assert can_transition("pending", "approved") and not can_transition("approved", "pending")
    assert not can_transition("expired", "approved") and can_transition("expired", "pending")
    assert set(sources_of("cancelled")) == {
        "pending",
        "pending_approval",
        "approved",
        "confirmed",
        "cancellation_pending",
        "checked_in",
        "attended",
        "no_show",
        "declined",
    }
    assert sources_of("checked_in") == ("approved", "confirmed")


def test_the_database_refuses_an_illegal_status_change(client, ann, rt):
    booking = book(client, ann)
    with pytest.raises(IntegrityError, match="may not go from pending to attended"), rt.db.transaction() as s:
        s.execute(
            text("UPDATE booking_requests SET status = 'attended' WHERE id = :id"), {"id": booking["id"]}
        )
    with rt.db.transaction() as s:
        s.execute(
            text("UPDATE booking_requests SET status = 'pending_approval' WHERE id = :id"),
            {"id": booking["id"]},
        )
    with rt.db.transaction() as s:  # an audited admin repair may bypass it
        s.execute(text("SET LOCAL club.status_repair = 'on'"))
        s.execute(
            text("UPDATE booking_requests SET status = 'attended' WHERE id = :id"), {"id": booking["id"]}
        )


# --- approve -----------------------------------------------------------------------------------


def test_approval_creates_the_session_and_a_repeat_changes_nothing(client, ann, staff, rt):
    booking = book(
        client,
        ann,
        declared_player_count=2,
        duration_minutes=120,
        participants=[{"type": "guest", "name": "Sam", "email": "sam@example.com"}],
    )
    approved = act(client, staff, booking["id"], "approve")
    assert approved.status_code == 200, approved.get_data(as_text=True)
    body = approved.get_json()
    assert body["status"] == "approved" and body["session_id"] and body["reviewed_by"] == STAFF
    assert "[PENDING_TRACKMAN_SYNC]" in body["staff_notes"]
    assert [(p["type"], p["used_guest_pass"]) for p in body["participants"]] == [
        ("owner", False),
        ("guest", True),
    ]
    assert all(p["participant_id"] for p in body["participants"])
    [event] = outbox(rt, "booking.request.approved")
    assert event["source"] == "approval" and event["session_id"] == body["session_id"]
    assert [e["session_id"] for e in outbox(rt, "booking.session.created")] == [body["session_id"]]
    again = act(client, staff, booking["id"], "approve")
    assert again.status_code == 200 and again.get_json()["session_id"] == body["session_id"]
    assert len(outbox(rt, "booking.request.approved")) == 1
    problem(act(client, ann, booking["id"], "approve"), 403)
    problem(act(client, staff, 99999, "approve"), 404)


def test_approval_with_a_trackman_id_confirms(client, ann, staff, member, auth, rt):
    booking = book(client, ann)
    problem(act(client, staff, booking["id"], "approve", trackman_booking_id="TM-1"), 422)
    confirmed = act(client, staff, booking["id"], "approve", trackman_booking_id="9001").get_json()
    assert confirmed["status"] == "confirmed" and confirmed["trackman_booking_id"] == "9001"
    assert [e["reason"] for e in outbox(rt, "booking.request.confirmed")] == ["trackman"]
    member("bo@example.com", "premium")
    other = book(client, auth("bo@example.com"), resource_id=4)
    problem(act(client, staff, other["id"], "approve", trackman_booking_id="9001"), 409, "TRACKMAN_ID_TAKEN")


def test_a_bay_is_needed_and_it_must_be_free(client, ann, staff, member, auth):
    no_bay = book(client, ann, resource_id=None, resource_type="simulator")
    problem(act(client, staff, no_bay["id"], "approve"), 422, "BAY_REQUIRED")
    problem(act(client, staff, no_bay["id"], "approve", resource_id=5), 422, "RESOURCE_MISMATCH")
    member("bo@example.com", "premium")
    bo = book(client, auth("bo@example.com"), resource_id=2)
    problem(act(client, staff, no_bay["id"], "approve", resource_id=2), 409, "SLOT_TAKEN")
    blocked = client.post(
        "/api/v1/availability-blocks",
        json={"resource_id": 1, "block_date": "2026-05-20", "start_time": "17:00", "end_time": "21:00"},
        headers=staff,
    )
    assert blocked.status_code == 201
    problem(act(client, staff, no_bay["id"], "approve", resource_id=1), 409, "RESOURCE_CLOSED")
    assert act(client, staff, no_bay["id"], "approve", resource_id=4).get_json()["resource_id"] == 4
    assert bo["status"] == "pending"


def test_illegal_transitions_are_409_state_conflict(client, ann, staff):
    booking = book(client, ann)
    assert act(client, staff, booking["id"], "decline", reason="Bay maintenance").status_code == 200
    body = problem(act(client, staff, booking["id"], "approve"), 409, "STATE_CONFLICT")
    assert body["status_now"] == "declined"
    problem(act(client, staff, booking["id"], "check-in"), 409, "STATE_CONFLICT")
    problem(act(client, staff, booking["id"], "no-show"), 409, "STATE_CONFLICT")


# --- decline -----------------------------------------------------------------------------------


def test_decline_releases_holds_and_repeats_are_no_ops(client, ann, staff, rt):
    booking = book(
        client,
        ann,
        declared_player_count=2,
        duration_minutes=120,
        participants=[{"type": "guest", "name": "Sam", "email": "sam@example.com"}],
    )
    assert [e["passes"] for e in outbox(rt, "booking.guest_pass.held")] == [1]
    declined = act(client, staff, booking["id"], "decline", reason="No bays")
    assert declined.get_json()["status"] == "declined"
    assert [e["passes"] for e in outbox(rt, "booking.guest_pass.released")] == [1]
    assert act(client, staff, booking["id"], "decline").status_code == 200
    [event] = outbox(rt, "booking.request.declined")
    assert event["reason"] == "No bays" and event["reviewed_by"] == STAFF


# --- cancel ------------------------------------------------------------------------------------


def test_a_member_cancels_and_the_bay_is_free_again(client, ann, staff, member, auth, rt):
    booking = book(client, ann)
    act(client, staff, booking["id"], "approve")
    cancelled = act(client, ann, booking["id"], "cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    problem(act(client, ann, booking["id"], "cancel"), 409, "STATE_CONFLICT")
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["actor_type"], event["late"], event["refund_eligible"]) == ("member", False, True)
    assert event["previous_status"] == "approved"
    member("bo@example.com", "premium")
    again = book(client, auth("bo@example.com"))
    assert act(client, staff, again["id"], "approve").status_code == 200


def test_another_member_cannot_cancel(client, ann, member, auth):
    booking = book(client, ann)
    member("bo@example.com", "premium")
    problem(act(client, auth("bo@example.com"), booking["id"], "cancel"), 404)


@pytest.mark.parametrize(
    ("at", "late"),
    [("16:59:59", False), ("17:00:00", False), ("17:00:01", True)],
)
def test_example_14_the_late_cancel_rule(client, ann, staff, clock, rt, at, late):
    booking = book(
        client,
        ann,
        duration_minutes=120,
        declared_player_count=2,
        participants=[{"type": "guest", "name": "Gus", "email": "gus@example.com"}],
    )
    act(client, staff, booking["id"], "approve")
    [converted] = outbox(rt, "booking.guest_pass.converted")
    assert (converted["used_passes"], converted["total_passes"]) == (1, 8)
    clock.at("2026-05-20", at)
    assert act(client, ann, booking["id"], "cancel").get_json()["status"] == "cancelled"
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["late"], event["refund_eligible"]) == (late, not late)
    refunded = outbox(rt, "booking.guest_pass.refunded")
    if late:
        assert refunded == []  # the pass stays used: forfeited
    else:
        assert [(r["passes"], r["used_passes"]) for r in refunded] == [(1, 0)]


def test_example_14_trackman_linked_cancel_waits_for_trackman(client, ann, staff, clock, rt):
    booking = book(client, ann, duration_minutes=120)
    act(client, staff, booking["id"], "approve", trackman_booking_id="555")
    clock.at("2026-05-20", "16:30")
    pending = act(client, ann, booking["id"], "cancel").get_json()
    assert pending["status"] == "cancellation_pending"
    assert pending["cancellation_pending_at"].startswith("2026-05-20T16:30")
    [asked] = outbox(rt, "booking.request.cancellation_requested")
    assert asked["requested_by"] == ANN
    assert [n["type"] for n in outbox(rt, "booking.notification.requested")] == ["cancellation_pending"]
    problem(act(client, ann, booking["id"], "cancel"), 409, "STATE_CONFLICT")
    # The bay stays occupied meanwhile.
    day = client.get("/api/v1/availability?date=2026-05-20&resource_id=3", headers=ann).get_json()
    assert day["resources"][0]["busy"]
    clock.at("2026-05-20", "17:20")  # TrackMan's cancel (here: staff completing it) arrives after 17:00
    done = act(client, staff, booking["id"], "cancel", force=True).get_json()
    assert done["status"] == "cancelled"
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["late"], event["refund_eligible"]) == (False, True)  # 16:30 counts
    assert event["requested_at"].startswith("2026-05-20T23:30")


def test_staff_cancel_in_full_whatever_the_time(client, ann, staff, clock, rt):
    booking = book(client, ann)
    act(client, staff, booking["id"], "approve")
    clock.at("2026-05-20", "17:55")
    assert act(client, staff, booking["id"], "cancel").get_json()["status"] == "cancelled"
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["actor_type"], event["late"], event["refund_eligible"]) == ("staff", False, True)


# --- check-in, no-show, attended ---------------------------------------------------------------


def test_check_in_waits_for_fees_and_refuses_while_money_is_owed(client, ann, staff, rt):
    booking = act(client, staff, book(client, ann)["id"], "approve").get_json()
    problem(act(client, staff, booking["id"], "check-in"), 409, "FEES_NOT_READY")
    owner = booking["participants"][0]["participant_id"]
    fees(rt, booking, [(owner, ANN, 2500, "pending"), (None, None, 2500, "pending")])
    body = problem(act(client, staff, booking["id"], "check-in"), 402, "OUTSTANDING_BALANCE")
    assert body["total_cents"] == 5000
    assert [(o["email"], o["amount_cents"]) for o in body["outstanding"]] == [(ANN, 2500), (ANN, 2500)]
    fees(
        rt, booking, [(owner, ANN, 2500, "pending"), (None, None, 2500, "pending")], fees_version=1
    )  # stale: ignored
    fees(rt, booking, [(owner, ANN, 2500, "paid"), (None, None, 2500, "paid")], fees_version=2)
    checked = act(client, staff, booking["id"], "check-in")
    assert checked.status_code == 200 and checked.get_json()["status"] == "checked_in"
    assert act(client, staff, booking["id"], "check-in").status_code == 200
    assert len(outbox(rt, "booking.request.checked_in")) == 1
    problem(act(client, ann, booking["id"], "check-in"), 403)


def test_no_show_and_attended(client, ann, staff, rt):
    booking = act(client, staff, book(client, ann)["id"], "approve").get_json()
    assert act(client, staff, booking["id"], "no-show").get_json()["status"] == "no_show"
    assert act(client, staff, booking["id"], "no-show").status_code == 200
    assert len(outbox(rt, "booking.request.no_show_marked")) == 1
    assert act(client, staff, booking["id"], "attended").get_json()["status"] == "attended"
    [event] = outbox(rt, "booking.request.attended")
    assert event["marked_by"] == STAFF
    problem(act(client, staff, booking["id"], "no-show"), 409, "STATE_CONFLICT")
