"""The route table: which service owns which path under /api/v1.

This is the single source of truth for the gateway. nginx.conf, the Kubernetes Ingress, the
development dispatcher, the merged OpenAPI document and Procfile.stack are all generated from it,
so a prefix added here reaches every run mode at once. It mirrors DESIGN.md § HTTP (a test
compares the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

API_ROOT = "/api/v1"
GATEWAY_PORT = 8080
# Inside containers every service listens on the same port; only the host name differs.
CONTAINER_PORT = 8000
# `make stack` with several replicas of a service (`BOOKING_REPLICAS=3`): the service on port 80NN
# runs its replicas on consecutive ports from 8N00 (booking: 8200, 8201, 8202); one replica keeps
# the service's own port.
MAX_REPLICAS = 99


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    prefixes: tuple[str, ...]

    @property
    def package(self) -> str:
        return f"club_{self.name}"

    @property
    def command(self) -> str:
        return f"club-{self.name}"

    @property
    def replicas_variable(self) -> str:
        """The environment variable that sets how many web processes `make stack` runs."""
        return f"{self.name.upper()}_REPLICAS"

    def local_ports(self, replicas: int = 1) -> tuple[int, ...]:
        """The ports of the service's `replicas` web processes on one machine (`make stack`)."""
        if not 1 <= replicas <= MAX_REPLICAS:
            raise ValueError(f"{self.name}: replicas must be 1 to {MAX_REPLICAS}, not {replicas}")
        if replicas == 1:
            return (self.port,)
        first = 8000 + 100 * (self.port - 8000)
        return tuple(range(first, first + replicas))


SERVICES: tuple[Service, ...] = (
    Service(
        "membership",
        8001,
        (
            "auth",
            "me",
            "members",
            "staff",
            "tiers",
            "tier-features",
            "billing-groups",
            "family-add-ons",
            "content",
            "settings",
            "audit-log",
            "bug-reports",
            "account",
        ),
    ),
    Service(
        "booking",
        8002,
        (
            "resources",
            "availability",
            "closures",
            "closure-reasons",
            "availability-blocks",
            "booking-requests",
            "sessions",
            "guest-passes",
            "guests",
            "events",
            "wellness-classes",
            "usage",
        ),
    ),
    Service(
        "billing",
        8003,
        (
            "fees",
            "payments",
            "invoices",
            "day-passes",
            "products",
            "discount-rules",
            "billing",
            "webhooks/stripe",
        ),
    ),
    Service(
        "integrations",
        8004,
        (
            "trackman",
            "hubspot",
            "tours",
            "forms",
            "integrity",
            "imports",
            "webhooks/trackman",
            "webhooks/hubspot",
        ),
    ),
    Service(
        "notifications",
        8005,
        (
            "notifications",
            "push-subscriptions",
            "announcements",
            "notices",
            "communications",
            "webhooks/email",
        ),
    ),
)

SERVICE_NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)
BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}


def replicas_from_env(environ: Mapping[str, str]) -> dict[str, int]:
    """Web processes per service for `make stack`: `<SERVICE>_REPLICAS` (e.g. BOOKING_REPLICAS=3),
    1 where unset."""
    replicas = {}
    for service in SERVICES:
        raw = (environ.get(service.replicas_variable) or "").strip()
        try:
            count = int(raw) if raw else 1
        except ValueError:
            raise ValueError(f"{service.replicas_variable} must be a number, not {raw!r}") from None
        service.local_ports(count)  # refuses a count out of range
        replicas[service.name] = count
    return replicas


def _build_owner_table() -> dict[str, str]:
    owners: dict[str, str] = {}
    for service in SERVICES:
        for prefix in service.prefixes:
            if prefix in owners:
                raise ValueError(f"prefix {prefix!r} claimed by {owners[prefix]} and {service.name}")
            if not prefix or prefix.startswith("/") or prefix.endswith("/"):
                raise ValueError(f"prefix {prefix!r} must be a relative path without edge slashes")
            owners[prefix] = service.name
    return owners


PREFIX_OWNERS: dict[str, str] = _build_owner_table()


def routes() -> list[tuple[str, str]]:
    """(full path prefix, service) pairs, longest first then alphabetical: a stable order for
    generated files, and the order in which a linear matcher would have to try them."""
    pairs = [(f"{API_ROOT}/{prefix}", owner) for prefix, owner in PREFIX_OWNERS.items()]
    return sorted(pairs, key=lambda pair: (-len(pair[0]), pair[0]))


def find_service(path: str) -> str | None:
    """The service that owns `path` (which may carry a query string), or None.

    A prefix matches `/api/v1/<prefix>` exactly or followed by `/` or `?`; the longest matching
    prefix wins. Trying the path's own leading segments, longest first, against a dict gives the
    same answer as scanning every prefix, in time that does not grow with the table.
    """
    path = path.split("?", 1)[0]
    root = API_ROOT + "/"
    if not path.startswith(root):
        return None
    segments = path[len(root) :].split("/")
    for end in range(len(segments), 0, -1):
        owner = PREFIX_OWNERS.get("/".join(segments[:end]))
        if owner is not None:
            return owner
    return None


def owns(service: str, path: str) -> bool:
    return find_service(path) == service
