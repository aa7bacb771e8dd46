"""Fixtures for the local-stack tests (fixtures rather than imports, as pytest runs with
--import-mode=importlib; the stack itself is `club_shared.testing.stack`)."""

from __future__ import annotations

import os

import pytest

from club_shared.testing.stack import find_nginx
from club_shared.testing.stack import free_port as free_port_


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    """The nginx executable, or skip (fail under CLUB_REQUIRE_SERVICES=1: CI installs nginx)."""
    found = find_nginx()
    if found:
        return found
    reason = "nginx is not installed (apt-get install -y nginx); CLUB_REQUIRE_SERVICES=1 makes this a failure"
    if os.environ.get("CLUB_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def free_port():
    return free_port_
