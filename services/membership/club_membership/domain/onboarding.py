"""The onboarding checklist and its nudges (domain.md §2.3): at 24 h, 72 h and 7 days after joining,
at most `scheduling.nudge_max` (3) per member and 20 per run."""

from __future__ import annotations

from datetime import datetime, timedelta

NUDGE_AFTER = (timedelta(hours=24), timedelta(hours=72), timedelta(days=7))
NUDGES_PER_RUN = 20


def missing_steps(
    *,
    phone: str | None,
    waiver_version: int | None,
    current_waiver: int,
    first_booking_at: datetime | None,
    app_installed_at: datetime | None,
) -> list[str]:
    steps = []
    if not phone:
        steps.append("profile")
    if waiver_version != current_waiver:
        steps.append("waiver")
    if first_booking_at is None:
        steps.append("first_booking")
    if app_installed_at is None:
        steps.append("app_install")
    return steps


def nudge_due(joined_at: datetime, nudges_sent: int, now: datetime, nudge_max: int = 3) -> bool:
    """The next nudge is due once the member has been with us for its step's time."""
    if nudges_sent >= min(nudge_max, len(NUDGE_AFTER)):
        return False
    return now - joined_at >= NUDGE_AFTER[nudges_sent]


STEP_LABELS = {
    "profile": "add your phone number",
    "waiver": "sign the liability waiver",
    "first_booking": "book your first session",
    "app_install": "install the app",
}
