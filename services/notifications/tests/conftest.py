"""Fixtures for the notifications service's tests: its runtime on a private database, an app, tokens,
and helpers to drive the real consumer and job runner."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from club_shared.auth import Identity, sign_access_token
from club_shared.bus import Delivery, Message
from club_shared.events import make_event
from club_shared.worker import make_consumer

REPO = Path(__file__).resolve().parents[3]
# The fakes under tests/fakes are shared with the end-to-end tests and the benchmark; with
# --import-mode=importlib no test folder is on sys.path, so put the repository's tests/ there.
for folder in (REPO / "tests", Path(__file__).resolve().parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(scope="session")
def runtime(service_runtime):
    return service_runtime("notifications")


@pytest.fixture(scope="session")
def app(runtime):
    from club_notifications.app import create_app

    return create_app(runtime=runtime)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def email() -> str:
    return f"ann.{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="session")
def token(keys) -> Callable[..., str]:
    def make(email: str, role: str = "member", subject: str | None = None) -> str:
        return sign_access_token(
            keys[0], "clubhouse", Identity(subject or uuid.uuid4().hex, email, role), 900
        )

    return make


@pytest.fixture(scope="session")
def auth(token) -> Callable[..., dict[str, str]]:
    def headers(email: str, role: str = "member") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(email, role)}"}

    return headers


@pytest.fixture(scope="session")
def deliver(runtime):
    """Hand an event to the service's real consumer (as the broker would), as often as asked."""
    from club_notifications.handlers import HANDLERS

    consumer = make_consumer(runtime, HANDLERS)

    def send(event_type: str, data: dict, *, times: int = 1, producer: str | None = None):
        event = make_event(event_type, data, producer=producer or event_type.split(".")[0])
        delivery = Delivery(Message(event.type, event.to_json(), str(event.event_id)), previous_failures=0)
        outcomes = []
        for _ in range(times):
            outcomes += consumer.handle_batch([delivery])
        return event, outcomes

    return send


@pytest.fixture(scope="session")
def db(runtime):
    return runtime.db


# --- the outside systems, faked, and a runtime that delivers to them -------------------------------


@pytest.fixture(scope="session")
def push_service():
    from fakes.webpush import FakePushService

    service = FakePushService().start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def email_provider():
    from fakes.email_provider import FakeEmailProvider

    provider = FakeEmailProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def vapid():
    from fakes.webpush import vapid_key_pair

    return vapid_key_pair()


@pytest.fixture(scope="session")
def live_runtime(service_runtime, push_service, email_provider, vapid):
    """The notifications runtime with e-mail and push on, pointed at the fakes (same database)."""
    return service_runtime(
        "notifications",
        email_api_base=email_provider.url,
        email_api_key=email_provider.api_key,
        email_from="Clubhouse <club@example.com>",
        email_webhook_secret=email_provider.webhook_secret,
        vapid_private_key=vapid[0],
        vapid_public_key=vapid[1],
        vapid_subject="mailto:tech@club.example.com",
        app_base_url="https://app.club.example.com",
    )


@pytest.fixture(scope="session")
def live_app(live_runtime):
    from club_notifications.app import create_app

    return create_app(runtime=live_runtime)


@pytest.fixture
def live_client(live_app):
    return live_app.test_client()


@pytest.fixture
def jobs(live_runtime):
    """The worker's job runner on the live runtime; `jobs.drain()` runs every due job. Jobs left
    pending by earlier tests are set aside first, so a test sees only its own."""
    from club_notifications.jobs import make_jobs
    from club_notifications.models import JOBS

    with live_runtime.db.transaction() as session:
        session.execute(
            JOBS.job_queue.update().where(JOBS.job_queue.c.status == "pending").values(status="completed")
        )
    runner = make_jobs(live_runtime)

    def drain(limit: int = 50) -> int:
        total = 0
        for _ in range(limit):
            ran = runner.run_due()
            if not ran:
                break
            total += ran
        return total

    runner.drain = drain
    return runner
