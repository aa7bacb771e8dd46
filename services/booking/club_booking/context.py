"""What event handlers and jobs publish with when no web request is around.

Handlers are plain `(session, event)` functions: they publish through the outbox with booking's own
tables and read the club's time zone from the settings, like a Runtime would.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from club_shared.bus import publish
from club_shared.config import Settings
from club_shared.events import Event

from .models import BUS


class HandlerRuntime:
    service = "booking"

    def __init__(self, tz: ZoneInfo):
        self.tz = tz

    def publish(self, session: Session, event_type: str, data: dict[str, Any]) -> Event:
        return publish(session, BUS, event_type, data, producer=self.service)


@cache
def handler_runtime() -> HandlerRuntime:
    return HandlerRuntime(ZoneInfo(Settings.from_env("booking").club_timezone))
