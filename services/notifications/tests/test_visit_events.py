"""booking.visit.recorded (domain.md §4.8): a trialing member's first walk-in is thanked in the app
and by e-mail, once however often the bus delivers it; later visits, and other members' first ones,
say nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from club_notifications.models import CommunicationLog, Notification
from club_shared.bus import Verdict


def _visit(email: str, visit_id: int, *, status: str = "trialing", first: bool = True) -> dict:
    return {
        "visit_id": visit_id,
        "member_id": f"u-{visit_id}",
        "member_email": email,
        "member_name": "Tess Trial",
        "member_status": status,
        "visited_at": datetime.now(UTC).isoformat(),
        "checked_in_by": "desk@clubhouse.test",
        "method": "qr",
        "first_visit": first,
    }


def _said_to(db, email) -> tuple[list[Notification], list[str]]:
    with db.transaction() as session:
        rows = session.scalars(select(Notification).where(Notification.user_email == email)).all()
        sent = session.scalars(
            select(CommunicationLog.template).where(CommunicationLog.member_email == email)
        ).all()
    return rows, sent


def test_a_trialing_members_first_visit_is_greeted_once(deliver, db, email):
    _, outcomes = deliver("booking.visit.recorded", _visit(email.upper(), 41), times=2)
    assert [o.verdict for o in outcomes] == [Verdict.ACK, Verdict.ACK]
    [note], sent = _said_to(db, email)
    assert note.type == "membership_first_visit" and "Tess" in note.message
    assert (note.related_type, note.related_id) == ("visit", 41)
    assert sent == ["first_visit"]

    deliver("booking.visit.recorded", _visit(email, 42, first=False))
    assert len(_said_to(db, email)[0]) == 1


def test_other_members_first_visit_says_nothing(deliver, db, email):
    _, outcomes = deliver("booking.visit.recorded", _visit(email, 43, status="active"))
    assert [o.verdict for o in outcomes] == [Verdict.ACK]
    assert _said_to(db, email) == ([], [])
