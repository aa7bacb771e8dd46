"""Benchmark of the event bus: outbox → relay → RabbitMQ → consumer with inbox.

    python bench/bus/run.py [--events 20000] [--rate 200] [--seconds 20] [--no-record]

Three measurements in one run, each with the relay and the consumer (or, for the baseline, the raw
publisher's consumer) in processes of their own:
  (a) throughput: N events written to the outbox in transactions of 500, events/s from the first
      outbox commit to the last inbox row (both PostgreSQL's clock);
  (b) latency at a fixed rate: one event per transaction at R events/s for S seconds; per event,
      from the database clock just before the producer's COMMIT to the inbox `handled_at`;
  (c) baseline: raw pika, persistent messages of the same size through a quorum queue, publisher
      confirms, a consumer that acks: its throughput and publish→consume latency.
Prints the figures and appends a dated section to bench/RESULTS.md (unless --no-record).
PostgreSQL and RabbitMQ come from DATABASE_URL and AMQP_URL, else localhost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pika
import pika.spec
from sqlalchemy import BigInteger, Column, Identity, MetaData, String, Table, Uuid, func, insert, select, text
from sqlalchemy.engine import make_url

from club_shared.bus import Relay, bus_tables, publish
from club_shared.config import Settings
from club_shared.db import drop_database, ensure_database
from club_shared.logs import configure_logging
from club_shared.runtime import Runtime
from club_shared.worker import declare_topology, make_consumer

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "RESULTS.md"
SERVICE = "bench"
EVENT_TYPE = "membership.member.created"
BATCH = 500
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"

metadata = MetaData()
BUS = bus_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("member_id", String(100), nullable=False),
)


def member(i: int) -> dict:
    return {
        "member_id": f"m-{i:08d}",
        "email": f"member{i:08d}@example.com",
        "first_name": "Bench",
        "last_name": "Mark",
        "tier": "full",
        "status": "active",
    }


def record_effect(session, event) -> None:
    session.execute(insert(effects).values(event_id=event.event_id, member_id=event.data["member_id"]))


HANDLERS = {EVENT_TYPE: record_effect}


def runtime_from_env() -> Runtime:
    return Runtime(Settings.from_env(SERVICE), BUS)


# -- child processes ---------------------------------------------------------------------------


def _until_terminated() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def role_relay() -> None:
    runtime = runtime_from_env()
    stop = _until_terminated()
    Relay(runtime.db, runtime.tables, runtime.transport("relay")).run(
        stop, poll_ms=runtime.settings.relay_poll_ms
    )


def role_consumer() -> None:
    runtime = runtime_from_env()
    stop = _until_terminated()
    make_consumer(runtime, HANDLERS).run(
        runtime.transport("consumer"), runtime.queues, stop, prefetch=runtime.settings.bus_prefetch
    )


def role_raw_consumer(queue: str, expected: int) -> None:
    """Consume `expected` messages, ack each, then print first/last receive times and latencies."""
    connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=100)
    received: list[float] = []
    latencies: list[float] = []
    print("ready", flush=True)

    def on_message(ch, method, props, body):
        now = time.time()
        received.append(now)
        latencies.append(now - json.loads(body)["sent"])
        ch.basic_ack(method.delivery_tag)
        if len(received) == expected:
            ch.stop_consuming()

    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    print(json.dumps({"first": received[0], "last": received[-1], "latencies": latencies}), flush=True)
    connection.close()


# -- the parent --------------------------------------------------------------------------------


@dataclass
class Bench:
    settings: Settings
    env: dict[str, str]

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def __post_init__(self):
        self._runtime = Runtime(self.settings, BUS)

    def spawn(self, *role: str) -> subprocess.Popen:
        # Named in pg_stat_activity, so the CPU of its PostgreSQL backends can be told apart.
        named = make_url(self.env["DATABASE_URL"]).update_query_dict(
            {"application_name": f"club-bench{role[0].replace('_', '-')}"}
        )
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *role],
            env={**self.env, "DATABASE_URL": named.render_as_string(hide_password=False)},
            stdout=subprocess.PIPE,
            text=True,
        )

    def last_outbox_id(self) -> int:
        with self.runtime.db.transaction() as session:
            return session.scalar(select(func.coalesce(func.max(BUS.outbox.c.id), 0)))

    def handled_since(self, outbox_id: int) -> int:
        outbox, inbox = BUS.outbox, BUS.inbox
        with self.runtime.db.transaction() as session:
            return session.scalar(
                select(func.count())
                .select_from(outbox.join(inbox, inbox.c.event_id == outbox.c.event_id))
                .where(outbox.c.id > outbox_id, inbox.c.consumer == SERVICE)
            )

    def wait_handled(self, outbox_id: int, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.handled_since(outbox_id) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.handled_since(outbox_id)} of {count} events handled")
            time.sleep(0.05)


class CpuMeter:
    """CPU seconds spent by the bus: the relay and consumer processes, their PostgreSQL backends and
    the broker (the whole RabbitMQ node: shared with anything else using it). Read from /proc, so
    only when PostgreSQL and RabbitMQ run on this machine; a figure that survives a busy machine
    better than a rate does."""

    def __init__(self, bench: Bench, workers: list[subprocess.Popen]):
        self.bench = bench
        self.groups = {"relay": [workers[0].pid], "consumer": [workers[1].pid]}

    def sample(self) -> dict[str, dict[int, float]]:
        with self.bench.runtime.db.transaction() as session:
            backends = session.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'club-bench-%'")
            ).all()
        broker = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/comm") if _read(p) == "beam.smp"]
        pids = {**self.groups, "postgresql": backends, "rabbitmq": broker}
        return {group: {pid: _cpu_seconds(pid) for pid in found} for group, found in pids.items()}

    @staticmethod
    def spent(before: dict, after: dict) -> dict[str, float]:
        return {
            group: sum(cpu - before[group].get(pid, 0.0) for pid, cpu in now.items())
            for group, now in after.items()
        }


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 if it is gone)."""
    fields = _read(Path(f"/proc/{pid}/stat")).rsplit(")", 1)[-1].split()
    if len(fields) < 13:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_events(bench: Bench, first: int, events: int) -> float:
    """Write events to the outbox in transactions of BATCH; the seconds it took."""
    started = time.perf_counter()
    for start in range(first, first + events, BATCH):
        with bench.runtime.db.transaction() as session:
            for i in range(start, min(start + BATCH, first + events)):
                publish(session, BUS, EVENT_TYPE, member(i), producer=SERVICE)
    return time.perf_counter() - started


def throughput(
    bench: Bench,
    events: int,
    first: int,
    paused: list[subprocess.Popen] | None,
    meter: CpuMeter | None = None,
) -> dict:
    """(a) events/s from the outbox to the consumer's inbox.

    `paused`: the workers are stopped (SIGSTOP) while the events are written, then resumed, and
    the clock starts at the resume: the bus alone draining a backlog. Otherwise the workers run
    while the writer writes, and the clock starts at the first outbox commit (live: the writer
    competes with them for the same CPUs)."""
    db = bench.runtime.db
    before = bench.last_outbox_id()
    for worker in paused or ():
        worker.send_signal(signal.SIGSTOP)
    try:
        written_s = write_events(bench, first, events)
        with db.transaction() as session:
            resumed_at = session.scalar(select(func.clock_timestamp()))
        cpu_before = meter.sample() if meter else None
    finally:
        for worker in paused or ():
            worker.send_signal(signal.SIGCONT)
    bench.wait_handled(before, events, timeout=max(120, events / 100))
    cpu = CpuMeter.spent(cpu_before, meter.sample()) if meter else {}
    outbox, inbox = BUS.outbox, BUS.inbox
    with db.transaction() as session:
        first_commit, last_handled = session.execute(
            select(func.min(outbox.c.created_at), func.max(inbox.c.handled_at))
            .select_from(outbox.join(inbox, inbox.c.event_id == outbox.c.event_id))
            .where(outbox.c.id > before)
        ).one()
        duplicates = session.scalar(
            select(func.count() - func.count(effects.c.event_id.distinct())).select_from(effects)
        )
    seconds = (last_handled - (resumed_at if paused else first_commit)).total_seconds()
    return {
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "write_events_per_s": events / written_s,
        "duplicate_effects": duplicates,
        "cpu_us_per_event": {group: round(seconds / events * 1e6) for group, seconds in cpu.items()},
    }


def latency(bench: Bench, rate: float, seconds: float, writers: int = 8) -> dict:
    """(b) commit→handled latency at a fixed rate, one event per transaction.

    The events are started on schedule and committed by a pool of writer threads, so a slow
    commit (a busy disk) delays that event alone, not the rate offered to the bus."""
    db = bench.runtime.db
    total = int(rate * seconds)
    committed: dict[uuid.UUID, datetime] = {}
    before = bench.last_outbox_id()

    def send(i: int) -> None:
        with db.transaction() as session:
            event = publish(session, BUS, EVENT_TYPE, member(1_000_000 + i), producer=SERVICE)
            # The database clock as the last thing before COMMIT.
            committed[event.event_id] = session.scalar(select(func.clock_timestamp()))

    interval = 1 / rate
    started = time.perf_counter()
    late = 0
    with ThreadPoolExecutor(max_workers=writers) as pool:
        futures = []
        for i in range(total):
            pause = started + i * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            elif pause < -interval:
                late += 1
            futures.append(pool.submit(send, i))
        for future in futures:
            future.result()
    sent_s = time.perf_counter() - started
    bench.wait_handled(before, total, timeout=120)
    inbox, outbox = BUS.inbox, BUS.outbox
    with db.transaction() as session:
        rows = session.execute(
            select(inbox.c.event_id, outbox.c.sent_at, inbox.c.handled_at)
            .join(outbox, outbox.c.event_id == inbox.c.event_id)
            .where(inbox.c.consumer == SERVICE, inbox.c.event_id.in_(list(committed)))
        ).all()

    def ms(later: datetime, earlier: datetime) -> float:
        return max(0.0, (later - earlier).total_seconds() * 1000)

    # `sent_at` is when the relay's transaction began, i.e. when it claimed the row.
    to_claim = [ms(sent, committed[event_id]) for event_id, sent, _handled in rows]
    claim_to_handled = [ms(handled, sent) for _event_id, sent, handled in rows]
    return {
        "events": total,
        "rate_per_s": total / sent_s,
        "late_starts": late,
        **_percentiles([ms(handled, committed[event_id]) for event_id, _sent, handled in rows]),
        "commit_to_claim": _percentiles(to_claim),
        "claim_to_handled": _percentiles(claim_to_handled),
    }


def _percentiles(millis: list[float]) -> dict:
    millis = sorted(millis)

    def at(q: float) -> float:
        return millis[min(len(millis) - 1, int(q * len(millis)))]

    return {
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": millis[-1],
        "mean_ms": statistics.fmean(millis),
    }


class RawPublisher:
    """Raw pika in confirm mode, publishing a window of messages before waiting for their confirms
    (what the relay does with a batch; pika's BlockingChannel alone waits for each message)."""

    def __init__(self, connection: pika.BlockingConnection):
        self.channel = connection.channel()
        self.unconfirmed = 0
        selected: list = []
        self.channel._impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=selected.append)
        self.channel._flush_output(lambda: bool(selected))
        self.tag = 0
        self.confirmed_up_to = 0

    def _on_confirm(self, frame) -> None:
        assert isinstance(frame.method, pika.spec.Basic.Ack), "nacked"
        self.confirmed_up_to = frame.method.delivery_tag  # the broker confirms in order here

    def publish(self, queue: str, bodies: list[bytes], properties) -> None:
        for body in bodies:
            self.channel._impl.basic_publish("", queue, body, properties, mandatory=True)
        self.tag += len(bodies)
        self.channel._flush_output(lambda: self.confirmed_up_to >= self.tag)


def baseline(bench: Bench, body_size: int, events: int, rate: float, seconds: float) -> dict:
    """(c) raw pika: confirmed persistent publishes to a quorum queue, a consumer process that acks."""
    url = bench.settings.amqp_url
    queue = f"{bench.settings.bus_namespace}.raw"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    publisher = RawPublisher(connection)
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def body(i: int) -> bytes:
        head = json.dumps({"sent": time.time(), "i": i})
        return (head[:-1] + ',"pad":"' + "x" * max(0, body_size - len(head) - 10) + '"}').encode()

    def run_consumer(expected: int) -> subprocess.Popen:
        child = bench.spawn("_raw_consumer", queue, str(expected))
        assert child.stdout.readline().strip() == "ready"
        return child

    try:
        # Throughput: windows of BATCH messages, each confirmed before the next, like the relay.
        child = run_consumer(events)
        started = time.time()
        for start in range(0, events, BATCH):
            publisher.publish(queue, [body(i) for i in range(start, min(start + BATCH, events))], properties)
        report = json.loads(child.stdout.readline())
        child.wait(timeout=60)
        raw_throughput = events / (report["last"] - started)

        # Latency at the same fixed rate, each message confirmed before the next.
        total = int(rate * seconds)
        child = run_consumer(total)
        interval = 1 / rate
        next_at = time.perf_counter()
        for i in range(total):
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            publisher.publish(queue, [body(i)], properties)
            next_at += interval
        report = json.loads(child.stdout.readline())
        child.wait(timeout=60)
        return {
            "events_per_s": raw_throughput,
            "body_bytes": len(body(0)),
            **_percentiles([s * 1000 for s in report["latencies"]]),
        }
    finally:
        connection.channel().queue_delete(queue)
        connection.close()


def machine(bench: Bench) -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    with bench.runtime.db.transaction() as session:
        pg = session.scalar(text("SHOW server_version"))
    connection = pika.BlockingConnection(pika.URLParameters(bench.settings.amqp_url))
    rabbit = connection._impl.server_properties.get("version", b"?")
    connection.close()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg,
        "rabbitmq": rabbit.decode() if isinstance(rabbit, bytes) else str(rabbit),
        "python": platform.python_version(),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def record(results: dict, args) -> str:
    m, a, live, b, c = (results[k] for k in ("machine", "throughput", "live", "latency", "baseline"))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def ok(good: bool) -> str:
        return "met" if good else "**missed**"

    lines = [
        f"## bus — {when}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM; PostgreSQL {m['postgresql']}, "
        f"RabbitMQ {m['rabbitmq']}, Python {m['python']}; load average {m['load']} when the run began. "
        "Relay and consumer each in a process of its own; PostgreSQL, RabbitMQ and the writer on the "
        "same machine. `python bench/bus/run.py "
        f"--events {args.events} --rate {args.rate:g} --seconds {args.seconds:g}`.",
        "",
        "| measure | bus | raw pika | bus / raw pika | target |",
        "|---|---|---|---|---|",
        f"| (a) throughput, events/s: a backlog of {a['events']:,} drained | {a['events_per_s']:,.0f} "
        f"| {c['events_per_s']:,.0f} | {a['events_per_s'] / c['events_per_s']:.2f} "
        f"| ≥ 1,000: {ok(a['events_per_s'] >= 1000)} |",
        f"| (a') throughput, events/s: {live['events']:,} drained while written | "
        f"{live['events_per_s']:,.0f} | {c['events_per_s']:,.0f} "
        f"| {live['events_per_s'] / c['events_per_s']:.2f} | |",
        f"| (b) latency p50 at {args.rate:g}/s, ms | {b['p50_ms']:.1f} | {c['p50_ms']:.1f} "
        f"| {b['p50_ms'] / c['p50_ms']:.1f} | |",
        f"| (b) latency p99 at {args.rate:g}/s, ms | {b['p99_ms']:.1f} | {c['p99_ms']:.1f} "
        f"| {b['p99_ms'] / c['p99_ms']:.1f} | ≤ 200: {ok(b['p99_ms'] <= 200)} |",
        f"| (b) latency max at {args.rate:g}/s, ms | {b['max_ms']:.1f} | {c['max_ms']:.1f} "
        f"| {b['max_ms'] / c['max_ms']:.1f} | |",
        "",
        f"(a) the relay and consumer are paused (SIGSTOP) while {a['events']:,} events are written "
        f"in transactions of {BATCH}, then resumed: events / (last inbox `handled_at` − resume). "
        f"(a') the same while the benchmark process writes them "
        f"({live['write_events_per_s']:,.0f} events/s on its own share of the CPUs): events / (last "
        f"`handled_at` − first outbox commit). (b) {b['events']:,} events, one per transaction, "
        f"sent at {b['rate_per_s']:.0f}/s by 8 writer threads ({b['late_starts']} started late); from the database clock just before the producer's COMMIT to "
        "the inbox `handled_at` (when the consumer's transaction began); of which commit → relay claim "
        f"p50 {b['commit_to_claim']['p50_ms']:.1f} / p99 {b['commit_to_claim']['p99_ms']:.1f} ms and claim → handled "
        f"p50 {b['claim_to_handled']['p50_ms']:.1f} / p99 {b['claim_to_handled']['p99_ms']:.1f} ms. Raw pika: persistent "
        f"{c['body_bytes']}-byte messages (an envelope's size) to a quorum queue, publisher confirms "
        f"awaited per window of {BATCH} (throughput) or per message (latency, from just before the "
        f"publish to the consumer's callback), a consumer process acking each. Duplicate effects: "
        f"{live['duplicate_effects']}. CPU per event while draining (a): "
        + ", ".join(f"{k} {v} µs" for k, v in a["cpu_us_per_event"].items())
        + " (RabbitMQ: the whole node, shared with anything else using it).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    token = secrets.token_hex(3)
    settings = Settings.from_env(
        SERVICE,
        database_url=os.environ.get("DATABASE_URL") or LOCAL_PG,
        database_prefix=f"club_b{token}_",
        amqp_url=os.environ.get("AMQP_URL") or LOCAL_AMQP,
        bus_namespace=f"club_b{token}",
    )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CLUB_DATABASE_PREFIX": settings.database_prefix,
        "AMQP_URL": settings.amqp_url,
        "BUS_NAMESPACE": settings.bus_namespace,
        "LOG_LEVEL": "WARNING",
    }
    url = settings.service_database_url
    ensure_database(url)
    bench = Bench(settings, env)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    declare_topology(bench.runtime, HANDLERS)

    workers = [bench.spawn("_relay"), bench.spawn("_consumer")]
    results: dict = {}
    try:
        results["machine"] = machine(bench)
        before = bench.last_outbox_id()  # warm up: both workers started and connected
        with bench.runtime.db.transaction() as session:
            publish(session, BUS, EVENT_TYPE, member(0), producer=SERVICE)
        bench.wait_handled(before, 1, timeout=60)

        print(f"(a) throughput: {args.events:,} events from a backlog ...", flush=True)
        meter = CpuMeter(bench, workers) if _local(settings) else None
        results["throughput"] = throughput(bench, args.events, 1, paused=workers, meter=meter)
        print(json.dumps(results["throughput"]), flush=True)
        print(f"(a') throughput: {args.events:,} events while they are written ...", flush=True)
        results["live"] = throughput(bench, args.events, 1 + args.events, paused=None)
        print(json.dumps(results["live"]), flush=True)
        print(f"(b) latency: {args.rate:.0f} events/s for {args.seconds:.0f} s ...", flush=True)
        results["latency"] = latency(bench, args.rate, args.seconds)
        print(json.dumps(results["latency"]), flush=True)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
    try:
        with bench.runtime.db.transaction() as session:
            envelope_size = session.scalar(select(func.max(func.length(BUS.outbox.c.envelope.cast(String)))))
        print(f"(c) baseline: raw pika, {envelope_size}-byte messages ...", flush=True)
        results["baseline"] = baseline(bench, envelope_size, args.events, args.rate, args.seconds)
        print(json.dumps({k: v for k, v in results["baseline"].items()}), flush=True)
    finally:
        bench.runtime.db.dispose()
        drop_database(url)
        _delete_namespace(settings)

    section = record(results, args)
    print()
    print(section)
    if not args.no_record:
        existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + section)
        print(f"appended to {RESULTS}")
    return 0


def _local(settings: Settings) -> bool:
    hosts = {make_url(settings.database_url).host, urlsplit(settings.amqp_url).hostname}
    return hosts <= {"127.0.0.1", "localhost", None}


def _delete_namespace(settings: Settings) -> None:
    from club_shared.bus import queue_names

    names = queue_names(settings.bus_namespace, SERVICE)
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    queues = [
        names.main,
        names.parked,
        names.unrouted,
        *(names.retry(d) for d in settings.bus_retry_delays_ms),
    ]
    for name in queues:
        connection.channel().queue_delete(name)
    for name in (names.exchange, names.unrouted, names.dead_letter_exchange):
        connection.channel().exchange_delete(name)
    connection.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        configure_logging(SERVICE, os.environ.get("LOG_LEVEL", "WARNING"))
        role, rest = sys.argv[1], sys.argv[2:]
        if role == "_relay":
            role_relay()
        elif role == "_consumer":
            role_consumer()
        elif role == "_raw_consumer":
            role_raw_consumer(rest[0], int(rest[1]))
        sys.exit(0)
    sys.exit(main())
