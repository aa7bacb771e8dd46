"""The notifications service: in-app, web push and e-mail."""

from __future__ import annotations

from flask import Flask

from club_shared.config import Settings
from club_shared.runtime import Runtime
from club_shared.web import build_app

from .api import BLUEPRINTS
from .channels import ChannelSet, announce
from .models import BUS

SERVICE = "notifications"


def make_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or Settings.from_env(SERVICE), BUS)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or make_runtime(settings)
    app = build_app(runtime, title="Clubhouse notifications", blueprints=BLUEPRINTS)
    channels = ChannelSet.from_settings(runtime.settings)
    app.extensions["notification_channels"] = channels
    announce(channels.email, channels.push)
    return app
