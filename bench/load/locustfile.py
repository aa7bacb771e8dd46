"""The club's day at 100 requests/s through the gateway, for `bench/load/run.py` (which starts the
stack, seeds the members and runs locust as a process of its own with this file).

Each member signs in by the e-mailed code (read from the e-mail fake notifications sends it to),
then reads availability, asks for a bay, follows the request until staff approve it, reads the
fees of an approved booking, reads notifications and cancels bookings it holds; staff users
sign in the same way and approve the requests as they come. `GET /api/v1/resources` (booking,
one small read through the same nginx and gunicorn) is the ceiling the other figures are
compared with.

Every simulated person talks from an address of its own (127.0.x.y): the gateway's per-address
limit and membership's sign-in limits count per address, as they would for members on their
phones. Configuration comes from the environment run.py sets (LOAD_*); every request's duration
and outcome is written to LOAD_SAMPLES as JSON when the run stops.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import random
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from locust import HttpUser, between, constant_throughput, events, task
from requests.adapters import HTTPAdapter

MEMBERS: list[str] = json.loads(os.environ.get("LOAD_MEMBERS", "[]"))
STAFF: list[str] = json.loads(os.environ.get("LOAD_STAFF", "[]"))
EMAIL_API: str = os.environ.get("EMAIL_API_BASE", "")
EMAIL_WAIT_S = 30.0
EMAIL_ARRIVES = "the e-mail with the code arrives (sign in)"
CODE_SUBJECT = re.compile(r"sign-in code: (\d{6})")
MEMBER_TASKS_PER_S = float(os.environ.get("LOAD_MEMBER_RATE", "4"))
# Requests in the first WARMUP seconds (everyone signing in at once, pools filling) are not timed;
# their failures still count.
WARMUP = float(os.environ.get("LOAD_WARMUP", "0"))
MEASURED = float(os.environ.get("LOAD_SECONDS", "60"))
CLUB_TZ = ZoneInfo(os.environ.get("CLUB_TIMEZONE", "America/Los_Angeles"))
BAYS = (1, 2, 3, 4)
# Billing learns of an approval over the bus: its fees are read once the booking is this old, and
# the booking is cancelled once it is older still.
FEES_AFTER_S = 5
HOLD_S = 10
CEILING = "GET /api/v1/resources (ceiling)"

samples: dict[str, list[float]] = collections.defaultdict(list)
failures: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
addresses = itertools.count(1)
members = itertools.count()
desks = itertools.count()
to_approve: collections.deque[int] = collections.deque()
started = [0.0]
window: dict[str, float] = {}  # the measured seconds, as wall-clock times (for nginx's log)


@events.test_start.add_listener
def _start(environment, **kwargs):
    started[0] = time.monotonic()
    window["from"] = time.time() + WARMUP


@events.test_stop.add_listener
def _stop(environment, **kwargs):
    window["to"] = time.time()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    if exception is None:
        if time.monotonic() - started[0] >= WARMUP:
            samples[name].append(response_time)
    else:
        status = str(getattr(response, "status_code", None) or type(exception).__name__)
        with contextlib.suppress(AttributeError, ValueError, KeyError, TypeError):
            status += f" {response.json()['code']}"  # the problem's code says whose refusal it was
        failures[name][status] += 1


@events.quitting.add_listener
def _write(environment, **kwargs):
    path = os.environ.get("LOAD_SAMPLES")
    if path:
        with open(path, "w") as out:
            json.dump({"samples": samples, "failures": failures, "window": window}, out)


def _slots() -> list[tuple[str, str, int]]:
    """One-hour slots (day, start, bay) over the coming days the club is open, inside the VIP
    window and the day's hours: a booking asked for takes one, a cancelled one gives it back."""
    today = datetime.now(CLUB_TZ).date()
    days = [today + timedelta(days=n) for n in range(1, 14)]
    return [
        (d.isoformat(), f"{hour:02d}:00", bay)
        for d in days
        if d.weekday() != 0
        for hour in range(9, 17)
        for bay in BAYS
    ]


free_slots: list[tuple[str, str, int]] = _slots()
random.Random(1).shuffle(free_slots)


mail = requests.Session()
mail.headers["Authorization"] = f"Bearer {os.environ.get('EMAIL_API_KEY', '')}"


class SourceAddress(HTTPAdapter):
    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Person(HttpUser):
    abstract = True

    def on_start(self) -> None:
        n = next(addresses)
        self.client.mount("http://", SourceAddress(f"127.0.{1 + n // 250}.{n % 250 + 1}"))
        self.client.headers["User-Agent"] = "clubhouse-load"
        self.email = self.who()
        self.sign_in()

    def who(self) -> str:
        raise NotImplementedError

    def sign_in(self) -> None:
        """The code flow: ask for a code, wait for the e-mail that carries it, exchange it."""
        self.client.headers.pop("Authorization", None)
        before = len(self.mailbox())
        self.client.post(
            "/api/v1/auth/codes", json={"email": self.email}, name="POST /api/v1/auth/codes (sign in)"
        )
        started = time.perf_counter()
        code = None
        while code is None and time.perf_counter() - started < EMAIL_WAIT_S:
            # other e-mails (a booking approved...) may arrive meanwhile: the code's is the one
            found = [hit for sent in self.mailbox()[before:] if (hit := CODE_SUBJECT.search(sent["subject"]))]
            if found:
                code = found[-1].group(1)
            else:
                time.sleep(0.05)
        events.request.fire(
            request_type="E-MAIL",
            name=EMAIL_ARRIVES,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None if code else TimeoutError(f"no code within {EMAIL_WAIT_S} s"),
            context={},
        )
        if code is None:
            return
        answer = self.client.post(
            "/api/v1/auth/sessions",
            json={"email": self.email, "code": code},
            name="POST /api/v1/auth/sessions (sign in)",
        )
        if answer.ok:  # a refusal is counted as a failure; the person then goes on unsigned
            self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def mailbox(self) -> list[dict]:
        """What the e-mail fake was given for this person (not part of the measured traffic)."""
        return mail.get(f"{EMAIL_API}/emails", params={"to": self.email}, timeout=10).json()


class Member(Person):
    weight = len(MEMBERS)
    wait_time = constant_throughput(MEMBER_TASKS_PER_S)

    def who(self) -> str:
        return MEMBERS[next(members) % len(MEMBERS)]

    def on_start(self) -> None:
        # Once in the measured part of the run each member signs in again (3 codes per 15 minutes
        # per e-mail and address is membership's limit).
        self.sign_in_again_at = time.monotonic() + WARMUP + random.uniform(0, MEASURED)
        self.pending: tuple[int, tuple] | None = None
        self.held: list[tuple[int, tuple, float]] = []  # (request id, slot, approved at)
        super().on_start()

    @task(8)
    def availability(self) -> None:
        day = datetime.now(CLUB_TZ).date() + timedelta(days=random.randrange(1, 14))
        self.client.get(f"/api/v1/availability?date={day}", name="GET /api/v1/availability")

    @task(1)
    def sign_in_again(self) -> None:
        if self.sign_in_again_at is not None and time.monotonic() >= self.sign_in_again_at:
            self.sign_in_again_at = None
            self.sign_in()
        else:
            self.availability()

    @task(3)
    def book(self) -> None:
        """Ask for a bay; while a request waits, look at it instead (one pending request at a time)."""
        if self.pending is not None:
            request_id, slot = self.pending
            answer = self.client.get(
                f"/api/v1/booking-requests/{request_id}", name="GET /api/v1/booking-requests/<id>"
            )
            if answer.ok and answer.json()["status"] == "approved":
                self.held.append((request_id, slot, time.monotonic()))
                self.pending = None
            return
        mine = {(day, start) for _id, (day, start, _bay), _at in self.held}
        slot = next((s for s in free_slots if s[:2] not in mine), None)
        if slot is None:
            return
        free_slots.remove(slot)
        day, start, bay = slot
        answer = self.client.post(
            "/api/v1/booking-requests",
            json={
                "resource_type": "simulator",
                "resource_id": bay,
                "date": day,
                "start_time": start,
                "duration_minutes": 60,
            },
            name="POST /api/v1/booking-requests",
        )
        if answer.status_code == 201:
            self.pending = (answer.json()["id"], slot)
            to_approve.append(answer.json()["id"])
        else:
            free_slots.append(slot)

    @task(2)
    def cancel(self) -> None:
        """Give back a booking held for a while (its fees have had time to be read)."""
        if not self.held or time.monotonic() - self.held[0][2] < HOLD_S:
            return self.notifications()
        request_id, slot, _at = self.held.pop(0)
        answer = self.client.post(
            f"/api/v1/booking-requests/{request_id}/cancel",
            json={},
            name="POST /api/v1/booking-requests/<id>/cancel",
        )
        if answer.ok:
            free_slots.append(slot)

    @task(2)
    def fees(self) -> None:
        """Fees of a booking approved a while ago (billing learns of it over the bus), else the
        price of a booking before it is made."""
        settled = [request_id for request_id, _slot, at in self.held if time.monotonic() - at > FEES_AFTER_S]
        if settled:
            self.client.get(
                f"/api/v1/fees/booking-requests/{random.choice(settled)}",
                name="GET /api/v1/fees/booking-requests/<id>",
            )
            return
        day, start, _bay = random.choice(free_slots)
        self.client.post(
            "/api/v1/fees/preview",
            json={"resource_type": "simulator", "date": day, "start_time": start, "duration_minutes": 60},
            name="POST /api/v1/fees/preview",
        )

    @task(2)
    def notifications(self) -> None:
        self.client.get("/api/v1/notifications", name="GET /api/v1/notifications")

    @task(2)
    def ceiling(self) -> None:
        self.client.get("/api/v1/resources", name=CEILING)


class Staff(Person):
    fixed_count = len(STAFF)
    wait_time = between(0.005, 0.02)

    def who(self) -> str:
        return STAFF[next(desks) % len(STAFF)]

    @task
    def approve(self) -> None:
        if not to_approve:
            return
        request_id = to_approve.popleft()
        self.client.post(
            f"/api/v1/booking-requests/{request_id}/approve",
            json={},
            name="POST /api/v1/booking-requests/<id>/approve",
        )
