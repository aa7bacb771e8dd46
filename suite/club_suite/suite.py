"""Assemble every service into one WSGI app with its workers running on threads."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass

from club_gateway.dispatcher import make_gateway_app
from club_shared.config import SERVICES, Settings
from club_shared.db import migrate
from club_shared.runtime import Runtime
from club_shared.worker import declare_topology, start_worker


@dataclass
class Suite:
    app: object  # the gateway's WSGI app
    runtimes: dict[str, Runtime]
    stop: threading.Event
    threads: list[threading.Thread]

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for runtime in self.runtimes.values():
            runtime.close()


def start_suite(settings_for: dict[str, Settings] | None = None, *, seed: bool = False) -> Suite:
    """Migrate each service, start its worker on threads, and mount its app behind the gateway."""
    stop = threading.Event()
    apps, runtimes, handlers, threads = {}, {}, {}, []
    for service in SERVICES:
        package = f"club_{service}"
        settings = (settings_for or {}).get(service) or Settings.from_env(service)
        migrate(package, settings.service_database_url)
        app_module = importlib.import_module(f"{package}.app")
        handlers[service] = importlib.import_module(f"{package}.handlers").HANDLERS
        runtimes[service] = app_module.make_runtime(settings)
        apps[service] = app_module.create_app(runtime=runtimes[service])
        # Every queue exists before any relay starts, so no early event goes unrouted.
        declare_topology(runtimes[service], handlers[service])
    for service in SERVICES:
        jobs = importlib.import_module(f"club_{service}.jobs").make_jobs(runtimes[service])
        threads += start_worker(runtimes[service], handlers[service], stop, jobs)
    if seed:
        from .seed import seed_demo_club

        seed_demo_club(apps)
    return Suite(app=make_gateway_app(apps), runtimes=runtimes, stop=stop, threads=threads)
