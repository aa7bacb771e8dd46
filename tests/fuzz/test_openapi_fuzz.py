"""Hostile input against every operation of every service, through the gateway's dispatcher: no
5xx, and every response matches what the merged OpenAPI document promises (status, content type,
schema). Runs as an anonymous caller and as an admin, so that both the refusals and the work behind
them are exercised."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from club_shared.auth import Identity, sign_access_token
from club_shared.config import SERVICES
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
    return sign_access_token(keys[0], "clubhouse", Identity("fuzz-admin", "admin@clubhouse.test", "admin"), 3600)


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_anonymous_callers_get_no_server_errors(case):
    case.call_and_validate()


@schema.parametrize()
@FUZZ
def test_an_admin_gets_no_server_errors(case, admin_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})
