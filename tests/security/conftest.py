"""Hostile input and security across the whole suite (issue 10, items 4 and 5): the five services in
one process behind the gateway's dispatcher, real PostgreSQL, the in-memory bus, every webhook's
signature check switched on."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from werkzeug.test import Client

from club_shared.auth import Identity, sign_access_token
from club_shared.config import SERVICES
from club_suite.suite import start_suite

# --import-mode=importlib puts no test folder on sys.path: the fakes (signing helpers) live in tests/.
TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

STRIPE_SECRET = "whsec_security_tests"
TRACKMAN_SECRET = "tm-security-secret"
HUBSPOT_SECRET = "hubspot-security-secret"
# Svix secrets are `whsec_` + base64
EMAIL_SECRET = "whsec_c2VjdXJpdHktdGVzdHMtZW1haWwtc2VjcmV0IQ=="

WEBHOOK_SETTINGS = {
    "billing": {"stripe_webhook_secret": STRIPE_SECRET},
    "integrations": {"trackman_webhook_secret": TRACKMAN_SECRET, "hubspot_webhook_secret": HUBSPOT_SECRET},
    "notifications": {"email_webhook_secret": EMAIL_SECRET},
}


@pytest.fixture(scope="session")
def stripe_fake():
    from fakes.stripe_fake import RunningFake

    running = RunningFake().start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def email_provider():
    from fakes.email_provider import FakeEmailProvider

    provider = FakeEmailProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def security_settings(settings_for, stripe_fake, email_provider):
    """Every webhook verifies signatures; billing talks to the fake Stripe (so card payments are on
    and a refusal cannot hide behind "payments unavailable"); notifications sends e-mail to the fake
    provider (so the e-mails it renders can be read)."""
    extra = {
        "billing": {"stripe_api_base": stripe_fake.url, "stripe_secret_key": "sk_test_security"},
        "notifications": {
            "email_api_base": email_provider.url,
            "email_api_key": email_provider.api_key,
            "email_from": "Clubhouse <club@example.com>",
        },
    }

    def make(service: str):
        return settings_for(service, **WEBHOOK_SETTINGS.get(service, {}), **extra.get(service, {}))

    return make


# Module scope: a suite's workers (relays, consumers, job runners) stop with the module, so they never
# run alongside later tests of a full run that share these databases.
@pytest.fixture(scope="module")
def suite(security_settings, migrated):
    for service in SERVICES:
        migrated(service)
    running = start_suite({s: security_settings(s) for s in SERVICES})
    yield running
    running.shutdown()


@pytest.fixture(scope="module")
def client(suite) -> Client:
    return Client(suite.app)


@pytest.fixture(scope="session")
def token(keys):
    def make(subject: str, email: str, role: str = "member", ttl: int = 3600) -> str:
        return sign_access_token(keys[0], "clubhouse", Identity(str(subject), email, role), ttl)

    return make


@pytest.fixture(scope="session")
def admin_headers(token):
    return {"Authorization": f"Bearer {token('security-admin', 'sec-admin@clubhouse.test', 'admin')}"}


@pytest.fixture(scope="module")
def make_member(client, admin_headers, token):
    """A real member, created through the API by an admin; returns (member json, auth headers)."""

    def make(first_name: str = "Sam", last_name: str = "Member", **extra):
        email = f"sec.{uuid.uuid4().hex[:10]}@example.com"
        created = client.post(
            "/api/v1/members",
            json={"email": email, "first_name": first_name, "last_name": last_name, **extra},
            headers=admin_headers,
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        member = created.get_json()
        return member, {"Authorization": f"Bearer {token(member['id'], member['email'])}"}

    return make


def assert_problem(response, *statuses: int):
    body = response.get_data(as_text=True)
    assert response.status_code in statuses, f"{response.status_code} (wanted {statuses}): {body[:400]}"
    assert response.mimetype == "application/problem+json", f"{response.mimetype}: {body[:400]}"
    problem = response.get_json()
    assert isinstance(problem, dict) and problem.get("status") == response.status_code, body[:400]
    return problem


# --- "nothing changed in any database" ----------------------------------------------------------
#
# A cheap fingerprint of every table of every service: its row count and the md5 of all its rows
# (as text, ordered). Left out, because they legitimately change on a refused request or on their own:
#   rate_limits          membership's sign-in counters (a refused attempt counts)
#   admin_audit_log      membership's audit trail, which may record a refusal
#   hubspot_rate_limit   integrations' outbound-call budget, ticked by the worker
#   job/scheduler state and the bus bookkeeping (outbox, inbox, parked) — written by the workers on
#   their own clock; an event caused by a refused write would show up in the domain tables anyway.
VOLATILE = {
    "rate_limits",
    "admin_audit_log",
    "hubspot_rate_limit",
    "outbox",
    "inbox",
    "alembic_version",
    "integrity_check_history",  # integrations' scheduled integrity checks record each run
}
VOLATILE_PREFIXES = ("job", "scheduler", "bus_", "parked", "apscheduler")


def _volatile(table: str) -> bool:
    return table in VOLATILE or table.startswith(VOLATILE_PREFIXES)


def fingerprint(suite) -> dict[str, tuple]:
    from sqlalchemy import text

    found: dict[str, tuple] = {}
    for service, runtime in suite.runtimes.items():
        with runtime.db.transaction() as session:
            tables = (
                session.execute(
                    text(
                        "select table_name from information_schema.tables "
                        "where table_schema = 'public' and table_type = 'BASE TABLE' order by 1"
                    )
                )
                .scalars()
                .all()
            )
            for table in tables:
                if _volatile(table):
                    continue
                count, digest = session.execute(
                    text(
                        f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                        f'from "{table}" t'
                    )
                ).one()
                found[f"{service}.{table}"] = (count, digest)
    return found


def changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _unsent(suite) -> int:
    from sqlalchemy import text

    total = 0
    for runtime in suite.runtimes.values():
        with runtime.db.transaction() as session:
            total += session.execute(text("select count(*) from outbox where sent_at is null")).scalar()
    return total


def settled(suite, attempts: int = 200) -> dict[str, tuple]:
    """The fingerprint once the workers have finished what earlier requests set off: no outbox row
    left to relay and three readings in a row that agree."""
    last, same = fingerprint(suite), 0
    for _ in range(attempts):
        now = fingerprint(suite)
        same = same + 1 if now == last and _unsent(suite) == 0 else 0
        if same >= 3:
            return now
        last = now
    raise AssertionError(f"the databases never settled: {changed(last, fingerprint(suite))}")
