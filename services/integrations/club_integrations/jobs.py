"""The worker's background and scheduled work (domain.md §12, [integrations]): the HubSpot queue every
2 minutes and the member sync at 03:00; TrackMan's 09:00 unresolved alert and 04:00 log clean-up.

Jobs of an integration that is off (no credentials) log that and do nothing.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import Daily, Every, JobRunner, Scheduled, alert_by_event
from club_shared.runtime import Runtime

from .flows import calendars, forms, hubspot_inbound, hubspot_pull, integrity, trackman
from .flows.hubspot_queue import QueueWorker
from .models import JOBS
from .outside.calendars import EventbriteClient, GoogleCalendarClient, eventbrite_enabled, google_enabled
from .outside.hubspot import HubspotClient, HubspotRateLimiter, hubspot_enabled

log = logging.getLogger(__name__)

SCHEDULE = (
    Scheduled("hubspot_queue", Every(timedelta(minutes=2))),
    Scheduled("hubspot_member_sync", Daily(time(3, 0))),
    Scheduled("hubspot_forms", Every(timedelta(minutes=30))),
    Scheduled("hubspot_engagements", Every(timedelta(minutes=30))),
    Scheduled("hubspot_meetings", Every(timedelta(minutes=30))),
    Scheduled("calendar_sync", Every(timedelta(minutes=5))),
    Scheduled("eventbrite_sync", Every(timedelta(minutes=15))),
    Scheduled("integrity_nightly", Daily(time(0, 0))),
    Scheduled("trackman_unresolved_alert", Daily(time(9, 0))),
    Scheduled("trackman_purge_webhook_events", Daily(time(4, 0))),
)


class Jobs:
    """The job functions of one runtime; tests set the clock, the sleep and the back-off jitter."""

    def __init__(
        self,
        runtime: Runtime,
        clock: Callable[[], datetime] = utcnow,
        *,
        sleep: Callable[[float], None] = _time.sleep,
        jitter: Callable[[], float] | None = None,
    ):
        self.runtime = runtime
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter

    def table(self) -> dict[str, Callable[[Session, dict[str, Any]], None]]:
        return {
            "hubspot_queue": self.hubspot_queue,
            "hubspot_member_sync": self.hubspot_member_sync,
            "hubspot_forms": self.hubspot_forms,
            "hubspot_engagements": self.hubspot_engagements,
            "hubspot_meetings": self.hubspot_meetings,
            "hubspot_submit_form": self.hubspot_submit_form,
            "calendar_sync": self.calendar_sync,
            "calendar_push_tour": self.calendar_push_tour,
            "calendar_push_closure": self.calendar_push_closure,
            "calendar_delete_closure": self.calendar_delete_closure,
            "eventbrite_sync": self.eventbrite_sync,
            "integrity_nightly": self.integrity_nightly,
            "trackman_unresolved_alert": self.trackman_unresolved_alert,
            "trackman_purge_webhook_events": self.trackman_purge_webhook_events,
        }

    # --- HubSpot ---------------------------------------------------------------------------------

    @cached_property
    def hubspot(self) -> HubspotClient | None:
        settings = self.runtime.settings
        if not hubspot_enabled(settings):
            return None
        limiter = HubspotRateLimiter(self.runtime.db, settings.hubspot_requests_per_10s, sleep=self.sleep)
        return HubspotClient(settings, limiter, sleep=self.sleep)

    def queue_worker(self) -> QueueWorker | None:
        client = self.hubspot
        return QueueWorker(self.runtime, client, clock=self.clock, jitter=self.jitter) if client else None

    def hubspot_queue(self, session: Session, payload: dict[str, Any]) -> None:
        worker = self.queue_worker()
        if worker is None:
            log.info("HubSpot is off (no HUBSPOT_ACCESS_TOKEN): the queue waits")
            return
        report = worker.run_once()
        if report.claimed or report.requeued:
            log.info("HubSpot queue run", extra={"report": report.__dict__})

    def hubspot_member_sync(self, session: Session, payload: dict[str, Any]) -> None:
        if self.hubspot is None:
            log.info("HubSpot is off (no HUBSPOT_ACCESS_TOKEN): no member sync")
            return
        hubspot_pull.member_sync(self.runtime, self.hubspot, self.clock())

    def _pull(self, name: str, fn) -> None:
        if self.hubspot is None:
            log.info("HubSpot is off (no HUBSPOT_ACCESS_TOKEN): no %s pull", name)
            return
        fn(self.runtime, self.hubspot, self.clock())

    def hubspot_forms(self, session: Session, payload: dict[str, Any]) -> None:
        self._pull("forms", forms.pull)

    def hubspot_engagements(self, session: Session, payload: dict[str, Any]) -> None:
        self._pull("engagements", hubspot_inbound.pull_engagements)

    def hubspot_meetings(self, session: Session, payload: dict[str, Any]) -> None:
        self._pull("meetings", hubspot_inbound.import_meetings)

    def hubspot_submit_form(self, session: Session, payload: dict[str, Any]) -> None:
        """One of our form submissions to HubSpot (a failure is retried by the job queue)."""
        outcome = forms.send_local(self.runtime, self.hubspot, payload["submission_id"])
        log.info(
            "form submission sent on", extra={"submission_id": payload["submission_id"], "outcome": outcome}
        )

    # --- calendars and Eventbrite ---------------------------------------------------------------------

    @cached_property
    def google(self) -> GoogleCalendarClient | None:
        return GoogleCalendarClient(self.runtime.settings) if google_enabled(self.runtime.settings) else None

    def calendar_sync(self, session: Session, payload: dict[str, Any]) -> None:
        if self.google is None:
            log.info("Google Calendar is off: no calendar sync")
            return
        calendars.sync_all(self.runtime, self.google, self.clock())

    def calendar_push_tour(self, session: Session, payload: dict[str, Any]) -> None:
        if self.google is not None:
            calendars.push_tour(self.runtime, self.google, payload["tour_id"])

    def calendar_push_closure(self, session: Session, payload: dict[str, Any]) -> None:
        if self.google is not None:
            calendars.push_closure(self.runtime, self.google, payload)

    def calendar_delete_closure(self, session: Session, payload: dict[str, Any]) -> None:
        if self.google is not None:
            calendars.delete_closure(self.runtime, self.google, payload)

    def eventbrite_sync(self, session: Session, payload: dict[str, Any]) -> None:
        if not eventbrite_enabled(self.runtime.settings):
            log.info("Eventbrite is off: no Eventbrite sync")
            return
        calendars.sync_eventbrite(self.runtime, EventbriteClient(self.runtime.settings), self.clock())

    # --- integrity ----------------------------------------------------------------------------------

    def integrity_nightly(self, session: Session, payload: dict[str, Any]) -> None:
        """Our own checks at 00:00 club time (the other services run theirs and publish them)."""
        integrity.run_own(self.runtime, session, self.clock(), "scheduled")

    # --- TrackMan --------------------------------------------------------------------------------

    def trackman_unresolved_alert(self, session: Session, payload: dict[str, Any]) -> None:
        trackman.unresolved_alert(self.runtime, session, self.clock())

    def trackman_purge_webhook_events(self, session: Session, payload: dict[str, Any]) -> None:
        trackman.purge_old_events(session, self.clock())


def make_jobs(runtime: Runtime, clock: Callable[[], datetime] = utcnow, **kwargs: Any) -> JobRunner:
    """The worker's job runner (`service_main(..., make_jobs=make_jobs)`); says which integrations are off."""
    announce(runtime)
    return JobRunner(
        runtime.db,
        JOBS,
        Jobs(runtime, clock, **kwargs).table(),
        runtime.tz,
        SCHEDULE,
        alert=alert_by_event(runtime.publish, runtime.service),
    )


def announce(runtime: Runtime) -> None:
    """Say at start which integrations are off."""
    settings = runtime.settings
    off = []
    if not settings.trackman_webhook_secret and settings.env not in ("development", "test"):
        off.append("TrackMan webhooks (TRACKMAN_WEBHOOK_SECRET)")
    if not hubspot_enabled(settings):
        off.append("HubSpot (HUBSPOT_ACCESS_TOKEN)")
    if not settings.hubspot_webhook_secret:
        off.append("HubSpot webhooks (HUBSPOT_WEBHOOK_SECRET)")
    if not settings.google_calendar_access_token or not settings.google_calendar_ids:
        off.append("Google Calendar (GOOGLE_CALENDAR_ACCESS_TOKEN, GOOGLE_CALENDAR_IDS)")
    if not settings.eventbrite_token or not settings.eventbrite_organization_id:
        off.append("Eventbrite (EVENTBRITE_TOKEN, EVENTBRITE_ORGANIZATION_ID)")
    for feature in off:
        log.warning("integration off: %s is not configured", feature)
