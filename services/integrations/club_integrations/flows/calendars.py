"""Calendar sync (domain.md §9): Google calendars pulled every 5 minutes by sync token, each event
tracked by id and etag and published to booking only when it changed; our records (tours, closures)
pushed, our version winning over edits made in Google. Eventbrite events and attendees likewise."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.jobs import enqueue as enqueue_job
from club_shared.runtime import Runtime

from ..domain import calendars as rules
from ..models import JOBS, CalendarEvent, CalendarSyncState, EventbriteAttendeeState, Tour
from ..outside.calendars import (
    EtagMismatch,
    EventbriteClient,
    GoogleCalendarClient,
    OutsideError,
    SyncTokenExpired,
)
from . import common

log = logging.getLogger(__name__)

SYNCED = "integrations.calendar.event_synced"
CREATED = "integrations.calendar.event_created"
ATTENDEE = "integrations.eventbrite.attendee_synced"
FIRST_SYNC_BACK = timedelta(days=30)


# --- pull -------------------------------------------------------------------------------------------


def sync_all(runtime: Runtime, client: GoogleCalendarClient, now: datetime) -> dict[str, int]:
    counts = {}
    for name, calendar_id in client.calendars.items():
        try:
            counts[name] = sync_calendar(runtime, client, name, calendar_id, now)
        except OutsideError as exc:
            _state(runtime, name, calendar_id, now, error=str(exc))
            log.warning("calendar sync failed", extra={"calendar": name, "error": str(exc)})
    return counts


def _state(
    runtime: Runtime,
    name: str,
    calendar_id: str,
    now: datetime,
    *,
    token: str | None = None,
    error: str | None = None,
    reset: bool = False,
) -> CalendarSyncState:
    with runtime.db.transaction() as session:
        state = session.get(CalendarSyncState, name, with_for_update=True)
        if state is None:
            state = CalendarSyncState(calendar=name)
            session.add(state)
        if state.calendar_id != calendar_id:
            state.calendar_id, state.sync_token = calendar_id, None  # another calendar: start over
        if reset:
            state.sync_token = None
        if token:
            state.sync_token, state.last_synced_at = token, now
        state.last_error = error
        return state


def sync_calendar(
    runtime: Runtime, client: GoogleCalendarClient, name: str, calendar_id: str, now: datetime
) -> int:
    """Read what changed since the last sync token (everything from 30 days back the first time);
    the number of events published."""
    token = _state(runtime, name, calendar_id, now).sync_token
    published = 0
    page_token = None
    while True:
        params: dict[str, Any] = {"maxResults": 250, "showDeleted": "true", "singleEvents": "true"}
        if token:
            params["syncToken"] = token
        else:
            params["timeMin"] = (now - FIRST_SYNC_BACK).isoformat()
        if page_token:
            params["pageToken"] = page_token
        try:
            page = client.list_events(calendar_id, params)
        except SyncTokenExpired:
            _state(runtime, name, calendar_id, now, reset=True)
            token, page_token = None, None
            continue
        with runtime.db.transaction() as session:
            for item in page.get("items") or []:
                published += _seen(runtime, session, name, calendar_id, item)
        page_token = page.get("nextPageToken")
        if not page_token:
            _state(runtime, name, calendar_id, now, token=page.get("nextSyncToken"))
            return published


def _seen(runtime: Runtime, session: Session, name: str, calendar_id: str, item: dict[str, Any]) -> int:
    if not item.get("id"):
        return 0
    row = session.scalar(
        select(CalendarEvent)
        .where(
            CalendarEvent.source == "google",
            CalendarEvent.calendar == name,
            CalendarEvent.external_id == item["id"],
        )
        .with_for_update()
    )
    if row is not None and row.etag and row.etag == item.get("etag"):
        return 0  # unchanged since we last saw it (or since we wrote it)
    record = rules.record_of(item)
    starts_at, ends_at, all_day = rules.instants(item, runtime.tz)
    if row is None:
        row = CalendarEvent(source="google", calendar=name, external_id=item["id"])
        session.add(row)
    row.etag = item.get("etag")
    row.status = item.get("status") or "confirmed"
    row.title = (item.get("summary") or "")[:500] or None
    row.starts_at, row.ends_at, row.all_day = starts_at, ends_at, all_day
    if record is not None:
        row.record_type, row.record_id = record
        if record[0] == "tour" and row.status != "cancelled":
            # edited in Google: our tour wins, pushed back by the worker
            enqueue_job(session, JOBS, "calendar_push_tour", {"tour_id": record[1]})
        return 0
    if name == "tours":
        return 0  # busy time for tour slots; nothing for booking
    data = rules.google_event(name, calendar_id, item, runtime.tz)
    fingerprint = rules.fingerprint({k: v for k, v in data.items() if k not in ("etag", "updated_at")})
    if fingerprint == row.published_hash:
        return 0
    runtime.publish(session, SYNCED, data)
    row.published_hash = fingerprint
    return 1


# --- push -------------------------------------------------------------------------------------------


def push_tour(runtime: Runtime, client: GoogleCalendarClient, tour_id: int) -> str:
    """The tour on the tours calendar, as we have it (our version wins over edits in Google)."""
    calendar_id = client.calendars.get("tours")
    if calendar_id is None:
        return "no_calendar"
    with runtime.db.transaction() as session:
        tour = session.get(Tour, tour_id)
        if tour is None or tour.scheduled_at is None:
            return "nothing"
        snapshot = {
            c: getattr(tour, c)
            for c in (
                "id",
                "visitor_name",
                "visitor_phone",
                "notes",
                "scheduled_at",
                "ends_at",
                "status",
                "google_calendar_id",
                "calendar_etag",
            )
        }
    body = rules.tour_body(snapshot, runtime.tz)
    event_id = snapshot["google_calendar_id"]
    if event_id:
        try:
            saved = client.patch(calendar_id, event_id, body, snapshot["calendar_etag"])
        except EtagMismatch:
            saved = client.patch(calendar_id, event_id, body)  # changed in Google: ours wins
        outcome = "updated"
    elif snapshot["status"] == "cancelled":
        return "nothing"
    else:
        saved = client.insert(calendar_id, body)
        outcome = "created"
    with runtime.db.transaction() as session:
        tour = session.get(Tour, tour_id, with_for_update=True)
        tour.google_calendar_id, tour.calendar_etag = saved["id"], saved.get("etag")
        _remember_pushed(session, "tours", saved, "tour", tour_id, runtime)
    return outcome


def push_closure(runtime: Runtime, client: GoogleCalendarClient, closure: dict[str, Any]) -> str:
    """A closure booking made, on the internal calendar; booking is told the event id."""
    calendar_id = client.calendars.get("internal")
    if calendar_id is None:
        return "no_calendar"
    with runtime.db.transaction() as session:
        existing = session.scalar(
            select(CalendarEvent.external_id).where(
                CalendarEvent.record_type == "closure", CalendarEvent.record_id == closure["closure_id"]
            )
        )
    if existing:
        return "exists"
    saved = client.insert(calendar_id, rules.closure_body(closure, runtime.tz))
    with runtime.db.transaction() as session:
        _remember_pushed(session, "internal", saved, "closure", closure["closure_id"], runtime)
        runtime.publish(
            session,
            CREATED,
            {
                "record_type": "closure",
                "record_id": closure["closure_id"],
                "calendar": "internal",
                "calendar_id": calendar_id,
                "calendar_event_id": saved["id"],
                "etag": saved.get("etag"),
            },
        )
    return "created"


def delete_closure(runtime: Runtime, client: GoogleCalendarClient, closure: dict[str, Any]) -> str:
    calendar_id = client.calendars.get("internal")
    if calendar_id is None:
        return "no_calendar"
    with runtime.db.transaction() as session:
        event_id = closure.get("calendar_event_id") or session.scalar(
            select(CalendarEvent.external_id).where(
                CalendarEvent.record_type == "closure", CalendarEvent.record_id == closure["closure_id"]
            )
        )
    if not event_id:
        return "nothing"
    client.delete(calendar_id, event_id)
    with runtime.db.transaction() as session:
        row = session.scalar(
            select(CalendarEvent).where(
                CalendarEvent.calendar == "internal", CalendarEvent.external_id == event_id
            )
        )
        if row is not None:
            row.status = "cancelled"
    return "deleted"


def _remember_pushed(
    session: Session, calendar: str, saved: dict[str, Any], kind: str, record_id: int, runtime
) -> None:
    row = session.scalar(
        select(CalendarEvent).where(
            CalendarEvent.source == "google",
            CalendarEvent.calendar == calendar,
            CalendarEvent.external_id == saved["id"],
        )
    )
    if row is None:
        row = CalendarEvent(source="google", calendar=calendar, external_id=saved["id"])
        session.add(row)
    starts_at, ends_at, all_day = rules.instants(saved, runtime.tz)
    row.etag, row.status, row.title = (
        saved.get("etag"),
        saved.get("status") or "confirmed",
        saved.get("summary"),
    )
    row.starts_at, row.ends_at, row.all_day = starts_at, ends_at, all_day
    row.record_type, row.record_id = kind, record_id


# --- Eventbrite -------------------------------------------------------------------------------------


def sync_eventbrite(runtime: Runtime, client: EventbriteClient, now: datetime) -> dict[str, int]:
    """The organisation's live, started and ended events, and their attendees grouped by e-mail."""
    counts = {"events": 0, "attendees": 0}
    continuation = None
    while True:
        events, continuation = client.events(continuation)
        for item in events:
            try:
                data = rules.eventbrite_event(item, runtime.tz)
            except (ValueError, KeyError):
                continue
            with runtime.db.transaction() as session:
                counts["events"] += _eventbrite_event(runtime, session, data)
            counts["attendees"] += _attendees(runtime, client, str(item["id"]))
        if not continuation:
            break
    with runtime.db.transaction() as session:
        state = session.get(CalendarSyncState, "eventbrite") or CalendarSyncState(calendar="eventbrite")
        session.add(state)
        state.calendar_id, state.last_synced_at, state.last_error = client.organization_id, now, None
    return counts


def _eventbrite_event(runtime: Runtime, session: Session, data: dict[str, Any]) -> int:
    row = session.scalar(
        select(CalendarEvent)
        .where(
            CalendarEvent.source == "eventbrite",
            CalendarEvent.calendar == "eventbrite",
            CalendarEvent.external_id == data["external_id"],
        )
        .with_for_update()
    )
    fingerprint = rules.fingerprint({k: v for k, v in data.items() if k not in ("etag", "updated_at")})
    if row is not None and row.published_hash == fingerprint:
        return 0
    if row is None:
        row = CalendarEvent(source="eventbrite", calendar="eventbrite", external_id=data["external_id"])
        session.add(row)
    row.etag, row.status, row.title = data["etag"], data["status"], data["title"]
    row.starts_at = datetime.fromisoformat(data["starts_at"])
    row.ends_at = datetime.fromisoformat(data["ends_at"])
    row.published_hash = fingerprint
    runtime.publish(session, SYNCED, data)
    return 1


def _attendees(runtime: Runtime, client: EventbriteClient, event_id: str) -> int:
    everyone: list[dict] = []
    continuation = None
    while True:
        page, continuation = client.attendees(event_id, continuation)
        everyone += page
        if not continuation:
            break
    published = 0
    with runtime.db.transaction() as session:
        for rsvp in rules.group_attendees(event_id, everyone):
            if common.excluded(session, rsvp["email"]):  # a deleted person: never brought back
                continue
            fingerprint = rules.fingerprint(rsvp)
            state = session.scalar(
                select(EventbriteAttendeeState)
                .where(
                    EventbriteAttendeeState.eventbrite_event_id == event_id,
                    EventbriteAttendeeState.email == rsvp["email"],
                )
                .with_for_update()
            )
            if state is not None and state.published_hash == fingerprint:
                continue
            if state is None:
                state = EventbriteAttendeeState(
                    eventbrite_event_id=event_id, email=rsvp["email"], published_hash=""
                )
                session.add(state)
            state.published_hash = fingerprint
            runtime.publish(session, ATTENDEE, rsvp)
            published += 1
    return published
