"""Hostile input against every operation of every service, through the gateway's dispatcher: no
5xx, and every response matches what the merged OpenAPI document promises (status, content type,
schema). Runs as an anonymous caller and as an admin, so that both the refusals and the work behind
them are exercised."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from club_shared.auth import Identity, sign_access_token
from club_shared.config import SERVICES
from club_shared.testing import fuzz
from club_suite.suite import start_suite


@pytest.fixture(scope="module")
def suite(settings_for, migrated):
    for service in SERVICES:
        migrated(service)
    running = start_suite({s: settings_for(s) for s in SERVICES})
    yield running
    running.shutdown()


@pytest.fixture(scope="module")
def api_schema(suite):
    return schemathesis.openapi.from_wsgi("/openapi.json", suite.app)


@pytest.fixture(scope="module")
def admin_token(keys):
    return sign_access_token(
        keys[0], "clubhouse", Identity("fuzz-admin", "admin@clubhouse.test", "admin"), 3600
    )


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

# What the runs hold the suite to, and what they leave out (and why): club_shared.testing.fuzz, shared
# with the run through nginx in tests/stack.


@schema.parametrize()
@FUZZ
def test_anonymous_callers_get_no_server_errors(case):
    fuzz.call(case)


@schema.parametrize()
@FUZZ
def test_an_admin_gets_no_server_errors(case, admin_token):
    fuzz.call(case, headers={"Authorization": f"Bearer {admin_token}"})
