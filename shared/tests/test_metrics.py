"""Metrics move: the outbox backlog and relay lag as events are written and relayed, the consumer's
handled/retried/parked counters and lag, the job queue's depth; on the web's /metrics and on the
worker's own; across processes (multiprocess mode); and on RabbitMQ with the real worker."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from club_shared.bus import Consumer, Delivery, Message, Relay, Verdict, bus_tables
from club_shared.bus.memory import MemoryBroker, MemoryTransport
from club_shared.clubtime import utcnow, zone
from club_shared.config import Settings, with_database
from club_shared.db import drop_database, ensure_database
from club_shared.events import make_event
from club_shared.jobs import JobRunner, enqueue, job_tables
from club_shared.metrics import BrokerCollector, DatabaseCollector
from club_shared.models import new_metadata
from club_shared.runtime import Runtime
from club_shared.testing.plugin import FAST_RETRY_DELAYS_MS
from club_shared.testing.services import delete_bus_namespace
from club_shared.web import build_app
from club_shared.worker import serve_metrics, start_worker

metadata = new_metadata()
BUS = bus_tables(metadata)
JOBS = job_tables(metadata)
EVENT_TYPE = "membership.member.created"
SERVICE = "metricstest"


def member(i: int = 0) -> dict:
    return {
        "member_id": f"m-{i}",
        "email": f"member{i}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "tier": None,
        "status": "active",
    }


@pytest.fixture(scope="module")
def runtime(pg_url, run_id):
    settings = Settings(
        service=SERVICE,
        env="test",
        database_url=pg_url,
        database_prefix=f"club_t{run_id}_",
        amqp_url="memory://",
        bus_namespace=f"club_t{run_id}_metrics",
        bus_retry_delays_ms=FAST_RETRY_DELAYS_MS,
        relay_poll_ms=100,
    )
    url = settings.service_database_url
    ensure_database(url)
    rt = Runtime(settings, BUS)
    metadata.create_all(rt.db.engine)
    yield rt
    rt.db.dispose()
    drop_database(url)


@pytest.fixture(autouse=True)
def empty(runtime):
    with runtime.db.transaction() as session:
        for table in (BUS.outbox, BUS.inbox, JOBS.job_queue, JOBS.scheduler_claims):
            session.execute(table.delete())


def scrape(collector) -> dict[tuple[str, tuple], float]:
    """One collector's samples: (name, sorted labels) → value."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def counter(name: str, **labels: str) -> float:
    return PROCESS_REGISTRY.get_sample_value(name, labels) or 0.0


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def publish(runtime: Runtime, n: int) -> list:
    with runtime.db.transaction() as session:
        return [runtime.publish(session, EVENT_TYPE, member(i)) for i in range(n)]


# ---- the outbox --------------------------------------------------------------------------------


def test_outbox_backlog_and_relay_lag_rise_then_drain(runtime):
    collector = DatabaseCollector(SERVICE, runtime.db.libpq_url())
    before = scrape(collector)
    assert value(before, "club_metrics_database_up", service=SERVICE) == 1
    assert value(before, "club_outbox_backlog", service=SERVICE) == 0
    assert value(before, "club_outbox_relay_lag_seconds", service=SERVICE) == 0

    publish(runtime, 5)
    time.sleep(0.2)
    waiting = scrape(collector)
    assert value(waiting, "club_outbox_backlog", service=SERVICE) == 5
    assert value(waiting, "club_outbox_relay_lag_seconds", service=SERVICE) >= 0.2

    relayed = counter("club_bus_events_relayed_total", service=SERVICE)
    relay = Relay(runtime.db, BUS, MemoryTransport(MemoryBroker()), service=SERVICE)
    assert relay.relay_once() == 5
    drained = scrape(collector)
    assert value(drained, "club_outbox_backlog", service=SERVICE) == 0
    assert value(drained, "club_outbox_relay_lag_seconds", service=SERVICE) == 0
    assert counter("club_bus_events_relayed_total", service=SERVICE) == relayed + 5


def test_a_slow_database_costs_a_scrape_its_statement_timeout_only(runtime):
    """Another transaction holds the outbox locked: the scrape gives up after its statement
    timeout and says the figures are unavailable, instead of hanging."""
    collector = DatabaseCollector(SERVICE, runtime.db.libpq_url(), statement_timeout_ms=300)
    with psycopg.connect(runtime.db.libpq_url()) as blocker:
        blocker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        samples = scrape(collector)
        took = time.monotonic() - started
        blocker.rollback()
    assert value(samples, "club_metrics_database_up", service=SERVICE) == 0
    assert value(samples, "club_outbox_backlog", service=SERVICE) is None
    assert took < 2, took


def test_an_unreachable_database_is_reported_not_raised(free_tcp_port):
    collector = DatabaseCollector(SERVICE, f"postgresql://nobody@127.0.0.1:{free_tcp_port}/none")
    samples = scrape(collector)
    assert value(samples, "club_metrics_database_up", service=SERVICE) == 0

    def unset() -> str:
        raise RuntimeError("DATABASE_URL is not set")

    assert value(scrape(DatabaseCollector(SERVICE, unset)), "club_metrics_database_up", service=SERVICE) == 0


@pytest.fixture
def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the consumer ------------------------------------------------------------------------------


def fails(session, event):
    raise RuntimeError("the handler is broken")


def test_consumer_counts_handled_retried_and_parked_and_its_lag(runtime):
    name = f"consumer-{uuid.uuid4().hex[:6]}"
    ok = Consumer(
        name, runtime.db, BUS, {EVENT_TYPE: lambda s, e: None}, max_deliveries=3, retry_delays_ms=(10,)
    )
    broken = Consumer(name, runtime.db, BUS, {EVENT_TYPE: fails}, max_deliveries=3, retry_delays_ms=(10,))

    def message(i: int, age_s: float = 0.0) -> Message:
        event = make_event(EVENT_TYPE, member(i), producer="membership")
        event = dataclasses.replace(event, occurred_at=utcnow() - timedelta(seconds=age_s))
        return Message(EVENT_TYPE, event.to_json(), str(event.event_id))

    labels = {"consumer": name, "event_type": EVENT_TYPE}
    assert [
        o.verdict for o in ok.handle_batch([Delivery(message(1, age_s=3), 0), Delivery(message(2), 0)])
    ] == [
        Verdict.ACK,
        Verdict.ACK,
    ]
    assert counter("club_bus_events_handled_total", **labels) == 2
    assert counter("club_bus_consumer_lag_seconds_count", consumer=name) == 2
    assert counter("club_bus_consumer_lag_seconds_sum", consumer=name) >= 3
    assert counter("club_bus_consumer_lag_seconds_bucket", consumer=name, le="1.0") == 1

    [retry] = broken.handle_batch([Delivery(message(3), 0)])
    assert retry.verdict is Verdict.RETRY
    [park] = broken.handle_batch([Delivery(message(4), 2)])  # its third failure: the last allowed
    assert park.verdict is Verdict.PARK
    assert counter("club_bus_events_retried_total", **labels) == 1
    assert counter("club_bus_events_parked_total", **labels) == 1
    assert counter("club_bus_events_handled_total", **labels) == 2

    # A malformed message is parked at once, counted under its routing key.
    [refused] = ok.handle_batch([Delivery(Message("membership.member.created", b"{not json", "x"), 0)])
    assert refused.verdict is Verdict.PARK
    assert counter("club_bus_events_parked_total", **labels) == 2
    # A type the consumer does not handle is acknowledged and not counted.
    other = make_event("membership.member.updated", {**member(5), "changed": ["tier"]}, producer="membership")
    ok.handle_batch([Delivery(Message(other.type, other.to_json(), str(other.event_id)), 0)])
    assert counter("club_bus_events_handled_total", consumer=name, event_type=other.type) == 0


# ---- the job queue -----------------------------------------------------------------------------


def test_job_queue_depth_and_job_outcomes(runtime):
    def broken(session, payload):
        raise RuntimeError("outside system down")

    kind = f"k{uuid.uuid4().hex[:6]}"
    runner = JobRunner(
        runtime.db, JOBS, {f"{kind}-ok": lambda s, p: None, f"{kind}-bad": broken}, zone("UTC")
    )
    with runtime.db.transaction() as session:
        enqueue(session, JOBS, f"{kind}-ok")
        enqueue(session, JOBS, f"{kind}-ok", run_at=utcnow() + timedelta(hours=1))
        enqueue(session, JOBS, f"{kind}-bad", max_retries=1)
        enqueue(session, JOBS, f"{kind}-bad", max_retries=2)
    collector = DatabaseCollector(SERVICE, runtime.db.libpq_url())
    time.sleep(0.1)
    waiting = scrape(collector)
    assert value(waiting, "club_job_queue_jobs", service=SERVICE, status="pending") == 4
    assert value(waiting, "club_job_queue_jobs", service=SERVICE, status="due") == 3
    assert value(waiting, "club_job_queue_jobs", service=SERVICE, status="failed") == 0
    assert value(waiting, "club_job_queue_oldest_due_age_seconds", service=SERVICE) > 0

    assert runner.run_due() == 3
    ran = scrape(collector)
    assert value(ran, "club_job_queue_jobs", service=SERVICE, status="pending") == 2  # later, and retry
    assert value(ran, "club_job_queue_jobs", service=SERVICE, status="due") == 0
    assert value(ran, "club_job_queue_jobs", service=SERVICE, status="failed") == 1
    assert value(ran, "club_job_queue_oldest_due_age_seconds", service=SERVICE) == 0
    assert counter("club_jobs_run_total", kind=f"{kind}-ok", outcome="completed") == 1
    assert counter("club_jobs_run_total", kind=f"{kind}-bad", outcome="failed") == 1
    assert counter("club_jobs_run_total", kind=f"{kind}-bad", outcome="retry") == 1


def test_a_database_without_a_job_queue_has_no_job_figures(pg_url, run_id):
    url = with_database(pg_url, f"club_t{run_id}_metrics_nojobs")
    ensure_database(url)
    try:
        plain = new_metadata()
        bus_tables(plain)
        from club_shared.db import Database

        db = Database(url)
        plain.create_all(db.engine)
        db.dispose()
        samples = scrape(DatabaseCollector(SERVICE, db.libpq_url()))
        assert value(samples, "club_outbox_backlog", service=SERVICE) == 0
        assert not [key for key in samples if key[0].startswith("club_job_queue")]
    finally:
        drop_database(url)


# ---- where they are served ---------------------------------------------------------------------


def test_the_web_metrics_endpoint_adds_the_database_figures(runtime):
    app = build_app(runtime, title="metrics test", blueprints=[])
    client = app.test_client()
    publish(runtime, 3)
    assert client.get("/healthz").status_code == 200
    answer = client.get("/metrics")
    assert answer.status_code == 200
    samples = parse(answer.get_data(as_text=True))
    assert value(samples, "club_outbox_backlog", service=SERVICE) == 3
    assert value(samples, "club_metrics_database_up", service=SERVICE) == 1
    assert (
        value(
            samples,
            "club_http_request_duration_seconds_count",
            service=SERVICE,
            method="GET",
            route="/healthz",
            status="200",
        )
        >= 1
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_worker_serves_its_metrics_and_health(runtime):
    stop = threading.Event()
    alive = threading.Thread(target=stop.wait, name="alive", daemon=True)
    alive.start()
    died = threading.Thread(target=lambda: None, name="relay-that-died", daemon=True)
    threads = [alive]
    server = serve_metrics(runtime, {}, threads, 0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        publish(runtime, 2)
        status, text = get(f"{base}/metrics")
        assert status == 200
        samples = parse(text)
        assert value(samples, "club_outbox_backlog", service=SERVICE) == 2
        assert get(f"{base}/healthz")[0] == 200
        died.start()
        died.join()
        threads.append(died)
        status, text = get(f"{base}/healthz")
        assert status == 503 and "relay-that-died" in text
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.shutdown()
        stop.set()


def test_counters_add_up_across_processes(tmp_path):
    """gunicorn's workers each count in files under PROMETHEUS_MULTIPROC_DIR; a scrape of any one
    of them adds up all of them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = textwrap.dedent(
        """
        from club_shared.metrics import EVENTS_HANDLED, observe_relayed
        EVENTS_HANDLED.labels("mp", "membership.member.created").inc(3)
        observe_relayed("mp", 2)
        """
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    show = "from prometheus_client import generate_latest; from club_shared.metrics import registry; "
    show += "print(generate_latest(registry()).decode())"
    text = subprocess.run(
        [sys.executable, "-c", show], env=env, check=True, capture_output=True, text=True, timeout=60
    ).stdout
    samples = parse(text)
    assert value(samples, "club_bus_events_handled_total", consumer="mp", event_type=EVENT_TYPE) == 6
    assert value(samples, "club_bus_events_relayed_total", service="mp") == 4


# ---- on RabbitMQ, with the real worker ---------------------------------------------------------


@pytest.mark.rabbitmq
def test_figures_move_under_load_with_the_real_worker(runtime, amqp_url):
    """200 events wait in the outbox; the worker (relay + consumer, on RabbitMQ) drains them while
    /metrics is scraped; one event whose handler always fails ends parked, seen by the broker."""
    namespace = f"{runtime.settings.bus_namespace}_{uuid.uuid4().hex[:6]}"
    settings = dataclasses.replace(
        runtime.settings, amqp_url=amqp_url, bus_namespace=namespace, bus_max_deliveries=2
    )
    rt = Runtime(settings, BUS)
    doomed = "m-doomed"

    def handle(session, event):
        if event.data["member_id"] == doomed:
            raise RuntimeError("this member breaks the handler")

    handlers = {EVENT_TYPE: handle}
    labels = {"consumer": SERVICE, "event_type": EVENT_TYPE}
    handled_before = counter("club_bus_events_handled_total", **labels)
    parked_before = counter("club_bus_events_parked_total", **labels)
    retried_before = counter("club_bus_events_retried_total", **labels)
    with rt.db.transaction() as session:
        for i in range(200):
            rt.publish(session, EVENT_TYPE, member(i))
        rt.publish(session, EVENT_TYPE, {**member(999), "member_id": doomed})

    stop = threading.Event()
    threads: list[threading.Thread] = []
    server = serve_metrics(rt, handlers, threads, 0)
    broker = BrokerCollector(SERVICE, amqp_url, rt.queues, cache_s=0)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        before = parse(get(f"{base}/metrics")[1])
        assert value(before, "club_outbox_backlog", service=SERVICE) == 201
        assert value(before, "club_outbox_relay_lag_seconds", service=SERVICE) > 0

        threads += start_worker(rt, handlers, stop)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with rt.db.transaction() as session:
                handled = session.scalar(select(func.count()).select_from(BUS.inbox))
            parked = value(scrape(broker), "club_bus_queue_messages", consumer=SERVICE, queue="parked")
            if handled == 200 and parked == 1:
                break
            time.sleep(0.2)
        after = parse(get(f"{base}/metrics")[1])
        assert value(after, "club_outbox_backlog", service=SERVICE) == 0
        assert value(after, "club_outbox_relay_lag_seconds", service=SERVICE) == 0
        assert value(after, "club_metrics_broker_up", consumer=SERVICE) == 1
        depth = scrape(broker)
        assert value(depth, "club_bus_queue_messages", consumer=SERVICE, queue="parked") == 1
        assert value(depth, "club_bus_queue_messages", consumer=SERVICE, queue="main") == 0
        assert counter("club_bus_events_handled_total", **labels) - handled_before == 200
        assert counter("club_bus_events_retried_total", **labels) - retried_before == 1
        assert counter("club_bus_events_parked_total", **labels) - parked_before == 1
        assert counter("club_bus_events_relayed_total", service=SERVICE) >= 201
        assert get(f"{base}/healthz")[0] == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        server.shutdown()
        rt.db.dispose()
        delete_bus_namespace(amqp_url, namespace, SERVICE, FAST_RETRY_DELAYS_MS)
