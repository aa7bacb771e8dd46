"""TrackMan units of work: store a webhook event (redacted, deduplicated) and publish what booking
needs, keep the bay-slot cache, keep the unmatched bookings staff resolve."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.events import schema_for
from club_shared.runtime import Runtime

from ..domain import trackman
from ..domain.trackman import ParsedEvent, PayloadError
from ..models import (
    TrackmanBaySlot,
    TrackmanImportRow,
    TrackmanImportRun,
    TrackmanUnmatchedBooking,
    TrackmanWebhookDedup,
    TrackmanWebhookEvent,
)
from . import common

log = logging.getLogger(__name__)

RECEIVED = "integrations.trackman.booking_received"
CANCELLED = "integrations.trackman.booking_cancelled"


@dataclass(frozen=True)
class Received:
    #: stored | duplicate | failed
    outcome: str
    event_id: int | None = None
    detail: str | None = None


# --- webhooks -------------------------------------------------------------------------------------


def receive_webhook(runtime: Runtime, session: Session, payload: Any, now: datetime) -> Received:
    """Store one webhook delivery and, unless it repeats one already processed, publish it."""
    try:
        parsed = trackman.parse(payload, runtime.tz)
    except PayloadError as exc:
        row = TrackmanWebhookEvent(
            event_type="unknown",
            raw_event_type=_raw_type(payload),
            payload_version=2 if isinstance(payload, dict) and "booking" in payload else 1,
            payload=trackman.redact(payload) if isinstance(payload, dict) else {"body": trackman.REDACTED},
            status="failed",
            processing_error=str(exc),
            trackman_booking_id=_raw_booking_id(payload),
            received_at=now,
        )
        session.add(row)
        session.flush()
        log.warning("TrackMan webhook not understood", extra={"error": str(exc), "webhook_event_id": row.id})
        return Received("failed", row.id, str(exc))

    if parsed.booking is not None:
        parsed = trackman.with_email(parsed, common.real_email(session, parsed.booking.customer_email))
    key = trackman.dedup_key(parsed)
    signature = trackman.dedup_signature(parsed)
    duplicate_of = None
    if key is not None:
        booking_id = parsed.booking.trackman_booking_id
        last = session.scalar(
            select(TrackmanWebhookDedup)
            .where(TrackmanWebhookDedup.trackman_booking_id == booking_id)
            .with_for_update()
        )
        current = last is not None and last.last_signature == signature
        if current and now - last.last_processed_at < trackman.DEDUP_WINDOW:
            return Received("duplicate", None, "The same event within 2 minutes: not logged.")
        earlier = session.scalar(select(TrackmanWebhookEvent.id).where(TrackmanWebhookEvent.dedup_key == key))
        if earlier is not None:
            if current:
                duplicate_of, key = earlier, None
            else:  # back to an earlier state after a change: a real change, with a key of its own
                count = session.scalar(
                    select(func.count()).where(TrackmanWebhookEvent.dedup_key.like(f"{key}%"))
                )
                key = f"{key}#{count + 1}"
    values = {
        "event_type": parsed.event_type,
        "raw_event_type": (parsed.raw_event_type or "")[:100] or None,
        "payload_version": parsed.version,
        "payload": trackman.redact(payload),
        "status": "duplicate" if duplicate_of else "received",
        "dedup_key": key,
        "duplicate_of": duplicate_of,
        "trackman_booking_id": parsed.booking.trackman_booking_id if parsed.booking else None,
        "received_at": now,
    }
    stored = session.execute(
        insert(TrackmanWebhookEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[TrackmanWebhookEvent.dedup_key])
        .returning(TrackmanWebhookEvent.id)
    ).scalar()
    if stored is None:  # a concurrent copy of the same delivery won
        return Received("duplicate", None, "Already received.")
    if duplicate_of:
        return Received("duplicate", stored, "Already processed.")
    row = session.get(TrackmanWebhookEvent, stored)
    process(runtime, session, row, parsed, source="webhook", now=now)
    return Received("stored", stored)


def process(
    runtime: Runtime,
    session: Session,
    row: TrackmanWebhookEvent | None,
    parsed: ParsedEvent,
    *,
    source: str,
    now: datetime,
    import_run_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Publish what the event means for booking, keep the bay-slot cache and the dedupe record."""
    if parsed.action == "ignored" or parsed.booking is None:
        if row is not None:
            row.status, row.processed_at = "ignored", now
        return None
    data = event_data(
        runtime,
        parsed,
        source=source,
        webhook_event_id=row.id if row else None,
        import_run_id=import_run_id,
        now=now,
        extra=extra,
    )
    if parsed.action == "received":
        runtime.publish(session, RECEIVED, data)
        _keep_slot(session, parsed, data, now)
    else:
        runtime.publish(session, CANCELLED, data)
        _cancel_slots(session, parsed.booking.trackman_booking_id, now)
        session.execute(
            update(TrackmanUnmatchedBooking)
            .where(
                TrackmanUnmatchedBooking.trackman_booking_id == parsed.booking.trackman_booking_id,
                TrackmanUnmatchedBooking.status == "unresolved",
            )
            .values(status="cancelled", updated_at=now)
        )
    _remember(session, parsed, now)
    if row is not None:
        row.status, row.processed_at, row.processing_error = "processed", now, None
        row.booking = data
    return data


def event_data(
    runtime: Runtime,
    parsed: ParsedEvent,
    *,
    source: str,
    webhook_event_id: int | None,
    import_run_id: int | None,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The data of booking_received / booking_cancelled, as the catalog dumps it (plain JSON)."""
    booking = parsed.booking
    tz = runtime.tz
    bays = trackman.bay_resources(runtime.settings.trackman_bay_resources)
    local = trackman.club_fields(booking, tz)
    common_fields = {
        "trackman_booking_id": booking.trackman_booking_id,
        "event_type": parsed.event_type,
        "source": source,
        "webhook_event_id": webhook_event_id,
        "import_run_id": import_run_id,
        "bay_ref": booking.bay_ref,
        "resource_id": bays.get(booking.bay_ref) if booking.bay_ref else None,
        "customer_email": booking.customer_email,
    }
    if parsed.action == "cancelled":
        data = {
            **common_fields,
            "date": local["date"].isoformat() if local["date"] else None,
            "start_time": local["start_time"],
            "end_time": local["end_time"],
            "starts_at": booking.starts_at.isoformat() if booking.starts_at else None,
            "ends_at": booking.ends_at.isoformat() if booking.ends_at else None,
            "cancelled_at": now.isoformat(),
        }
        kind = CANCELLED
    else:
        data = {
            **common_fields,
            "date": local["date"].isoformat(),
            "start_time": local["start_time"],
            "end_time": local["end_time"],
            "starts_at": booking.starts_at.isoformat(),
            "ends_at": booking.ends_at.isoformat(),
            "duration_minutes": booking.duration_minutes,
            "customer_name": booking.customer_name,
            "player_count": booking.player_count,
            "status": booking.status,
            "is_block": parsed.is_block,
            "external_booking_id": booking.external_booking_id,
            "players": list(booking.players),
            "notes": booking.notes,
            **(extra or {}),
        }
        kind = RECEIVED
    schema = schema_for(kind)
    return schema.dump(schema.load(data))


def _keep_slot(session: Session, parsed: ParsedEvent, data: dict[str, Any], now: datetime) -> None:
    booking = parsed.booking
    slot_date = date.fromisoformat(data["date"])
    start = time.fromisoformat(data["start_time"])
    # A moved booking: its earlier slots are gone.
    session.execute(
        update(TrackmanBaySlot)
        .where(
            TrackmanBaySlot.trackman_booking_id == booking.trackman_booking_id,
            TrackmanBaySlot.status == "booked",
            (TrackmanBaySlot.slot_date != slot_date)
            | (TrackmanBaySlot.start_time != start)
            | (TrackmanBaySlot.resource_id.is_distinct_from(data["resource_id"])),
        )
        .values(status="cancelled", updated_at=now)
    )
    status = "completed" if booking.status == "attended" else "booked"
    values = {
        "resource_id": data["resource_id"],
        "trackman_bay_id": booking.bay_ref,
        "bay_name": f"Bay {booking.bay_ref}" if booking.bay_ref else None,
        "slot_date": slot_date,
        "start_time": start,
        "end_time": time.fromisoformat(data["end_time"]),
        "starts_at": booking.starts_at,
        "ends_at": booking.ends_at,
        "status": status,
        "trackman_booking_id": booking.trackman_booking_id,
        "customer_email": booking.customer_email,
        "player_count": booking.player_count,
        "updated_at": now,
    }
    existing = session.scalar(
        select(TrackmanBaySlot).where(
            TrackmanBaySlot.trackman_booking_id == booking.trackman_booking_id,
            TrackmanBaySlot.slot_date == slot_date,
            TrackmanBaySlot.start_time == start,
            TrackmanBaySlot.resource_id.is_not_distinct_from(data["resource_id"]),
        )
    )
    if existing is None:
        session.add(TrackmanBaySlot(**values))
    else:
        for key, value in values.items():
            setattr(existing, key, value)


def _cancel_slots(session: Session, trackman_booking_id: str, now: datetime) -> None:
    """A cancellation frees the bay over the whole duration: every slot of that booking."""
    session.execute(
        update(TrackmanBaySlot)
        .where(
            TrackmanBaySlot.trackman_booking_id == trackman_booking_id, TrackmanBaySlot.status != "cancelled"
        )
        .values(status="cancelled", updated_at=now)
    )


def _remember(session: Session, parsed: ParsedEvent, now: datetime) -> None:
    signature = trackman.dedup_signature(parsed)
    session.execute(
        insert(TrackmanWebhookDedup)
        .values(
            trackman_booking_id=parsed.booking.trackman_booking_id,
            last_signature=signature,
            last_processed_at=now,
        )
        .on_conflict_do_update(
            index_elements=[TrackmanWebhookDedup.trackman_booking_id],
            set_={"last_signature": signature, "last_processed_at": now},
        )
    )


def already_current(session: Session, parsed: ParsedEvent) -> bool:
    """Whether the last thing processed for this TrackMan booking is exactly this (status and
    content): a CSV row that changes nothing."""
    last = session.scalar(
        select(TrackmanWebhookDedup.last_signature).where(
            TrackmanWebhookDedup.trackman_booking_id == parsed.booking.trackman_booking_id
        )
    )
    return last is not None and last == trackman.dedup_signature(parsed)


def _raw_type(payload: Any) -> str | None:
    if isinstance(payload, dict):
        raw = payload.get("event_type") or payload.get("eventType") or payload.get("type")
        return str(raw)[:100] if isinstance(raw, str) else None
    return None


def _raw_booking_id(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    source = payload.get("booking") if isinstance(payload.get("booking"), dict) else payload.get("data")
    if isinstance(source, dict):
        value = source.get("id") or source.get("bookingId") or source.get("booking_id")
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)[:50]
    return None


def retry(
    runtime: Runtime, session: Session, row: TrackmanWebhookEvent, now: datetime, *, source="retry"
) -> str:
    """Process a stored event again: the same data published again (booking matches again), or, for
    an event that could not be understood, its (redacted) payload parsed again."""
    row.retry_count += 1
    if row.booking:
        data = {**row.booking, "source": source}
        kind = CANCELLED if row.event_type in trackman.CANCEL_TYPES else RECEIVED
        runtime.publish(session, kind, data)
        row.status, row.processed_at, row.processing_error = "processed", now, None
        return "republished"
    try:
        parsed = trackman.parse(row.payload, runtime.tz)
    except PayloadError as exc:
        row.status, row.processing_error = "failed", str(exc)
        return "failed"
    process(runtime, session, row, parsed, source=source, now=now)
    return row.status


def backfill(runtime: Runtime, session: Session, since: datetime, until: datetime, now: datetime) -> int:
    """Publish again every processed booking event in the range that booking has not matched (the
    newest event of each TrackMan booking only)."""
    newest = (
        select(func.max(TrackmanWebhookEvent.id))
        .where(
            TrackmanWebhookEvent.status == "processed",
            TrackmanWebhookEvent.trackman_booking_id.is_not(None),
            TrackmanWebhookEvent.received_at >= since,
            TrackmanWebhookEvent.received_at < until,
        )
        .group_by(TrackmanWebhookEvent.trackman_booking_id)
    )
    rows = session.scalars(
        select(TrackmanWebhookEvent)
        .where(TrackmanWebhookEvent.id.in_(newest), TrackmanWebhookEvent.matched_booking_id.is_(None))
        .order_by(TrackmanWebhookEvent.id)
    ).all()
    for row in rows:
        retry(runtime, session, row, now, source="backfill")
    return len(rows)


def purge_old_events(session: Session, now: datetime, days: int = 30) -> int:
    from sqlalchemy import delete

    result = session.execute(
        delete(TrackmanWebhookEvent).where(TrackmanWebhookEvent.received_at < now - timedelta(days=days))
    )
    return result.rowcount or 0


# --- booking's answers ----------------------------------------------------------------------------


def match_succeeded(session: Session, data: dict[str, Any], now: datetime) -> None:
    """Booking matched a TrackMan booking: note it on the webhook event; an open unmatched item for
    the same TrackMan booking is closed as matched; an import run counts it."""
    tm_id = data["trackman_booking_id"]
    target = data.get("webhook_event_id") or session.scalar(
        select(func.max(TrackmanWebhookEvent.id)).where(TrackmanWebhookEvent.trackman_booking_id == tm_id)
    )
    if target:
        session.execute(
            update(TrackmanWebhookEvent)
            .where(TrackmanWebhookEvent.id == target)
            .values(
                matched_booking_id=data["booking_id"],
                matched_member_email=data.get("member_email"),
                match_rule=data["rule"][:50],
            )
        )
    session.execute(
        update(TrackmanUnmatchedBooking)
        .where(
            TrackmanUnmatchedBooking.trackman_booking_id == tm_id,
            TrackmanUnmatchedBooking.status == "unresolved",
        )
        .values(status="matched", resolved_booking_id=data["booking_id"], resolved_at=now, updated_at=now)
    )
    if data.get("import_run_id"):
        session.execute(
            update(TrackmanImportRun)
            .where(TrackmanImportRun.id == data["import_run_id"])
            .values(records_matched=TrackmanImportRun.records_matched + 1)
        )


def match_failed(session: Session, data: dict[str, Any], now: datetime) -> None:
    """Booking found no match: keep the item for staff (one per TrackMan booking, brought up to date
    by later failures while it is unresolved)."""
    if data.get("import_run_id"):
        column = "skipped" if data["reason"] == "skipped" else "unmatched"
        session.execute(
            update(TrackmanImportRun)
            .where(TrackmanImportRun.id == data["import_run_id"])
            .values({column: getattr(TrackmanImportRun, column) + 1})
        )
    if data["reason"] == "skipped":
        return
    tm_id = data["trackman_booking_id"]
    stored = None
    if data.get("import_run_id"):
        stored = session.scalar(
            select(TrackmanImportRow.data)
            .where(
                TrackmanImportRow.run_id == data["import_run_id"],
                TrackmanImportRow.trackman_booking_id == tm_id,
            )
            .order_by(TrackmanImportRow.line.desc())
            .limit(1)
        )
    if stored is None and data.get("webhook_event_id"):
        event = session.get(TrackmanWebhookEvent, data["webhook_event_id"])
        stored = event.booking if event else None
    if stored is None:
        stored = (
            session.scalar(
                select(TrackmanWebhookEvent.booking)
                .where(
                    TrackmanWebhookEvent.trackman_booking_id == tm_id,
                    TrackmanWebhookEvent.booking.is_not(None),
                )
                .order_by(TrackmanWebhookEvent.id.desc())
                .limit(1)
            )
            or {}
        )

    def pick(key: str, stored_key: str | None = None):
        value = data.get(key)
        return value if value is not None else stored.get(stored_key or key)

    values = {
        "booking_data": stored,
        "reason": data["reason"],
        "candidate_booking_ids": list(data.get("candidate_booking_ids") or []),
        "resource_id": pick("resource_id"),
        "bay_ref": stored.get("bay_ref"),
        "booking_date": _date(pick("date")),
        "start_time": _time(pick("start_time")),
        "end_time": _time(pick("end_time")),
        "customer_email": pick("customer_email"),
        "customer_name": pick("customer_name"),
        "player_count": pick("player_count"),
        "booking_id": data.get("booking_id"),
        "session_id": data.get("session_id"),
        "webhook_event_id": data.get("webhook_event_id"),
        "import_run_id": data.get("import_run_id"),
        "updated_at": now,
    }
    existing = session.scalar(
        select(TrackmanUnmatchedBooking)
        .where(TrackmanUnmatchedBooking.trackman_booking_id == tm_id)
        .with_for_update()
    )
    if existing is None:
        session.add(
            TrackmanUnmatchedBooking(trackman_booking_id=tm_id, status="unresolved", created_at=now, **values)
        )
    elif existing.status in ("unresolved", "matched", "cancelled"):
        for key, value in values.items():
            setattr(existing, key, value)
        existing.status = "unresolved"
    # resolved items stay resolved: staff decided


def _date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _time(value) -> time | None:
    if value is None or isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


# --- staff resolution -----------------------------------------------------------------------------

RESOLVED = "integrations.trackman.unmatched_resolved"


class ResolveRefused(ValueError):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code = status, code


def resolve(
    runtime: Runtime,
    session: Session,
    item: TrackmanUnmatchedBooking,
    body: dict[str, Any],
    by: str,
    now: datetime,
) -> bool:
    """Resolve an unmatched booking; False when it was already resolved exactly so (a no-op)."""
    member = None
    if body["resolution"] == "member":
        member = common.member_for_email(session, body["member_email"])
        if member is None or member.archived:
            raise ResolveRefused(422, "UNKNOWN_MEMBER", f"No member has the e-mail {body['member_email']}.")
    if item.status == "resolved":
        same = item.resolution == body["resolution"] and (
            member is None or item.resolved_email == member.email
        )
        if same:
            return False
        raise ResolveRefused(409, "STATE_CONFLICT", "This booking was already resolved otherwise.")
    if item.status != "unresolved":
        raise ResolveRefused(409, "STATE_CONFLICT", f"This booking is {item.status}: nothing to resolve.")
    remember = bool(body.get("remember_email")) and bool(item.customer_email)
    if remember and member is not None and item.customer_email == member.email:
        remember = False
    item.status = "resolved"
    item.resolution = body["resolution"]
    item.resolved_email = member.email if member else None
    item.remember_email = remember
    item.is_event = body["resolution"] == "event"
    item.resolved_by = by
    item.resolved_at = now
    item.note = body.get("note")
    item.updated_at = now
    runtime.publish(
        session,
        RESOLVED,
        {
            "unmatched_id": item.id,
            "trackman_booking_id": item.trackman_booking_id,
            "booking_id": item.booking_id,
            "session_id": item.session_id,
            "resolution": body["resolution"],
            "member_email": member.email if member else None,
            "member_id": member.member_id if member else None,
            "customer_email": item.customer_email,
            "remember_email": remember,
            "day_pass_purchase_id": body.get("day_pass_purchase_id"),
            "resource_id": item.resource_id,
            "date": item.booking_date.isoformat() if item.booking_date else None,
            "start_time": item.start_time.strftime("%H:%M") if item.start_time else None,
            "end_time": item.end_time.strftime("%H:%M") if item.end_time else None,
            "player_count": item.player_count,
            "resolved_by": by,
            "note": body.get("note"),
        },
    )
    return True


def unresolved_alert(runtime: Runtime, session: Session, now: datetime) -> int:
    """The 09:00 alert: unmatched bookings unresolved for more than 24 hours."""
    items = session.scalars(
        select(TrackmanUnmatchedBooking)
        .where(
            TrackmanUnmatchedBooking.status == "unresolved",
            TrackmanUnmatchedBooking.created_at <= now - timedelta(hours=24),
        )
        .order_by(TrackmanUnmatchedBooking.booking_date, TrackmanUnmatchedBooking.start_time)
    ).all()
    if not items:
        return 0
    lines = [
        f"- {i.booking_date} {i.start_time.strftime('%H:%M') if i.start_time else '?'} bay {i.bay_ref or '?'}: "
        f"{i.customer_name or i.customer_email or 'no name'} ({i.reason})"
        for i in items[:20]
    ]
    more = f"\n… and {len(items) - 20} more" if len(items) > 20 else ""
    common.alert_staff(
        runtime,
        session,
        "trackman_unmatched",
        f"{len(items)} TrackMan booking(s) still unmatched",
        "Unresolved for more than 24 hours:\n" + "\n".join(lines) + more,
        link="/staff/trackman/unmatched",
    )
    return len(items)
