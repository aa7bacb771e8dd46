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
    relay = Relay(runtime.db, runtime.tables, runtime.transport("relay"))
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
        threads.append(threading.Thread(target=jobs.run, args=(stop,), name=f"{runtime.service}-jobs", daemon=True))
    for thread in threads:
        thread.start()
    return threads


def run_worker(runtime: Runtime, handlers: Mapping[str, Handler], jobs: JobRunner | None = None) -> None:
    """Run the worker in the foreground until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threads = start_worker(runtime, handlers, stop, jobs)
    log.info("worker started", extra={"threads": [t.name for t in threads]})
    stop.wait()
    for thread in threads:
        thread.join(timeout=10)
    log.info("worker stopped")
