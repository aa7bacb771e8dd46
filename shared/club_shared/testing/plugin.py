"""The suite's pytest plugin (enabled in the root pyproject): real services, private namespaces.

Each test run gets its own databases (`club_t<run>_<service>`) and its own bus namespace
(`club_t<run>`: exchange and queues), dropped or deleted at the end of the run.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from ..config import SERVICES, Settings
from ..db import drop_database, migrate
from ..runtime import MEMORY_URL, Runtime
from .services import ServiceMissing, delete_bus_namespace, find_postgres, find_rabbitmq, services_required

FAST_RETRY_DELAYS_MS = (50, 100, 200, 400)


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def pg_url() -> str:
    return find_postgres()


@pytest.fixture(scope="session")
def amqp_url() -> str:
    try:
        return find_rabbitmq()
    except ServiceMissing as exc:
        if services_required():
            pytest.fail(f"CLUB_REQUIRE_SERVICES=1 and {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def keys() -> tuple[str, str]:
    from ..auth import generate_key_pair

    return generate_key_pair()


@pytest.fixture(scope="session")
def settings_for(pg_url: str, run_id: str, keys) -> Iterator[Callable[..., Settings]]:
    """Settings for a service in this run's private databases; `amqp_url` defaults to in-memory.
    The RabbitMQ queues and exchanges of every namespace handed out are deleted after the run."""
    used: set[tuple[str, str, str]] = set()

    def make(service: str, *, amqp_url: str = MEMORY_URL, **overrides) -> Settings:
        test_values = {
            "env": "test",
            "database_url": pg_url,
            "database_prefix": f"club_t{run_id}_",
            "amqp_url": amqp_url,
            "bus_namespace": f"club_t{run_id}",
            "bus_retry_delays_ms": FAST_RETRY_DELAYS_MS,
            "relay_poll_ms": 100,
            # Tests make many runtimes; each keeps only this many idle connections (bursts overflow).
            "db_pool_size": 2,
            "jwt_private_key": keys[0],
            "jwt_public_key": keys[1],
        }
        settings = replace(Settings.from_env(service), **{**test_values, **overrides})
        if amqp_url != MEMORY_URL:
            used.add((amqp_url, settings.bus_namespace, service))
        return settings

    yield make
    for amqp_url, namespace, service in used:
        delete_bus_namespace(amqp_url, namespace, service, FAST_RETRY_DELAYS_MS)


@pytest.fixture(scope="session")
def migrated(settings_for) -> Iterator[Callable[[str], None]]:
    """Migrate a service's database for this run once; drop every one at the end."""
    done: set[str] = set()
    lock = threading.Lock()

    def ensure(service: str) -> None:
        with lock:
            if service not in done:
                migrate(f"club_{service}", settings_for(service).service_database_url)
                done.add(service)

    yield ensure
    for service in done:
        with contextlib.suppress(Exception):
            drop_database(settings_for(service).service_database_url)


@pytest.fixture(scope="session")
def service_runtime(settings_for, migrated) -> Iterator[Callable[..., Runtime]]:
    """A migrated service's Runtime: `service_runtime("notifications", amqp_url=...)`."""
    import importlib

    made: list[Runtime] = []

    def make(service: str, **overrides) -> Runtime:
        assert service in SERVICES, service
        migrated(service)
        app_module = importlib.import_module(f"club_{service}.app")
        runtime = app_module.make_runtime(settings_for(service, **overrides))
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()
