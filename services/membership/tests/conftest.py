"""Fixtures for the membership service's tests: the app on the real PostgreSQL, a settable clock,
members made through the service's own actions, and access tokens for each role."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from club_membership.actions import members as member_actions
from club_membership.app import create_app
from club_membership.context import CLOCK_KEY
from club_membership.domain.actors import SYSTEM
from club_membership.models import StaffUser, User
from club_shared.auth import Identity, sign_access_token
from club_shared.clubtime import utcnow

_ips = itertools.count(1)


class Clock:
    """The app's clock: real time until a test sets it."""

    def __init__(self):
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or utcnow()

    def set(self, *args: int) -> datetime:
        self.at = datetime(*args, tzinfo=UTC)
        return self.at

    def advance(self, **delta) -> datetime:
        from datetime import timedelta

        self.at = self() + timedelta(**delta)
        return self.at


@pytest.fixture(scope="session")
def runtime(service_runtime):
    return service_runtime("membership")


_CLOCK = Clock()


@pytest.fixture
def clock() -> Clock:
    """The clock of every app the tests build; back to real time after each test."""
    _CLOCK.at = None
    yield _CLOCK
    _CLOCK.at = None


def _app(runtime, clock):
    app = create_app(runtime=runtime)
    app.config[CLOCK_KEY] = clock
    app.testing = True
    return app


@pytest.fixture(scope="session")
def _shared_app(runtime):
    return _app(runtime, _CLOCK)


@pytest.fixture
def app(_shared_app, clock):
    return _shared_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_app(clock) -> Callable:
    """Another app instance: a replica with its own runtime (its own connection pool)."""

    def make(runtime):
        return _app(runtime, clock)

    return make


def unique_email(prefix: str = "m") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def new_ip() -> str:
    n = next(_ips) + (uuid.uuid4().int % 200) * 256 * 256
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@pytest.fixture
def email() -> str:
    return unique_email()


@dataclass
class Person:
    id: str
    email: str
    role: str
    headers: dict[str, str]
    user: User | None = None


@pytest.fixture
def token_for(keys) -> Callable[..., dict[str, str]]:
    def make(subject: str, email: str, role: str = "member", **claims) -> dict[str, str]:
        token = sign_access_token(
            keys[0], "clubhouse", Identity(subject, email, role), 900, extra_claims=claims
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def make_member(runtime, token_for) -> Callable[..., Person]:
    """A member made by the service's own rules (as the system), with a token of their own."""

    def make(
        *, status: str = "active", tier: str | None = "core", email: str | None = None, **fields: Any
    ) -> Person:
        address = email or unique_email()
        create_args = {
            k: fields.pop(k) for k in ("phone", "billing_provider", "role", "trial_ends_at") if k in fields
        }
        with runtime.db.transaction() as session:
            user = member_actions.create(
                session,
                runtime,
                SYSTEM,
                email=address,
                first_name=fields.pop("first_name", "Ann"),
                last_name=fields.pop("last_name", "Lee"),
                tier=tier,
                status=status,
                **create_args,
            )
            for key, value in fields.items():  # columns set by later events (Stripe ids, …)
                setattr(user, key, value)
        return Person(user.id, user.email, "member", token_for(user.id, user.email), user)

    return make


@pytest.fixture
def make_staff(runtime, token_for) -> Callable[..., Person]:
    """An active staff user (staff, admin or golf_instructor) and a token for them."""

    def make(role: str = "staff", *, email: str | None = None, name: str = "Sam Staff") -> Person:
        address = email or unique_email(role)
        with runtime.db.transaction() as session:
            staff = StaffUser(email=address, name=name, role=role, is_active=True)
            session.add(staff)
            session.flush()
            staff_id = staff.id
        return Person(f"staff-{staff_id}", address, role, token_for(f"staff-{staff_id}", address, role))

    return make


@pytest.fixture
def staff(make_staff) -> Person:
    return make_staff("staff")


@pytest.fixture
def admin(make_staff) -> Person:
    return make_staff("admin")


@pytest.fixture
def outbox(runtime) -> Callable[..., list[dict[str, Any]]]:
    """The events the service has recorded, of one type, about an e-mail or member (oldest first)."""

    def events(event_type: str, **match: Any) -> list[dict[str, Any]]:
        table = runtime.tables.outbox
        with runtime.db.transaction() as session:
            rows = session.execute(
                select(table.c.envelope).where(table.c.event_type == event_type).order_by(table.c.id)
            ).scalars()
            found = [row["data"] for row in rows]
        return [data for data in found if all(data.get(k) == v for k, v in match.items())]

    return events


@pytest.fixture
def db(runtime):
    """A transaction on the service's database, for reading what a request changed."""
    return runtime.db.transaction


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert body["status"] == status
    if code:
        assert body["code"] == code, body
    return body


@pytest.fixture
def problem():
    return assert_problem


@pytest.fixture
def user_row(runtime) -> Callable[[str], User]:
    def get(member_id: str) -> User:
        with runtime.db.transaction() as session:
            return session.scalar(select(User).where(User.id == member_id))

    return get


@pytest.fixture
def ip() -> Callable[[], str]:
    """Fresh client addresses, so sign-in limits of one test never touch another's."""
    return new_ip


@pytest.fixture
def emails() -> Callable[..., str]:
    return unique_email


@pytest.fixture
def deliver(runtime) -> Callable:
    """Hand events to membership's real consumer (inbox, savepoints, handlers), as the bus would."""
    from club_membership.handlers import HANDLERS
    from club_shared.bus import Delivery, Message, Verdict
    from club_shared.worker import make_consumer

    consumer = make_consumer(runtime, HANDLERS)

    def run(*events) -> None:
        deliveries = [Delivery(Message(e.type, e.to_json(), str(e.event_id)), 0) for e in events]
        outcomes = consumer.handle_batch(deliveries)
        assert [o.verdict for o in outcomes] == [Verdict.ACK] * len(events), outcomes

    return run
