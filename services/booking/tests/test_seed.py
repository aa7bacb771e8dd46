"""The demo club's bookings (`make run`): made through booking's own flows for the demo members once
they reach booking, on the next days the club opens; running it again changes nothing; outside
development mode it does nothing."""

import dataclasses
from datetime import date

from club_booking import seed
from club_booking.testing import outbox

DEMO = ["social", "core", "premium", "corporate", "vip"]


class Development:
    """The test runtime, in development mode."""

    def __init__(self, rt):
        self._rt = rt
        self.settings = dataclasses.replace(rt.settings, env="development")

    def __getattr__(self, name):
        return getattr(self._rt, name)


def test_demo_bookings_for_the_demo_members_once(rt, member, client, auth):
    for tier in DEMO:
        member(f"{tier}@clubhouse.test", tier)
    assert seed.seed_demo(rt) == 0  # not in development mode

    dev = Development(rt)
    assert seed.seed_demo(dev, wait_s=0) == 5
    assert seed.seed_demo(dev, wait_s=0) == 0

    rows = client.get("/api/v1/booking-requests", headers=auth("staff@clubhouse.test", "staff")).get_json()
    got = {r["user_email"].split("@")[0]: r for r in rows}
    assert set(got) == set(DEMO)
    assert {k: r["status"] for k, r in got.items()} == {
        "core": "approved",
        "corporate": "approved",
        "premium": "pending",
        "social": "pending",
        "vip": "confirmed",
    }
    assert all(date.fromisoformat(r["date"]).weekday() != 0 for r in rows)  # Mondays closed
    assert len(outbox(rt, "booking.request.created")) == 5
    assert len(outbox(rt, "booking.request.approved")) == 2


def test_nothing_is_booked_before_the_members_arrive(rt, member):
    member("core@clubhouse.test")
    assert seed.seed_demo(Development(rt), wait_s=0) == 0
