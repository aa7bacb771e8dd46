"""Membership statuses and the transitions between them (domain.md §2.2, §2.3)."""

from __future__ import annotations

# The status vocabulary is part of the event contract, so it is defined in the catalog.
from club_shared.events.membership import STATUSES  # noqa: F401 - re-exported for the domain

ACCESS_STATUSES = frozenset({"active", "trialing", "past_due"})
FINAL_STATUSES = frozenset({"archived", "merged"})

_LEFT = ("pending", "active", "former_member")  # where a former member may go back to
#: from → the statuses a change may lead to. Archive and merge are allowed from every non-final
#: status through their own operations; they are listed here too so the table is the whole truth.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"active", "trialing", "declined", "cancelled", "inactive", "visitor"}),
    "active": frozenset(
        {"past_due", "suspended", "frozen", "cancelled", "inactive", "non-member", "terminated", "expired"}
    ),
    "trialing": frozenset({"active", "past_due", "paused", "cancelled", "suspended", "expired"}),
    "past_due": frozenset({"active", "suspended", "terminated", "cancelled"}),
    "suspended": frozenset({"active", "cancelled", "terminated"}),
    "frozen": frozenset({"active", "cancelled"}),
    "paused": frozenset({"active", "trialing", "cancelled"}),
    "cancelled": frozenset(_LEFT),
    "terminated": frozenset(_LEFT),
    "inactive": frozenset({"pending", "active"}),
    "expired": frozenset(_LEFT),
    "non-member": frozenset({"pending", "active", "visitor"}),
    "former_member": frozenset({"pending", "active"}),
    "declined": frozenset({"pending"}),
    "unpaid": frozenset({"active", "past_due", "suspended", "cancelled", "terminated"}),
    "grace_period": frozenset({"active", "past_due", "terminated", "cancelled"}),
    "visitor": frozenset({"pending", "active", "trialing"}),
    "archived": frozenset(),
    "merged": frozenset(),
}
for _source, _targets in TRANSITIONS.items():
    if _source not in FINAL_STATUSES:
        TRANSITIONS[_source] = _targets | {"archived", "merged"}


def allowed_sources(target: str) -> list[str]:
    """The statuses from which a member may move to `target` (for the guarded UPDATE)."""
    return sorted(source for source, targets in TRANSITIONS.items() if target in targets)


def can_transition(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(source, frozenset())


def has_access(status: str) -> bool:
    return status in ACCESS_STATUSES


def role_of(value: str | None) -> str:
    """`users.role`; an unknown value reads as member."""
    return value if value in ("member", "staff", "admin", "visitor") else "member"
