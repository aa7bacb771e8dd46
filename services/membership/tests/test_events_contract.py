"""Membership's events against the catalog: what the code publishes is catalogued, every catalogued
membership type is published somewhere, and the member snapshot satisfies every member event."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import club_membership
from club_membership.actions import members as member_actions
from club_membership.handlers import HANDLERS
from club_shared.events import CATALOG, make_event
from club_shared.events.membership import SCHEMAS

SOURCE = Path(club_membership.__file__).parent
PUBLISHED = re.compile(r'"(membership\.[a-z_]+\.[a-z_]+)"')


def _published_in_code() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        found |= set(PUBLISHED.findall(path.read_text()))
    return found


def test_what_the_code_publishes_is_in_the_catalog():
    catalogued = {t for t, _ in CATALOG}
    assert _published_in_code() - catalogued == set()


def test_every_membership_event_type_is_published_by_the_code():
    assert {t for t, _ in SCHEMAS} - _published_in_code() == set()


def test_membership_consumes_only_catalogued_events_of_other_services():
    catalogued = {t for t, _ in CATALOG}
    assert set(HANDLERS) <= catalogued
    assert not [t for t in HANDLERS if t.startswith("membership.")]


@pytest.mark.parametrize(
    "event_type",
    [
        "membership.member.created",
        "membership.member.updated",
        "membership.member.status_changed",
        "membership.member.tier_changed",
        "membership.member.archived",
    ],
)
def test_the_member_snapshot_fits_every_member_event(make_member, runtime, event_type):
    ann = make_member()
    with runtime.db.transaction() as session:
        data = member_actions.snapshot(session.get(type(ann.user), ann.id))
    extra = {
        "membership.member.updated": {"changed": ["phone"]},
        "membership.member.status_changed": {"old_status": "pending", "new_status": "active", "reason": None},
        "membership.member.tier_changed": {"old_tier": None, "new_tier": "core", "direction": "assigned"},
        "membership.member.archived": {"previous_status": "active"},
    }.get(event_type, {})
    event = make_event(event_type, {**data, **extra}, producer="membership")
    assert event.data["email"] == ann.email


def test_member_created_keeps_what_notifications_reads():
    """notifications' welcome reads `email` and `first_name`; both stay required."""
    fields = SCHEMAS[("membership.member.created", 1)]().fields
    assert fields["email"].required and fields["first_name"].required
