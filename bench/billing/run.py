"""Benchmark of billing: (a) the fee engine per booking, in-process (target p99 ≤ 2 ms); (b) a booking
event through billing's real consumer (fee input → snapshot → outbox, one transaction), for scale;
(d) a stream of booking events (created → approved → checked in → attended) through the real
consumer in batches of the bus's prefetch: events/s, SQL statements per event, and the ratio to the
same consumer's raw rate on the same events (inbox and commit, handlers that do nothing);
(c) the Stripe webhook endpoint through the gateway: nginx (generated config) → gunicorn → verify
the signature, claim the event id, apply, commit (target p99 ≤ 50 ms).

    .venv/bin/python bench/billing/run.py [--fees 20000] [--events 500] [--stream 2000] [--webhooks 2000]

Needs PostgreSQL (DATABASE_URL, else localhost) and nginx on PATH (for (c); skipped without it).
Works in its own database, dropped afterwards; appends its result to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import benchkit  # noqa: E402
from benchkit import percentile  # noqa: E402
from fakes.stripe_fake import sign  # noqa: E402

from club_billing.domain.fees import SEED_TIERS, FeeInput, Player, compute_fees  # noqa: E402
from club_shared.config import Settings  # noqa: E402
from club_shared.db import drop_database, migrate  # noqa: E402
from club_shared.testing.services import find_postgres  # noqa: E402

SECRET = "whsec_bench_billing"
TARGET_FEE_MS = 2.0
TARGET_WEBHOOK_MS = 50.0


def summary(values_ms: list[float]) -> dict:
    return {
        "n": len(values_ms),
        "p50_ms": round(statistics.median(values_ms), 3),
        "p95_ms": round(percentile(values_ms, 95), 3),
        "p99_ms": round(percentile(values_ms, 99), 3),
        "max_ms": round(max(values_ms), 3),
    }


# --- (a) the fee engine ------------------------------------------------------------------------


def bench_engine(count: int) -> dict:
    core, premium = SEED_TIERS["core"], SEED_TIERS["premium"]
    players = (
        Player("owner", 1, 1, "owner@example.com", tier=core, used_before=45),
        Player("member", 2, 2, "bo@example.com", user_id="u2", tier=premium, used_before=30),
        Player("guest", 3, 3, "cy@example.com", pass_covered=True),
        Player("guest", 4, 4, None, name="Guest 4", is_placeholder=True),
    )
    fee_input = FeeInput("approved", "simulator", 180, 4, players)
    previous = {line.key: line for line in compute_fees(fee_input).lines}
    for _ in range(500):  # warm up
        compute_fees(fee_input, previous)
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        compute_fees(fee_input, previous)
        timings.append((time.perf_counter() - started) * 1000)
    return summary(timings)


# --- (b) a booking event through the consumer ---------------------------------------------------


def booking_event(booking_id: int, email: str, day: date) -> dict:
    starts = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=17 + booking_id % 4)
    participants = [
        {
            "participant_id": booking_id * 10 + 1,
            "type": "owner",
            "user_id": None,
            "guest_id": None,
            "email": email,
            "name": "Owner",
            "slot": 1,
            "is_staff": False,
            "is_placeholder": False,
            "used_guest_pass": False,
            "payment_status": "pending",
        },
        {
            "participant_id": booking_id * 10 + 2,
            "type": "guest",
            "user_id": None,
            "guest_id": None,
            "email": "guest@example.com",
            "name": "Guest",
            "slot": 2,
            "is_staff": False,
            "is_placeholder": False,
            "used_guest_pass": False,
            "payment_status": "pending",
        },
    ]
    return {
        "booking_id": booking_id,
        "session_id": booking_id,
        "status": "approved",
        "source": "approval",
        "member_id": None,
        "member_email": email,
        "member_name": "Bench",
        "resource_id": 1,
        "resource_name": "Bay 1",
        "resource_type": "simulator",
        "date": day.isoformat(),
        "start_time": "10:00",
        "end_time": "11:00",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "duration_minutes": 60,
        "declared_player_count": 2,
        "roster_version": 1,
        "trackman_booking_id": None,
        "participants": participants,
        "reviewed_by": "desk@club.example",
    }


def bench_consumer(settings: Settings, count: int) -> dict:
    from club_billing.app import make_runtime
    from club_billing.handlers import HANDLERS
    from club_shared.bus import Delivery, Message
    from club_shared.events import make_event
    from club_shared.worker import make_consumer

    runtime = make_runtime(settings)
    consumer = make_consumer(runtime, HANDLERS)
    day = date.today() + timedelta(days=3)
    timings = []
    for i in range(count):
        email = f"member{i % 50}@example.com"  # 50 members: each has earlier bookings that day
        event = make_event(
            "booking.request.approved", booking_event(1_000 + i, email, day), producer="booking"
        )
        delivery = Delivery(Message(event.type, event.to_json(), str(event.event_id)), 0)
        started = time.perf_counter()
        [outcome] = consumer.handle_batch([delivery])
        timings.append((time.perf_counter() - started) * 1000)
        assert outcome.verdict.name == "ACK", outcome
    runtime.db.dispose()
    return summary(timings)


# --- (d) a stream of booking events through the consumer, against its raw rate -------------------

#: The lifecycle every booking of the stream goes through: (event type, status, source, actor field).
LIFECYCLE = (
    ("booking.request.created", "pending", "booking_preview", "created_by"),
    ("booking.request.approved", "approved", "approval", "reviewed_by"),
    ("booking.request.checked_in", "checked_in", "check_in", "checked_in_by"),
    ("booking.request.attended", "attended", "status_change", "marked_by"),
)


def stream_events(count: int, day: date) -> list:
    """`count` events: bookings of 50 members (an owner, a member friend and a guest each; several
    per member that day, so earlier usage and cascades are real), phase by phase as a club day runs."""
    from club_shared.events import make_event

    bookings = max(1, count // len(LIFECYCLE))
    events = []
    for event_type, status, source, actor in LIFECYCLE:
        for b in range(bookings):
            booking_id = 500_000 + b
            data = booking_event(booking_id, f"member{b % 50}@example.com", day)
            data["participants"].insert(
                1,
                {
                    **data["participants"][0],
                    "participant_id": booking_id * 10 + 3,
                    "type": "member",
                    "email": f"member{(b + 7) % 50}@example.com",
                    "slot": 2,
                },
            )
            data["participants"][2]["slot"] = 3
            del data["reviewed_by"]
            data.update(status=status, source=source, declared_player_count=3, **{actor: "desk@club.example"})
            events.append(make_event(event_type, data, producer="booking"))
    return events[:count]


def bench_stream(settings: Settings, count: int, batch: int) -> dict:
    from sqlalchemy import event as sa_event

    from club_billing.app import make_runtime
    from club_billing.flows import readmodels
    from club_billing.handlers import HANDLERS
    from club_shared.bus import Consumer, Delivery, Message
    from club_shared.worker import make_consumer

    runtime = make_runtime(settings)
    with runtime.db.transaction() as session:
        for i in range(50):
            readmodels.upsert_member(
                session,
                {"email": f"member{i}@example.com", "member_id": f"m{i}", "tier": "core", "status": "active"},
            )
    events = stream_events(count, date.today() + timedelta(days=4))
    deliveries = [Delivery(Message(e.type, e.to_json(), str(e.event_id)), 0) for e in events]

    def run(consumer) -> tuple[float, int]:
        statements = 0

        def counted(*_args) -> None:
            nonlocal statements
            statements += 1

        sa_event.listen(runtime.db.engine, "before_cursor_execute", counted)
        started = time.perf_counter()
        for start in range(0, len(deliveries), batch):
            outcomes = consumer.handle_batch(deliveries[start : start + batch])
            assert all(o.verdict.name == "ACK" for o in outcomes), outcomes
        elapsed = time.perf_counter() - started
        sa_event.remove(runtime.db.engine, "before_cursor_execute", counted)
        return elapsed, statements

    # the raw rate: the same consumer machinery under another name (its own inbox rows), doing nothing
    raw = Consumer(
        "bench-raw",
        runtime.db,
        runtime.tables,
        dict.fromkeys(HANDLERS, lambda _session, _event: None),
        max_deliveries=settings.bus_max_deliveries,
        retry_delays_ms=settings.bus_retry_delays_ms,
    )
    raw_s, _ = run(raw)
    billing_s, statements = run(make_consumer(runtime, HANDLERS))
    runtime.db.dispose()
    return {
        "events": len(deliveries),
        "batch": batch,
        "events_per_s": round(len(deliveries) / billing_s, 1),
        "raw_events_per_s": round(len(deliveries) / raw_s, 1),
        "ratio": round(raw_s / billing_s, 3),
        "statements_per_event": round(statements / len(deliveries), 1),
    }


# --- (c) the webhook endpoint through nginx -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def bench_webhooks(settings: Settings, env: dict, count: int, clients: int) -> dict | None:
    import requests

    if not shutil.which("nginx"):
        print("nginx not found: the webhook benchmark through the gateway is skipped")
        return None
    from club_gateway.nginx import Options, prepare

    app_port, gateway_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-billing-"))
    upstreams = {
        name: f"127.0.0.1:{free_port()}"
        for name in ("membership", "booking", "integrations", "notifications")
    }
    upstreams["billing"] = f"127.0.0.1:{app_port}"
    options = replace(
        Options(),
        listen=f"127.0.0.1:{gateway_port}",
        upstreams=upstreams,
        runtime_dir=str(workdir),
        access_log="/dev/null",
        rate_per_ip="100000r/s",
        burst_per_ip=100000,
    )
    conf = prepare(workdir / "nginx", options)
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "python:club_shared.gunicorn_conf",
                    "--workers",
                    "2",
                    "--bind",
                    f"127.0.0.1:{app_port}",
                    "club_billing.app:create_app()",
                ],
                env={
                    **env,
                    "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prom"),
                    "GUNICORN_CMD_ARGS": "--no-control-socket",
                },
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        (workdir / "prom").mkdir(exist_ok=True)
        procs.append(
            subprocess.Popen(
                ["nginx", "-p", str(conf.parent), "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        base = f"http://127.0.0.1:{gateway_port}"
        wait_for(f"http://127.0.0.1:{app_port}/healthz")
        wait_for(f"{base}/api/v1/products")  # through nginx
        timings: list[float] = []
        outcomes: dict[str, int] = {}
        lock = threading.Lock()

        def client(share: int, seed: int) -> None:
            session = requests.Session()
            mine = []
            last = b""
            for i in range(share):
                kind = i % 4
                obj_id = f"pi_bench_{seed}_{i // 4}"
                if kind == 3:  # a duplicate delivery of the previous event
                    body = last
                else:
                    event = {
                        "id": f"evt_{uuid.uuid4().hex}",
                        "object": "event",
                        "type": (
                            "payment_intent.created",
                            "payment_intent.processing",
                            "payment_intent.canceled",
                        )[kind],
                        "created": int(time.time()),
                        "livemode": False,
                        "data": {
                            "object": {
                                "id": obj_id,
                                "object": "payment_intent",
                                "amount": 2500,
                                "status": "processing",
                                "metadata": {},
                            }
                        },
                    }
                    body = json.dumps(event).encode()
                last = body
                headers = {"Stripe-Signature": sign(body, SECRET), "Content-Type": "application/json"}
                started = time.perf_counter()
                response = session.post(
                    f"{base}/api/v1/webhooks/stripe", data=body, headers=headers, timeout=10
                )
                mine.append((time.perf_counter() - started) * 1000)
                outcome = (
                    response.json().get("outcome", str(response.status_code))
                    if response.ok
                    else str(response.status_code)
                )
                with lock:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            with lock:
                timings.extend(mine)

        for warm in range(50):  # warm the connection pools
            client(1, 900_000 + warm)
        timings.clear()
        outcomes.clear()
        threads = [threading.Thread(target=client, args=(count // clients, n)) for n in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        result = summary(timings)
        result["rate_per_s"] = round(len(timings) / elapsed, 1)
        result["outcomes"] = outcomes
        result["clients"] = clients
        return result
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fees", type=int, default=20000, help="fee computations in-process")
    parser.add_argument("--events", type=int, default=500, help="booking events through the consumer")
    parser.add_argument("--stream", type=int, default=2000, help="booking events of the stream (d)")
    parser.add_argument("--webhooks", type=int, default=2000, help="webhook requests through the gateway")
    parser.add_argument("--clients", type=int, default=2, help="concurrent webhook senders")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    engine = bench_engine(args.fees)
    print(f"(a) fee engine: {engine}")
    prefix = f"club_bench{secrets.token_hex(3)}_"
    pg = find_postgres()
    env = {
        **os.environ,
        "DATABASE_URL": pg,
        "CLUB_DATABASE_PREFIX": prefix,
        "CLUB_ENV": "production",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("STRIPE_SECRET_KEY", None)
    settings = replace(
        Settings.from_env("billing"),
        database_url=pg,
        database_prefix=prefix,
        env="test",
        stripe_webhook_secret=SECRET,
        amqp_url="memory://",
    )
    migrate("club_billing", settings.service_database_url)
    try:
        consumer = bench_consumer(settings, args.events)
        print(f"(b) booking event through the consumer: {consumer}")
        stream = bench_stream(settings, args.stream, settings.bus_prefetch)
        print(f"(d) booking event stream through the consumer: {stream}")
        webhooks = bench_webhooks(settings, env, args.webhooks, args.clients)
        print(f"(c) webhook through nginx: {webhooks}")
    finally:
        drop_database(settings.service_database_url)
    ok = engine["p99_ms"] <= TARGET_FEE_MS and (webhooks is None or webhooks["p99_ms"] <= TARGET_WEBHOOK_MS)
    if not args.no_record:
        record(engine, consumer, webhooks, ok)
        record_stream(stream)
    return 0 if ok else 1


def record(engine: dict, consumer: dict, webhooks: dict | None, ok: bool) -> None:
    heading = "## billing: fee engine, booking event → fees, Stripe webhook through the gateway"
    intro = (
        "`bench/billing/run.py`: (a) `compute_fees` of a 4-player booking with earlier usage, a pass and a\n"
        "placeholder, in-process (target p99 ≤ 2 ms); (b) `booking.request.approved` through billing's real\n"
        "consumer (inbox, read models, fee lines, usage, snapshot, outbox, invoice plan: one transaction);\n"
        "(c) signed Stripe events POSTed through nginx (generated config) to gunicorn (2 workers): verify,\n"
        "claim, ordering check, apply, commit; a quarter are duplicate deliveries (target p99 ≤ 50 ms).\n\n"
        "| when (UTC) | machine | (a) p50 / p99 ms | (b) p50 / p99 ms | (c) clients | (c) req/s "
        "| (c) p50 / p95 / p99 / max ms | targets met |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    web = (
        (
            str(webhooks["clients"]),
            str(webhooks["rate_per_s"]),
            f"{webhooks['p50_ms']} / {webhooks['p95_ms']} / {webhooks['p99_ms']} / {webhooks['max_ms']}",
        )
        if webhooks
        else ("—", "—", "skipped (no nginx)")
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {benchkit.table_machine()} "
        f"| {engine['p50_ms']} / {engine['p99_ms']} | {consumer['p50_ms']} / {consumer['p99_ms']} "
        f"| {web[0]} | {web[1]} | {web[2]} | {'yes' if ok else 'no'} |\n"
    )
    benchkit.add_row(heading, intro, row)


def record_stream(stream: dict) -> None:
    heading = "## billing: a stream of booking events through the consumer"
    intro = (
        "`bench/billing/run.py` (d): bookings of 50 members (owner, member friend, guest; several each that\n"
        "day) created → approved → checked in → attended, through billing's real consumer in batches of\n"
        "the bus prefetch, in-process (no broker). Raw: the same consumer, handlers that do nothing\n"
        "(inbox and commit only). Ratio = billing's rate ÷ the raw rate.\n\n"
        "| when (UTC) | commit | load average (1 min) | events | batch | events/s | raw events/s "
        "| ratio | SQL statements / event |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {commit} | {os.getloadavg()[0]:.1f} | {stream['events']} "
        f"| {stream['batch']} | {stream['events_per_s']} | {stream['raw_events_per_s']} | {stream['ratio']} "
        f"| {stream['statements_per_event']} |\n"
    )
    benchkit.add_row(heading, intro, row)


if __name__ == "__main__":
    sys.exit(main())
