"""Finding PostgreSQL and RabbitMQ for tests.

Order: the URL in the environment (DATABASE_URL, AMQP_URL); the usual port on localhost; a
testcontainers container where a Docker engine answers; then, for PostgreSQL only, the embedded
server. With CLUB_REQUIRE_SERVICES=1 (CI) a service that cannot be found fails the run instead of
skipping the tests that need it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import tempfile
from pathlib import Path

import psycopg

from ..db import start_embedded_postgres

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


class ServiceMissing(RuntimeError):
    pass


def services_required() -> bool:
    return os.environ.get("CLUB_REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # no client, no engine, no permission: all mean "no containers"
        return False


def find_postgres() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if _port_open("127.0.0.1", 5432):
        try:
            psycopg.connect(LOCAL_PG, connect_timeout=2).close()
            return LOCAL_PG
        except psycopg.Error:
            pass
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver=None).start()
        atexit.register(container.stop)
        return container.get_connection_url()
    return start_embedded_postgres(Path(tempfile.mkdtemp(prefix="club-pg-")))


def find_rabbitmq() -> str:
    if os.environ.get("AMQP_URL"):
        return os.environ["AMQP_URL"]
    if _port_open("127.0.0.1", 5672):
        return LOCAL_AMQP
    if _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-alpine").start()
        atexit.register(container.stop)
        params = container.get_connection_params()
        return f"amqp://guest:guest@{params.host}:{params.port}/%2F"
    raise ServiceMissing(
        "RabbitMQ not found: AMQP_URL is unset, nothing listens on 127.0.0.1:5672 and no Docker engine answers"
    )


def delete_bus_namespace(amqp_url: str, namespace: str, consumer: str, retry_delays_ms) -> None:
    """Delete a test run's queues and exchanges for one consumer (best effort: it is tidying)."""
    import pika

    from ..bus.transport import queue_names

    names = queue_names(namespace, consumer)
    queues = [names.main, names.parked, names.unrouted, *(names.retry(d) for d in retry_delays_ms)]
    exchanges = [names.exchange, names.unrouted, names.dead_letter_exchange]
    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    except pika.exceptions.AMQPError:
        return
    with connection:
        for name in queues:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.channel().queue_delete(name)
        for name in exchanges:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.channel().exchange_delete(name)
