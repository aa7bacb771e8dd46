"""The booking service: bays and rooms, availability, booking requests, guests, events and wellness."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask

from club_shared.config import Settings
from club_shared.runtime import Runtime
from club_shared.web import build_app

from .api import BLUEPRINTS
from .models import BUS

SERVICE = "booking"


def make_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or Settings.from_env(SERVICE), BUS)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """The booking web app; `clock` (UTC now) is for tests that live on a given day."""
    app = build_app(runtime or make_runtime(settings), title="Clubhouse booking", blueprints=BLUEPRINTS)
    if clock is not None:
        app.config["CLUB_CLOCK"] = clock
    return app
