"""The booking status machine (domain.md §4.2)."""

from __future__ import annotations

STATUSES = (
    "pending",
    "pending_approval",
    "approved",
    "confirmed",
    "declined",
    "cancelled",
    "cancellation_pending",
    "checked_in",
    "attended",
    "no_show",
    "expired",
)

#: Awaiting staff.
PENDING = ("pending", "pending_approval")
#: Statuses in which a request blocks its slot.
OCCUPYING = (
    "pending",
    "pending_approval",
    "approved",
    "confirmed",
    "checked_in",
    "attended",
    "cancellation_pending",
)
ACTIVE = ("pending", "pending_approval", "approved", "confirmed")
#: Fees are 0 in these.
FEE_FREE = ("cancelled", "declined", "cancellation_pending")
#: The statuses the database's exclusion constraint covers (when the request has a resource).
DB_EXCLUSIVE = ("pending", "pending_approval", "approved", "confirmed", "checked_in")

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset(
        {
            "pending_approval",
            "approved",
            "confirmed",
            "declined",
            "cancelled",
            "cancellation_pending",
            "expired",
        }
    ),
    "pending_approval": frozenset({"approved", "declined", "cancelled", "cancellation_pending", "expired"}),
    "approved": frozenset(
        {
            "confirmed",
            "cancelled",
            "cancellation_pending",
            "declined",
            "attended",
            "no_show",
            "expired",
            "checked_in",
        }
    ),
    "confirmed": frozenset({"checked_in", "cancelled", "cancellation_pending", "attended", "no_show"}),
    "cancellation_pending": frozenset({"cancelled", "confirmed", "approved"}),
    "checked_in": frozenset({"attended", "no_show", "cancelled"}),
    "attended": frozenset({"cancelled"}),
    "no_show": frozenset({"attended", "cancelled"}),
    "cancelled": frozenset({"pending", "approved"}),
    "declined": frozenset({"pending", "cancelled", "approved"}),
    "expired": frozenset({"pending"}),
}


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def sources_of(target: str, among: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The statuses from which `target` may be reached (optionally only those in `among`)."""
    found = tuple(s for s in STATUSES if can_transition(s, target))
    return tuple(s for s in found if s in among) if among is not None else found


def transition_pairs() -> list[tuple[str, str]]:
    """Every allowed (from, to), for the database trigger."""
    return sorted((f, t) for f, targets in TRANSITIONS.items() for t in targets)
