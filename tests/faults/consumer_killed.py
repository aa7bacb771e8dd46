"""A consumer whose handler does its write and then dies (SIGKILL) before the commit.

Run by `test_consumer_killed.py` with the test's settings in the environment. Prints the id of the
event it was handling, then kills its own process.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import faultkit

from club_shared.bus import Consumer


def write_then_die(session, event) -> None:
    faultkit.record_effect(session, event)
    session.flush()  # the effect's INSERT has reached PostgreSQL, uncommitted
    print(event.event_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    runtime = faultkit.runtime_from_env()
    settings = runtime.settings
    consumer = Consumer(
        faultkit.CONSUMER,
        runtime.db,
        runtime.tables,
        {faultkit.EVENT_TYPE: write_then_die},
        max_deliveries=settings.bus_max_deliveries,
        retry_delays_ms=settings.bus_retry_delays_ms,
    )
    consumer.run(
        runtime.transport("consumer"), runtime.queues, threading.Event(), prefetch=settings.bus_prefetch
    )
    return 3


if __name__ == "__main__":
    sys.exit(main())
