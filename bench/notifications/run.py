"""Benchmark: booking approved → in-app notification stored → web push delivered, through RabbitMQ.

Publishes `booking.request.approved` events straight to the club exchange (as booking's relay would)
at a steady rate, runs the notifications worker as its own process (`club-notifications worker`:
consumer + job runner, as in production), and measures, for each event, the time from its publication to
the moment the fake push service (tests/fakes, which checks VAPID and decrypts the payload, as a
real one does) has the push. Target: p99 ≤ 500 ms at 100 events/s.

    .venv/bin/python bench/notifications/run.py [--rate 100] [--seconds 30] [--members 200]

Needs PostgreSQL and RabbitMQ (DATABASE_URL / AMQP_URL, else localhost). Works in its own database
and bus namespace, removed afterwards; appends its result to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import benchkit  # noqa: E402
from benchkit import percentile  # noqa: E402
from fakes.webpush import FakePushService, vapid_key_pair  # noqa: E402

from club_notifications.app import make_runtime  # noqa: E402
from club_notifications.handlers import HANDLERS  # noqa: E402
from club_notifications.models import PushSubscription  # noqa: E402
from club_shared.bus import Message  # noqa: E402
from club_shared.bus.rabbitmq import RabbitTransport  # noqa: E402
from club_shared.config import Settings  # noqa: E402
from club_shared.db import drop_database, migrate  # noqa: E402
from club_shared.events import make_event  # noqa: E402
from club_shared.testing.services import delete_bus_namespace, find_postgres, find_rabbitmq  # noqa: E402
from club_shared.worker import declare_topology  # noqa: E402

EVENT = "booking.request.approved"


def approved(booking_id: int, email: str, day: date) -> dict:
    starts = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=25)
    return {
        "booking_id": booking_id,
        "session_id": booking_id,
        "status": "approved",
        "source": "approval",
        "member_id": str(booking_id),
        "member_email": email,
        "member_name": "Bench Member",
        "resource_id": 3,
        "resource_name": "Bay 3",
        "resource_type": "simulator",
        "date": day.isoformat(),
        "start_time": "18:00",
        "end_time": "19:00",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "duration_minutes": 60,
        "declared_player_count": 1,
        "roster_version": 1,
        "trackman_booking_id": None,
        "participants": [],
        "reviewed_by": "desk@club.example.com",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to publish")
    parser.add_argument("--members", type=int, default=200, help="distinct members (one browser each)")
    parser.add_argument("--target-ms", type=float, default=500.0, help="p99 target")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    from club_shared.events import CATALOG

    if (EVENT, 1) not in CATALOG:
        print(f"{EVENT} is not in the event catalog yet: nothing to measure")
        return 1

    pg_url, amqp_url = find_postgres(), find_rabbitmq()
    run = secrets.token_hex(3)
    vapid_private, vapid_public = vapid_key_pair()
    push = FakePushService().start()
    settings = replace(
        Settings.from_env("notifications"),
        env="test",
        database_url=pg_url,
        database_prefix=f"club_bench{run}_",
        amqp_url=amqp_url,
        bus_namespace=f"club_bench{run}",
        vapid_private_key=vapid_private,
        vapid_public_key=vapid_public,
        vapid_subject="mailto:bench@club.example.com",
        log_level="WARNING",
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    migrate("club_notifications", settings.service_database_url)
    runtime = make_runtime(settings)
    publisher = worker = None
    try:
        emails = [f"bench{i}.{run}@example.com" for i in range(args.members)]
        endpoints = {}
        with runtime.db.transaction() as session:
            for email in emails:
                browser = push.subscribe(vapid_public)
                endpoints[browser["endpoint"].rsplit("/", 1)[-1]] = email
                session.add(
                    PushSubscription(endpoint=browser["endpoint"], user_email=email, keys=browser["keys"])
                )
        declare_topology(runtime, HANDLERS)  # the queue exists before the first event is published
        worker = subprocess.Popen(
            [sys.executable, "-m", "club_notifications", "worker"],
            env={
                **os.environ,
                "CLUB_ENV": "test",
                "DATABASE_URL": pg_url,
                "CLUB_DATABASE_PREFIX": settings.database_prefix,
                "AMQP_URL": amqp_url,
                "BUS_NAMESPACE": settings.bus_namespace,
                "VAPID_PRIVATE_KEY": vapid_private,
                "VAPID_PUBLIC_KEY": vapid_public,
                "VAPID_SUBJECT": settings.vapid_subject,
                "LOG_LEVEL": "WARNING",
            },
        )
        publisher = RabbitTransport(amqp_url, settings.bus_namespace, connection_name="bench-publisher")

        day = date.today() + timedelta(days=5)

        def publish(booking_id: int, email: str) -> None:
            event = make_event(EVENT, approved(booking_id, email, day), producer="booking")
            publisher.publish(
                [Message(routing_key=EVENT, body=event.to_json(), message_id=str(event.event_id))]
            )

        # Warm up: the worker process has started and pushes before the clock starts.
        for i in range(10):
            publish(900_000 + i, emails[i % len(emails)])
        push.wait_for(lambda service: len(service.received) >= 10, timeout=120)
        push.received.clear()

        total = int(args.rate * args.seconds)
        sent_at: dict[int, float] = {}
        interval = 1.0 / args.rate
        started = time.monotonic()
        for i in range(total):
            due = started + i * interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the load generator, not waiting for a result
            booking_id = 1_000_000 + i
            sent_at[booking_id] = time.time()
            publish(booking_id, emails[i % len(emails)])
        publish_seconds = time.monotonic() - started

        def all_arrived(service):
            return len({json.loads(r.payload)["notification_id"] for r in service.received}) >= total

        with contextlib.suppress(TimeoutError):
            push.wait_for(all_arrived, timeout=max(60.0, args.seconds * 2))
        latencies = []
        with runtime.db.transaction() as session:
            from sqlalchemy import select

            from club_notifications.models import Notification

            stored = session.execute(
                select(Notification.id, Notification.related_id, Notification.created_at)
            ).all()
        booking_of = {row.id: row.related_id for row in stored}
        # The consumer's share: its transaction began (now()) this long after the publish.
        stored_ms = [
            (row.created_at.timestamp() - sent_at[row.related_id]) * 1000
            for row in stored
            if row.related_id in sent_at
        ]
        seen = set()
        for received in push.received:
            notification_id = received.json["notification_id"]
            if notification_id in seen:
                continue
            seen.add(notification_id)
            booking_id = booking_of.get(notification_id)
            if booking_id in sent_at:
                latencies.append((received.received_at - sent_at[booking_id]) * 1000)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        if publisher is not None:
            publisher.close()
        push.stop()
        runtime.db.dispose()
        drop_database(settings.service_database_url)
        delete_bus_namespace(amqp_url, settings.bus_namespace, "notifications", settings.bus_retry_delays_ms)

    delivered = len(latencies)
    result = {
        "events": total,
        "delivered": delivered,
        "achieved_rate": round(total / publish_seconds, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "stored_p50_ms": round(statistics.median(stored_ms), 1) if stored_ms else None,
        "stored_p99_ms": round(percentile(stored_ms, 99), 1) if stored_ms else None,
    }
    ok = delivered == total and result["p99_ms"] is not None and result["p99_ms"] <= args.target_ms
    print(json.dumps(result))
    print("PASS" if ok else "FAIL", f"p99 target {args.target_ms:.0f} ms")
    if not args.no_record:
        record(args, result, ok)
    return 0 if ok else 1


def record(args, result: dict, ok: bool) -> None:
    heading = "## notifications: booking approved → notification stored → push delivered"
    intro = (
        "`bench/notifications/run.py`: `booking.request.approved` published to RabbitMQ at a steady rate; the\n"
        "notifications worker (consumer + job runner) stores the in-app row and pushes through pywebpush to\n"
        "the fake push service (VAPID checked, payload decrypted). Latency = publish → push received.\n\n"
        "| when (UTC) | machine | rate/s | events | delivered | p50 ms | p95 ms | p99 ms | max ms | p99 ≤ 500 ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {benchkit.table_machine()} "
        f"| {result['achieved_rate']} | {result['events']} | {result['delivered']} | {result['p50_ms']} "
        f"| {result['p95_ms']} | {result['p99_ms']} | {result['max_ms']} | {'yes' if ok else 'no'} |\n"
    )
    # Rows go at the end of this section's table, whatever sections others add after it.
    benchkit.add_row(heading, intro, row)


if __name__ == "__main__":
    sys.exit(main())
