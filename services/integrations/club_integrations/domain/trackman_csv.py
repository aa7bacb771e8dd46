"""TrackMan CSV exports (domain.md §7): columns booking id, user name, email, booked date, start, end,
duration, status, bay, player count, notes; players listed in the notes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from . import settings as club_settings
from .trackman import (
    ACTIVE_STATUSES,
    CANCELLED_STATUSES,
    ParsedEvent,
    PayloadError,
    TrackmanBooking,
    local_instant,
)

COLUMNS = {
    "booking_id": ("bookingid", "id", "trackmanbookingid", "trackmanid", "reference"),
    "user_name": ("username", "name", "customer", "customername", "player", "playername"),
    "email": ("email", "useremail", "customeremail", "emailaddress"),
    "date": ("bookeddate", "date", "bookingdate"),
    "start": ("start", "starttime", "from", "begin"),
    "end": ("end", "endtime", "to"),
    "duration": ("duration", "durationminutes", "minutes", "length"),
    "status": ("status", "bookingstatus"),
    "bay": ("bay", "bayname", "bayref", "baynumber", "bayid"),
    "player_count": ("playercount", "players", "numberofplayers", "playerquantity"),
    "notes": ("notes", "note", "comments"),
}
REQUIRED = ("booking_id", "date", "start", "status")
MAX_ROWS = 20_000


class CsvRefused(ValueError):
    """The file as a whole cannot be imported (nothing is changed)."""


@dataclass(frozen=True)
class CsvRow:
    line: int
    event: ParsedEvent
    #: approved if in the future, attended if past (booking forces linked rows to approved)
    target_status: str | None
    record_as_paid: bool


@dataclass(frozen=True)
class CsvError:
    line: int
    message: str


def parse(
    text: str, tz: ZoneInfo, now: datetime, placeholder_patterns: Iterable[str]
) -> tuple[list[CsvRow], list[CsvError]]:
    patterns = list(placeholder_patterns)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvRefused("The file is empty.") from None
    except csv.Error as exc:
        raise CsvRefused(f"The file is not CSV: {exc}") from None
    index = _columns(header)
    missing = [c for c in REQUIRED if c not in index]
    if "end" not in index and "duration" not in index:
        missing.append("end or duration")
    if missing:
        raise CsvRefused(f"Missing columns: {', '.join(missing)}.")
    rows: list[CsvRow] = []
    errors: list[CsvError] = []
    try:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                raise CsvRefused(f"More than {MAX_ROWS} rows: split the file.")
            record = {name: values[i].strip() if i < len(values) else "" for name, i in index.items()}
            try:
                rows.append(_row(number, record, tz, now, patterns))
            except (PayloadError, ValueError) as exc:
                errors.append(CsvError(number, str(exc)))
    except csv.Error as exc:
        raise CsvRefused(f"The file is not CSV: {exc}") from None
    return rows, errors


def _columns(header: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, raw in enumerate(header):
        key = re.sub(r"[^a-z0-9]", "", raw.lower())
        for name, aliases in COLUMNS.items():
            if key in aliases and name not in index:
                index[name] = i
    return index


def _row(line: int, record: dict[str, str], tz: ZoneInfo, now: datetime, patterns: list[str]) -> CsvRow:
    booking_id = record["booking_id"]
    if not booking_id:
        raise ValueError("No booking id.")
    status = record["status"].lower()
    if status in CANCELLED_STATUSES:
        cancelled = True
    elif status in ACTIVE_STATUSES:
        cancelled = False
    else:
        raise ValueError(f"Unknown status {record['status']!r}.")
    day = _date(record["date"])
    start_day, start_clock = _when(record["start"], day)
    starts_at = local_instant(start_day, start_clock, tz)
    if record.get("end"):
        end_day, end_clock = _when(record["end"], start_day)
        ends_at = local_instant(end_day, end_clock, tz)
        if ends_at <= starts_at and end_day == start_day:  # past midnight
            ends_at = local_instant(end_day + timedelta(days=1), end_clock, tz)
    else:
        minutes = record.get("duration", "")
        if not minutes.isdigit() or not 0 < int(minutes) <= 24 * 60:
            raise ValueError("No end and no valid duration.")
        ends_at = starts_at + timedelta(minutes=int(minutes))
    if ends_at - starts_at > timedelta(hours=24):
        raise ValueError("Longer than a day.")
    players = notes_players(record.get("notes", ""), patterns)
    count = record.get("player_count", "")
    player_count = int(count) if count.isdigit() and int(count) <= 100 else (len(players) or None)
    bay = record.get("bay", "")
    bay_match = re.fullmatch(r"(?i)(?:bay\s*)?(\S+)", bay)
    booking = TrackmanBooking(
        trackman_booking_id=booking_id[:50],
        bay_ref=bay_match.group(1)[:20] if bay and bay_match else None,
        starts_at=starts_at,
        ends_at=ends_at,
        customer_email=club_settings.real_email(record.get("email"), patterns),
        customer_name=record.get("user_name") or None,
        player_count=player_count,
        status="cancelled" if cancelled else status,
        players=tuple(players),
        notes=(record.get("notes") or None) and record["notes"][:2000],
    )
    event = ParsedEvent(
        version=0,
        raw_event_type="csv",
        event_type="booking.cancelled" if cancelled else "booking.created",
        action="cancelled" if cancelled else "received",
        booking=booking,
    )
    past = starts_at <= now
    return CsvRow(
        line=line,
        event=event,
        target_status=None if cancelled else ("attended" if past else "approved"),
        record_as_paid=past and not cancelled,
    )


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def _date(raw: str) -> date:
    raw = raw.strip()
    us = _US_DATE.match(raw)
    try:
        if us:
            return date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ValueError(f"Not a date: {raw!r}.") from None


def _when(raw: str, day: date) -> tuple[date, time]:
    """A wall-clock time on `day`, or a full date and time."""
    raw = raw.strip()
    if len(raw) > 10 and (raw[10] in "T " and re.match(r"^\d{4}-\d{2}-\d{2}", raw)):
        return _date(raw[:10]), _clock(raw[11:])
    us_full = re.match(r"^(\d{1,2}/\d{1,2}/\d{4})\s+(.+)$", raw)
    if us_full:
        return _date(us_full.group(1)), _clock(us_full.group(2))
    return day, _clock(raw)


def _clock(raw: str) -> time:
    match = _TIME.match(raw.strip())
    if not match:
        raise ValueError(f"Not a time: {raw!r}.")
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    half = (match.group(4) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(f"Not a time: {raw!r}.")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"Not a time: {raw!r}.")
    return time(hour, minute, second)


_PIPE = re.compile(r"^([MG])\s*\|\s*([^|]*)\|\s*([^|]*)\|\s*([^|]*)$", re.IGNORECASE)
_COLON = re.compile(r"^([MG])\s*:\s*([^|]*?)\s*\|\s*(.*)$", re.IGNORECASE)


def notes_players(notes: str, patterns: Iterable[str]) -> list[dict[str, str | None]]:
    """Players as the notes list them: `M|email|first|last` / `G|email|first|last`, or
    `M: email | Name` / `G: none | Name`, one per line (or separated by `;`)."""
    players = []
    for part in re.split(r"[\r\n;]+", notes or ""):
        part = part.strip()
        if not part:
            continue
        pipe = _PIPE.match(part)
        if pipe:
            kind, email, first, last = (g.strip() for g in pipe.groups())
        else:
            colon = _COLON.match(part)
            if not colon:
                continue
            kind, email, name = (g.strip() for g in colon.groups())
            first, _, last = name.partition(" ")
        players.append(
            {
                "type": "member" if kind.upper() == "M" else "guest",
                "email": club_settings.real_email(
                    email if email.lower() not in ("none", "-", "") else None, patterns
                ),
                "first_name": first.strip() or None,
                "last_name": last.strip() or None,
            }
        )
    return players
