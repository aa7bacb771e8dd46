"""Fixtures for the local-stack tests: nginx and free ports (fixtures rather than imports, as
pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    """The nginx executable, or skip (fail under CLUB_REQUIRE_SERVICES=1: CI installs nginx)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    reason = "nginx is not installed (apt-get install -y nginx); CLUB_REQUIRE_SERVICES=1 makes this a failure"
    if os.environ.get("CLUB_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def free_port():
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick
