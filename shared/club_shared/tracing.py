"""OpenTelemetry tracing across HTTP and the bus — off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

One trace follows a change through the suite:
  HTTP request (server span, continuing the caller's `traceparent`)
    → the event written to the outbox carries that span's context, stored in the outbox row
    → the relay publishes it with `traceparent` (and `tracestate`) as message headers
    → the consumer handles it in a consumer span whose parent is that context
    → events that handler publishes carry the consumer span's context, and so on.

Spans go to the OTLP/HTTP endpoint (a collector, Jaeger, Tempo, …) through the official SDK's batch
processor; every standard OTEL_* variable (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_TRACES_SAMPLER, …) works as documented by OpenTelemetry.

Off (the default), this module imports nothing from OpenTelemetry and each hook below is a flag
test: the request, publish, relay and consume paths pay nothing for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Key of the trace context inside an outbox row's stored envelope. The relay takes it out and
#: publishes it as message headers, so consumers never see it in the event.
OUTBOX_TRACE_KEY = "_trace"
#: W3C Trace Context headers carried by HTTP requests and bus messages.
TRACE_HEADERS = ("traceparent", "tracestate")

_NOTHING = contextlib.nullcontext()
_lock = threading.Lock()
_tracer: Any = None
_provider: Any = None


def enabled() -> bool:
    return _tracer is not None


def configure(service: str, endpoint: str | None, *, exporter: Any = None) -> bool:
    """Start tracing for this process if `endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT) is set, or an
    `exporter` is given (tests: the SDK's InMemorySpanExporter). The first call wins: in the
    one-process suite every service shares one tracer provider. True when tracing is on."""
    global _tracer, _provider
    if not endpoint and exporter is None:
        return enabled()
    with _lock:
        if _tracer is not None:
            return True
        from opentelemetry import trace
        from opentelemetry.sdk.resources import OTEL_SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        attributes = {} if os.environ.get(OTEL_SERVICE_NAME) else {"service.name": f"club-{service}"}
        provider = TracerProvider(resource=Resource.create(attributes))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            log.info("tracing on", extra={"otlp_endpoint": endpoint})
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        _provider = provider
        _tracer = provider.get_tracer("club_shared")
        return True


def shutdown() -> None:
    """Flush and stop (the worker at exit; tests)."""
    global _tracer, _provider
    with _lock:
        provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


# ---- HTTP ------------------------------------------------------------------------------------------


def start_http_span(method: str, route: str, path: str, headers: Mapping[str, str], request_id: str):
    """A server span for the request, made current; returns a token for `end_http_span`, or None
    when tracing is off."""
    if _tracer is None:
        return None
    from opentelemetry import context, propagate, trace

    span = _tracer.start_span(
        f"{method} {route}",
        context=propagate.extract(headers),
        kind=trace.SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "http.route": route,
            "url.path": path,
            "club.request_id": request_id,
        },
    )
    return span, context.attach(trace.set_span_in_context(span))


def end_http_span(token, status: int | None, error: BaseException | None = None) -> None:
    if token is None:
        return
    from opentelemetry import context, trace

    span, attached = token
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.record_exception(error)
    if error is not None or (status or 0) >= 500:
        span.set_status(trace.Status(trace.StatusCode.ERROR))
    span.end()
    with contextlib.suppress(ValueError):  # attached in another context (should not happen)
        context.detach(attached)


# ---- the bus ---------------------------------------------------------------------------------------


def current_headers() -> dict[str, str] | None:
    """The current span's context as W3C headers, to store with an outbox row; None when tracing
    is off or nothing is being traced."""
    if _tracer is None:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_HEADERS} or None


def consuming(consumer: str, event, headers: Mapping[str, Any] | None):
    """A context manager around one event's handling: a consumer span continuing the producer's
    trace (from the message's `traceparent`); does nothing when tracing is off."""
    if _tracer is None:
        return _NOTHING
    return _consumer_span(consumer, event, headers or {})


@contextlib.contextmanager
def _consumer_span(consumer: str, event, headers: Mapping[str, Any]):
    from opentelemetry import propagate, trace

    carrier = {
        k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items() if k in TRACE_HEADERS
    }
    with _tracer.start_as_current_span(
        f"{event.type} process",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.message.id": str(event.event_id),
            "messaging.destination.name": event.type,
            "messaging.consumer.group.name": consumer,
            "club.correlation_id": event.correlation_id or "",
        },
    ) as span:  # an exception out of the handler is recorded on the span, which is marked failed
        yield span
