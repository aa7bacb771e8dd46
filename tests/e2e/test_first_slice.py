"""The first slice through the whole plumbing: a member is created in membership, the event crosses
the bus, and notifications shows the welcome — in one process, on the in-memory bus and on RabbitMQ."""

import uuid

import pytest

from club_shared.auth import Identity, sign_access_token
from club_shared.config import SERVICES
from club_shared.testing.bus import wait_for_handled
from club_suite.suite import start_suite


def _suite(settings_for, migrated, amqp_url, namespace_suffix):
    for service in SERVICES:
        migrated(service)
    settings = {
        s: settings_for(s, amqp_url=amqp_url, bus_namespace=settings_for(s).bus_namespace + namespace_suffix)
        for s in SERVICES
    }
    return start_suite(settings)


@pytest.fixture(params=["memory", "rabbitmq"])
def suite(request, settings_for, migrated):
    amqp_url = "memory://" if request.param == "memory" else request.getfixturevalue("amqp_url")
    running = _suite(settings_for, migrated, amqp_url, f".slice-{request.param}")
    yield running
    running.shutdown()


def test_a_new_member_is_welcomed_through_the_bus(suite, keys):
    from werkzeug.test import Client

    client = Client(suite.app)
    local_part = f"dana.{uuid.uuid4().hex[:8]}"
    staff = sign_access_token(keys[0], "clubhouse", Identity("1", "desk@club.example.com", "admin"), 900)
    created = client.post(
        "/api/v1/members",
        json={"email": f"  {local_part.title()}@Example.COM ", "first_name": "Dana", "last_name": "Park"},
        headers={"Authorization": f"Bearer {staff}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    member = created.get_json()
    assert member["email"] == f"{local_part}@example.com"
    assert created.headers["X-Request-ID"]

    membership = suite.runtimes["membership"]
    with membership.db.transaction() as session:
        row = session.execute(
            membership.tables.outbox.select()
            .where(membership.tables.outbox.c.event_type == "membership.member.created")
            .order_by(membership.tables.outbox.c.id.desc())
        ).first()
    assert row.envelope["data"]["member_id"] == member["id"]
    assert row.envelope["correlation_id"] == created.headers["X-Request-ID"]

    wait_for_handled(suite.runtimes["notifications"], "notifications", row.event_id, timeout=15)
    # The list is the caller's own: who the caller is comes from the access token.
    assert client.get("/api/v1/notifications").status_code == 401
    token = sign_access_token(keys[0], "clubhouse", Identity(member["id"], member["email"], "member"), 900)
    listed = client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    [welcome] = listed.get_json()
    assert welcome["type"] == "new_member"
    assert "Dana" in welcome["message"]


def test_the_gateway_answers_health_and_docs(suite):
    from werkzeug.test import Client

    client = Client(suite.app)
    assert client.get("/healthz").status_code == 200
    spec = client.get("/openapi.json").get_json()
    assert "/api/v1/members" in spec["paths"]
    assert "/api/v1/notifications" in spec["paths"]
    assert client.get("/docs").status_code in (200, 301, 308)
