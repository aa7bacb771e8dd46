"""A TrackMan webhook sender: builds V1 and V2 booking payloads as TrackMan posts them and signs the
raw body with HMAC-SHA256 in `x-trackman-signature` (hex).

`TrackmanSender(post, secret)` posts through any `post(path, data=bytes, headers=dict)` callable:
a Flask test client's `post`, or `TrackmanSender.over_http(base_url, secret)` for a real server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

PATH = "/api/v1/webhooks/trackman"


def v2_payload(
    booking_id: str | int,
    start: str,
    end: str,
    *,
    bay: str | int | None = "1",
    status: str = "booked",
    email: str | None = None,
    name: str | None = None,
    players: dict[str, int] | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """A V2 body: `booking` with id, ISO start/end, bay ref, status, player quantities, external id."""
    booking: dict[str, Any] = {
        "id": booking_id,
        "start": start,
        "end": end,
        "status": status,
        "playerQuantities": players or {"adults": 1},
    }
    if bay is not None:
        booking["bay"] = {"ref": str(bay), "name": f"Bay {bay}"}
    if external_id:
        booking["externalBookingId"] = external_id
    if email or name:
        booking["customer"] = {"email": email, "name": name, "phone": "+1 555 0100"}
    return {"eventType": "booking.updated", "booking": booking}


def v1_payload(
    event_type: str,
    booking_id: str | int | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    bay: str | int | None = "1",
    status: str | None = None,
    email: str | None = None,
    name: str | None = None,
    player_count: int | None = None,
) -> dict[str, Any]:
    """A V1 body: `event_type` + `data`."""
    data: dict[str, Any] = {}
    if booking_id is not None:
        data["booking_id"] = booking_id
    for key, value in (
        ("start_time", start),
        ("end_time", end),
        ("bay", bay),
        ("status", status),
        ("player_count", player_count),
    ):
        if value is not None:
            data[key] = value
    if email or name:
        data["customer"] = {"email": email, "first_name": (name or "").split(" ")[0], "last_name": "X"}
    return {"event_type": event_type, "data": data}


class TrackmanSender:
    def __init__(self, post: Callable[..., Any], secret: str | None):
        self._post = post
        self.secret = secret

    @classmethod
    def over_http(cls, base_url: str, secret: str | None) -> TrackmanSender:
        import requests

        session = requests.Session()

        def post(path: str, data: bytes, headers: dict[str, str]):
            return session.post(base_url + path, data=data, headers=headers, timeout=10)

        return cls(post, secret)

    def signature(self, body: bytes) -> str:
        assert self.secret, "no secret to sign with"
        return hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()

    def send(
        self, payload: Any, *, signature: str | None = None, sign: bool = True, raw: bytes | None = None
    ):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["x-trackman-signature"] = signature
        elif sign and self.secret:
            headers["x-trackman-signature"] = self.signature(body)
        return self._post(PATH, data=body, headers=headers)
