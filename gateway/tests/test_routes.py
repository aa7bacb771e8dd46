import re
from pathlib import Path

import pytest

from club_gateway import routes

DESIGN = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"


def design_table() -> dict[str, set[str]]:
    """service -> prefixes, read from the prefix table in DESIGN.md § HTTP."""
    text = DESIGN.read_text()
    section = text.split("## HTTP", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] in routes.SERVICE_NAMES:
            table[cells[0]] = set(re.findall(r"`([^`]+)`", cells[1]))
    return table


@pytest.mark.skipif(not DESIGN.exists(), reason=f"{DESIGN} is not beside the repository")
def test_table_matches_design():
    assert design_table() == {s.name: set(s.prefixes) for s in routes.SERVICES}


def test_services_ports_and_names():
    assert routes.SERVICE_NAMES == ("membership", "booking", "billing", "integrations", "notifications")
    assert [s.port for s in routes.SERVICES] == [8001, 8002, 8003, 8004, 8005]
    assert routes.BY_NAME["booking"].package == "club_booking"
    assert routes.BY_NAME["booking"].command == "club-booking"


def test_services_match_shared_config():
    config = pytest.importorskip("club_shared.config")
    assert tuple(config.SERVICES) == routes.SERVICE_NAMES


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth", "membership"),
        ("/api/v1/auth/codes", "membership"),
        ("/api/v1/auth?next=/x", "membership"),
        ("/api/v1/auth/", "membership"),
        ("/api/v1/tier-features/3", "membership"),
        ("/api/v1/booking-requests/7/approve", "booking"),
        ("/api/v1/availability?date=2025-01-01", "booking"),
        ("/api/v1/fees/booking-requests/7", "billing"),
        ("/api/v1/billing", "billing"),
        ("/api/v1/billing-groups/1", "membership"),
        ("/api/v1/webhooks/stripe", "billing"),
        ("/api/v1/webhooks/stripe?x=1", "billing"),
        ("/api/v1/webhooks/trackman/events", "integrations"),
        ("/api/v1/webhooks/hubspot", "integrations"),
        ("/api/v1/webhooks/email", "notifications"),
        ("/api/v1/notifications", "notifications"),
        ("/api/v1/notices/9/dismiss", "notifications"),
    ],
)
def test_find_service(path, service):
    assert routes.find_service(path) == service


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/authx",
        "/api/v1/auth-codes",
        "/api/v1/webhooks",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/stripex",
        "/api/v1/webhooks/other/stripe",
        "/api/v1/",
        "/api/v1",
        "/api/v2/auth",
        "/auth",
        "/healthz",
        "",
    ],
)
def test_find_service_rejects(path):
    assert routes.find_service(path) is None


def test_longest_prefix_wins_over_a_linear_scan():
    # find_service uses a dict of segments; a plain longest-first scan must agree with it.
    def scan(path):
        path = path.split("?", 1)[0]
        for prefix, service in routes.routes():
            if path == prefix or path.startswith(prefix + "/"):
                return service
        return None

    for prefix, _ in routes.routes():
        for suffix in ("", "/", "/x/y", "x", "-y"):
            assert routes.find_service(prefix + suffix) == scan(prefix + suffix), prefix + suffix


def test_routes_are_sorted_longest_first_and_unique():
    pairs = routes.routes()
    assert len({p for p, _ in pairs}) == len(pairs)
    assert [len(p) for p, _ in pairs] == sorted((len(p) for p, _ in pairs), reverse=True)
    assert all(p.startswith("/api/v1/") for p, _ in pairs)
