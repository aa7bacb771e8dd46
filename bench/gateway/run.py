"""Gateway cost: the same request through nginx and straight to the service's gunicorn, interleaved.

Booking as `make stack` runs it (gunicorn, its default workers and threads) in a database of this
run's own, nginx in front from the generated config (its rate limits raised: this is about the hop,
not the limits). `GET /api/v1/resources` with a staff token, over one keep-alive connection per
path, in pairs whose order is random so neither path is always the warmer one. The cost is the
median of the pairs' differences (nginx − direct) and the difference of the two medians.

    .venv/bin/python bench/gateway/run.py [--pairs 3000] [--no-record]

Target: p50 added ≤ 0.5 ms. Appends to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import load_average, machine, now, percentile, record, summary  # noqa: E402

from club_shared.auth import Identity, generate_key_pair, sign_access_token  # noqa: E402
from club_shared.config import with_database  # noqa: E402
from club_shared.db import drop_database  # noqa: E402
from club_shared.testing.services import find_postgres  # noqa: E402
from club_shared.testing.stack import LocalStack, find_nginx  # noqa: E402

PATH = "/api/v1/resources"
TARGET_ADDED_P50 = 0.5
WARMUP_PAIRS = 200


def measure(gateway: str, direct: str, token: str, pairs: int) -> tuple[list[float], list[float]]:
    sessions = {gateway: requests.Session(), direct: requests.Session()}
    for session in sessions.values():
        session.headers["Authorization"] = f"Bearer {token}"
    timings: dict[str, list[float]] = {gateway: [], direct: []}
    rng = random.Random(11)
    for n in range(WARMUP_PAIRS + pairs):
        order = [gateway, direct]
        rng.shuffle(order)
        for base in order:
            started = time.perf_counter()
            answer = sessions[base].get(f"{base}{PATH}", timeout=10)
            took = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"{base}{PATH}: {answer.status_code} {answer.text[:300]}")
            if n >= WARMUP_PAIRS:
                timings[base].append(took)
    return timings[gateway], timings[direct]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    nginx_bin = find_nginx()
    if not nginx_bin:
        print("nginx not found: this benchmark measures it")
        return 2

    private_pem, public_pem = generate_key_pair()
    prefix = f"club_gw{secrets.token_hex(3)}_"
    pg = find_postgres()
    # booking as `make stack` runs it (production settings, gunicorn_conf's workers and threads);
    # the in-memory bus: nothing here publishes.
    env = {
        "DATABASE_URL": pg,
        "CLUB_DATABASE_PREFIX": prefix,
        "AMQP_URL": "memory://",
        "JWT_PUBLIC_KEY": public_pem,
        "CLUB_ENV": "production",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }
    limits = {
        "rate_per_ip": "100000r/s",
        "burst_per_ip": 100000,
        "rate_per_token": "100000r/s",
        "burst_per_token": 100000,
    }
    token = sign_access_token(private_pem, "clubhouse", Identity("gw", "desk@gw.example", "staff"), 3600)
    load_before = load_average()
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    stack = LocalStack(work, env, web={"booking": 1}, nginx_bin=nginx_bin, nginx_options=limits)
    try:
        stack.start()
        through, direct = measure(stack.gateway, f"http://{stack.web['booking'][0]}", token, args.pairs)
    finally:
        stack.stop()
        drop_database(with_database(pg, f"{prefix}booking"))
        shutil.rmtree(work, ignore_errors=True)
    load_after = load_average()
    added = [a - b for a, b in zip(through, direct, strict=True)]
    added_p50 = round(statistics.median(added), 3)
    medians = round(statistics.median(through) - statistics.median(direct), 3)
    ok = added_p50 <= TARGET_ADDED_P50
    g, d = summary(through), summary(direct)
    rows = [
        "| path | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        f"| through nginx | {g['n']} | {g['p50_ms']} | {g['p95_ms']} | {g['p99_ms']} | {g['max_ms']} |",
        f"| straight to gunicorn | {d['n']} | {d['p50_ms']} | {d['p95_ms']} | {d['p99_ms']} | {d['max_ms']} |",
        f"| added by nginx, per pair | {len(added)} | **{added_p50}** | {round(percentile(added, 95), 3)} "
        f"| {round(percentile(added, 99), 3)} | {round(max(added), 3)} |",
    ]
    print("\n".join(rows))
    print(
        f"difference of the medians {medians} ms; target p50 added ≤ {TARGET_ADDED_P50} ms: {'met' if ok else 'not met'}"
    )
    if not args.no_record:
        record(
            "## gateway: what nginx adds to a request",
            __doc__.split("\n\n")[1].replace("\n", " ").strip()
            + f" Target: p50 added ≤ {TARGET_ADDED_P50} ms.",
            f"### {now()}: {args.pairs} pairs after {WARMUP_PAIRS} of warm-up\n\n"
            f"Machine: {machine()}; load average {load_before} before, {load_after} at the end "
            f"(1/5/15 min; other work shared the machine). Difference of the medians {medians} ms. "
            f"Target met: {'yes' if ok else 'no'}. `.venv/bin/python bench/gateway/run.py --pairs {args.pairs}`\n\n"
            + "\n".join(rows),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
