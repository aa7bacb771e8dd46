"""The billing service: fees, invoices, Stripe payments and day passes."""

from __future__ import annotations

from flask import Flask

from club_shared.config import Settings
from club_shared.runtime import Runtime
from club_shared.web import build_app

from .api import BLUEPRINTS
from .models import BUS
from .stripe_gateway import gateway_for

SERVICE = "billing"


def make_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime(settings or Settings.from_env(SERVICE), BUS)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or make_runtime(settings)
    app = build_app(runtime, title="Clubhouse billing", blueprints=BLUEPRINTS)
    gateway = gateway_for(runtime.settings)
    app.extensions["stripe"] = gateway
    gateway.announce()
    return app
