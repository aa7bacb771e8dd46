"""What goes into a web-push message: a small JSON document with a tag and a deep link."""

from __future__ import annotations

import json
from dataclasses import dataclass

#: Push services accept about 4 kB of encrypted payload; we keep the plaintext to 3 kB.
MAX_PAYLOAD_BYTES = 3072

#: Where in the member app a notification about a kind of thing opens.
DEEP_LINKS = {
    "booking": "/bookings/{id}",
    "closure": "/closures/{id}",
    "event": "/events/{id}",
    "wellness_class": "/wellness/{id}",
    "announcement": "/announcements/{id}",
    "payment": "/payments/{id}",
    "tour": "/tours/{id}",
}


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    tag: str
    url: str
    type: str
    notification_id: int | None = None
    urgency: str = "normal"  # very-low|low|normal|high (RFC 8030)


def tag_for(related_type: str | None, related_id: int | None, fallback_id: int | None = None) -> str:
    """Messages about the same thing replace each other on the device: `booking-<id>`."""
    if related_type and related_id is not None:
        return f"{related_type}-{related_id}"
    return f"notification-{fallback_id}" if fallback_id is not None else "club"


def deep_link(link: str | None, related_type: str | None, related_id: int | None) -> str:
    if link:
        return link
    if related_type in DEEP_LINKS and related_id is not None:
        return DEEP_LINKS[related_type].format(id=related_id)
    return "/notifications"


def for_notification(
    *,
    notification_id: int | None,
    type: str,
    title: str,
    message: str,
    related_type: str | None,
    related_id: int | None,
    link: str | None,
) -> PushMessage:
    urgency = "high" if type in {"booking_reminder", "closure_today", "payment_failed"} else "normal"
    return PushMessage(
        title=title,
        body=message,
        tag=tag_for(related_type, related_id, notification_id),
        url=deep_link(link, related_type, related_id),
        type=type,
        notification_id=notification_id,
        urgency=urgency,
    )


def encode(message: PushMessage, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The JSON payload, its body shortened (never the tag or link) until it fits in `limit` bytes."""
    doc = {
        "title": message.title[:200],
        "body": message.body,
        "tag": message.tag,
        "url": message.url,
        "type": message.type,
        "notification_id": message.notification_id,
    }
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) <= limit:
        return raw
    body = message.body
    # Cut by characters until the encoded document fits; each pass removes at least the overshoot.
    while len(raw) > limit and body:
        overshoot = len(raw) - limit
        body = body[: max(len(body) - overshoot - 1, 0)]
        doc["body"] = body + "…"
        raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return raw
