"""Booking's scheduled work (domain.md §4.7, §4.8, §5.4, §9, §12), run by the worker's JobRunner.

Every schedule is claimed once per period in `scheduler_claims`, so several worker replicas never
run the same period twice; the jobs lock the rows they change (SKIP LOCKED where they scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import Daily, Every, JobRunner, Scheduled, alert_by_event
from club_shared.runtime import Runtime

from .domain.passes import RESET_AT, RESET_WINDOW_END
from .flows import imports, lifecycle, passes
from .flows.publishing import notify_staff
from .models import JOBS, BookingRequest, IdempotencyKey


@dataclass(frozen=True)
class PassResetWindow:
    """The 03:00–08:00 club-time window of the 1st of each month (the job itself decides, from the
    `guest_passes.reset_period` setting, whether a period starts: every month or each 1 January)."""

    def period(self, now: datetime, tz: ZoneInfo) -> str | None:
        local = now.astimezone(tz)
        if local.day == 1 and RESET_AT <= local.time() < RESET_WINDOW_END:
            return local.date().isoformat()
        return None


SCHEDULE = (
    Scheduled("booking.expire_requests", Every(timedelta(hours=1))),
    Scheduled("booking.auto_complete", Every(timedelta(hours=1))),
    Scheduled("booking.stuck_cancellations", Every(timedelta(hours=2))),
    Scheduled("booking.guest_pass_reset", PassResetWindow()),
    Scheduled("booking.purge_expired_holds", Daily(time(4, 30))),
    Scheduled("booking.drop_stale_eventbrite_attendees", Daily(time(4, 40))),
    Scheduled("booking.prune_idempotency_keys", Every(timedelta(hours=1))),
)

STUCK_AFTER = timedelta(hours=4)
#: How long a create's Idempotency-Key is remembered (Stripe's figure): a retry comes well within it.
IDEMPOTENCY_KEPT = timedelta(hours=24)


def stuck_cancellations(session: Session, rt: Runtime, now: datetime) -> list[int]:
    """Bookings waiting in `cancellation_pending` for more than 4 hours: staff are alerted."""
    stuck = session.scalars(
        select(BookingRequest.id)
        .where(
            BookingRequest.status == "cancellation_pending",
            BookingRequest.cancellation_pending_at <= now - STUCK_AFTER,
        )
        .order_by(BookingRequest.id)
    ).all()
    if stuck:
        notify_staff(
            session,
            rt,
            "cancellation_stuck",
            f"{len(stuck)} cancellation(s) still waiting for TrackMan",
            "Cancel these in TrackMan, or force-cancel them: " + ", ".join(f"#{i}" for i in stuck),
            urgent=True,
        )
    return list(stuck)


def prune_idempotency_keys(session: Session, now: datetime) -> int:
    """Forget the Idempotency-Keys older than 24 hours; how many were forgotten."""
    pruned = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_KEPT))
    return pruned.rowcount


def job_functions(rt: Runtime, clock=utcnow):
    """The job kinds, bound to the runtime (they publish through its outbox)."""
    return {
        "booking.expire_requests": lambda session, payload: lifecycle.expire_due(session, rt, clock()),
        "booking.auto_complete": lambda session, payload: lifecycle.auto_complete(session, rt, clock()),
        "booking.stuck_cancellations": lambda session, payload: stuck_cancellations(session, rt, clock()),
        "booking.guest_pass_reset": lambda session, payload: passes.reset_period(session, rt, clock()),
        "booking.purge_expired_holds": lambda session, payload: passes.purge_expired_holds(session, clock()),
        "booking.drop_stale_eventbrite_attendees": lambda session, payload: imports.drop_stale_attendees(
            session, clock()
        ),
        "booking.prune_idempotency_keys": lambda session, payload: prune_idempotency_keys(session, clock()),
    }


def make_jobs(rt: Runtime, clock=utcnow) -> JobRunner:
    return JobRunner(
        rt.db, JOBS, job_functions(rt, clock), rt.tz, SCHEDULE, alert=alert_by_event(rt.publish, rt.service)
    )
