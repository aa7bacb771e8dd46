"""The demo club's bookings (development mode only; safe to run on every start).

Made through the service's own flows, by the demo front desk for the demo members that membership
seeds, so every event a real booking publishes is published (billing prices them, notifications
tells the members). The members reach booking through membership's events, so this waits for them.
A member who already has a demo booking is left as they are: running it again changes nothing.
"""

from __future__ import annotations

import logging
import time as clock
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from club_shared.auth import Identity
from club_shared.clubtime import utcnow
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from . import queries
from .flows import lifecycle, requests
from .models import BookingRequest, MemberProfile
from .schemas import BookingRequestIn

log = logging.getLogger(__name__)

DOMAIN = "clubhouse.test"
FRONT_DESK = Identity("demo-front-desk", f"staff@{DOMAIN}", "staff")
NOTE = "Demo booking"

#: (member, resource, nth open day from tomorrow, start, minutes, players, guests, approve)
PLAN = [
    (f"core@{DOMAIN}", {"resource_id": 1}, 0, "10:00", 60, 1, [], True),
    (
        f"premium@{DOMAIN}",
        {"resource_id": 2},
        0,
        "11:00",
        120,
        2,
        [{"type": "guest", "name": "Robin Guest", "email": "robin.guest@example.com"}],
        False,
    ),
    (f"vip@{DOMAIN}", {"resource_type": "conference_room"}, 0, "14:00", 60, 1, [], False),
    (f"corporate@{DOMAIN}", {"resource_id": 3}, 1, "15:00", 60, 1, [], True),
    (f"social@{DOMAIN}", {"resource_id": 4}, 1, "10:00", 60, 1, [], False),
]


def seed_demo(runtime: Runtime, *, wait_s: float = 30.0) -> int:
    """Book the demo members' bays and room on the next open days; how many bookings were made."""
    if not runtime.settings.is_development:
        log.info("booking demo seed skipped: not in development mode")
        return 0
    emails = [email for email, *_ in PLAN]
    if not _members_arrived(runtime, emails, wait_s):
        log.warning("booking demo seed skipped: the demo members have not reached booking yet")
        return 0
    made = 0
    with runtime.db.transaction() as session:
        now = utcnow()
        days = _open_days(session, now.astimezone(runtime.tz).date(), 2)
        for email, resource, nth, start, minutes, players, guests, approve in PLAN:
            if session.scalar(
                select(BookingRequest.id).where(
                    BookingRequest.user_email == email, BookingRequest.notes == NOTE
                )
            ):
                continue
            body = BookingRequestIn().load(
                {
                    **resource,
                    "date": days[nth].isoformat(),
                    "start_time": start,
                    "duration_minutes": minutes,
                    "declared_player_count": players,
                    "participants": guests,
                    "notes": NOTE,
                    "member_email": email,
                }
            )
            savepoint = session.begin_nested()
            try:
                req = requests.create_request(session, runtime, FRONT_DESK, body, now)
                if approve:
                    lifecycle.approve(session, runtime, FRONT_DESK, req.id, {}, now)
            except (Problem, IntegrityError) as exc:
                savepoint.rollback()
                log.warning("demo booking for %s not made: %s", email, exc)
                continue
            savepoint.commit()
            made += 1
    log.info("booking demo seeded", extra={"added": made})
    return made


def _members_arrived(runtime: Runtime, emails: list[str], wait_s: float) -> bool:
    deadline = clock.monotonic() + wait_s
    while True:
        with runtime.db.transaction() as session:
            found = set(session.scalars(select(MemberProfile.email).where(MemberProfile.email.in_(emails))))
        if found >= set(emails):
            return True
        if clock.monotonic() >= deadline:
            return False
        clock.sleep(0.25)


def _open_days(session: Session, today: date, count: int) -> list[date]:
    """The next `count` days the club opens, from tomorrow."""
    hours = queries.settings(session).business_hours
    days: list[date] = []
    day = today
    while len(days) < count:
        day += timedelta(days=1)
        if hours.for_day(day) is not None:
            days.append(day)
    return days
