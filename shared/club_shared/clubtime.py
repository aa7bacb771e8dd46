"""Club time: the wall-clock dates and times people book, and the UTC instants we store.

Daylight saving is handled by the rules of domain.md §1: a start inside the spring-forward gap does
not exist (InvalidLocalTime), an ambiguous fall-back start is its first occurrence, and a duration
is real minutes, so an end instant is always start + duration.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class InvalidLocalTime(ValueError):
    """A wall-clock time that never happens in the club's zone (the spring-forward gap)."""

    code = "INVALID_LOCAL_TIME"


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(day: date, wall: time, tz: ZoneInfo) -> datetime:
    local = datetime.combine(day, wall, tzinfo=tz).replace(fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InvalidLocalTime(f"{day.isoformat()} {wall.isoformat('minutes')} does not exist in {tz.key}")
    return instant


def interval(day: date, start: time, duration_minutes: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The half-open UTC interval [start, end) of a booking given in club time."""
    starts_at = to_utc(day, start, tz)
    return starts_at, starts_at + timedelta(minutes=duration_minutes)


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz)


def today(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(tz).date()


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which a club day starts and the next one starts (23, 24 or 25 hours)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def utcnow() -> datetime:
    return datetime.now(UTC)
