"""The demo club that `make run` starts with, created through the services' own APIs so that the
same rules and events apply as for anything a person would do."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DEMO_MEMBERS = [
    {"email": "ava.ng@example.com", "first_name": "Ava", "last_name": "Ng", "tier": "premium"},
    {"email": "ben.ortiz@example.com", "first_name": "Ben", "last_name": "Ortiz", "tier": "core"},
    {"email": "chloe.diaz@example.com", "first_name": "Chloe", "last_name": "Diaz", "tier": "vip"},
]


def seed_demo_club(apps: dict) -> None:
    client = apps["membership"].test_client()
    for member in DEMO_MEMBERS:
        response = client.post("/api/v1/members", json=member)
        if response.status_code not in (201, 409):  # 409: already seeded in an earlier run
            raise RuntimeError(
                f"seeding {member['email']} failed: {response.status_code} {response.get_data(as_text=True)}"
            )
    log.info("demo club seeded", extra={"members": len(DEMO_MEMBERS)})
