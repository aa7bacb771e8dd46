"""Club-time ranges as UTC instants (domain.md §1, §4.3).

Bookings are a start and a duration of real minutes: the end instant is start + duration, so daylight
saving never adds or loses a booked minute, and a start inside the spring-forward gap is refused
(`clubtime.InvalidLocalTime`). Wall-clock ranges (closures, blocks, business hours) are a start and an
end time: an end at or before the start is on the next day, and an end of 00:00 (or 24:00) is
midnight. Ranges are half-open `[start, end)`: touching ends never conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from club_shared.clubtime import interval

MIDNIGHT = time(0)


@dataclass(frozen=True, order=True)
class Span:
    """A half-open UTC range [start, end)."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def overlaps(self, other: Span) -> bool:
        return overlaps(self.start, self.end, other.start, other.end)

    def clip(self, bounds: Span) -> Span | None:
        start, end = max(self.start, bounds.start), min(self.end, bounds.end)
        return Span(start, end) if start < end else None


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def booking_span(day: date, start: time, minutes: int, tz: ZoneInfo) -> Span:
    """A booking given in club time; raises InvalidLocalTime for a start that does not exist."""
    return Span(*interval(day, start, minutes, tz))


def lenient_utc(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """A wall-clock moment as UTC, never refused: a time in the spring-forward gap is read with the
    offset before the change (02:30 becomes 03:30), an ambiguous one as its first occurrence."""
    return datetime.combine(day, wall, tzinfo=tz).replace(fold=0).astimezone(UTC)


def wall_span(day: date, start: time, end: time, tz: ZoneInfo) -> Span:
    """A wall-clock range on `day`: an end at or before the start is on the next day (so 00:00 is
    midnight, and 00:00–00:00 is the whole day)."""
    end_day = day + timedelta(days=1) if end <= start else day
    return Span(lenient_utc(day, start, tz), lenient_utc(end_day, end, tz))


def day_span(day: date, tz: ZoneInfo) -> Span:
    """The whole club day (23, 24 or 25 hours)."""
    return wall_span(day, MIDNIGHT, MIDNIGHT, tz)


def local_end(day: date, start: time, minutes: int, tz: ZoneInfo) -> tuple[date, time]:
    """The club-time date and wall clock at which a booking of `minutes` from `start` ends."""
    span = booking_span(day, start, minutes, tz)
    local = span.end.astimezone(tz)
    return local.date(), local.time().replace(tzinfo=None)


def union(spans: list[Span]) -> list[Span]:
    """The spans merged into disjoint, sorted ranges (touching ranges join)."""
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and span.start <= merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def subtract(base: Span, holes: list[Span]) -> list[Span]:
    """`base` minus every hole, as sorted disjoint ranges."""
    free: list[Span] = []
    cursor = base.start
    for hole in union(holes):
        if hole.end <= cursor or hole.start >= base.end:
            continue
        if hole.start > cursor:
            free.append(Span(cursor, hole.start))
        cursor = max(cursor, hole.end)
    if cursor < base.end:
        free.append(Span(cursor, base.end))
    return free


def parse_wall_time(text: str) -> time:
    """`HH:MM` (or `HH:MM:SS`) as a time; `24:00` is midnight (00:00)."""
    if text.strip() in ("24:00", "24:00:00"):
        return MIDNIGHT
    return time.fromisoformat(text.strip())
