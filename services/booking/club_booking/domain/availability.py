"""Free and busy intervals of one resource on one club day (domain.md §3, §4.3).

The day is the club day [D 00:00, D+1 00:00) in UTC, so a booking of D−1 that spills past midnight is
busy on D, and DST days are 23 or 25 hours long. Free time is inside the day's business hours only
(staff may still book outside them); the slot grid steps by the resource's slot length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .timeranges import Span, subtract, union


@dataclass(frozen=True)
class Busy:
    span: Span
    kind: str  # booking | session | block | closure
    mine: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Slot:
    span: Span
    available: bool


@dataclass(frozen=True)
class DayAvailability:
    day: Span
    open: Span | None
    busy: list[Busy]
    free: list[Span]
    slots: list[Slot]


def merge(day: Span, open_span: Span | None, busy: list[Busy], slot_minutes: int) -> DayAvailability:
    relevant = sorted((b for b in busy if b.span.overlaps(day)), key=lambda b: (b.span.start, b.span.end))
    holes = union([b.span for b in relevant])
    if open_span is None:
        return DayAvailability(day, None, relevant, [], [])
    free = subtract(open_span, holes)
    slots: list[Slot] = []
    step = timedelta(minutes=max(slot_minutes, 1))
    start = open_span.start
    while start + step <= open_span.end:
        span = Span(start, start + step)
        slots.append(Slot(span, not any(h.overlaps(span) for h in holes)))
        start += step
    return DayAvailability(day, open_span, relevant, free, slots)
