"""Prometheus metrics, safe under gunicorn's several worker processes.

With PROMETHEUS_MULTIPROC_DIR set (as the Dockerfiles and `make stack` do), every worker writes
its samples there and /metrics adds them up; without it, the process's own registry is served.
"""

from __future__ import annotations

import os

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client import REGISTRY as PROCESS_REGISTRY

REQUEST_SECONDS = Histogram(
    "club_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def observe_request(method: str, rule, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(method, rule.rule if rule is not None else "unmatched", str(status)).observe(
        seconds
    )


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = PROCESS_REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
