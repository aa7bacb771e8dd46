"""Helpers for billing's tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

TZ = ZoneInfo("America/Los_Angeles")
#: the webhook signing secret of the tests' billing runtime
WEBHOOK_SECRET = "whsec_test_clubhouse"
_ids = itertools.count(int(uuid.uuid4().int % 10_000_000) * 100)


def next_id() -> int:
    return next(_ids)


def member_event(
    email: str, tier: str | None, *, status: str = "active", role: str = "member", **extra
) -> dict:
    return {
        "member_id": uuid.uuid4().hex,
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "tier": tier,
        "status": status,
        "role": role,
        **extra,
    }


def participant(
    ptype: str,
    slot: int,
    email: str | None,
    *,
    pid: int | None = None,
    name: str | None = None,
    staff: bool = False,
    placeholder: bool = False,
    pass_used: bool = False,
    status: str | None = "pending",
    user_id: str | None = None,
) -> dict:
    return {
        "participant_id": pid,
        "type": ptype,
        "user_id": user_id,
        "guest_id": None,
        "email": email,
        "name": name or (email.split("@")[0].title() if email else f"Guest {slot}"),
        "slot": slot,
        "is_staff": staff,
        "is_placeholder": placeholder,
        "used_guest_pass": pass_used,
        "payment_status": status,
    }


def booking_data(
    booking_id: int,
    owner: str,
    *,
    status: str = "approved",
    day: date | None = None,
    start: time = time(10, 0),
    minutes: int = 60,
    declared: int = 1,
    participants: list[dict] | None = None,
    roster_version: int = 1,
    resource_type: str = "simulator",
    source: str = "approval",
    session_id: int | None = None,
    **extra: Any,
) -> dict:
    day = day or (datetime.now(TZ).date() + timedelta(days=3))
    starts_at = datetime.combine(day, start, tzinfo=TZ)
    ends_at = starts_at + timedelta(minutes=minutes)
    if participants is None:
        participants = [participant("owner", 1, owner, pid=booking_id * 10 + 1)]
    return {
        "booking_id": booking_id,
        "session_id": session_id if session_id is not None else booking_id + 5_000_000,
        "status": status,
        "source": source,
        "member_id": None,
        "member_email": owner,
        "member_name": "Ann Lee",
        "resource_id": 1 if resource_type == "simulator" else 5,
        "resource_name": "Bay 1",
        "resource_type": resource_type,
        "date": day.isoformat(),
        "start_time": start.strftime("%H:%M"),
        "end_time": ends_at.astimezone(TZ).strftime("%H:%M"),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "duration_minutes": minutes,
        "declared_player_count": declared,
        "roster_version": roster_version,
        "trackman_booking_id": None,
        "participants": participants,
        **extra,
    }


def approved(data: dict, reviewed_by: str = "desk@club.example") -> dict:
    return {**data, "status": "approved", "reviewed_by": reviewed_by}


def cancelled(
    data: dict, *, refund_eligible: bool, by: str = "member@example.com", late: bool = False
) -> dict:
    return {
        **data,
        "status": "cancelled",
        "source": "cancellation",
        "cancelled_by": by,
        "actor_type": "member",
        "previous_status": "approved",
        "requested_at": datetime.now(TZ).isoformat(),
        "late": late,
        "refund_eligible": refund_eligible,
    }


def outbox(db, event_type: str, **match) -> list[dict]:
    from club_billing.models import BUS

    table = BUS.outbox
    with db.transaction() as session:
        rows = session.execute(
            select(table.c.envelope).where(table.c.event_type == event_type).order_by(table.c.id)
        ).scalars()
        found = [row["data"] for row in rows]
    return [d for d in found if all(d.get(k) == v for k, v in match.items())]


def fees_of(client, auth, booking_id: int, email: str = "desk@club.example", role: str = "staff"):
    response = client.get(f"/api/v1/fees/booking-requests/{booking_id}", headers=auth(email, role))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def post_webhook(
    client, event: dict, secret: str, *, timestamp: int | None = None, signature: str | None = None
):
    """Deliver a Stripe event to the webhook endpoint, signed with Stripe's scheme."""
    import json

    from fakes.stripe_fake import sign

    payload = json.dumps(event).encode()
    header = signature if signature is not None else sign(payload, secret, timestamp)
    return client.post(
        "/api/v1/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
    )


def fake_requests(stripe_fake, path_prefix: str, method: str = "POST") -> list[dict]:
    return [
        r for r in stripe_fake.fake.requests if r["path"].startswith(path_prefix) and r["method"] == method
    ]
