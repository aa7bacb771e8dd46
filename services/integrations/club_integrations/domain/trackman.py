"""TrackMan webhooks (domain.md §7) as plain Python: the signature, both payload versions, the event
types, club time, redaction of personal data and the dedupe key."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from club_shared.clubtime import InvalidLocalTime, to_utc

V1_TYPES = ("user_update", "booking_update", "purchase_update", "purchase_paid", "unknown")
V2_TYPES = (
    "booking.created",
    "booking.updated",
    "booking.cancelled",
    "booking.deleted",
    "booking.confirmed",
    "booking.modified",
    "booking.block",
    "booking.block_cancelled",
)
#: TrackMan statuses that mean the booking is gone, and those that mean it stands
CANCELLED_STATUSES = ("cancelled", "canceled", "deleted")
ACTIVE_STATUSES = ("attended", "confirmed", "booked")
RECEIVED_TYPES = (
    "booking.created",
    "booking.updated",
    "booking.confirmed",
    "booking.modified",
    "booking.block",
)
CANCEL_TYPES = ("booking.cancelled", "booking.deleted", "booking.block_cancelled")

SIGNATURE_HEADER = "x-trackman-signature"
#: an identical event for the same booking within this window is not even logged
DEDUP_WINDOW = timedelta(minutes=2)


class PayloadError(ValueError):
    """The body is a TrackMan event we cannot understand (stored, marked failed, staff can look)."""


@dataclass(frozen=True)
class TrackmanBooking:
    trackman_booking_id: str
    bay_ref: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    customer_email: str | None
    customer_name: str | None
    player_count: int | None
    status: str
    external_booking_id: str | None = None
    players: tuple[dict[str, Any], ...] = ()
    notes: str | None = None

    @property
    def duration_minutes(self) -> int | None:
        if self.starts_at is None or self.ends_at is None:
            return None
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@dataclass(frozen=True)
class ParsedEvent:
    version: int
    raw_event_type: str | None
    event_type: str
    #: received (a booking to match) | cancelled (the cancel path) | ignored (stored only)
    action: str
    booking: TrackmanBooking | None = None
    is_block: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# --- signature ------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw body, hex, optionally as `sha256=<hex>`."""
    if not header:
        return False
    given = header.strip()
    if given.lower().startswith("sha256="):
        given = given[7:]
    return hmac.compare_digest(sign(secret, body), given.lower())


# --- parsing --------------------------------------------------------------------------------------


def parse(payload: Any, tz: ZoneInfo) -> ParsedEvent:
    """Either version of a TrackMan webhook body. Raises PayloadError when it is neither, or when a
    booking event lacks what a booking needs (an id, valid times)."""
    if not isinstance(payload, dict):
        raise PayloadError("The body is not a JSON object.")
    if isinstance(payload.get("booking"), dict):
        return _parse_v2(payload, tz)
    raw_type = _first(payload, "event_type", "eventType")
    if isinstance(raw_type, str) and isinstance(payload.get("data"), dict):
        return _parse_v1(raw_type, payload["data"], tz)
    raise PayloadError("Neither a V1 (event_type + data) nor a V2 (booking) TrackMan payload.")


def _parse_v1(raw_type: str, data: dict, tz: ZoneInfo) -> ParsedEvent:
    event_type = raw_type.strip().lower()
    if event_type not in V1_TYPES and event_type not in V2_TYPES:
        event_type = "unknown"
    source = data["booking"] if isinstance(data.get("booking"), dict) else data
    status = str(_first(source, "status", "bookingStatus", "booking_status") or "").strip().lower()
    if event_type == "booking_update":
        event_type = "booking.cancelled" if status in CANCELLED_STATUSES else "booking.updated"
    if event_type in V1_TYPES:
        return ParsedEvent(1, raw_type, event_type, "ignored")
    return _booking_event(1, raw_type, event_type, source, status, tz)


def _parse_v2(payload: dict, tz: ZoneInfo) -> ParsedEvent:
    source = payload["booking"]
    raw_type = _first(payload, "event_type", "eventType", "type", "event")
    raw_type = raw_type if isinstance(raw_type, str) else None
    status = str(_first(source, "status", "bookingStatus") or "").strip().lower()
    hinted = (raw_type or "").strip().lower()
    if hinted in ("booking.block", "booking.block_cancelled"):
        event_type = hinted
    elif status in CANCELLED_STATUSES:
        event_type = "booking.cancelled"
    elif status in ACTIVE_STATUSES:
        event_type = "booking.created"
    elif hinted in V2_TYPES:
        event_type = hinted
    else:
        raise PayloadError(f"Unknown V2 booking status {status!r}.")
    return _booking_event(2, raw_type, event_type, source, status, tz)


def _booking_event(
    version: int, raw_type: str | None, event_type: str, source: dict, status: str, tz: ZoneInfo
) -> ParsedEvent:
    booking_id = _first(source, "id", "bookingId", "booking_id", "trackmanBookingId", "trackman_booking_id")
    if booking_id is None or str(booking_id).strip() == "" or isinstance(booking_id, (dict, list, bool)):
        raise PayloadError("The booking has no id.")
    booking_id = str(booking_id).strip()[:50]
    cancelled = event_type in CANCEL_TYPES
    starts_at = _instant(
        source, ("start", "startTime", "start_time", "startsAt", "starts_at", "start_at"), tz
    )
    ends_at = _instant(source, ("end", "endTime", "end_time", "endsAt", "ends_at", "end_at"), tz)
    if ends_at is None and starts_at is not None:
        minutes = _int(_first(source, "duration", "durationMinutes", "duration_minutes"))
        if minutes:
            ends_at = starts_at + timedelta(minutes=minutes)
    if not cancelled:
        if starts_at is None or ends_at is None:
            raise PayloadError("The booking has no start or end.")
        if ends_at <= starts_at:
            raise PayloadError("The booking ends before it starts.")
        if ends_at - starts_at > timedelta(hours=24):
            raise PayloadError("The booking is longer than a day.")
    customer = _first(source, "customer", "user", "player", "owner")
    customer = customer if isinstance(customer, dict) else {}
    email = _first(customer, "email", "emailAddress", "email_address") or _first(
        source, "email", "customerEmail", "customer_email", "userEmail"
    )
    name = _first(customer, "name", "fullName", "full_name") or _first(
        source, "customerName", "customer_name", "name"
    )
    if not name:
        parts = [_first(customer, "firstName", "first_name"), _first(customer, "lastName", "last_name")]
        name = " ".join(str(p) for p in parts if p) or None
    booking = TrackmanBooking(
        trackman_booking_id=booking_id,
        bay_ref=_bay_ref(source),
        starts_at=starts_at,
        ends_at=ends_at,
        customer_email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        customer_name=str(name).strip()[:200] if name else None,
        player_count=_player_count(source),
        status="cancelled" if cancelled else (status if status in ACTIVE_STATUSES else "booked"),
        external_booking_id=_text(_first(source, "externalBookingId", "external_booking_id", "externalId")),
    )
    is_block = event_type in ("booking.block", "booking.block_cancelled")
    return ParsedEvent(
        version, raw_type, event_type, "cancelled" if cancelled else "received", booking, is_block=is_block
    )


def _first(source: Mapping, *keys: str) -> Any:
    for key in keys:
        value = source.get(key)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip()[:100] or None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _bay_ref(source: Mapping) -> str | None:
    bay = _first(source, "bay", "bayRef", "bay_ref", "bayId", "bay_id", "bayNumber", "bay_number")
    if isinstance(bay, dict):
        bay = _first(bay, "ref", "number", "id", "name")
    if bay is None or isinstance(bay, (list, bool)):
        return None
    text = str(bay).strip()
    match = re.fullmatch(r"(?i)bay\s*(\S+)", text)
    return (match.group(1) if match else text)[:20] or None


def _player_count(source: Mapping) -> int | None:
    quantities = _first(source, "playerQuantities", "player_quantities")
    if isinstance(quantities, dict):
        counts = [_int(v) for v in quantities.values()]
        return sum(c for c in counts if c) if any(c is not None for c in counts) else None
    if isinstance(quantities, list):
        counts = [_int(q.get("quantity") if isinstance(q, dict) else q) for q in quantities]
        return sum(c for c in counts if c) if any(c is not None for c in counts) else None
    players = _first(source, "playerCount", "player_count", "numberOfPlayers", "players")
    if isinstance(players, list):
        return len(players)
    count = _int(players)
    return count if count is None or 0 <= count <= 100 else None


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _instant(source: Mapping, keys: tuple[str, ...], tz: ZoneInfo) -> datetime | None:
    raw = _first(source, *keys)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise PayloadError(f"{keys[0]} is not a date-time.")
    raw = raw.strip()
    clock = _CLOCK.match(raw)
    if clock:  # a wall-clock time beside a date
        day = _first(source, "date", "bookingDate", "booking_date")
        if not isinstance(day, str) or not _DATE.match(day.strip()):
            raise PayloadError(f"{keys[0]} is a time without a date.")
        return local_instant(date.fromisoformat(day.strip()), _clock(clock), tz)
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        raise PayloadError(f"{keys[0]} is not an ISO 8601 date-time.") from None
    if parsed.tzinfo is None:  # TrackMan's local times are the club's
        return local_instant(parsed.date(), parsed.time(), tz)
    return parsed.astimezone(UTC)


def _clock(match: re.Match) -> time:
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise PayloadError("A time is out of range.")
    return time(hour, minute, second)


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    try:
        return to_utc(day, wall, tz)
    except InvalidLocalTime as exc:
        raise PayloadError(str(exc)) from None


def club_fields(booking: TrackmanBooking, tz: ZoneInfo) -> dict[str, Any]:
    """Date and wall-clock times in club time."""
    if booking.starts_at is None:
        return {"date": None, "start_time": None, "end_time": None}
    start = booking.starts_at.astimezone(tz)
    end = booking.ends_at.astimezone(tz) if booking.ends_at else None
    return {
        "date": start.date(),
        "start_time": start.strftime("%H:%M"),
        "end_time": end.strftime("%H:%M") if end else None,
    }


# --- dedupe ---------------------------------------------------------------------------------------


def content_signature(booking: TrackmanBooking) -> str:
    """The content part of the key: start, end and bay."""
    parts = [
        booking.starts_at.isoformat() if booking.starts_at else "",
        booking.ends_at.isoformat() if booking.ends_at else "",
        booking.bay_ref or "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def dedup_signature(event: ParsedEvent) -> str | None:
    """Status + content: what makes two events for one booking the same event."""
    if event.booking is None:
        return None
    status = "block" if event.is_block and event.action == "received" else event.booking.status
    return f"{status}:{content_signature(event.booking)}"


def dedup_key(event: ParsedEvent) -> str | None:
    """TrackMan booking id + status + content signature: a create and a cancel, or a moved time,
    are different keys; the same delivery again is the same key."""
    signature = dedup_signature(event)
    return f"{event.booking.trackman_booking_id}:{signature}" if signature else None


def with_email(event: ParsedEvent, email: str | None) -> ParsedEvent:
    return replace(event, booking=replace(event.booking, customer_email=email)) if event.booking else event


# --- redaction ------------------------------------------------------------------------------------

_PERSONAL_KEYS = {
    "email",
    "emailaddress",
    "customeremail",
    "useremail",
    "name",
    "firstname",
    "lastname",
    "fullname",
    "customername",
    "username",
    "displayname",
    "phone",
    "phonenumber",
    "mobile",
    "mobilephone",
    "address",
    "street",
    "city",
    "zip",
    "zipcode",
    "postalcode",
    "birthdate",
    "dateofbirth",
    "notes",
    "note",
    "comment",
    "comments",
}
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
REDACTED = "[redacted]"


def redact(value: Any, _depth: int = 0) -> Any:
    """The payload with personal data replaced: names, e-mails, phones, addresses, free text."""
    if _depth > 20:
        return REDACTED
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            normal = re.sub(r"[^a-z]", "", str(key).lower())
            if normal in _PERSONAL_KEYS and item not in (None, "", [], {}):
                out[key] = REDACTED if not isinstance(item, (dict, list)) else redact(item, _depth + 1)
                if isinstance(item, (dict, list)) and normal in ("name", "notes", "note"):
                    out[key] = REDACTED
            else:
                out[key] = redact(item, _depth + 1)
        return out
    if isinstance(value, list):
        return [redact(item, _depth + 1) for item in value]
    if isinstance(value, str):
        return _EMAIL_IN_TEXT.sub(REDACTED, value)
    return value


def bay_resources(spec: str) -> dict[str, int]:
    """TRACKMAN_BAY_RESOURCES: `ref:resource_id,…` (booking's resources carry the same refs)."""
    mapping: dict[str, int] = {}
    for part in spec.split(","):
        ref, _, resource = part.partition(":")
        if ref.strip() and resource.strip().isdigit():
            mapping[ref.strip()] = int(resource.strip())
    return mapping
