"""A fake Eventbrite API v3: `GET /organizations/<id>/events/?status=…` and `GET /events/<id>/attendees/`,
paged with `continuation` as Eventbrite does, behind a bearer token (401 NO_AUTH otherwise)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import LocalServer

PAGE = 2  # small pages, so that paging is exercised


class FakeEventbrite:
    def __init__(self, token: str = "eb-test-token", organization_id: str = "org-1"):
        self.token = token
        self.organization_id = organization_id
        self.events: dict[str, dict[str, Any]] = {}
        self.attendees: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._server = LocalServer(self._wsgi)
        self.url = self._server.url

    def start(self) -> FakeEventbrite:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.attendees.clear()
            self.calls.clear()

    def add_event(
        self, name: str, start: datetime, end: datetime, *, status: str = "live", capacity: int | None = 100
    ) -> str:
        event_id = str(uuid.uuid4().int % 10**11)
        self.events[event_id] = {
            "id": event_id,
            "name": {"text": name, "html": name},
            "description": {"text": f"About {name}"},
            "start": {
                "timezone": "America/Los_Angeles",
                "utc": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "end": {
                "timezone": "America/Los_Angeles",
                "utc": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "capacity": capacity,
            "status": status,
            "changed": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "logo": {"url": "https://img.example/logo.png"},
            "venue": {"name": "The Clubhouse"},
        }
        self.attendees[event_id] = []
        return event_id

    def add_attendee(
        self,
        event_id: str,
        email: str,
        name: str = "Ann Lee",
        *,
        status: str = "Attending",
        cancelled: bool = False,
        refunded: bool = False,
        checked_in: bool = False,
        ticket_class: str = "General",
        created: str | None = None,
    ) -> str:
        first, _, last = name.partition(" ")
        attendee_id = str(uuid.uuid4().int % 10**11)
        self.attendees[event_id].append(
            {
                "id": attendee_id,
                "event_id": event_id,
                "order_id": str(uuid.uuid4().int % 10**9),
                "created": created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "status": status,
                "cancelled": cancelled,
                "refunded": refunded,
                "checked_in": checked_in,
                "ticket_class_name": ticket_class,
                "profile": {"email": email, "name": name, "first_name": first, "last_name": last},
            }
        )
        return attendee_id

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.calls.append((request.path, dict(request.args)))
            response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(
                401, {"status_code": 401, "error": "NO_AUTH", "error_description": "Authentication required"}
            )
        parts = [p for p in request.path.split("/") if p]
        if len(parts) == 3 and parts[0] == "organizations" and parts[2] == "events":
            if parts[1] != self.organization_id:
                return self._json(
                    403, {"status_code": 403, "error": "NOT_AUTHORIZED", "error_description": "No"}
                )
            wanted = set((request.args.get("status") or "live,started,ended").split(","))
            items = [e for e in self.events.values() if e["status"] in wanted]
            return self._paged("events", items, request)
        if len(parts) == 3 and parts[0] == "events" and parts[2] == "attendees":
            if parts[1] not in self.attendees:
                return self._json(
                    404, {"status_code": 404, "error": "NOT_FOUND", "error_description": "No event"}
                )
            return self._paged("attendees", self.attendees[parts[1]], request)
        return self._json(404, {"status_code": 404, "error": "NOT_FOUND", "error_description": "Not found"})

    def _paged(self, key: str, items: list, request: Request) -> Response:
        start = int(request.args.get("continuation") or 0)
        page = items[start : start + PAGE]
        more = start + PAGE < len(items)
        pagination = {"object_count": len(items), "page_size": PAGE, "has_more_items": more}
        if more:
            pagination["continuation"] = str(start + PAGE)
        return self._json(200, {"pagination": pagination, key: page})

    @staticmethod
    def _json(status: int, body: Any) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")
