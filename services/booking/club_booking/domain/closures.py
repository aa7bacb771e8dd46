"""Facility closures: which resources they close, on which dates, over which times (domain.md §3)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta

from .timeranges import MIDNIGHT

AREA_WORDS = ("entire_facility", "all_bays", "conference_room", "none")
MAX_CLOSURE_DAYS = 366


class InvalidAreas(ValueError):
    pass


@dataclass(frozen=True)
class ResourceRef:
    id: int
    type: str
    trackman_bay_ref: str | None = None


def parse_areas(raw: str | list | None) -> list[str]:
    """`affected_areas` as a list of tokens: a comma list, a JSON array, or a list already."""
    if raw is None:
        return []
    if isinstance(raw, list):
        items = raw
    else:
        text = raw.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError as exc:
                raise InvalidAreas(f"affected_areas is not a JSON array: {exc}") from None
            if not isinstance(items, list):
                raise InvalidAreas("affected_areas must be a list")
        else:
            items = text.split(",")
    tokens = [str(item).strip().lower() for item in items if str(item).strip()]
    for token in tokens:
        if token in AREA_WORDS or token.isdigit():
            continue
        if token.startswith("bay_") and token[4:].isdigit():
            continue
        raise InvalidAreas(f"unknown affected area {token!r}")
    return tokens


def normalise_areas(raw: str | list | None) -> str:
    """The canonical stored form: a comma list (`none` when empty)."""
    tokens = parse_areas(raw)
    return ",".join(dict.fromkeys(tokens)) if tokens else "none"


def affected_resources(raw: str | list | None, resources: Iterable[ResourceRef]) -> list[int]:
    """The ids of the resources a closure with these areas closes, in id order."""
    tokens = parse_areas(raw)
    resources = list(resources)
    chosen: set[int] = set()
    for token in tokens:
        if token == "entire_facility":
            chosen.update(r.id for r in resources)
        elif token == "all_bays":
            chosen.update(r.id for r in resources if r.type == "simulator")
        elif token == "conference_room":
            chosen.update(r.id for r in resources if r.type == "conference_room")
        elif token.startswith("bay_"):
            number = token[4:]
            bays = [r for r in resources if r.type == "simulator" and r.trackman_bay_ref == number]
            bays = bays or [r for r in resources if r.type == "simulator" and str(r.id) == number]
            if not bays:
                raise InvalidAreas(f"there is no bay {number}")
            chosen.update(r.id for r in bays)
        elif token.isdigit():
            if not any(r.id == int(token) for r in resources):
                raise InvalidAreas(f"there is no resource {token}")
            chosen.add(int(token))
    return sorted(chosen)


def closure_days(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError("end_date is before start_date")
    if (end - start).days >= MAX_CLOSURE_DAYS:
        raise ValueError(f"a closure may span at most {MAX_CLOSURE_DAYS} days")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def daily_times(start_time: time | None, end_time: time | None) -> tuple[time, time]:
    """The wall-clock range a closure covers on each of its days: both times null = the whole day
    (00:00–00:00); an end at or before the start wraps into the next day."""
    if start_time is None and end_time is None:
        return MIDNIGHT, MIDNIGHT
    if start_time is None or end_time is None:
        raise ValueError("give both start_time and end_time, or neither")
    if start_time == end_time and start_time != MIDNIGHT:
        raise ValueError("a closure's start and end times must differ")
    return start_time, end_time
