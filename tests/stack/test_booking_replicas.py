"""`BOOKING_REPLICAS=3 make stack`, booking's part, for real: migrations, three booking gunicorn
processes and the booking worker from the generated Procfile lines, and nginx from the generated
config with a three-server upstream, in this run's own database and bus namespace, on ephemeral
ports.

Through the gateway: requests spread over the three replicas, and two staff approving clashing
booking requests at the same moment land on different replicas, where exactly one wins and the
other gets a 409, round after round. Which replica answered is read from nginx's JSON access log
(`upstream_addr` by `request_id`), not from anything the services say. The replicas' /metrics add
up to the outcomes, and the worker's /metrics shows the approvals' events relayed.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from datetime import datetime, timedelta

import pytest
import requests

from club_gateway import procfile, routes
from club_shared.auth import Identity, sign_access_token
from club_shared.config import Settings
from club_shared.db import drop_database
from club_shared.testing.plugin import FAST_RETRY_DELAYS_MS
from club_shared.testing.services import delete_bus_namespace
from club_shared.testing.stack import LocalStack, service_settings, stack_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

REPLICAS = 3
ROUNDS = 30
BAY = 2
STAFF = ("sam.staff@club.example", "kim.staff@club.example")


class Stack:
    def __init__(self, local: LocalStack, keys, runtime):
        self.gateway = local.gateway
        self.replicas = local.web["booking"]
        self.worker = local.workers["booking"]  # the booking worker's /metrics and /healthz
        self.access_log = local.access_log
        self.keys = keys
        self.runtime = runtime  # booking's runtime in the test process, to feed it membership events

    def token(self, email: str, role: str = "member") -> dict[str, str]:
        identity = Identity(f"u-{email}", email, role)
        return {"Authorization": "Bearer " + sign_access_token(self.keys[0], "clubhouse", identity, 900)}

    def upstreams(self) -> dict[str, str]:
        """request id → the replica (host:port) nginx sent it to, from the access log."""
        found = {}
        for line in self.access_log.read_text().splitlines():
            entry = json.loads(line)
            found[entry["request_id"]] = entry["upstream_addr"]
        return found


@pytest.fixture(scope="module")
def stack(pg_url, amqp_url, run_id, keys, nginx_bin, tmp_path_factory):
    from club_booking.app import make_runtime

    namespace = f"club_t{run_id}_stack"
    env = stack_env(pg_url, amqp_url, f"club_t{run_id}_stack_", namespace, keys[1])
    settings = service_settings("booking", env)
    local = LocalStack(
        tmp_path_factory.mktemp("stack"),
        env,
        web={"booking": REPLICAS},
        workers=["booking"],
        nginx_bin=nginx_bin,
        nginx_options={
            # One nginx worker: its round robin then sends consecutive requests to different
            # replicas (several workers each keep their own rotation).
            "worker_processes": "1",
            # The test is about replicas, not about nginx's rate limits.
            "rate_per_ip": "10000r/s",
            "burst_per_ip": 10000,
            "rate_per_token": "10000r/s",
            "burst_per_token": 10000,
        },
    )
    runtime = None
    try:
        local.start()
        runtime = make_runtime(settings)
        yield Stack(local, keys, runtime)
    finally:
        local.stop()
        if runtime is not None:
            runtime.db.dispose()
        with contextlib.suppress(Exception):
            drop_database(settings.service_database_url)
        delete_bus_namespace(amqp_url, namespace, "booking", FAST_RETRY_DELAYS_MS)
        delete_bus_namespace(amqp_url, namespace, "booking", settings.bus_retry_delays_ms)


def make_members(stack: Stack, emails: list[str]) -> None:
    """Booking learns of members from membership's events: hand them to its consumer."""
    from club_booking.testing import deliver

    for email in emails:
        deliver(
            stack.runtime,
            "membership.member.created",
            {
                "member_id": f"u-{email}",
                "email": email,
                "first_name": email.split("@")[0].title(),
                "last_name": "Member",
                "tier": "vip",
                "status": "active",
                "role": "member",
                "waiver_version": 1,
                "waiver_signed_at": "2026-01-01T00:00:00+00:00",
            },
        )


def slots(count: int) -> list[tuple[str, str]]:
    """`count` distinct (date, start time) one-hour slots in the coming days the club is open
    (not Mondays), within the VIP booking window, in the middle of the day."""
    from club_shared.clubtime import zone

    today = datetime.now(zone(Settings.from_env("booking").club_timezone)).date()
    days = [today + timedelta(days=n) for n in range(2, 13)]
    open_days = [d for d in days if d.weekday() != 0]
    found = [(d.isoformat(), f"{hour:02d}:00") for d in open_days for hour in range(9, 17)]
    assert len(found) >= count
    return found[:count]


def test_requests_spread_over_the_replicas(stack):
    session = requests.Session()
    headers = stack.token("spread.staff@club.example", "staff")
    ids = []
    for _ in range(3 * REPLICAS):
        request_id = uuid.uuid4().hex
        ids.append(request_id)
        answer = session.get(
            f"{stack.gateway}/api/v1/resources", headers={**headers, "X-Request-ID": request_id}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-ID"] == request_id
    served_by = stack.upstreams()
    counts = {replica: sum(served_by[i] == replica for i in ids) for replica in stack.replicas}
    assert counts == {replica: 3 for replica in stack.replicas}, counts


def test_clashing_approvals_on_different_replicas_have_exactly_one_winner(stack):
    emails = [f"racer{r}.{side}.{uuid.uuid4().hex[:6]}@example.com" for r in range(ROUNDS) for side in "ab"]
    make_members(stack, emails)
    staff = [stack.token(email, "staff") for email in STAFF]
    sessions = [requests.Session() for _ in STAFF]
    members = requests.Session()
    races: list[tuple[str, str]] = []
    chosen = slots(ROUNDS)
    for round_, (day, start) in enumerate(chosen):
        ids = []
        for email in emails[2 * round_ : 2 * round_ + 2]:
            made = members.post(
                f"{stack.gateway}/api/v1/booking-requests",
                json={"resource_type": "simulator", "date": day, "start_time": start, "duration_minutes": 60},
                headers=stack.token(email),
                timeout=10,
            )
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])

        barrier = threading.Barrier(2)
        request_ids = [uuid.uuid4().hex for _ in ids]
        answers: list[requests.Response | None] = [None, None]

        def approve(i: int, ids=ids, barrier=barrier, request_ids=request_ids, answers=answers) -> None:
            barrier.wait()
            answers[i] = sessions[i].post(
                f"{stack.gateway}/api/v1/booking-requests/{ids[i]}/approve",
                json={"resource_id": BAY},
                headers={**staff[i], "X-Request-ID": request_ids[i]},
                timeout=30,
            )

        threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 409], (round_, [a.text for a in answers])
        (loser,) = [a for a in answers if a.status_code == 409]
        assert loser.json()["code"] == "SLOT_TAKEN"
        races.append(tuple(request_ids))

    served_by = stack.upstreams()
    pairs = [(served_by[a], served_by[b]) for a, b in races]
    assert all(a != b for a, b in pairs), pairs
    assert {replica for pair in pairs for replica in pair} == set(stack.replicas)

    # What the database holds: one approved booking per slot, on the bay the staff chose.
    viewer = stack.token(STAFF[0], "staff")
    for day in sorted({day for day, _start in chosen}):
        busy = members.get(
            f"{stack.gateway}/api/v1/availability",
            params={"date": day, "resource_id": BAY},
            headers=viewer,
            timeout=10,
        ).json()["resources"][0]["busy"]
        starts = [b["start"][11:16] for b in busy]
        expected = [start for d, start in chosen if d == day]
        assert sorted(starts) == sorted(expected), (day, busy)

    # What the replicas' own /metrics say: one 200 and one 409 per round, added up over the three.
    approvals: dict[str, float] = {}
    for replica in stack.replicas:
        for (name, labels), count in metrics(f"http://{replica}/metrics").items():
            labels = dict(labels)
            if name == "club_http_request_duration_seconds_count" and labels["route"].endswith("/approve"):
                assert labels["service"] == "booking"
                approvals[labels["status"]] = approvals.get(labels["status"], 0) + count
    assert approvals == {"200": ROUNDS, "409": ROUNDS}, approvals

    # And the worker's: the approvals' events left the outbox and were relayed.
    def drained() -> bool:
        figures = metrics(f"{stack.worker}/metrics")
        backlog = figures.get(("club_outbox_backlog", (("service", "booking"),)))
        relayed = figures.get(("club_bus_events_relayed_total", (("service", "booking"),)), 0)
        return backlog == 0 and relayed >= ROUNDS

    wait_until(drained, "the booking worker relays the approvals' events", 30)


def metrics(url: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_the_stack_procfile_names_these_processes():
    """What `BOOKING_REPLICAS=3 make stack` runs: the same generated lines this test started."""
    lines = procfile.parse(procfile.render({"booking": REPLICAS}))
    assert [name for name in lines if name.startswith("booking")] == [
        *(f"booking-{n}" for n in range(1, REPLICAS + 1)),
        "booking-worker",
    ]
    assert routes.BY_NAME["booking"].local_ports(REPLICAS) == (8200, 8201, 8202)
