"""Calendars and Eventbrite (domain.md §9) as plain Python: what an outside event means for booking,
wellness titles, Eventbrite attendees grouped by e-mail, and the events we push."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CALENDARS = ("events", "wellness", "internal", "conference", "tours")
KIND_FOR = {"events": "event", "wellness": "wellness_class", "internal": "closure", "conference": "block"}
CATEGORIES = ("Social", "Golf", "Wellness", "Business", "Member", "Community")
#: the private extended property marking an event as one of our records
RECORD_KEY = "clubRecord"


def calendar_ids(spec: str | None) -> dict[str, str]:
    """GOOGLE_CALENDAR_IDS: `events=<id>,wellness=<id>,…` (unknown names ignored)."""
    found: dict[str, str] = {}
    for part in (spec or "").split(","):
        name, _, value = part.partition("=")
        if name.strip() in CALENDARS and value.strip():
            found[name.strip()] = value.strip()
    return found


def wellness_title(summary: str) -> tuple[str | None, str, str | None]:
    """ "Category - Title with Instructor" → (category, title, instructor); parts may be missing."""
    category = None
    text = summary.strip()
    head, sep, rest = text.partition(" - ")
    if sep and head.strip():
        category, text = head.strip(), rest.strip()
    instructor = None
    match = re.match(r"^(.*?)\s+with\s+(.+)$", text, re.IGNORECASE)
    if match:
        text, instructor = match.group(1).strip(), match.group(2).strip()
    return category, text or summary.strip(), instructor


def _when(value: Mapping[str, Any] | None, tz: ZoneInfo) -> tuple[datetime | None, date | None, bool]:
    """A Google `start`/`end`: (instant, club date, all day)."""
    if not value:
        return None, None, False
    if value.get("dateTime"):
        instant = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=ZoneInfo(value.get("timeZone") or tz.key))
        instant = instant.astimezone(UTC)
        return instant, instant.astimezone(tz).date(), False
    if value.get("date"):
        return None, date.fromisoformat(str(value["date"])), True
    return None, None, False


def record_of(item: Mapping[str, Any]) -> tuple[str, int] | None:
    """(record type, id) when the event is one we pushed."""
    private = ((item.get("extendedProperties") or {}).get("private")) or {}
    raw = private.get(RECORD_KEY)
    if not raw or ":" not in str(raw):
        return None
    kind, _, number = str(raw).partition(":")
    return (kind, int(number)) if number.isdigit() else None


def google_event(calendar: str, calendar_id: str, item: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """integrations.calendar.event_synced from a Google Calendar event."""
    status = item.get("status") or "confirmed"
    starts_at, start_date, all_day = _when(item.get("start"), tz)
    ends_at, end_date, _ = _when(item.get("end"), tz)
    if all_day and end_date is not None:
        end_date = end_date - timedelta(days=1)  # Google's all-day end date is exclusive
    summary = (item.get("summary") or "").strip() or "(untitled)"
    category = instructor = None
    title = summary
    if calendar == "wellness":
        category, title, instructor = wellness_title(summary)
    elif calendar == "events":
        category = _category(item.get("description"))
    start_date = start_date or end_date or date(1970, 1, 1)
    return {
        "source": "google",
        "calendar": calendar,
        "calendar_id": calendar_id,
        "external_id": str(item["id"])[:200],
        "etag": item.get("etag"),
        "kind": KIND_FOR.get(calendar, "event"),
        "status": status if status in ("confirmed", "tentative", "cancelled") else "confirmed",
        "title": title[:500],
        "description": item.get("description"),
        "location": item.get("location"),
        "all_day": all_day,
        "start_date": start_date.isoformat(),
        "end_date": (end_date or start_date).isoformat(),
        "start_time": starts_at.astimezone(tz).strftime("%H:%M") if starts_at else None,
        "end_time": ends_at.astimezone(tz).strftime("%H:%M") if ends_at else None,
        "starts_at": starts_at.isoformat() if starts_at else None,
        "ends_at": ends_at.isoformat() if ends_at else None,
        "category": category,
        "instructor": instructor,
        "max_capacity": None,
        "image_url": None,
        "updated_at": _instant(item.get("updated")),
    }


def _category(description: str | None) -> str | None:
    match = re.search(r"(?im)^\s*category\s*:\s*(\w+)", description or "")
    if match and match.group(1).title() in CATEGORIES:
        return match.group(1).title()
    return None


def _instant(value: Any) -> str | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).isoformat() if parsed.tzinfo else None


def instants(item: Mapping[str, Any], tz: ZoneInfo) -> tuple[datetime | None, datetime | None, bool]:
    """Busy interval of a Google event (an all-day event covers its whole club days)."""
    starts_at, start_date, all_day = _when(item.get("start"), tz)
    ends_at, end_date, _ = _when(item.get("end"), tz)
    if all_day and start_date and end_date:
        from club_shared.clubtime import day_bounds

        return day_bounds(start_date, tz)[0], day_bounds(end_date - timedelta(days=1), tz)[1], True
    return starts_at, ends_at, False


def fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# --- pushing our records ----------------------------------------------------------------------------


def tour_body(tour: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    return {
        "summary": f"Tour: {tour['visitor_name']}",
        "description": "\n".join(
            p for p in (f"Visitor: {tour['visitor_name']}", tour.get("visitor_phone"), tour.get("notes")) if p
        ),
        "start": {"dateTime": tour["scheduled_at"].astimezone(tz).isoformat(), "timeZone": tz.key},
        "end": {"dateTime": tour["ends_at"].astimezone(tz).isoformat(), "timeZone": tz.key},
        "status": "cancelled" if tour["status"] == "cancelled" else "confirmed",
        "extendedProperties": {"private": {RECORD_KEY: f"tour:{tour['id']}"}},
    }


def closure_body(closure: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    start_date, end_date = closure["start_date"], closure["end_date"]
    if closure.get("start_time") and closure.get("end_time"):
        start = datetime.combine(
            date.fromisoformat(start_date), datetime.strptime(closure["start_time"], "%H:%M").time()
        )
        end = datetime.combine(
            date.fromisoformat(end_date), datetime.strptime(closure["end_time"], "%H:%M").time()
        )
        if end <= start:
            end += timedelta(days=1)
        when = {
            "start": {"dateTime": start.replace(tzinfo=tz).isoformat(), "timeZone": tz.key},
            "end": {"dateTime": end.replace(tzinfo=tz).isoformat(), "timeZone": tz.key},
        }
    else:
        when = {
            "start": {"date": start_date},
            "end": {"date": (date.fromisoformat(end_date) + timedelta(days=1)).isoformat()},
        }
    return {
        "summary": f"Closed: {closure['title']}",
        "description": closure.get("member_notice") or closure.get("reason") or "",
        **when,
        "extendedProperties": {"private": {RECORD_KEY: f"closure:{closure['closure_id']}"}},
    }


# --- Eventbrite -------------------------------------------------------------------------------------


def eventbrite_event(item: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """integrations.calendar.event_synced (source eventbrite) from an Eventbrite event."""
    start = _eb_instant(item.get("start"))
    end = _eb_instant(item.get("end")) or start
    status = "cancelled" if item.get("status") in ("canceled", "cancelled") else "confirmed"
    return {
        "source": "eventbrite",
        "calendar": None,
        "calendar_id": None,
        "external_id": str(item["id"]),
        "etag": item.get("changed"),
        "kind": "event",
        "status": status,
        "title": (((item.get("name") or {}).get("text")) or "(untitled)")[:500],
        "description": (item.get("description") or {}).get("text"),
        "location": ((item.get("venue") or {}).get("name")),
        "all_day": False,
        "start_date": start.astimezone(tz).date().isoformat(),
        "end_date": end.astimezone(tz).date().isoformat(),
        "start_time": start.astimezone(tz).strftime("%H:%M"),
        "end_time": end.astimezone(tz).strftime("%H:%M"),
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "category": None,
        "instructor": None,
        "max_capacity": item.get("capacity"),
        "image_url": (item.get("logo") or {}).get("url"),
        "updated_at": _instant(item.get("changed")),
    }


def _eb_instant(value: Mapping[str, Any] | None) -> datetime:
    raw = (value or {}).get("utc")
    if not raw:
        raise ValueError("Eventbrite event without a start")
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)


def _attending(attendee: Mapping[str, Any]) -> bool:
    status = str(attendee.get("status") or "").lower()
    return (
        not attendee.get("cancelled")
        and not attendee.get("refunded")
        and status
        not in (
            "not attending",
            "deleted",
            "cancelled",
            "refunded",
        )
    )


def group_attendees(event_id: str, attendees: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One RSVP per e-mail: the first attending ticket is the RSVP, extra attending tickets are
    guests, none attending → cancelled."""
    by_email: dict[str, list[Mapping[str, Any]]] = {}
    for attendee in attendees:
        email = str(((attendee.get("profile") or {}).get("email")) or "").strip().lower()
        if "@" in email:
            by_email.setdefault(email, []).append(attendee)
    out = []
    for email, tickets in sorted(by_email.items()):
        tickets = sorted(tickets, key=lambda a: (str(a.get("created") or ""), str(a.get("id"))))
        attending = [t for t in tickets if _attending(t)]
        first = attending[0] if attending else tickets[0]
        profile = first.get("profile") or {}
        out.append(
            {
                "eventbrite_event_id": str(event_id),
                "email": email,
                "name": profile.get("name"),
                "first_name": profile.get("first_name"),
                "last_name": profile.get("last_name"),
                "status": "confirmed" if attending else "cancelled",
                "guest_count": max(len(attending) - 1, 0),
                "checked_in": any(t.get("checked_in") for t in attending),
                "ticket_class": first.get("ticket_class_name"),
                "order_date": _instant(first.get("created")),
                "attendee_ids": [str(t.get("id")) for t in tickets],
            }
        )
    return out
