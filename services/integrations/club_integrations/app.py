"""The integrations service: TrackMan, HubSpot, calendars, tours and integrity checks."""

from __future__ import annotations

from flask import Flask

from club_shared.config import Settings
from club_shared.runtime import Runtime
from club_shared.web import build_app

from .api import BLUEPRINTS
from .models import BUS

SERVICE = "integrations"


def make_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or Settings.from_env(SERVICE), BUS)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    from .jobs import announce

    runtime = runtime or make_runtime(settings)
    app = build_app(runtime, title="Clubhouse integrations", blueprints=BLUEPRINTS)
    announce(runtime)
    return app
