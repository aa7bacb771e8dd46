"""A fake Google Calendar API v3: `GET/POST /calendars/<id>/events`, `GET/PATCH/DELETE
/calendars/<id>/events/<event id>`, with a bearer token (401 otherwise).

Listing pages with `maxResults`/`pageToken`; the last page carries `nextSyncToken`, and a list with
`syncToken` returns only what changed since (deleted events as `status: cancelled`); `expire_sync_tokens()`
makes the next incremental list answer 410 Gone. Every change gives the event a new `etag`; PATCH
with `If-Match` and an old etag answers 412. `edit(...)` changes an event as someone in Google would.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from .server import LocalServer


class FakeGoogleCalendar:
    def __init__(self, token: str = "ya29.test-token"):
        self.token = token
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: list[tuple[str, str, dict]] = []
        self._sequence = itertools.count(1)
        self._changed_at: dict[tuple[str, str], int] = {}
        self._token_generation = 0
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = LocalServer(self._wsgi)
        self.url = self._server.url

    def start(self) -> FakeGoogleCalendar:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.calendars.clear()
            self.calls.clear()
            self._changed_at.clear()
            self._failures.clear()

    # --- what tests do -----------------------------------------------------------------------------

    def add(
        self, calendar_id: str, summary: str, start: datetime | str, end: datetime | str, **fields: Any
    ) -> str:
        """An event someone made in Google (datetimes, or `YYYY-MM-DD` strings for all-day)."""
        with self._lock:
            event = {"summary": summary, "start": _when(start), "end": _when(end), **fields}
            return self._store(calendar_id, event)["id"]

    def edit(self, calendar_id: str, event_id: str, **fields: Any) -> None:
        with self._lock:
            event = self.calendars[calendar_id][event_id]
            event.update({k: (_when(v) if k in ("start", "end") else v) for k, v in fields.items()})
            self._touch(calendar_id, event)

    def remove(self, calendar_id: str, event_id: str) -> None:
        with self._lock:
            event = self.calendars[calendar_id][event_id]
            event["status"] = "cancelled"
            self._touch(calendar_id, event)

    def expire_sync_tokens(self) -> None:
        with self._lock:
            self._token_generation += 1

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures += [status] * times

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        return list(self.calendars.get(calendar_id, {}).values())

    # --- state ---------------------------------------------------------------------------------------

    def _store(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        event_id = uuid.uuid4().hex[:20]
        event = {"kind": "calendar#event", "id": event_id, "status": "confirmed", **body}
        event["id"] = event_id
        self.calendars.setdefault(calendar_id, {})[event_id] = event
        self._touch(calendar_id, event)
        return event

    def _touch(self, calendar_id: str, event: dict[str, Any]) -> None:
        sequence = next(self._sequence)
        event["etag"] = f'"{sequence}{uuid.uuid4().hex[:6]}"'
        event["updated"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._changed_at[(calendar_id, event["id"])] = sequence

    # --- the server --------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_json(silent=True) if request.data else None
        response = self._answer(request, body)
        with self._lock:
            self.calls.append((request.method, request.path, dict(request.args)))
        return response(environ, start_response)

    def _error(self, status: int, reason: str, message: str) -> Response:
        body = {
            "error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}
        }
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _answer(self, request: Request, body: Any) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "authError", "Invalid Credentials")
        with self._lock:
            if self._failures:
                return self._error(self._failures.pop(0), "backendError", "Fake failure")
            parts = [unquote(p) for p in request.path.split("/") if p]
            if len(parts) < 3 or parts[0] != "calendars" or parts[2] != "events":
                return self._error(404, "notFound", "Not Found")
            calendar_id = parts[1]
            events = self.calendars.setdefault(calendar_id, {})
            if len(parts) == 3 and request.method == "GET":
                return self._list(calendar_id, request)
            if len(parts) == 3 and request.method == "POST":
                return self._json(200, self._store(calendar_id, dict(body or {})))
            if len(parts) != 4 or parts[3] not in events:
                return self._error(404, "notFound", "Not Found")
            event = events[parts[3]]
            if request.method == "GET":
                return self._json(200, event)
            if request.method == "PATCH":
                if request.headers.get("If-Match") and request.headers["If-Match"] != event["etag"]:
                    return self._error(412, "conditionNotMet", "Precondition Failed")
                event.update({k: v for k, v in (body or {}).items() if k not in ("id", "etag")})
                self._touch(calendar_id, event)
                return self._json(200, event)
            if request.method == "DELETE":
                if event["status"] == "cancelled":
                    return self._error(410, "deleted", "Resource has been deleted")
                event["status"] = "cancelled"
                self._touch(calendar_id, event)
                return Response(status=204)
        return self._error(405, "methodNotAllowed", "Method Not Allowed")

    def _list(self, calendar_id: str, request: Request) -> Response:
        since = 0
        sync_token = request.args.get("syncToken")
        if sync_token:
            generation, _, sequence = sync_token.partition(".")
            if int(generation) != self._token_generation:
                return self._error(
                    410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
                )
            since = int(sequence)
        show_deleted = sync_token or request.args.get("showDeleted") == "true"
        items = sorted(
            (
                e
                for e in self.calendars[calendar_id].values()
                if self._changed_at[(calendar_id, e["id"])] > since
                and (show_deleted or e["status"] != "cancelled")
            ),
            key=lambda e: self._changed_at[(calendar_id, e["id"])],
        )
        size = int(request.args.get("maxResults", 250))
        start = int(request.args.get("pageToken") or 0)
        page = items[start : start + size]
        answer: dict[str, Any] = {"kind": "calendar#events", "items": page}
        if start + size < len(items):
            answer["nextPageToken"] = str(start + size)
        else:
            latest = max(self._changed_at.values(), default=0)
            answer["nextSyncToken"] = f"{self._token_generation}.{latest}"
        return self._json(200, answer)

    @staticmethod
    def _json(status: int, body: Any) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")


def _when(value: datetime | str | dict) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"date": value}
    return {"dateTime": value.isoformat(), "timeZone": str(getattr(value.tzinfo, "key", "UTC"))}
