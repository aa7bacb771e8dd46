"""A service's worker: the outbox relay and the event consumer, each on its own thread."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping

from .bus import Consumer, Handler, Relay
from .jobs import JobRunner
from .runtime import Runtime

log = logging.getLogger(__name__)


def make_consumer(runtime: Runtime, handlers: Mapping[str, Handler]) -> Consumer:
    settings = runtime.settings
    return Consumer(
        runtime.service,
        runtime.db,
        runtime.tables,
        handlers,
        max_deliveries=settings.bus_max_deliveries,
        retry_delays_ms=settings.bus_retry_delays_ms,
    )


def declare_topology(runtime: Runtime, handlers: Mapping[str, Handler]) -> None:
    """Create the service's queue and bindings, so that events published from now on wait for it."""
    if not handlers:
        return
    transport = runtime.transport("declare")
    try:
        transport.declare(make_consumer(runtime, handlers).topology(runtime.queues))
    finally:
        transport.close()


def start_worker(
    runtime: Runtime,
    handlers: Mapping[str, Handler],
    stop: threading.Event,
    jobs: JobRunner | None = None,
) -> list[threading.Thread]:
    """Start the relay, the consumer (when the service handles events) and the job runner (when it
    has jobs); they run until `stop`."""
    settings = runtime.settings
    declare_topology(runtime, handlers)
    relay = Relay(runtime.db, runtime.tables, runtime.transport("relay"), service=runtime.service)
    threads = [
        threading.Thread(
            target=relay.run,
            args=(stop,),
            kwargs={"poll_ms": settings.relay_poll_ms},
            name=f"{runtime.service}-relay",
            daemon=True,
        )
    ]
    if handlers:
        threads.append(
            threading.Thread(
                target=make_consumer(runtime, handlers).run,
                args=(runtime.transport("consumer"), runtime.queues, stop),
                kwargs={"prefetch": settings.bus_prefetch},
                name=f"{runtime.service}-consumer",
                daemon=True,
            )
        )
    if jobs is not None:
        if not settings.schedulers_enabled:  # domain.md §12: never two environments firing on one database
            jobs.schedule = ()
        threads.append(
            threading.Thread(target=jobs.run, args=(stop,), name=f"{runtime.service}-jobs", daemon=True)
        )
    for thread in threads:
        thread.start()
    return threads


def serve_metrics(
    runtime: Runtime, handlers: Mapping[str, Handler], threads: list[threading.Thread], port: int
):
    """The worker's own /metrics (its counters, plus the outbox, job queue and, for a consumer,
    its queue and parked messages read at scrape time) and /healthz (503 once a thread has died,
    so that a liveness probe restarts the worker), on `port` of every interface."""
    from .metrics import BrokerCollector, DatabaseCollector, registry, start_metrics_server

    collectors: list = [DatabaseCollector(runtime.service, runtime.db.libpq_url())]
    if handlers and not runtime.uses_memory_bus and runtime.settings.amqp_url:
        collectors.append(BrokerCollector(runtime.service, runtime.settings.amqp_url, runtime.queues))

    def health() -> dict:
        dead = [t.name for t in threads if not t.is_alive()]
        return {"status": "dead threads" if dead else "ok", "service": runtime.service, "dead": dead}

    return start_metrics_server(port, "0.0.0.0", registry(*collectors), health)


def run_worker(runtime: Runtime, handlers: Mapping[str, Handler], jobs: JobRunner | None = None) -> None:
    """Run the worker in the foreground until SIGTERM or SIGINT."""
    from . import tracing

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    tracing.configure(runtime.service, runtime.settings.otel_exporter_otlp_endpoint)
    threads = start_worker(runtime, handlers, stop, jobs)
    server = None
    if runtime.settings.worker_metrics_port:
        server = serve_metrics(runtime, handlers, threads, runtime.settings.worker_metrics_port)
    log.info(
        "worker started",
        extra={"threads": [t.name for t in threads], "metrics_port": runtime.settings.worker_metrics_port},
    )
    stop.wait()
    for thread in threads:
        thread.join(timeout=10)
    if server is not None:
        server.shutdown()
    tracing.shutdown()
    log.info("worker stopped")
