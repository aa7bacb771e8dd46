"""The whole suite as `make stack` runs it — the five services as gunicorn processes, nginx from the
generated config — in this run's own databases and bus namespace, on ephemeral ports, and every
request through nginx:

- every route of every service's authorization table (services/*/tests/test_authorization.py,
  loaded, not re-typed) called anonymously and as a member, a golf instructor, staff and an admin:
  401 without a token, 403 for a role below the route's, neither (and no 5xx) at or above it; and
  every operation in every service's OpenAPI document has a row in its service's table;
- schemathesis over the OpenAPI document nginx serves, every operation, anonymous and as an admin,
  held to the checks tests/fuzz holds the services to in-process (club_shared.testing.fuzz).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.config._phases import DEFAULT_UNEXPECTED_METHODS

from club_gateway import openapi, routes
from club_shared.auth import Identity, sign_access_token
from club_shared.db import drop_database
from club_shared.problems import PROBLEM_JSON
from club_shared.testing import fuzz
from club_shared.testing.plugin import FAST_RETRY_DELAYS_MS
from club_shared.testing.services import delete_bus_namespace
from club_shared.testing.stack import LocalStack, service_settings, stack_env

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

REPO = Path(__file__).resolve().parents[2]

# --- the authorization tables, as the services' own tests state them -----------------------------

#: what each table calls a level → the least rank that may call the route
RANKS = {"anonymous": 0, "anyone": 0, "member": 1, "signed-in": 1, "staff": 2, "admin": 3}
WEBHOOK = "signed-webhook"  # the sender's signature decides, not a token
#: (role in the token or None for no token, its rank): golf instructors are staff (domain.md)
CALLERS = [(None, 0), ("member", 1), ("golf_instructor", 2), ("staff", 2), ("admin", 3)]


def _load_table(service: str):
    path = REPO / "services" / service / "tests" / "test_authorization.py"
    spec = importlib.util.spec_from_file_location(f"_authorization_{service}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLES = {service: _load_table(service) for service in routes.SERVICE_NAMES}


def _rows(module) -> dict[tuple[str, str], str]:
    # booking names its table TABLE, the others ROUTES
    return getattr(module, "ROUTES", None) or module.TABLE


def _template(path: str) -> str:
    """A Flask rule, a table's `<id>` or an OpenAPI `{name}` path, with its parameters unnamed."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def _url(service: str, rule: str) -> str:
    """The table's own way of filling in the parameters (ids that exist nowhere) where it has one."""
    module = TABLES[service]
    fill = getattr(module, "_url", None)
    return fill(rule) if fill else re.sub(r"<[^>]+>", "999999", rule)


SWEEP = sorted(
    (service, method, rule) for service, module in TABLES.items() for method, rule in _rows(module)
)

# --- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    gateway: str
    keys: tuple[str, str]
    specs: dict[str, dict]  # each service's own OpenAPI document

    def headers(self, role: str | None) -> dict[str, str]:
        if role is None:
            return {}
        identity = Identity(f"sweep-{role}", f"{role}.sweep@club.example", role)
        return {"Authorization": "Bearer " + sign_access_token(self.keys[0], "clubhouse", identity, 900)}


@pytest.fixture(scope="module")
def stack(pg_url, amqp_url, run_id, keys, nginx_bin):
    # nginx's workers drop to `nobody` when the tests run as root: they must read /openapi.json.
    work = Path(tempfile.mkdtemp(prefix="club-gateway-hostile-"))
    work.chmod(0o755)
    prefix, namespace = f"club_t{run_id}_gw_", f"club_t{run_id}_gw"
    env = {
        **stack_env(pg_url, amqp_url, prefix, namespace, keys[1]),
        # Signed webhooks are refused for their signature, not for a missing secret.
        "TRACKMAN_WEBHOOK_SECRET": "sweep",
        "HUBSPOT_WEBHOOK_SECRET": "sweep",
    }
    local = LocalStack(
        work,
        env,
        web=dict.fromkeys(routes.SERVICE_NAMES, 1),
        nginx_bin=nginx_bin,
        # The sweep and the fuzzing are about the services' answers, not nginx's rate limits.
        nginx_options={
            "worker_processes": "1",
            "rate_per_ip": "10000r/s",
            "burst_per_ip": 10000,
            "rate_per_token": "10000r/s",
            "burst_per_token": 10000,
        },
    )
    try:
        local.start()
        yield Stack(local.gateway, keys, openapi.load_specs(strict=True))
    finally:
        local.stop()
        shutil.rmtree(work, ignore_errors=True)
        for service in routes.SERVICE_NAMES:
            with contextlib.suppress(Exception):
                drop_database(service_settings(service, env).service_database_url)
            delete_bus_namespace(amqp_url, namespace, service, FAST_RETRY_DELAYS_MS)


# --- 1. every route × role ------------------------------------------------------------------------


def test_every_documented_operation_has_a_row_in_its_services_table(stack):
    for service, spec in stack.specs.items():
        rows = {(method, _template(rule)) for method, rule in _rows(TABLES[service])}
        operations = {
            (method.upper(), _template(path))
            for path, item in spec["paths"].items()
            for method in item
            if method in openapi.HTTP_METHODS and path.startswith(routes.API_ROOT + "/")
        }
        assert operations - rows == set(), f"{service}: operations without an authorization row"


def test_the_gateway_sends_every_row_to_its_service():
    misrouted = [
        (service, rule)
        for service, method, rule in SWEEP
        if routes.find_service(_url(service, rule)) != service
    ]
    assert misrouted == []


def _body(stack: Stack, service: str, method: str, rule: str) -> dict:
    """A body the operation's document says it takes, empty: refused for what is in it, if at all."""
    if method not in ("POST", "PUT", "PATCH"):
        return {}
    operation = stack.specs[service]["paths"].get(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule), {})
    content = operation.get(method.lower(), {}).get("requestBody", {}).get("content", {})
    if "text/csv" in content:
        return {"data": b"sale_id\n", "headers": {"Content-Type": "text/csv"}}
    if content and "application/json" not in content:
        return {}
    return {"json": {}}


@pytest.mark.parametrize(("service", "method", "rule"), SWEEP, ids=lambda v: v)
def test_who_may_call_each_route_through_the_gateway(stack, service, method, rule):
    level = _rows(TABLES[service])[(method, rule)]
    url = stack.gateway + _url(service, rule)
    body = _body(stack, service, method, rule)
    session = requests.Session()
    for role, rank in CALLERS:
        headers = {**body.get("headers", {}), **stack.headers(role)}
        kwargs = {k: v for k, v in body.items() if k != "headers"}
        answer = session.request(method, url, headers=headers, timeout=30, **kwargs)
        seen = (role, answer.status_code, answer.text[:300])
        assert answer.status_code < 500 or (
            answer.status_code == 503 and answer.headers["Content-Type"].startswith(PROBLEM_JSON)
        ), seen
        if level == WEBHOOK:
            # A token is no signature: refused the same for every caller.
            assert 400 <= answer.status_code < 500 or answer.status_code == 503, seen
        elif rank < RANKS[level]:
            assert answer.status_code == (401 if role is None else 403), seen
        else:
            assert answer.status_code not in (401, 403), seen
        if answer.status_code >= 400:
            assert answer.headers["Content-Type"].startswith(PROBLEM_JSON), seen


# --- 2. schemathesis through nginx ----------------------------------------------------------------


#: Undeclared methods sent to each operation, less TRACE: nginx refuses TRACE itself (405), before
#: any location and so without knowing the path's methods for an `Allow` header; every other
#: method reaches the service, whose 405 names them.
UNDECLARED_METHODS = sorted(DEFAULT_UNEXPECTED_METHODS - {"trace"})


def _schema(stack: Stack, coverage: bool):
    config = SchemathesisConfig.from_dict(
        {"phases": {"coverage": {"enabled": coverage, "unexpected-methods": UNDECLARED_METHODS}}}
    )
    return schemathesis.openapi.from_url(f"{stack.gateway}/openapi.json", config=config)


# Through nginx, as much as the CI budget allows: anonymously, the coverage phase (missing and
# boundary values, undeclared methods: mostly refused early, so cheap) and a few random examples;
# as an admin, whose requests do the work behind, a few random examples. The many examples are
# tests/fuzz's, in-process, where they are cheap.
@pytest.fixture(scope="module")
def anonymous_schema(stack):
    return _schema(stack, coverage=True)


@pytest.fixture(scope="module")
def admin_schema(stack):
    return _schema(stack, coverage=False)


@pytest.fixture(scope="module")
def admin_token(stack):
    return stack.headers("admin")


anonymous = schemathesis.pytest.from_fixture("anonymous_schema")
admin = schemathesis.pytest.from_fixture("admin_schema")

# Each test below is every operation's run (subtests): the suite-wide 300 s per test is too short
# for that on a two-core machine shared with other work.
THROUGH_NGINX_TIMEOUT = pytest.mark.timeout(900)
THROUGH_NGINX = settings(
    max_examples=int(os.environ.get("CLUB_GATEWAY_FUZZ_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


@THROUGH_NGINX_TIMEOUT
@anonymous.parametrize()
@THROUGH_NGINX
def test_anonymous_callers_through_the_gateway(case):
    fuzz.call(case, timeout=30)


@THROUGH_NGINX_TIMEOUT
@admin.parametrize()
@THROUGH_NGINX
def test_an_admin_through_the_gateway(case, admin_token):
    fuzz.call(case, headers=admin_token, timeout=30)
