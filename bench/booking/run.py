"""Benchmark of booking through the gateway: nginx (generated config) → two booking web processes
(gunicorn) → PostgreSQL holding a year of bookings on every resource.

(a) `GET /api/v1/availability?date=…` for one day (target p99 ≤ 30 ms), next to a trivial endpoint of
the same service (`GET /api/v1/resources`) as the baseline;
(b) create-then-approve at a steady rate (default 100 requests/s for 60 s): `POST /booking-requests`
(target p50 ≤ 20 ms, p99 ≤ 100 ms) followed by its `/approve`, with no errors.

    .venv/bin/python bench/booking/run.py [--days 365] [--availability 2000] [--rate 100] [--seconds 60]

Needs PostgreSQL (DATABASE_URL, else localhost) and nginx on PATH. Works in its own database, dropped
afterwards; appends its result to bench/RESULTS.md (unless --no-record).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from club_shared.auth import Identity, generate_key_pair, sign_access_token
from club_shared.config import Settings
from club_shared.db import drop_database, migrate
from club_shared.testing.services import find_postgres

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import benchkit  # noqa: E402
from benchkit import percentile  # noqa: E402

TARGET_AVAILABILITY_P99 = 30.0
TARGET_CREATE_P50 = 20.0
TARGET_CREATE_P99 = 100.0
SLOTS_PER_DAY = 28  # 30-minute bookings, 08:00–22:00
TZ = "America/Los_Angeles"


def summary(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50_ms": round(statistics.median(values_ms), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise TimeoutError(url)


# --- the year of bookings ------------------------------------------------------------------------


def seed(url: str, first_day: date, days: int) -> int:
    """Approved 30-minute bookings (request + session + owner) on every resource, every slot of every
    day from `first_day` for `days` days, written in bulk; the number of requests."""
    engine = create_engine(url)
    params = {"first": first_day, "days": days, "slots": SLOTS_PER_DAY, "tz": TZ}
    slots = """
        SELECT r.id AS resource_id, r.type AS resource_type, d::date AS day, s AS slot,
               (d::date + time '08:00' + s * interval '30 minutes') AS local_start
        FROM resources r, generate_series(CAST(:first AS date), CAST(:first AS date) + (:days - 1), interval '1 day') d,
             generate_series(0, :slots - 1) s
    """
    with engine.begin() as conn:
        conn.execute(
            text(
                f"""
                INSERT INTO booking_sessions (resource_id, session_date, start_time, end_time, starts_at, ends_at,
                                              duration_minutes, source, notes)
                SELECT resource_id, day, local_start::time, (local_start + interval '30 minutes')::time,
                       local_start AT TIME ZONE :tz, (local_start + interval '30 minutes') AT TIME ZONE :tz,
                       30, 'member_request', 'bench'
                FROM ({slots}) x
                """
            ),
            params,
        )
        conn.execute(
            text(
                """
                INSERT INTO booking_requests (user_email, user_name, resource_id, resource_type, request_date,
                    start_time, end_time, duration_minutes, starts_at, ends_at, status, declared_player_count,
                    session_id, source, created_by, reviewed_by)
                SELECT 'member' || (s.id % 500) || '@bench.example', 'Bench Member', s.resource_id, r.type,
                       s.session_date, s.start_time, s.end_time, 30, s.starts_at, s.ends_at, 'approved', 1,
                       s.id, 'member_request', 'bench', 'bench'
                FROM booking_sessions s JOIN resources r ON r.id = s.resource_id
                WHERE s.notes = 'bench'
                """
            )
        )
        conn.execute(
            text(
                """
                INSERT INTO booking_participants (session_id, email, participant_type, display_name, slot_number)
                SELECT id, 'member' || (id % 500) || '@bench.example', 'owner', 'Bench Member', 1
                FROM booking_sessions WHERE notes = 'bench'
                """
            )
        )
        count = conn.execute(text("SELECT count(*) FROM booking_requests")).scalar_one()
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return count


# --- the stack -----------------------------------------------------------------------------------


class Stack:
    """nginx in front of two booking web processes."""

    def __init__(self, env: dict):
        from club_gateway.nginx import Options, prepare

        self.workdir = Path(tempfile.mkdtemp(prefix="bench-booking-"))
        self.ports = [free_port(), free_port()]
        gateway_port = free_port()
        upstreams = {
            name: f"127.0.0.1:{free_port()}"
            for name in ("membership", "billing", "integrations", "notifications")
        }
        upstreams["booking"] = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        options = replace(
            Options(),
            listen=f"127.0.0.1:{gateway_port}",
            upstreams=upstreams,
            runtime_dir=str(self.workdir),
            access_log="/dev/null",
            rate_per_ip="100000r/s",
            burst_per_ip=100000,
            rate_per_token="100000r/s",
            burst_per_token=100000,
        )
        conf = prepare(self.workdir / "nginx", options)
        self.base = f"http://127.0.0.1:{gateway_port}"
        self.procs = []
        for n, port in enumerate(self.ports):
            prom = self.workdir / f"prom{n}"
            prom.mkdir()
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "-c",
                        "python:club_shared.gunicorn_conf",
                        "--workers",
                        "1",
                        "--threads",
                        "4",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "club_booking.app:create_app()",
                    ],
                    env={
                        **env,
                        "PROMETHEUS_MULTIPROC_DIR": str(prom),
                        "GUNICORN_CMD_ARGS": "--no-control-socket",
                    },
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        self.procs.append(
            subprocess.Popen(
                ["nginx", "-p", str(conf.parent), "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        for port in self.ports:
            wait_for(f"http://127.0.0.1:{port}/healthz")
        wait_for(f"{self.base}/api/v1/resources")

    def close(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- (a) availability ----------------------------------------------------------------------------


def bench_reads(base: str, token: str, first_day: date, days: int, count: int) -> tuple[dict, dict]:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rng = random.Random(7)

    def timed(url: str) -> float:
        started = time.perf_counter()
        response = session.get(url, timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        return elapsed

    for _ in range(50):  # warm up both processes
        timed(f"{base}/api/v1/availability?date={first_day + timedelta(days=rng.randrange(days))}")
        timed(f"{base}/api/v1/resources")
    availability, baseline = [], []
    for _ in range(count):
        day = first_day + timedelta(days=rng.randrange(days))
        availability.append(timed(f"{base}/api/v1/availability?date={day}"))
        baseline.append(timed(f"{base}/api/v1/resources"))
    return summary(availability), summary(baseline)


# --- (b) create then approve ---------------------------------------------------------------------


def bench_writes(
    base: str, staff_tokens: list[str], approver: str, first_day: date, rate: float, seconds: float
):
    """Paced creations (one every 1/rate s), each followed by its approval; every creation takes its
    own slot (a staff owner per resource, so nobody is in two places at once)."""
    import requests

    total = int(rate * seconds)
    local = threading.local()
    created_ms: list[float] = []
    approved_ms: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def session():
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    def one(i: int) -> None:
        resource = i % 5 + 1
        slot = (i // 5) % SLOTS_PER_DAY
        day = first_day + timedelta(days=i // (5 * SLOTS_PER_DAY))
        start = (datetime(2000, 1, 1, 8) + timedelta(minutes=30 * slot)).strftime("%H:%M")
        body = {"resource_id": resource, "date": day.isoformat(), "start_time": start, "duration_minutes": 30}
        s = session()
        started = time.perf_counter()
        made = s.post(
            f"{base}/api/v1/booking-requests",
            json=body,
            headers={"Authorization": f"Bearer {staff_tokens[resource - 1]}"},
            timeout=10,
        )
        took = (time.perf_counter() - started) * 1000
        if made.status_code != 201:
            with lock:
                errors[f"create {made.status_code}"] = errors.get(f"create {made.status_code}", 0) + 1
            return
        started = time.perf_counter()
        done = s.post(
            f"{base}/api/v1/booking-requests/{made.json()['id']}/approve",
            json={},
            headers={"Authorization": f"Bearer {approver}"},
            timeout=10,
        )
        took_approve = (time.perf_counter() - started) * 1000
        with lock:
            created_ms.append(took)
            if done.status_code == 200:
                approved_ms.append(took_approve)
            else:
                errors[f"approve {done.status_code}"] = errors.get(f"approve {done.status_code}", 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    elapsed = time.perf_counter() - started
    return {
        "requested": total,
        "rate_per_s": round(total / elapsed, 1),
        "create": summary(created_ms),
        "approve": summary(approved_ms),
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of bookings on every resource")
    parser.add_argument("--availability", type=int, default=2000, help="availability requests")
    parser.add_argument("--rate", type=float, default=100.0, help="creations per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to create for")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    if not shutil.which("nginx"):
        print("nginx not found: this benchmark runs through the gateway")
        return 2

    private_pem, public_pem = generate_key_pair()
    prefix = f"club_bench{secrets.token_hex(3)}_"
    pg = find_postgres()
    settings = replace(Settings.from_env("booking"), database_url=pg, database_prefix=prefix)
    env = {
        **os.environ,
        "DATABASE_URL": pg,
        "CLUB_DATABASE_PREFIX": prefix,
        "CLUB_ENV": "production",
        "JWT_PUBLIC_KEY": public_pem,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("AMQP_URL", None)
    migrate("club_booking", settings.service_database_url)
    stack = None
    try:
        today = datetime.now(UTC).date()
        first_day = today - timedelta(days=args.days // 2)
        seeded = seed(settings.service_database_url, first_day, args.days)
        print(f"seeded {seeded} bookings over {args.days} days on every resource")
        stack = Stack(env)

        def token(email: str, role: str) -> str:
            return sign_access_token(private_pem, "clubhouse", Identity(email, email, role), 3600)

        reads, baseline = bench_reads(
            stack.base, token("reader@bench.example", "member"), first_day, args.days, args.availability
        )
        print(f"(a) availability: {reads}\n    baseline GET /api/v1/resources: {baseline}")
        writes = bench_writes(
            stack.base,
            [token(f"desk{n}@bench.example", "staff") for n in range(1, 6)],
            token("approver@bench.example", "staff"),
            first_day + timedelta(days=args.days + 1),
            args.rate,
            args.seconds,
        )
        print(f"(b) create then approve: {writes}")
    finally:
        if stack is not None:
            stack.close()
        drop_database(settings.service_database_url)
    ok = (
        reads.get("p99_ms", 1e9) <= TARGET_AVAILABILITY_P99
        and writes["create"].get("p50_ms", 1e9) <= TARGET_CREATE_P50
        and writes["create"].get("p99_ms", 1e9) <= TARGET_CREATE_P99
        and not writes["errors"]
    )
    if not args.no_record:
        record(seeded, reads, baseline, writes, args, ok)
    return 0 if ok else 1


def record(seeded: int, reads: dict, baseline: dict, writes: dict, args, ok: bool) -> None:
    heading = "## booking: availability over a year of bookings, create-then-approve through the gateway"
    intro = (
        "`bench/booking/run.py`: nginx (generated config) → two booking web processes (gunicorn, 1 worker ×\n"
        "4 threads each) → PostgreSQL with a year of approved bookings on every resource. (a) availability of\n"
        "one random day (target p99 ≤ 30 ms) and, as the baseline, `GET /api/v1/resources`; (b) paced\n"
        "`POST /booking-requests` then `/approve` (target create p50 ≤ 20 ms, p99 ≤ 100 ms, no errors); the rate column\n"
        "is what the two web processes kept up with when asked for 100 creations/s.\n\n"
        "| when (UTC) | machine | bookings | (a) availability p50 / p99 ms | baseline p50 / p99 ms "
        "| (b) rate/s × s | create p50 / p99 ms | approve p50 / p99 ms | errors | targets met |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    create, approve = writes["create"], writes["approve"]
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {benchkit.table_machine()} | {seeded} "
        f"| {reads.get('p50_ms')} / {reads.get('p99_ms')} | {baseline.get('p50_ms')} / {baseline.get('p99_ms')} "
        f"| {writes['rate_per_s']} × {args.seconds:g} | {create.get('p50_ms')} / {create.get('p99_ms')} "
        f"| {approve.get('p50_ms')} / {approve.get('p99_ms')} | {writes['errors'] or 'none'} "
        f"| {'yes' if ok else 'no'} |\n"
    )
    benchkit.add_row(heading, intro, row)


if __name__ == "__main__":
    sys.exit(main())
