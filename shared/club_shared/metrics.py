"""Prometheus metrics, safe under gunicorn's several worker processes.

With PROMETHEUS_MULTIPROC_DIR set (as the Dockerfiles and `make stack` do), every process writes
its samples there and /metrics adds them up; without it, the process's own registry is served.

Three kinds of figures:
- counted where things happen: HTTP requests (web), events relayed and handled, retried, parked,
  the consumer's lag, jobs run (worker);
- read at scrape time from the service's database by `DatabaseCollector` (outbox backlog and relay
  lag, job queue depth), on a connection of its own with a short statement timeout, so a slow or
  unreachable database costs a scrape at most a couple of seconds and never a pool connection;
- read at scrape time from the broker by `BrokerCollector` (the consumer's queue and parked
  messages), in the worker's /metrics only.

The worker serves its own /metrics (and /healthz) on WORKER_METRICS_PORT: `start_metrics_server`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

if TYPE_CHECKING:
    from .bus.transport import Delivery, Outcome, QueueNames
    from .events import Event

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "club_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# ---- the bus and the jobs (worker processes) ---------------------------------------------------

EVENTS_RELAYED = Counter(
    "club_bus_events_relayed_total",
    "Outbox events the relay published (confirmed by the broker)",
    ["service"],
)
EVENTS_HANDLED = Counter(
    "club_bus_events_handled_total",
    "Events a consumer handled and committed (redeliveries of handled events included)",
    ["consumer", "event_type"],
)
EVENTS_RETRIED = Counter(
    "club_bus_events_retried_total",
    "Failed handlings sent to a retry queue, to be tried again after a delay",
    ["consumer", "event_type"],
)
EVENTS_PARKED = Counter(
    "club_bus_events_parked_total",
    "Events parked after their last allowed failure, or refused as malformed (see `club-bus parked`)",
    ["consumer", "event_type"],
)
CONSUMER_LAG = Histogram(
    "club_bus_consumer_lag_seconds",
    "From an event's occurred_at to its handling: outbox wait, relay, broker and retries together",
    ["consumer"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
JOBS_RUN = Counter(
    "club_jobs_run_total",
    "Jobs run from the job queue, by outcome: completed, retry (failed, to be retried), failed (no retry"
    " left) or lost_lock (outlived its lock, taken over by another runner)",
    ["kind", "outcome"],
)


def observe_request(service: str, method: str, rule, status: int, seconds: float) -> None:
    route = rule.rule if rule is not None else "unmatched"
    REQUEST_SECONDS.labels(service, method, route, str(status)).observe(seconds)


def observe_relayed(service: str, count: int) -> None:
    if count:
        EVENTS_RELAYED.labels(service).inc(count)


def observe_consumed(
    consumer: str,
    deliveries: Sequence[Delivery],
    events: Iterable[tuple[int, Event]],
    outcomes: Sequence[Outcome],
) -> None:
    """Count a batch's outcomes by event type, and the lag of each event handled in it. Events of
    types the consumer does not handle (acknowledged and dropped) are not counted."""
    from .bus.transport import Verdict

    now = datetime.now(UTC)
    by_index = dict(events)
    tallies: dict[Verdict, Tally] = {verdict: Tally() for verdict in Verdict}
    lags = []
    for i, outcome in enumerate(outcomes):
        event = by_index.get(i)
        if event is None and outcome.verdict is Verdict.ACK:
            continue  # not a type this consumer handles
        event_type = event.type if event is not None else deliveries[i].message.routing_key
        tallies[outcome.verdict][event_type] += 1
        if event is not None and outcome.verdict is Verdict.ACK:
            lags.append((now - event.occurred_at).total_seconds())
    for verdict, counter in ((Verdict.ACK, EVENTS_HANDLED), (Verdict.RETRY, EVENTS_RETRIED)):
        for event_type, n in tallies[verdict].items():
            counter.labels(consumer, event_type).inc(n)
    for event_type, n in tallies[Verdict.PARK].items():
        EVENTS_PARKED.labels(consumer, event_type).inc(n)
    histogram = CONSUMER_LAG.labels(consumer)
    for lag in lags:
        histogram.observe(max(lag, 0.0))


def observe_job(kind: str, outcome: str) -> None:
    JOBS_RUN.labels(kind, outcome).inc()


# ---- read at scrape time -------------------------------------------------------------------------

#: Counting stops here: past it the figure only says "a lot", and the count must stay cheap.
BACKLOG_COUNT_LIMIT = 100_000

_OUTBOX_SQL = f"""
SELECT
  (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE sent_at IS NULL LIMIT {BACKLOG_COUNT_LIMIT}) AS unsent),
  (SELECT EXTRACT(EPOCH FROM clock_timestamp() - created_at)
     FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1),
  to_regclass('job_queue') IS NOT NULL
"""
_JOBS_SQL = """
SELECT
  (SELECT count(*) FROM job_queue WHERE status = 'pending'),
  (SELECT count(*) FROM job_queue WHERE status = 'pending' AND scheduled_for <= now()),
  (SELECT count(*) FROM job_queue WHERE status = 'processing'),
  (SELECT count(*) FROM job_queue WHERE status = 'failed'),
  (SELECT EXTRACT(EPOCH FROM clock_timestamp() - min(scheduled_for))
     FROM job_queue WHERE status = 'pending' AND scheduled_for <= now())
"""


class DatabaseCollector:
    """The service's outbox and job queue, read when Prometheus scrapes."""

    def __init__(self, service: str, libpq_url: str | Callable[[], str], *, statement_timeout_ms: int = 1000):
        self.service = service
        self._url = libpq_url
        self.statement_timeout_ms = statement_timeout_ms

    def describe(self):
        return []  # collected at scrape time only, never at registration

    def _gauge(self, name: str, documentation: str, value: float, **labels: str) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(name, documentation, labels=["service", *labels])
        gauge.add_metric([self.service, *labels.values()], value)
        return gauge

    def collect(self):
        import psycopg

        try:
            url = self._url() if callable(self._url) else self._url
        except Exception as exc:  # no database configured (DATABASE_URL unset): say so, do not fail
            log.warning("metrics: no database to read figures from", extra={"error": repr(exc)})
            yield self._gauge("club_metrics_database_up", "1 when the database figures could be read", 0)
            return
        try:
            with psycopg.connect(
                url,
                connect_timeout=2,
                autocommit=True,
                options=f"-c statement_timeout={self.statement_timeout_ms}",
                application_name=f"{self.service}-metrics",
            ) as conn:
                backlog, oldest, has_jobs = conn.execute(_OUTBOX_SQL).fetchone()
                jobs = conn.execute(_JOBS_SQL).fetchone() if has_jobs else None
        except psycopg.Error as exc:
            log.warning("metrics: database figures unavailable", extra={"error": repr(exc)})
            yield self._gauge("club_metrics_database_up", "1 when the database figures could be read", 0)
            return
        yield self._gauge("club_metrics_database_up", "1 when the database figures could be read", 1)
        yield self._gauge(
            "club_outbox_backlog",
            f"Outbox events not yet published (counted up to {BACKLOG_COUNT_LIMIT})",
            backlog,
        )
        yield self._gauge(
            "club_outbox_relay_lag_seconds",
            "Age of the oldest unpublished outbox event (0 when there is none): how far the relay is behind",
            float(oldest or 0),
        )
        if jobs is not None:
            pending, due, processing, failed, overdue = jobs
            gauge = GaugeMetricFamily(
                "club_job_queue_jobs",
                "Jobs in the job queue: pending (of which due: to run now), processing, and failed (no"
                " retry left, kept 7 days)",
                labels=["service", "status"],
            )
            for status, value in (
                ("pending", pending),
                ("due", due),
                ("processing", processing),
                ("failed", failed),
            ):
                gauge.add_metric([self.service, status], value)
            yield gauge
            yield self._gauge(
                "club_job_queue_oldest_due_age_seconds",
                "How long the oldest due job has been waiting to run (0 when none is due)",
                float(overdue or 0),
            )


class BrokerCollector:
    """The consumer's queue and its parked queue, by a passive declare on a short-lived
    connection; cached for `cache_s` so that several scrapers cost the broker one look."""

    def __init__(self, consumer: str, amqp_url: str, names: QueueNames, *, cache_s: float = 10.0):
        self.consumer = consumer
        self.amqp_url = amqp_url
        self.names = names
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, int] | None] = (float("-inf"), None)

    def describe(self):
        return []

    def _depths(self) -> dict[str, int] | None:
        import pika

        params = pika.URLParameters(self.amqp_url)
        params.socket_timeout = 2
        params.blocked_connection_timeout = 2
        params.connection_attempts = 1
        params.client_properties = {"connection_name": f"{self.consumer}-metrics"}
        try:
            connection = pika.BlockingConnection(params)
        except Exception as exc:  # whatever pika raises: the broker is not there
            log.warning("metrics: broker figures unavailable", extra={"error": repr(exc)})
            return None
        depths = {}
        try:
            for label, queue in (("main", self.names.main), ("parked", self.names.parked)):
                try:
                    channel = connection.channel()
                    depths[label] = channel.queue_declare(queue, passive=True).method.message_count
                    channel.close()
                except Exception:  # not declared yet (404 closes the channel): nothing waits there
                    depths[label] = 0
        finally:
            with contextlib.suppress(Exception):
                connection.close()
        return depths

    def collect(self):
        with self._lock:
            at, depths = self._cached
            if time.monotonic() - at >= self.cache_s:
                depths = self._depths()
                self._cached = (time.monotonic(), depths)
        up = GaugeMetricFamily(
            "club_metrics_broker_up", "1 when the broker figures could be read", labels=["consumer"]
        )
        up.add_metric([self.consumer], 0 if depths is None else 1)
        yield up
        if depths is not None:
            gauge = GaugeMetricFamily(
                "club_bus_queue_messages",
                "Messages waiting in the consumer's queue (main) and parked after their last failure",
                labels=["consumer", "queue"],
            )
            for label, value in depths.items():
                gauge.add_metric([self.consumer, label], value)
            yield gauge


# ---- exposition ------------------------------------------------------------------------------------


class _ThisProcess:
    """The process's own registry, as one collector of a registry made per scrape."""

    def describe(self):
        return []

    def collect(self):
        return PROCESS_REGISTRY.collect()


def registry(*collectors: Any) -> CollectorRegistry:
    """A registry for one exposition: every process's samples (multiprocess mode) or this
    process's, plus `collectors` (read at scrape time)."""
    combined = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(combined)
    else:
        combined.register(_ThisProcess())
    for collector in collectors:
        combined.register(collector)
    return combined


def metrics_response(*collectors: Any) -> Response:
    return Response(generate_latest(registry(*collectors)), mimetype=CONTENT_TYPE_LATEST)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature wsgiref calls
        pass


def start_metrics_server(
    port: int, host: str, metrics: CollectorRegistry, health: Callable[[], dict[str, Any]]
) -> ThreadingWSGIServer:
    """Serve `/metrics` and `/healthz` on a daemon thread (the worker, which has no web server).

    `health()` returns {"status": "ok" | anything else, …}: 200 when ok, 503 otherwise, so a
    liveness probe restarts a worker whose threads have died. Returns the server (its
    `server_port` is the bound port, `shutdown()` stops it)."""
    metrics_app = make_wsgi_app(metrics)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            state = health()
            body = json.dumps(state).encode()
            status = "200 OK" if state.get("status") == "ok" else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()
    return server
