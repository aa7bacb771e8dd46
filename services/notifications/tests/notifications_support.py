"""Helpers for the notifications tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

from sqlalchemy import select


def rows(db, statement):
    with db.transaction() as session:
        return session.execute(statement).all()


def jobs_for(db, kind: str, **payload) -> list:
    from club_notifications.models import JOBS

    queue = JOBS.job_queue
    with db.transaction() as session:
        found = session.execute(select(queue).where(queue.c.kind == kind).order_by(queue.c.id)).all()
    return [row for row in found if all(row.payload.get(k) == v for k, v in payload.items())]
