"""Load: the club's mix through the gateway at a constant rate, against a whole stack of its own.

Every service (gunicorn web processes and worker, as `make stack` runs them) behind nginx from the
generated config with its production limits, on ephemeral ports, in databases and a bus namespace
of this run's own (dropped and deleted afterwards); membership signs tokens with a key pair made
here and notifications sends its e-mail to the e-mail fake. Members (VIP, waiver signed) and
staff users are created through membership's API; then locust, as a process of its own
(bench/load/locustfile.py), signs them in by code and runs the mix: availability, booking
requests followed to their approval by staff, cancellations, fees, notifications, and
`GET /api/v1/resources` as the ceiling. Each member paces itself (locust's constant throughput)
at its share of the rate; there are enough of them that a member waiting on a slow answer does
not hold the total rate down until answers take over (members / rate) seconds.

    .venv/bin/python bench/load/run.py [--seconds 60] [--warmup 15] [--rate 100] [--members 60]
                                       [--staff 3] [--no-record]

Targets: no errors; availability p99 ≤ 30 ms; create booking p50 ≤ 20 ms and p99 ≤ 100 ms. Each
request type's p50/p95/p99 is also given as a ratio to the ceiling's. Appends to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from benchkit import REPO, load_average, machine, now, record, summary  # noqa: E402

from club_gateway.routes import SERVICE_NAMES  # noqa: E402
from club_shared.auth import Identity, generate_key_pair, sign_access_token  # noqa: E402
from club_shared.config import Settings, with_database  # noqa: E402
from club_shared.db import drop_database  # noqa: E402
from club_shared.testing.services import delete_bus_namespace, find_postgres, find_rabbitmq  # noqa: E402
from club_shared.testing.stack import LocalStack, descendants, find_nginx, stack_env  # noqa: E402

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
CEILING = "GET /api/v1/resources (ceiling)"
AVAILABILITY = "GET /api/v1/availability"
CREATE = "POST /api/v1/booking-requests"
TARGET_AVAILABILITY_P99 = 30.0
TARGET_CREATE_P50 = 20.0
TARGET_CREATE_P99 = 100.0


def seed(stack: LocalStack, private_pem: str, count: int, desks: int) -> tuple[list[str], list[str]]:
    """VIP members with the current waiver signed, and `desks` staff users, made through membership
    itself (straight to its web process: seeding is not what is measured); returns their e-mails
    once booking and billing have heard of every member over the bus."""
    base = f"http://{stack.web['membership'][0]}"
    tag = secrets.token_hex(3)

    def headers(subject: str, email: str, role: str) -> dict[str, str]:
        token = sign_access_token(private_pem, "clubhouse", Identity(subject, email, role), 900)
        return {"Authorization": f"Bearer {token}"}

    admin = headers("load-admin", "load.admin@club.example", "admin")
    session = requests.Session()
    version = session.get(f"{base}/api/v1/content/waiver", timeout=10)
    if version.status_code != 200:
        version = session.post(
            f"{base}/api/v1/content/waiver",
            json={"title": "Liability waiver", "body": "I play at my own risk."},
            headers=admin,
            timeout=10,
        )
        version.raise_for_status()
    waiver = version.json()["version"]
    members = []
    for n in range(count):
        email = f"member{n}.{tag}@load.example"
        made = session.post(
            f"{base}/api/v1/members",
            json={
                "email": email,
                "first_name": f"Member{n}",
                "last_name": "Load",
                "tier": "vip",
                "status": "active",
                "billing_provider": "comped",
            },
            headers=admin,
            timeout=10,
        )
        if made.status_code != 201:
            raise RuntimeError(f"creating {email}: {made.status_code} {made.text[:300]}")
        signed = session.post(
            f"{base}/api/v1/me/waiver",
            json={"version": waiver},
            headers=headers(made.json()["id"], email, "member"),
            timeout=10,
        )
        if signed.status_code != 200:
            raise RuntimeError(f"{email} signing the waiver: {signed.status_code} {signed.text[:300]}")
        members.append(email)
    staff = [f"desk{n}.{tag}@load.example" for n in range(desks)]
    for email in staff:
        made = session.post(
            f"{base}/api/v1/staff",
            json={"email": email, "name": "Desk Load", "role": "staff"},
            headers=admin,
            timeout=10,
        )
        if made.status_code != 201:
            raise RuntimeError(f"creating staff {email}: {made.status_code} {made.text[:300]}")

    checks = {
        "booking": "SELECT count(*) FROM member_profiles WHERE email = ANY(%s) AND waiver_signed_at IS NOT NULL",
        "billing": "SELECT count(*) FROM billing_members WHERE email = ANY(%s)",
    }
    deadline = time.monotonic() + 60
    for service, query in checks.items():
        with psycopg.connect(database_url(stack, service)) as conn:
            while conn.execute(query, (members,)).fetchone()[0] < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service} has not heard of every member within 60 s")
                time.sleep(0.5)
    return members, staff


def database_url(stack: LocalStack, service: str) -> str:
    """libpq's form of the service's database URL."""
    url = with_database(stack.env["DATABASE_URL"], f"{stack.env['CLUB_DATABASE_PREFIX']}{service}")
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def run_locust(
    stack: LocalStack,
    members: list[str],
    staff: list[str],
    rate: float,
    seconds: float,
    warmup: float,
    out: Path,
) -> None:
    # Members' tasks are paced; staff approvals come on top, one per booking asked for (about a
    # tenth of the tasks): the members' share is what is left of `rate`.
    users = len(members)
    env = {
        **os.environ,
        "LOAD_MEMBERS": json.dumps(members),
        "LOAD_STAFF": json.dumps(staff),
        "LOAD_MEMBER_RATE": str(rate * 0.92 / users),
        "LOAD_SAMPLES": str(out),
        "EMAIL_API_BASE": stack.env["EMAIL_API_BASE"],
        "EMAIL_API_KEY": stack.env["EMAIL_API_KEY"],
        "LOAD_WARMUP": str(warmup),
        "LOAD_SECONDS": str(seconds),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        stack.gateway,
        "--users",
        str(users + len(staff)),
        "--spawn-rate",
        str(users + len(staff)),
        "--run-time",
        f"{seconds + warmup:g}s",
        "--stop-timeout",
        "5",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(command, env=env, cwd=REPO, check=False, timeout=seconds + warmup + 120)


def cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU time (user + system) so far of each Procfile process and everything under it."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, process in stack.processes.items():
        total = 0
        for pid in [process.pid, *descendants(process.pid)]:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        used[name] = total / tick
    return used


def children_cpu() -> float:
    """CPU time of the children this process has waited for (locust, once it has ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_line(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    shares = sorted(((after[n] - before.get(n, 0.0)) / wall, n) for n in after)
    return ", ".join(f"{name} {share:.2f}" for share, name in reversed(shares) if share >= 0.01)


def cpu_per_request(before: dict[str, float], after: dict[str, float], access_log: Path) -> str:
    """Each service's web processes' CPU over the run divided by the requests nginx sent them."""
    answered = Counter(json.loads(line)["upstream"] for line in access_log.read_text().splitlines())
    figures = []
    for service in SERVICE_NAMES:
        used = sum(
            after[n] - before.get(n, 0.0) for n in after if n == service or n.startswith(f"{service}-")
        )
        used -= after.get(f"{service}-worker", 0.0) - before.get(f"{service}-worker", 0.0)
        count = answered.get(f"club_{service}", 0)
        if count:
            figures.append(f"{service} {1000 * used / count:.1f} ms ({count} requests)")
    return ", ".join(figures)


def report(found: dict, seconds: float) -> tuple[list[dict], bool]:
    names = sorted(set(found["samples"]) | set(found["failures"]))
    ceiling = summary(found["samples"].get(CEILING, []))
    rows = []
    for name in names:
        figures = summary(found["samples"].get(name, []))
        errors = dict(found["failures"].get(name, {}))
        ratios = {
            p: round(figures[f"{p}_ms"] / ceiling[f"{p}_ms"], 1)
            for p in ("p50", "p95", "p99")
            if figures.get("n") and ceiling.get("n")
        }
        rows.append({"name": name, **figures, "errors": errors, "ratio": ratios})
    total = sum(row.get("n", 0) + sum(row["errors"].values()) for row in rows)
    by_name = {row["name"]: row for row in rows}
    availability, create = by_name.get(AVAILABILITY, {}), by_name.get(CREATE, {})
    ok = (
        not any(row["errors"] for row in rows)
        and availability.get("p99_ms", 1e9) <= TARGET_AVAILABILITY_P99
        and create.get("p50_ms", 1e9) <= TARGET_CREATE_P50
        and create.get("p99_ms", 1e9) <= TARGET_CREATE_P99
    )
    rows.append({"name": "all", "n": total, "rate_per_s": round(total / seconds, 1)})
    return rows, ok


def gateway_view(access_log: Path, window: dict[str, float]) -> dict[str, dict]:
    """nginx's own figures from its access log over locust's measured window: per "METHOD /path"
    (ids as <id>), the whole request's time and the upstream's (1 ms resolution), the statuses."""
    times: dict[str, list[float]] = {}
    upstream: dict[str, list[float]] = {}
    statuses: dict[str, Counter] = {}
    for line in access_log.read_text().splitlines():
        entry = json.loads(line)
        # $time_iso8601 is whole seconds: a request is in if its second overlaps the window
        at = datetime.fromisoformat(entry["time"]).timestamp()
        if not window["from"] - 1 < at <= window["to"]:
            continue
        name = f"{entry['method']} {re.sub(r'/[0-9]+', '/<id>', entry['uri'].split('?')[0])}"
        times.setdefault(name, []).append(entry["request_time"] * 1000)
        with contextlib.suppress(ValueError):
            upstream.setdefault(name, []).append(float(entry["upstream_time"].split(",")[-1]) * 1000)
        statuses.setdefault(name, Counter())[entry["status"]] += 1
    return {
        name: {
            "nginx": summary(times[name]),
            "upstream": summary(upstream.get(name, [])),
            "statuses": statuses[name],
        }
        for name in times
    }


def table(rows: list[dict], gateway: dict[str, dict]) -> str:
    lines = [
        "| request | n | errors | p50 ms | p95 ms | p99 ms | max ms | p50 / p95 / p99 ÷ ceiling "
        "| nginx: p50 / p99 ms, upstream p50 / p99 ms, statuses |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows[:-1]:
        ratio = row["ratio"]
        seen = gateway.get(row["name"].split(" (")[0])
        nginx = (
            f"{seen['nginx']['p50_ms']} / {seen['nginx']['p99_ms']}, "
            f"{seen['upstream'].get('p50_ms', '–')} / {seen['upstream'].get('p99_ms', '–')}, "
            + " ".join(f"{status}×{count}" for status, count in sorted(seen["statuses"].items()))
            if seen
            else "–"
        )
        lines.append(
            f"| {row['name']} | {row.get('n', 0)} | {sum(row['errors'].values()) or 0}"
            f"{' ' + json.dumps(row['errors']) if row['errors'] else ''} "
            f"| {row.get('p50_ms', '–')} | {row.get('p95_ms', '–')} | {row.get('p99_ms', '–')} | {row.get('max_ms', '–')} "
            f"| {ratio.get('p50', '–')} / {ratio.get('p95', '–')} / {ratio.get('p99', '–')} | {nginx} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before the measured ones")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, all types together")
    parser.add_argument(
        "--members", type=int, default=60, help="members signed in (each from its own address)"
    )
    parser.add_argument("--staff", type=int, default=3, help="staff users approving the requests")
    parser.add_argument(
        "--booking-replicas",
        type=int,
        default=1,
        help="booking web processes (BOOKING_REPLICAS of make stack)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    nginx_bin = find_nginx()
    if not nginx_bin:
        print("nginx not found: the load runs through the gateway")
        return 2

    from fakes.email_provider import FakeEmailProvider

    private_pem, public_pem = generate_key_pair()
    tag = secrets.token_hex(3)
    email = FakeEmailProvider().start()
    env = {
        **stack_env(find_postgres(), find_rabbitmq(), f"club_load{tag}_", f"club_load{tag}", public_pem),
        "JWT_PRIVATE_KEY": private_pem,
        "EMAIL_API_BASE": email.url,
        "EMAIL_API_KEY": email.api_key,
        "EMAIL_FROM": "Clubhouse <club@load.example>",
        # as `make stack` runs them: production settings, gunicorn's defaults from gunicorn_conf
        "CLUB_ENV": "production",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    stack = LocalStack(
        work,
        env,
        web={s: args.booking_replicas if s == "booking" else 1 for s in SERVICE_NAMES},
        workers=SERVICE_NAMES,
        nginx_bin=nginx_bin,
    )
    load_before = load_average()
    out = work / "samples.json"
    try:
        stack.start()
        members, staff = seed(stack, private_pem, args.members, args.staff)
        print(f"stack up at {stack.gateway}; {len(members)} members and {len(staff)} staff seeded")
        cpu_before, started = cpu_seconds(stack), time.monotonic()
        cpu_before["locust"] = children_cpu()
        run_locust(stack, members, staff, args.rate, args.seconds, args.warmup, out)
        cpu_after = {**cpu_seconds(stack), "locust": children_cpu()}
        cpu = cpu_line(cpu_before, cpu_after, time.monotonic() - started)
        cpu += "; per request answered: " + cpu_per_request(cpu_before, cpu_after, stack.access_log)
        load_after = load_average()
        found = json.loads(out.read_text())
        gateway = gateway_view(stack.access_log, found["window"])
    finally:
        stack.stop()
        email.stop()
        for service in SERVICE_NAMES:
            drop_database(database_url(stack, service))
            delete_bus_namespace(
                env["AMQP_URL"], env["BUS_NAMESPACE"], service, Settings.from_env(service).bus_retry_delays_ms
            )
        shutil.rmtree(work, ignore_errors=True)
    rows, ok = report(found, args.seconds)
    print(table(rows, gateway))
    print(f"CPU, cores used over the run (warm-up included): {cpu}")
    print(
        f"overall {rows[-1]['rate_per_s']} requests/s over {args.seconds:g} s; targets met: {'yes' if ok else 'no'}"
    )
    if not args.no_record:
        record(
            "## load: the club's mix through the gateway (locust)",
            INTRO,
            f"### {now()}: {args.seconds:g} s measured after {args.warmup:g} s of warm-up, at {args.rate:g} requests/s, {args.members} members + {args.staff} staff, "
            f"{args.booking_replicas} booking web process(es)\n\n"
            f"Machine: {machine()}; load average {load_before} before, {load_after} at the end "
            f"(1/5/15 min; other work shared the machine). Asked for {args.rate:g}, achieved {rows[-1]['rate_per_s']} requests/s. "
            f"Targets met: {'yes' if ok else 'no'}. CPU of the stack's processes over the run, warm-up included, "
            f"in cores (of {os.cpu_count()}; PostgreSQL and RabbitMQ not counted): {cpu}.\n"
            f"`.venv/bin/python bench/load/run.py --seconds {args.seconds:g} --warmup {args.warmup:g} --rate {args.rate:g} --members {args.members} --staff {args.staff} --booking-replicas {args.booking_replicas}`\n\n"
            + table(rows, gateway),
        )
    return 0 if ok else 1


INTRO = """
`bench/load/run.py` (`make load`): every service as `make stack` runs it (gunicorn web processes and
worker each) behind nginx from the generated config with its production rate limits, PostgreSQL and
RabbitMQ on the same machine, in databases and a bus namespace of the run's own. Locust, in a
process of its own, drives members who sign in by e-mailed code (read from the e-mail fake), each
from an address of its own, at a constant total rate: availability, booking requests followed until
staff (signed in the same way) approve them, cancellations (of bookings held over 10 s), fees (of a
booking approved over 5 s before, else a preview), notifications. The ceiling is
`GET /api/v1/resources`: booking's smallest read through the same nginx and gunicorn; each type's
p50/p95/p99 is also given divided by the ceiling's. Targets: no errors; availability p99 ≤ 30 ms;
create booking p50 ≤ 20 ms, p99 ≤ 100 ms.
"""


if __name__ == "__main__":
    sys.exit(main())
