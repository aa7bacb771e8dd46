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
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from club_gateway import nginx, procfile, routes
from club_shared.auth import Identity, sign_access_token
from club_shared.config import Settings
from club_shared.db import drop_database
from club_shared.testing.plugin import FAST_RETRY_DELAYS_MS
from club_shared.testing.services import delete_bus_namespace

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REPLICAS = 3
ROUNDS = 30
BAY = 2
STAFF = ("sam.staff@club.example", "kim.staff@club.example")


class Stack:
    def __init__(
        self, gateway: str, replicas: list[str], worker: str, access_log: Path, keys, runtime, logs: Path
    ):
        self.gateway = gateway
        self.replicas = replicas
        self.worker = worker  # the booking worker's /metrics and /healthz
        self.access_log = access_log
        self.keys = keys
        self.runtime = runtime  # booking's runtime in the test process, to feed it membership events
        self.logs = logs

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


def _wait_until(check, what: str, timeout: float, processes=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{what}: a process exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group we started (sh and the gunicorn master and workers under it)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def stack(pg_url, amqp_url, run_id, keys, nginx_bin, free_port, tmp_path_factory):
    from club_booking.app import make_runtime

    work = tmp_path_factory.mktemp("stack")
    prefix, namespace = f"club_t{run_id}_stack_", f"club_t{run_id}_stack"
    env = {
        key: value
        for key, value in os.environ.items()
        # each gunicorn master makes its own metrics dir; the test's settings must not leak in
        if key not in ("PROMETHEUS_MULTIPROC_DIR", "BOOKING_DATABASE_URL", "WORKER_METRICS_PORT")
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        CLUB_ENV="test",
        DATABASE_URL=pg_url,
        CLUB_DATABASE_PREFIX=prefix,
        AMQP_URL=amqp_url,
        BUS_NAMESPACE=namespace,
        JWT_PUBLIC_KEY=keys[1],
        LOG_LEVEL="WARNING",
        # One process of four threads per replica: three replicas on a two-core machine.
        WEB_CONCURRENCY="1",
        GUNICORN_CMD_ARGS="--no-control-socket --threads 4",
    )
    settings = replace(
        Settings.from_env("booking"),
        env="test",
        database_url=pg_url,
        database_prefix=prefix,
        amqp_url="memory://",
        bus_namespace=namespace,
        jwt_public_key=keys[1],
    )
    processes: list[subprocess.Popen] = []
    runtime = None
    try:
        migrated = subprocess.run(
            ["club-booking", "migrate"], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]

        ports = [free_port() for _ in range(REPLICAS)]
        lines = procfile.parse(procfile.render(ports={"booking": ports}))
        for n in range(1, REPLICAS + 1):
            log = open(work / f"booking-{n}.log", "w")  # noqa: SIM115 - closed with the process
            processes.append(
                subprocess.Popen(
                    ["sh", "-c", lines[f"booking-{n}"]],
                    env=env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

        # booking's worker (relay, consumer, jobs) with its own /metrics, as compose and k8s run it
        worker_port = free_port()
        log = open(work / "booking-worker.log", "w")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                ["sh", "-c", lines["booking-worker"]],
                env={**env, "WORKER_METRICS_PORT": str(worker_port)},
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

        gateway_port = free_port()
        access_log = work / "access.json"
        options = nginx.Options(
            listen=f"127.0.0.1:{gateway_port}",
            upstreams={
                **nginx.local_upstreams(),
                "booking": ",".join(f"127.0.0.1:{port}" for port in ports),
            },
            # One nginx worker: its round robin then sends consecutive requests to different
            # replicas (several workers each keep their own rotation).
            worker_processes="1",
            access_log=str(access_log),
            # The test is about replicas, not about nginx's rate limits.
            rate_per_ip="10000r/s",
            burst_per_ip=10000,
            rate_per_token="10000r/s",
            burst_per_token=10000,
        )
        nginx.prepare(work / "nginx", options)
        log = open(work / "nginx.log", "w")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                [
                    nginx_bin,
                    "-p",
                    str(work / "nginx"),
                    "-c",
                    "nginx.conf",
                    "-e",
                    "stderr",
                    "-g",
                    "daemon off;",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        replicas = [f"127.0.0.1:{port}" for port in ports]
        gateway = f"http://127.0.0.1:{gateway_port}"
        for address in replicas:
            _wait_until(
                lambda a=address: requests.get(f"http://{a}/readyz", timeout=5).status_code == 200,
                f"booking replica {address} ready",
                60,
                processes,
            )
        _wait_until(
            lambda: requests.get(f"{gateway}/healthz", timeout=2).status_code == 200, "nginx", 20, processes
        )
        worker = f"http://127.0.0.1:{worker_port}"
        _wait_until(
            lambda: requests.get(f"{worker}/healthz", timeout=5).status_code == 200,
            "booking worker",
            60,
            processes,
        )
        runtime = make_runtime(settings)
        yield Stack(gateway, replicas, worker, access_log, keys, runtime, work)
    finally:
        for process in processes:
            _stop(process)
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

    _wait_until(drained, "the booking worker relays the approvals' events", 30)


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
