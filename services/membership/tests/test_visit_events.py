"""booking.visit.recorded (domain.md §4.8): a walk-in visit adds one to the member's lifetime visits,
once per event however often the bus delivers it."""

from __future__ import annotations

from datetime import UTC, datetime

from club_shared.events import make_event


def _visit(email: str, visit_id: int):
    return make_event(
        "booking.visit.recorded",
        {
            "visit_id": visit_id,
            "member_id": "u-1",
            "member_email": email,
            "member_name": "Ann Lee",
            "member_status": "active",
            "visited_at": datetime.now(UTC).isoformat(),
            "checked_in_by": "staff@clubhouse.test",
            "method": "qr",
            "first_visit": visit_id == 1,
        },
        producer="booking",
    )


def test_each_walk_in_counts_once(deliver, make_member, user_row):
    ann = make_member()
    first = _visit(ann.email.upper(), 1)
    deliver(first)
    deliver(first)  # redelivered
    assert user_row(ann.id).lifetime_visits == 1
    deliver(_visit(ann.email, 2))
    assert user_row(ann.id).lifetime_visits == 2
    deliver(_visit("nobody@example.com", 3))  # not a member here: nothing to count
    assert user_row(ann.id).lifetime_visits == 2
