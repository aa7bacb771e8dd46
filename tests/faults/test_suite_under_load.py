"""Faults in a running slice of the suite, under load (issue 10, item 3).

Two booking gunicorn processes behind nginx, and the booking, billing and notifications workers,
from the generated Procfile and nginx config, on a PostgreSQL server and a RabbitMQ node of this
module's own (so restarting them disturbs nobody else's tests). Four client threads go round
create → approve → cancel through nginx, each on a bay of its own, while one fault strikes:

  a) a booking web process (gunicorn worker) SIGKILLed,
  b) the notifications worker SIGKILLed while it handles booking's events,
  c) the booking worker, whose relay thread publishes the outbox, SIGKILLed,
  d) every broker connection closed, then the broker app stopped and started,
  e) PostgreSQL restarted.

A killed worker process is started again by the test after a second, as the process supervisor
(compose's restart policy, the Kubernetes Deployment) would; nothing else is done for the suite.

After each: no response was a 500 — a failed attempt is a 503 problem+json, or the 502 of a
request in flight on a killed web process, and the client retried each to success (a create with
its Idempotency-Key unchanged, so a create whose answer was lost is replayed, not made twice); the requests
succeed again and the backlog is drained within 30 s of the fault's end; every event booking committed reached billing's and notifications' inboxes, once (their
primary key), and had its effect once: every booking's notifications and fee snapshots are the
same in number as every other's (each went through the same create → approve → cancel), and
billing's copy of each booking has booking's final status.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import create_engine, text

from club_shared.auth import Identity, sign_access_token
from club_shared.testing.services import services_required
from club_shared.testing.stack import (
    LocalStack,
    PrivatePostgres,
    PrivateRabbit,
    find_nginx,
    service_settings,
    stack_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

CLIENTS = 4  # one per bay: clients never compete for a slot
BEFORE_S = 2.0  # load before the fault
AFTER_S = 6.0  # load after it (or until the requests succeed again, if that takes longer)
# A member's pause between rounds: a steady load of ~10 requests/s, which the consumers (billing
# the slowest, ~15 events/s on a busy two-core machine) can catch up on after an outage.
ROUND_PAUSE_S = 0.5
RECOVERY_S = 30.0
CONSUMERS = ("billing", "notifications")


def _require(found, what: str):
    if not found:
        if services_required():
            pytest.fail(f"CLUB_REQUIRE_SERVICES=1 and {what} is missing")
        pytest.skip(f"{what} is missing")
    return found


# -- the running slice ----------------------------------------------------------------------------


class Slice:
    def __init__(self, stack: LocalStack, pg: PrivatePostgres, rabbit: PrivateRabbit, env, keys):
        from club_booking.app import make_runtime

        self.stack, self.pg, self.rabbit, self.keys = stack, pg, rabbit, keys
        self.engines = {
            s: create_engine(service_settings(s, env).service_database_url, pool_pre_ping=True)
            for s in ("booking", *CONSUMERS)
        }
        self.booking = make_runtime(service_settings("booking", env))

    def token(self, email: str, role: str = "member") -> dict[str, str]:
        identity = Identity(f"u-{email}", email, role)
        return {"Authorization": "Bearer " + sign_access_token(self.keys[0], "clubhouse", identity, 3600)}

    def query(self, service: str, sql: str) -> list:
        with self.engines[service].connect() as conn:
            return conn.execute(text(sql)).all()

    def close(self) -> None:
        self.booking.db.dispose()
        for engine in self.engines.values():
            engine.dispose()


@pytest.fixture(scope="module")
def suite_slice(run_id, keys, tmp_path_factory):
    nginx_bin = _require(find_nginx(), "nginx")
    _require(
        shutil.which("rabbitmq-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin"), "rabbitmq-server"
    )
    work = tmp_path_factory.mktemp("suite-faults")
    pg = rabbit = stack = running = None
    try:
        try:
            pg = PrivatePostgres()
            pg.start()
            rabbit = PrivateRabbit(f"fault-{run_id}")
            rabbit.start()
        except (OSError, subprocess.SubprocessError) as exc:
            # e.g. not root nor the servers' users, who alone may start Debian's servers
            _require(None, f"a private PostgreSQL and RabbitMQ node ({exc!r})")
        env = {
            **stack_env(pg.url, rabbit.url, "club_", "club", keys[1]),
            "RELAY_POLL_MS": "100",
            "BUS_RETRY_DELAYS_MS": "200,500,1000,2000",
        }
        stack = LocalStack(
            work / "stack",
            env,
            web={"booking": 2},
            workers=["booking", *CONSUMERS],
            nginx_bin=nginx_bin,
            nginx_options={
                "worker_processes": "1",
                # the load is one client address and a few tokens: not what the limits are for
                "rate_per_ip": "10000r/s",
                "burst_per_ip": 10000,
                "rate_per_token": "10000r/s",
                "burst_per_token": 10000,
            },
        )
        stack.start()
        running = Slice(stack, pg, rabbit, env, keys)
        from club_booking.testing import deliver

        for n in range(CLIENTS):
            email = _member(n)
            deliver(
                running.booking,
                "membership.member.created",
                {
                    "member_id": f"u-{email}",
                    "email": email,
                    "first_name": f"Load{n}",
                    "last_name": "Member",
                    "tier": "vip",
                    "status": "active",
                    "role": "member",
                    "waiver_version": 1,
                    "waiver_signed_at": "2026-01-01T00:00:00+00:00",
                },
            )
        yield running
    finally:
        if running is not None:
            running.close()
        if stack is not None:
            stack.stop()
        if rabbit is not None:
            rabbit.stop()
        if pg is not None:
            pg.stop()


def _member(n: int) -> str:
    return f"load{n}@example.com"


# -- the load -------------------------------------------------------------------------------------


@dataclass
class Attempt:
    op: str
    at: float  # time.monotonic()
    status: int | None  # None: no HTTP answer at all
    problem: bool  # application/problem+json
    body: str
    request_id: str  # nginx logs it with the upstream it chose


@dataclass
class Load:
    """CLIENTS threads going round create → approve → cancel until stopped; every attempt kept."""

    slice: Slice
    attempts: list[Attempt] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)  # booking ids of the finished rounds
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for n in range(CLIENTS):
            thread = threading.Thread(target=self._client, args=(n,), name=f"load-{n}", daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not self.failures, self.failures

    def _send(self, session, op: str, method: str, path: str, headers, body=None) -> requests.Response | None:
        request_id = uuid.uuid4().hex
        try:
            answer = session.request(
                method,
                f"{self.slice.stack.gateway}{path}",
                json=body,
                headers={**headers, "X-Request-ID": request_id},
                timeout=15,
            )
        except requests.RequestException as exc:
            self._record(Attempt(op, time.monotonic(), None, False, repr(exc), request_id))
            return None
        problem = answer.headers.get("Content-Type", "").startswith("application/problem+json")
        self._record(
            Attempt(op, time.monotonic(), answer.status_code, problem, answer.text[:300], request_id)
        )
        return answer

    def _record(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)

    def _until_done(self, op: str, call) -> dict:
        """`call()` until it gives an answer (a dict); it returns None for "retry". A failed
        attempt is retried after a pause, as a client told 503 and Retry-After would."""
        deadline = time.monotonic() + RECOVERY_S + 15
        while time.monotonic() < deadline:
            done = call()
            if done is not None:
                return done
            time.sleep(0.25)
        raise AssertionError(f"{op}: no success within {RECOVERY_S + 15} s")

    def _client(self, n: int) -> None:
        try:
            self._rounds(n)
        except BaseException as exc:  # reported by finish()
            self.failures.append(f"client {n}: {exc!r}")

    def _rounds(self, n: int) -> None:
        session = requests.Session()
        email = _member(n)
        member, staff = self.slice.token(email), self.slice.token("load.staff@club.example", "staff")
        bay = n + 1
        for day, start in _slots():
            if self.stop.is_set():
                return
            # One key per booking, resent on every retry: a create whose answer was lost is replayed.
            key = str(uuid.uuid4())
            booking = self._until_done(
                "create", lambda d=day, s=start, k=key: self._create(session, member, d, s, k)
            )
            booking_id = booking["id"]
            approved = self._until_done("approve", lambda b=booking_id: self._approve(session, staff, b, bay))
            assert approved["status"] == "approved", approved
            cancelled = self._until_done("cancel", lambda b=booking_id: self._cancel(session, member, b))
            assert cancelled["status"] == "cancelled", cancelled
            with self.lock:
                self.cycles.append(booking_id)
            self.stop.wait(ROUND_PAUSE_S)

    def _ok(self, answer: requests.Response | None) -> dict | None:
        if answer is None or answer.status_code >= 500:
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()

    def _create(self, session, member, day: str, start: str, key: str) -> dict | None:
        answer = self._send(
            session,
            "create",
            "POST",
            "/api/v1/booking-requests",
            {**member, "Idempotency-Key": key},
            {"resource_type": "simulator", "date": day, "start_time": start, "duration_minutes": 60},
        )
        if answer is None or answer.status_code >= 500:
            return None
        if answer.status_code == 409 and answer.json()["code"] == "IDEMPOTENCY_KEY_IN_USE":
            return None  # the first attempt is still running: its answer is replayed shortly
        assert answer.status_code == 201, answer.text
        return answer.json()

    def _approve(self, session, staff, booking_id: int, bay: int) -> dict | None:
        path = f"/api/v1/booking-requests/{booking_id}/approve"
        return self._ok(self._send(session, "approve", "POST", path, staff, {"resource_id": bay}))

    def _cancel(self, session, member, booking_id: int) -> dict | None:
        answer = self._send(
            session, "cancel", "POST", f"/api/v1/booking-requests/{booking_id}/cancel", member, {}
        )
        if answer is not None and answer.status_code == 409:
            # A retried cancel whose first attempt was committed: the booking says so.
            answer = self._send(session, "get", "GET", f"/api/v1/booking-requests/{booking_id}", member)
        return self._ok(answer)

    def succeeding_since(self, since: float) -> bool:
        """Every client has finished a request it began after `since`, and none failed since."""
        with self.lock:
            later = [a for a in self.attempts if a.at > since]
        return bool(later) and all(a.status is not None and a.status < 500 for a in later[-CLIENTS * 3 :])


def _slots():
    """One-hour slots, on open days (not Mondays) from the day after tomorrow, mid-day."""
    from club_shared.clubtime import zone

    today = datetime.now(zone("America/Los_Angeles")).date()
    for n in range(2, 14):
        day = today + timedelta(days=n)
        if day.weekday() != 0:
            for hour in range(9, 18):
                yield day.isoformat(), f"{hour:02d}:00"


# -- what must hold after a fault -----------------------------------------------------------------


def _handled_types(service: str) -> set[str]:
    import importlib

    return set(importlib.import_module(f"club_{service}.handlers").HANDLERS)


def _backlog(s: Slice) -> list[str]:
    """What is still on its way: booking's unrelayed outbox rows, and each consumer's events (of
    the types it takes) not yet in its inbox. Empty once drained."""
    rows = s.query("booking", "select event_id, event_type, sent_at from outbox")
    left = (
        [f"booking outbox: {sum(sent is None for *_, sent in rows)} unsent"]
        if any(sent is None for *_, sent in rows)
        else []
    )
    for consumer in CONSUMERS:
        wanted = {
            event_id: event_type for event_id, event_type, _ in rows if event_type in _handled_types(consumer)
        }
        handled = {
            r[0] for r in s.query(consumer, f"select event_id from inbox where consumer = '{consumer}'")
        }
        missing = Counter(t for event_id, t in wanted.items() if event_id not in handled)
        if missing:
            left.append(f"{consumer} has not handled {dict(missing)}")
    return left


def _check_exactly_once(s: Slice, load: Load) -> None:
    booking_rows = dict(s.query("booking", "select id, status from booking_requests"))
    for booking_id in load.cycles:
        assert booking_rows[booking_id] == "cancelled", booking_id
    # Inboxes: one row per (consumer, event) is their primary key; an event booking never wrote
    # would be a phantom.
    outbox = {r[0] for r in s.query("booking", "select event_id from outbox")}
    for consumer in CONSUMERS:
        inbox = [
            r[0] for r in s.query(consumer, "select event_id from inbox where event_type like 'booking.%'")
        ]
        assert len(inbox) == len(set(inbox))
        assert set(inbox) <= outbox

    # Effects: every finished round is the same create → approve → cancel, so every booking has as
    # many notifications, and as many fee snapshots, as any other: one applied twice stands out.
    notes = Counter(
        (r[0], r[1])
        for r in s.query(
            "notifications", "select related_id, type from notifications where related_type = 'booking'"
        )
    )
    for booking_id in load.cycles:
        assert notes[(booking_id, "booking_approved")] == 1, (booking_id, notes)
        assert notes[(booking_id, "booking_cancelled")] == 1, (booking_id, notes)
    snapshots = Counter(r[0] for r in s.query("billing", "select booking_id from booking_fee_snapshots"))
    per_booking = Counter(snapshots[b] for b in load.cycles)
    assert len(per_booking) == 1, per_booking
    billed = dict(s.query("billing", "select booking_id, status from billing_bookings"))
    assert {b: billed.get(b) for b in booking_rows} == booking_rows


def _check_answers(s: Slice, load: Load, killed: str | None) -> None:
    """No 500. A failed attempt is a 503 problem+json; or a 502 problem+json for a request nginx
    had passed to the web process `killed` just then, whose answer died with it (nginx passes a
    POST to another replica only if it could not connect, as the first may have applied it). The
    client retried each to success: Load fails otherwise."""
    upstreams = {}
    for line in s.stack.access_log.read_text().splitlines():
        entry = json.loads(line)
        upstreams[entry["request_id"]] = entry["upstream_addr"]
    wrong = []
    for a in load.attempts:
        if a.status is not None and a.status < 500:
            continue
        if a.status == 503 and a.problem:
            continue
        if a.status == 502 and a.problem and killed and upstreams.get(a.request_id, "").endswith(killed):
            continue
        wrong.append((a, upstreams.get(a.request_id)))
    assert not wrong, wrong[:5]


def run_fault(s: Slice, fault, name: str, killed: str | None = None) -> dict:
    """Load, `fault()`, more load until the requests succeed again; then wait for the backlog
    to drain, and check. The figures, for the report. `killed`: the web process the fault kills."""
    from club_shared.testing.stack import wait_until

    load = Load(s).start()
    time.sleep(BEFORE_S)
    struck = time.monotonic()
    fault()
    # The suite's own recovery is timed from when the fault is over (the broker or the database
    # back, the killed process replaced), not from when it began.
    over = time.monotonic()
    time.sleep(AFTER_S)
    wait_until(lambda: load.succeeding_since(over), f"{name}: requests succeed again", RECOVERY_S)
    load.finish()
    try:
        wait_until(lambda: not _backlog(s), "drained", RECOVERY_S - (time.monotonic() - over))
    except AssertionError:
        raise AssertionError(f"{name}: not drained within {RECOVERY_S} s: {_backlog(s)}") from None
    drained = time.monotonic() - over
    _check_answers(s, load, killed)
    _check_exactly_once(s, load)
    assert load.cycles, "no round finished"
    failed = [a for a in load.attempts if a.status is None or a.status >= 500]
    figures = {
        "fault": name,
        "attempts": len(load.attempts),
        "failed": dict(Counter(a.status for a in failed)),
        "fault lasted s": round(over - struck, 1),
        "last failure s": round(max((a.at - over for a in failed), default=0), 1),
        "rounds": len(load.cycles),
        "drained s": round(drained, 1),
    }
    print(figures)
    return figures


# -- the faults -----------------------------------------------------------------------------------


def test_a_booking_web_process_killed(suite_slice):
    s = suite_slice

    def kill_web():
        (pid, *_) = s.stack.gunicorn_workers("booking-1")
        os.kill(pid, signal.SIGKILL)  # its gunicorn master starts another

    run_fault(s, kill_web, "booking web process SIGKILLed", killed=s.stack.web["booking"][0])
    # ... and booking-1 serves again: its master replaced the worker, nobody had to restart it
    replica = s.stack.web["booking"][0]
    assert requests.get(f"http://{replica}/readyz", timeout=5).status_code == 200


def _kill_and_restart(s: Slice, service: str) -> None:
    os.kill(s.stack.worker_pid(service), signal.SIGKILL)
    s.stack.processes[f"{service}-worker"].wait(timeout=10)
    time.sleep(1)  # the supervisor's restart delay
    s.stack.spawn(f"{service}-worker")


def test_a_worker_killed_mid_handler(suite_slice):
    run_fault(
        suite_slice, lambda: _kill_and_restart(suite_slice, "notifications"), "notifications worker SIGKILLed"
    )


def test_the_relay_killed_mid_batch(suite_slice):
    run_fault(
        suite_slice, lambda: _kill_and_restart(suite_slice, "booking"), "booking worker (relay) SIGKILLed"
    )


def test_broker_connections_dropped_and_the_broker_restarted(suite_slice):
    s = suite_slice

    def broker_trouble():
        s.rabbit.ctl("close_all_connections", "fault test: connections dropped")
        time.sleep(1)
        s.rabbit.ctl("stop_app")
        time.sleep(1)
        s.rabbit.ctl("start_app")
        s.rabbit.await_startup()

    run_fault(s, broker_trouble, "broker connections dropped, app restarted")


def test_postgres_restarted(suite_slice):
    run_fault(suite_slice, suite_slice.pg.restart, "PostgreSQL restarted")
