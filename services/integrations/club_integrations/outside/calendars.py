"""Google Calendar (API v3) and Eventbrite (API v3) over HTTP with `requests`: bearer tokens, timeouts,
and the errors that matter (an expired sync token, a changed etag)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from club_shared.config import Settings

from ..domain.calendars import calendar_ids

TIMEOUT = (5, 20)


class OutsideError(Exception):
    def __init__(self, status: int | None, message: str):
        super().__init__(message)
        self.status = status


class SyncTokenExpired(OutsideError):
    """410 Gone: the calendar must be read in full again."""


class EtagMismatch(OutsideError):
    """412: the event changed in Google since we last saw it."""


def google_enabled(settings: Settings) -> bool:
    return bool(settings.google_calendar_access_token and calendar_ids(settings.google_calendar_ids))


def eventbrite_enabled(settings: Settings) -> bool:
    return bool(settings.eventbrite_token and settings.eventbrite_organization_id)


class _Http:
    def __init__(self, base: str, token: str):
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.base + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise OutsideError(None, f"{type(exc).__name__}: {exc}") from None
        return response

    @staticmethod
    def fail(response: requests.Response) -> OutsideError:
        return OutsideError(response.status_code, f"HTTP {response.status_code}: {response.text[:300]}")


class GoogleCalendarClient(_Http):
    def __init__(self, settings: Settings):
        if not settings.google_calendar_access_token:
            raise RuntimeError("Google Calendar is off: GOOGLE_CALENDAR_ACCESS_TOKEN is not set")
        super().__init__(settings.google_calendar_api_base, settings.google_calendar_access_token)
        self.calendars = calendar_ids(settings.google_calendar_ids)

    @staticmethod
    def _events(calendar_id: str) -> str:
        return f"/calendars/{quote(calendar_id, safe='')}/events"

    def list_events(self, calendar_id: str, params: dict[str, Any]) -> dict[str, Any]:
        response = self.request("GET", self._events(calendar_id), params=params)
        if response.status_code == 410:
            raise SyncTokenExpired(410, "The sync token expired: a full sync is needed.")
        if response.status_code >= 400:
            raise self.fail(response)
        return response.json()

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"{self._events(calendar_id)}/{quote(event_id, safe='')}")
        if response.status_code in (404, 410):
            return None
        if response.status_code >= 400:
            raise self.fail(response)
        return response.json()

    def insert(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", self._events(calendar_id), json=body)
        if response.status_code >= 400:
            raise self.fail(response)
        return response.json()

    def patch(
        self, calendar_id: str, event_id: str, body: dict[str, Any], etag: str | None = None
    ) -> dict[str, Any]:
        headers = {"If-Match": etag} if etag else {}
        response = self.request(
            "PATCH", f"{self._events(calendar_id)}/{quote(event_id, safe='')}", json=body, headers=headers
        )
        if response.status_code == 412:
            raise EtagMismatch(412, "The event changed in Google since we last read it.")
        if response.status_code >= 400:
            raise self.fail(response)
        return response.json()

    def delete(self, calendar_id: str, event_id: str) -> None:
        response = self.request("DELETE", f"{self._events(calendar_id)}/{quote(event_id, safe='')}")
        if response.status_code >= 400 and response.status_code not in (404, 410):
            raise self.fail(response)


class EventbriteClient(_Http):
    def __init__(self, settings: Settings):
        if not eventbrite_enabled(settings):
            raise RuntimeError("Eventbrite is off: EVENTBRITE_TOKEN / EVENTBRITE_ORGANIZATION_ID are not set")
        super().__init__(settings.eventbrite_api_base, settings.eventbrite_token)
        self.organization_id = settings.eventbrite_organization_id

    def _page(self, path: str, key: str, params: dict[str, Any]) -> tuple[list[dict], str | None]:
        response = self.request("GET", path, params=params)
        if response.status_code >= 400:
            raise self.fail(response)
        body = response.json()
        pagination = body.get("pagination") or {}
        more = pagination.get("continuation") if pagination.get("has_more_items") else None
        return body.get(key) or [], more

    def events(self, continuation: str | None = None) -> tuple[list[dict], str | None]:
        params: dict[str, Any] = {"status": "live,started,ended", "page_size": 50, "expand": "venue"}
        if continuation:
            params["continuation"] = continuation
        return self._page(
            f"/organizations/{quote(str(self.organization_id), safe='')}/events/", "events", params
        )

    def attendees(self, event_id: str, continuation: str | None = None) -> tuple[list[dict], str | None]:
        params: dict[str, Any] = {}
        if continuation:
            params["continuation"] = continuation
        return self._page(f"/events/{quote(str(event_id), safe='')}/attendees/", "attendees", params)
