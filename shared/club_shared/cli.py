"""The command line every service shares: `club-<service> migrate | worker`, and `club-bus`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from .bus import Handler
from .config import Settings
from .db import migrate, new_revision
from .jobs import JobRunner
from .logs import configure_logging
from .runtime import Runtime
from .worker import declare_topology, run_worker


def service_main(
    package: str,
    make_runtime: Callable[[Settings], Runtime],
    handlers: Mapping[str, Handler],
    argv: list[str] | None = None,
    make_jobs: Callable[[Runtime], JobRunner] | None = None,
) -> int:
    service = package.removeprefix("club_")
    parser = argparse.ArgumentParser(prog=f"club-{service}")
    parser.add_argument("command", choices=["migrate", "worker", "revision"])
    parser.add_argument("-m", "--message", default="change", help="revision: what the migration does")
    args = parser.parse_args(argv)
    settings = Settings.from_env(service)
    configure_logging(service, settings.log_level)
    if args.command == "migrate":
        migrate(package, settings.service_database_url)
        declare_topology(make_runtime(settings), handlers)
    elif args.command == "revision":
        new_revision(package, settings.service_database_url, args.message)
    else:
        runtime = make_runtime(settings)
        run_worker(runtime, handlers, make_jobs(runtime) if make_jobs else None)
    return 0


def bus_main(argv: list[str] | None = None) -> int:
    """Inspect and replay a consumer's parked messages: `club-bus parked notifications`."""
    from .bus.transport import PARKED_REASON_HEADER

    parser = argparse.ArgumentParser(prog="club-bus", description=bus_main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("parked", help="list a consumer's parked messages")
    listing.add_argument("consumer")
    again = sub.add_parser("replay", help="send parked messages back to the consumer's queue")
    again.add_argument("consumer")
    again.add_argument("event_ids", nargs="*", help="only these events (default: all)")
    args = parser.parse_args(argv)

    settings = Settings.from_env(args.consumer)
    from .bus.rabbitmq import RabbitTransport
    from .bus.transport import queue_names

    if not settings.amqp_url or settings.amqp_url == "memory://":
        parser.error("AMQP_URL must name a RabbitMQ broker")
    transport = RabbitTransport(settings.amqp_url, settings.bus_namespace, connection_name="club-bus")
    names = queue_names(settings.bus_namespace, args.consumer)
    try:
        if args.command == "parked":
            for message in transport.parked(names):
                reason = message.headers.get(PARKED_REASON_HEADER, "")
                print(f"{message.message_id}\t{message.routing_key}\t{reason}")
        else:
            print(f"replayed {transport.replay(names, args.event_ids or None)}")
    finally:
        transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(bus_main())
