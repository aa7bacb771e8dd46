"""Helpers for the integrations tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

CALENDAR_IDS = {
    "events": "events@group.calendar.google.com",
    "wellness": "wellness@group.calendar.google.com",
    "internal": "internal@group.calendar.google.com",
    "conference": "conference@group.calendar.google.com",
    "tours": "tours@group.calendar.google.com",
}


def queued_jobs(db, kind: str) -> list:
    """The job_queue rows of a kind, oldest first (their payloads are what the worker would run)."""
    from sqlalchemy import select

    from club_integrations.models import JOBS

    queue = JOBS.job_queue
    with db.transaction() as session:
        return session.execute(select(queue).where(queue.c.kind == kind).order_by(queue.c.id)).all()
