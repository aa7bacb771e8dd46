"""E-mail as the identity key (domain.md §1): normalised, resolved through aliases, never a placeholder."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

DEFAULT_PLACEHOLDER_PATTERNS = ("anonymous@*", "unmatched-*", "*@trackman.local", "bookings@*", "noreply@*")


def normalise(email: str) -> str:
    return email.strip().lower()


def alias_candidates(email: str, alias_domains: Sequence[str]) -> list[str]:
    """The addresses that are the same person as `email`: itself, and the same local part at every
    domain of `club.alias_domains` when its domain is one of them."""
    email = normalise(email)
    local, _, domain = email.rpartition("@")
    domains = [normalise(d) for d in alias_domains if d and d.strip()]
    if not local or domain not in domains:
        return [email]
    return [email] + [f"{local}@{other}" for other in domains if other != domain]


def is_placeholder(email: str, patterns: Iterable[str]) -> bool:
    """A placeholder never identifies a person: never matched, never notified."""
    email = normalise(email)
    return any(fnmatch.fnmatchcase(email, normalise(p)) for p in patterns if p)
