"""OpenTelemetry tracing: one trace from an HTTP request through the outbox, the relay's message
headers and the consumer; and, when it is off, not one OpenTelemetry module imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from flask import jsonify
from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared import tracing
from club_shared.bus import Consumer, Delivery, bus_tables
from club_shared.bus.relay import _message
from club_shared.config import Settings
from club_shared.db import drop_database, ensure_database
from club_shared.models import new_metadata
from club_shared.runtime import Runtime
from club_shared.web import build_app
from club_shared.web import runtime as current_runtime

metadata = new_metadata()
BUS = bus_tables(metadata)
EVENT_TYPE = "membership.member.created"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def member(i: int) -> dict:
    return {
        "member_id": f"m-{i}",
        "email": f"member{i}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "tier": None,
        "status": "active",
    }


@pytest.fixture(scope="module")
def settings(pg_url, run_id):
    settings = Settings(
        service="tracetest",
        env="test",
        database_url=pg_url,
        database_prefix=f"club_t{run_id}_",
        amqp_url="memory://",
    )
    ensure_database(settings.service_database_url)
    runtime = Runtime(settings, BUS)
    metadata.create_all(runtime.db.engine)
    runtime.db.dispose()
    yield settings
    drop_database(settings.service_database_url)


def make_app(runtime: Runtime):
    blp = Blueprint("things", __name__, url_prefix="/api/v1/things")

    @blp.route("", methods=["POST"])
    def create():
        rt = current_runtime()
        with rt.db.transaction() as session:
            event = rt.publish(session, EVENT_TYPE, member(1))
        return jsonify(event_id=str(event.event_id)), 201

    return build_app(runtime, title="tracing test", blueprints=[blp])


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    assert tracing.configure("tracetest", None, exporter=exporter)
    yield exporter
    tracing.shutdown()
    assert not tracing.enabled()


def test_one_trace_from_the_request_through_the_bus_to_the_consumer(settings, spans):
    runtime = Runtime(settings, BUS)
    client = make_app(runtime).test_client()
    made = client.post(
        "/api/v1/things", json={}, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    )
    assert made.status_code == 201
    [server] = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert server.name == "POST /api/v1/things"
    assert format(server.context.trace_id, "032x") == CALLER_TRACE
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    assert server.attributes["http.response.status_code"] == 201
    assert server.attributes["club.request_id"] == made.headers["X-Request-ID"]

    # The outbox row keeps the request span's context; the relay makes it message headers and
    # leaves the event itself as it always is.
    with runtime.db.transaction() as session:
        row = session.execute(select(BUS.outbox).where(BUS.outbox.c.event_id == made.json["event_id"])).one()
    stored = row.envelope[tracing.OUTBOX_TRACE_KEY]["traceparent"]
    assert stored == f"00-{CALLER_TRACE}-{format(server.context.span_id, '016x')}-01"
    message = _message(row)
    assert message.headers == {"traceparent": stored}
    assert tracing.OUTBOX_TRACE_KEY not in json.loads(message.body)

    # The consumer continues the trace: its span's parent is the request's span.
    seen = []
    consumer = Consumer(
        "tracetest",
        runtime.db,
        BUS,
        {EVENT_TYPE: lambda session, event: seen.append(event.event_id)},
        max_deliveries=3,
        retry_delays_ms=(10,),
    )
    [outcome] = consumer.handle_batch([Delivery(message, 0)])
    assert outcome.verdict.value == "ack" and len(seen) == 1
    [handling] = [s for s in spans.get_finished_spans() if s.kind.name == "CONSUMER"]
    assert handling.name == f"{EVENT_TYPE} process"
    assert handling.context.trace_id == server.context.trace_id
    assert handling.parent.span_id == server.context.span_id
    assert handling.attributes["messaging.message.id"] == made.json["event_id"]
    runtime.db.dispose()


def test_a_failing_handler_marks_its_span(settings, spans):
    runtime = Runtime(settings, BUS)
    with runtime.db.transaction() as session:
        runtime.publish(session, EVENT_TYPE, member(2))  # no current span: no stored context
        row = session.execute(select(BUS.outbox).order_by(BUS.outbox.c.id.desc())).first()
    assert tracing.OUTBOX_TRACE_KEY not in row.envelope
    message = _message(row)

    def broken(session, event):
        raise RuntimeError("broken handler")

    consumer = Consumer(
        "tracetest-broken", runtime.db, BUS, {EVENT_TYPE: broken}, max_deliveries=3, retry_delays_ms=(10,)
    )
    [outcome] = consumer.handle_batch([Delivery(message, 0)])
    assert outcome.verdict.value == "retry"
    [failed] = [s for s in spans.get_finished_spans() if s.kind.name == "CONSUMER"]
    assert failed.status.status_code.name == "ERROR"
    assert any(e.name == "exception" for e in failed.events)
    runtime.db.dispose()


def test_off_by_default_and_nothing_imported_on_the_hot_path(settings):
    """Without OTEL_EXPORTER_OTLP_ENDPOINT: a request with a traceparent, a publish, a relay and a
    consume happen, and no OpenTelemetry module is ever imported."""
    script = textwrap.dedent(
        f"""
        import sys
        from dataclasses import replace
        from flask import jsonify
        from flask_smorest import Blueprint
        from sqlalchemy import select
        from club_shared import tracing
        from club_shared.bus import Consumer, Delivery, bus_tables
        from club_shared.bus.relay import _message
        from club_shared.config import Settings
        from club_shared.models import new_metadata
        from club_shared.runtime import Runtime
        from club_shared.web import build_app, runtime as current_runtime
        import club_shared.worker, club_shared.jobs, club_shared.metrics

        BUS = bus_tables(new_metadata())
        settings = replace(Settings.from_env("tracetest"), env="test", amqp_url="memory://",
                           database_url={settings.database_url!r}, database_prefix={settings.database_prefix!r})
        runtime = Runtime(settings, BUS)
        blp = Blueprint("things", __name__, url_prefix="/api/v1/things")

        @blp.route("", methods=["POST"])
        def create():
            rt = current_runtime()
            with rt.db.transaction() as session:
                rt.publish(session, "{EVENT_TYPE}", {member(3)!r})
            return jsonify(ok=True), 201

        client = build_app(runtime, title="t", blueprints=[blp]).test_client()
        answer = client.post("/api/v1/things", json={{}}, headers={{"traceparent": "00-{CALLER_TRACE}-{CALLER_SPAN}-01"}})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        with runtime.db.transaction() as session:
            row = session.execute(select(BUS.outbox).order_by(BUS.outbox.c.id.desc())).first()
        assert "{tracing.OUTBOX_TRACE_KEY}" not in row.envelope
        message = _message(row)
        assert message.headers == {{}}
        consumer = Consumer("tracetest-off", runtime.db, BUS, {{"{EVENT_TYPE}": lambda s, e: None}},
                            max_deliveries=3, retry_delays_ms=(10,))
        assert consumer.handle_batch([Delivery(message, 0)])[0].verdict.value == "ack"
        assert client.get("/metrics").status_code == 200
        assert not tracing.enabled()
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        assert not loaded, loaded
        print("clean")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "TRACETEST_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("clean")


def test_the_endpoint_variable_turns_it_on(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert Settings.from_env("booking").otel_exporter_otlp_endpoint == "http://127.0.0.1:4318"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert Settings.from_env("booking").otel_exporter_otlp_endpoint is None
    assert tracing.configure("booking", None) is False
