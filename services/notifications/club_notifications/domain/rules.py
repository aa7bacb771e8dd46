"""The notification rules that are not about wording: dedupe, placeholders, retention, back-off,
announcement days. Plain Python: no Flask, no SQL."""

from __future__ import annotations

import fnmatch
import random
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime

#: The same title to the same person about the same thing within this window is dropped (§10).
DEDUPE_WINDOW = timedelta(seconds=60)
#: Push subscriptions unused for this long are pruned (§10).
PUSH_PRUNE_AFTER = timedelta(days=90)
#: A subscription's last use is recorded at most this often (it only decides the pruning).
PUSH_USE_RECORDED_EVERY = timedelta(days=1)
#: Members wait on their pushes: those jobs go before e-mails, digests and clean-ups.
PUSH_PRIORITY = 10
#: A sign-in code is worth sending only while it is valid (membership.signin.code_issued).
SIGNIN_CODE_TTL = timedelta(minutes=15)

#: Placeholder e-mails never identify a person, so nobody is notified at them (§1). Membership's
#: setting `club.placeholder_email_patterns` extends this list once it is published.
DEFAULT_PLACEHOLDER_PATTERNS = (
    "anonymous@*",
    "unmatched-*",
    "*@trackman.local",
    "placeholder*@*",
    "*@placeholder.local",
)

#: Delivery attempts (e-mail or push) before a message is given up and recorded as failed.
MAX_DELIVERY_ATTEMPTS = 6


def normalise_email(email: str) -> str:
    return email.strip().lower()


def is_placeholder(email: str, patterns: tuple[str, ...] = DEFAULT_PLACEHOLDER_PATTERNS) -> bool:
    address = normalise_email(email)
    return not address or "@" not in address or any(fnmatch.fnmatchcase(address, p) for p in patterns)


def dedupe_key(user_email: str, title: str, related_id: int | None) -> str:
    return f"{normalise_email(user_email)}\x1f{title}\x1f{'' if related_id is None else related_id}"


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Wait before delivery attempt `attempt + 1` after `attempt` failures: 30 s doubling, ≤ 1 h, +10 %
    jitter so that a provider's outage does not end in a thundering herd."""
    base = min(30 * 2 ** max(attempt - 1, 0), 3600)
    return timedelta(seconds=base * (1 + (rng or random).random() * 0.1))


def parse_retry_after(
    value: str | None, now: datetime, default: timedelta = timedelta(seconds=60)
) -> timedelta:
    """A Retry-After header (seconds or an HTTP date) as a delay, between 1 s and 1 h."""
    delay = default
    if value:
        value = value.strip()
        if value.isdigit():
            delay = timedelta(seconds=int(value))
        else:
            try:
                delay = parsedate_to_datetime(value) - now
            except (TypeError, ValueError):
                delay = default
    return min(max(delay, timedelta(seconds=1)), timedelta(hours=1))


def announcement_is_live(starts_on: date, ends_on: date | None, today: date, is_active: bool = True) -> bool:
    """An announcement runs over whole club days, its first and last included."""
    return is_active and starts_on <= today and (ends_on is None or today <= ends_on)


def closure_is_live(start_date: date, end_date: date, today: date) -> bool:
    return start_date <= today <= end_date
