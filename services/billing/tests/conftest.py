"""Fixtures for billing's tests: its runtime on a private database with the Stripe fake, an app,
tokens, the real consumer fed with booking and membership events, and the real job runner."""

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
for folder in (REPO / "tests", Path(__file__).resolve().parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import billing_support  # noqa: E402


@pytest.fixture(scope="session")
def stripe_fake():
    from fakes.stripe_fake import RunningFake

    running = RunningFake().start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def runtime(service_runtime, stripe_fake):
    return service_runtime(
        "billing",
        stripe_api_base=stripe_fake.url,
        stripe_secret_key="sk_test_clubhouse",
        stripe_webhook_secret=billing_support.WEBHOOK_SECRET,
    )


@pytest.fixture(scope="session")
def app(runtime):
    from club_billing.app import create_app

    return create_app(runtime=runtime)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def db(runtime):
    return runtime.db


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
def consumer(runtime):
    from club_billing.handlers import HANDLERS

    return make_consumer(runtime, HANDLERS)


@pytest.fixture(scope="session")
def deliver(consumer):
    """Hand an event to billing's real consumer (as the broker would), as often as asked."""

    def send(event_type: str, data: dict, *, times: int = 1, event=None):
        event = event or make_event(event_type, data, producer=event_type.split(".")[0])
        delivery = Delivery(Message(event.type, event.to_json(), str(event.event_id)), previous_failures=0)
        outcomes = []
        for _ in range(times):
            outcomes += consumer.handle_batch([delivery])
        assert all(o.verdict.name == "ACK" for o in outcomes), outcomes
        return event

    return send


@pytest.fixture(scope="session")
def jobs(runtime):
    from club_billing.jobs import make_jobs

    return make_jobs(runtime)


@pytest.fixture
def run_jobs(jobs):
    """Run every due job (and the jobs they queue) until none is left."""

    def run() -> int:
        total = 0
        while (count := jobs.run_due()) > 0:
            total += count
        return total

    return run


@pytest.fixture
def email() -> str:
    return f"ann.{uuid.uuid4().hex[:10]}@example.com"
