"""Fixtures for the fault tests: a private database and bus namespace per test, and clean-up."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from club_shared.testing.services import delete_bus_namespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the tests and their child processes share `faultkit`

import faultkit  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from club_shared.bus import Relay  # noqa: E402
from club_shared.db import drop_database, ensure_database  # noqa: E402
from club_shared.runtime import Runtime  # noqa: E402
from club_shared.testing.services import services_required  # noqa: E402
from club_shared.worker import start_worker  # noqa: E402

_numbers = itertools.count(1)


class FaultBus:
    """One test's bus: runtimes in private databases and namespaces, and the threads it started."""

    def __init__(self, settings_for, amqp_url: str, run_id: str):
        self._settings_for = settings_for
        self.amqp_url = amqp_url
        self.run_id = run_id
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.runtimes: list[Runtime] = []

    def runtime(self, *, amqp_url: str | None = None, **overrides) -> Runtime:
        """A runtime for consumer `faults` with a fresh database and namespace of its own."""
        n = next(_numbers)
        settings = replace(
            self._settings_for(faultkit.CONSUMER, amqp_url=amqp_url or self.amqp_url),
            database_prefix=f"club_t{self.run_id}_f{n}_",
            bus_namespace=f"club_t{self.run_id}_f{n}",
            **overrides,
        )
        url = settings.service_database_url
        ensure_database(url)
        engine = create_engine(url)
        faultkit.metadata.create_all(engine)
        engine.dispose()
        runtime = Runtime(settings, faultkit.BUS)
        self.runtimes.append(runtime)
        return runtime

    def start_worker(self, runtime: Runtime, handlers=faultkit.HANDLERS) -> None:
        """The real worker (`club_shared.worker`): relay and consumer threads."""
        self.threads += start_worker(runtime, handlers, self.stop)

    def start_relay(self, runtime: Runtime) -> None:
        relay = Relay(runtime.db, runtime.tables, runtime.transport("relay"))
        thread = threading.Thread(
            target=relay.run, args=(self.stop,), kwargs={"poll_ms": 100}, name="test-relay", daemon=True
        )
        thread.start()
        self.threads.append(thread)

    def start_consumer(self, runtime: Runtime, handlers=faultkit.HANDLERS) -> faultkit.RecordingConsumer:
        consumer, thread = faultkit.start_consumer(runtime, handlers, self.stop)
        self.threads.append(thread)
        return consumer

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
        for runtime in self.runtimes:
            settings = runtime.settings
            runtime.db.dispose()
            with contextlib.suppress(Exception):
                drop_database(settings.service_database_url)
            delete_bus_namespace(
                settings.amqp_url, settings.bus_namespace, faultkit.CONSUMER, settings.bus_retry_delays_ms
            )


@pytest.fixture
def bus(settings_for, amqp_url, run_id) -> Iterator[FaultBus]:
    fault_bus = FaultBus(settings_for, amqp_url, run_id)
    try:
        yield fault_bus
    finally:
        fault_bus.close()


def _rabbitmqctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=True)


@pytest.fixture(scope="session")
def rabbitmqctl(amqp_url):
    """`rabbitmqctl` for the broker under test, when this process may run it (root, local broker)."""
    missing = None
    if shutil.which("rabbitmqctl") is None:
        missing = "rabbitmqctl is not on PATH"
    elif "127.0.0.1" not in amqp_url and "localhost" not in amqp_url:
        missing = f"the broker at {amqp_url} is not local"
    else:
        try:
            _rabbitmqctl("status", timeout=30)
        except (subprocess.SubprocessError, OSError) as exc:
            missing = f"rabbitmqctl cannot control the broker: {exc}"
    if missing:
        if services_required():
            pytest.fail(f"CLUB_REQUIRE_SERVICES=1 and {missing}")
        pytest.skip(missing)
    return _rabbitmqctl


@pytest.fixture
def private_vhost(rabbitmqctl, amqp_url, run_id) -> Iterator[tuple[str, str]]:
    """A vhost of this test's own (so closing its connections disturbs nobody else): (name, url)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    name = f"club_t{run_id}_{os.getpid()}_{next(_numbers)}"
    user = urlsplit(amqp_url).username or "guest"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        parts = urlsplit(amqp_url)
        yield name, urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            rabbitmqctl("delete_vhost", name)
