"""The demo club that `make run` starts with, created through the services' own APIs or actions so
that the same rules and events apply as for anything a person would do."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def seed_demo_club(apps: dict) -> None:
    # Membership: staff (admin@, staff@clubhouse.test), one active member per tier who signed the
    # waiver, a family group, content and settings; development mode only, idempotent.
    from club_membership.seed import seed_demo

    seed_demo(apps["membership"].extensions["club"])
    # Booking: a few bookings of those members on the next open days (approved, pending, a
    # confirmed conference room), once the members have reached booking through the bus.
    from club_booking.seed import seed_demo as seed_bookings

    seed_bookings(apps["booking"].extensions["club"])
    log.info("demo club seeded")
