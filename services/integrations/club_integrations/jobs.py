"""The worker's background and scheduled work (domain.md §12, [integrations]): TrackMan's 09:00
unresolved alert and 04:00 log clean-up (more join as the integrations do)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any

from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import Daily, JobRunner, Scheduled
from club_shared.runtime import Runtime

from .flows import trackman
from .models import JOBS

SCHEDULE = (
    Scheduled("trackman_unresolved_alert", Daily(time(9, 0))),
    Scheduled("trackman_purge_webhook_events", Daily(time(4, 0))),
)


class Jobs:
    """The job functions of one runtime; `clock` lets tests set the time."""

    def __init__(self, runtime: Runtime, clock: Callable[[], Any] = utcnow):
        self.runtime = runtime
        self.clock = clock

    def table(self) -> dict[str, Callable[[Session, dict[str, Any]], None]]:
        return {
            "trackman_unresolved_alert": self.trackman_unresolved_alert,
            "trackman_purge_webhook_events": self.trackman_purge_webhook_events,
        }

    def trackman_unresolved_alert(self, session: Session, payload: dict[str, Any]) -> None:
        trackman.unresolved_alert(self.runtime, session, self.clock())

    def trackman_purge_webhook_events(self, session: Session, payload: dict[str, Any]) -> None:
        trackman.purge_old_events(session, self.clock())


def make_jobs(runtime: Runtime, clock: Callable[[], Any] = utcnow) -> JobRunner:
    return JobRunner(runtime.db, JOBS, Jobs(runtime, clock).table(), runtime.tz, SCHEDULE)
