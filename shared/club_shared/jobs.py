"""Background work: each service's `job_queue`, and a scheduler that fires each job once per period.

Jobs are rows worked with FOR UPDATE SKIP LOCKED, so any number of worker replicas share them and
a job runs in the same transaction that marks it done (a crash leaves it pending, to run again).
A scheduled job claims `(name, period)` in `scheduler_claims` before it is enqueued: "daily at
18:00 club time" happens once per club day however many replicas are running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .clubtime import utcnow
from .db import Database
from .metrics import observe_job

log = logging.getLogger(__name__)

Job = Callable[[Session, dict[str, Any]], None]


@dataclass(frozen=True)
class JobTables:
    job_queue: Table
    scheduler_claims: Table


def job_tables(metadata: MetaData) -> JobTables:
    job_queue = Table(
        "job_queue",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("kind", String(100), nullable=False),
        Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("status", String(10), nullable=False, server_default="pending"),  # pending|done|dead
        Column("run_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("max_attempts", Integer, nullable=False, server_default="5"),
        Column("last_error", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("finished_at", DateTime(timezone=True)),
        Index("ix_job_queue_due", "run_at", postgresql_where=text("status = 'pending'")),
    )
    scheduler_claims = Table(
        "scheduler_claims",
        metadata,
        Column("job_name", String(100), primary_key=True),
        Column("period_key", String(40), primary_key=True),
        Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return JobTables(job_queue, scheduler_claims)


#: NOTIFY channel that wakes the job runner when a job is queued (delivered at commit).
JOBS_CHANNEL = "club_jobs"


def enqueue(
    session: Session,
    tables: JobTables,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    max_attempts: int = 5,
) -> int:
    """Add a job in the caller's transaction; it runs only if that transaction commits."""
    values = {"kind": kind, "payload": payload or {}, "max_attempts": max_attempts}
    if run_at is not None:
        values["run_at"] = run_at
    return session.execute(
        insert(tables.job_queue).values(**values).returning(tables.job_queue.c.id)
    ).scalar_one()


@dataclass(frozen=True)
class Daily:
    """Once per club day, at or after `at` club time (a worker that was down catches up that day)."""

    at: time

    def period(self, now: datetime, tz: ZoneInfo) -> str | None:
        local = now.astimezone(tz)
        return local.date().isoformat() if local.time() >= self.at else None


@dataclass(frozen=True)
class Every:
    """Once per interval, aligned to the epoch so that every replica agrees on the periods."""

    interval: timedelta

    def period(self, now: datetime, tz: ZoneInfo) -> str | None:
        return str(int(now.timestamp() // self.interval.total_seconds()))


@dataclass(frozen=True)
class Scheduled:
    name: str  # also the job kind it enqueues
    when: Daily | Every


class JobRunner:
    """Runs a service's jobs on `threads` threads (jobs mostly wait on outside systems; SKIP LOCKED
    lets the threads and every replica share the queue), woken by NOTIFY when a job is queued."""

    def __init__(
        self,
        db: Database,
        tables: JobTables,
        jobs: Mapping[str, Job],
        tz: ZoneInfo,
        schedule: tuple[Scheduled, ...] = (),
        *,
        threads: int = 1,
    ):
        self.db = db
        self.tables = tables
        self.jobs = dict(jobs)
        self.tz = tz
        self.schedule = schedule
        self.threads = threads
        self._claimed: dict[str, str] = {}  # job name → the latest period this process saw claimed

    def fire_due(self, now: datetime | None = None) -> list[str]:
        """Enqueue every scheduled job whose period has come and that no replica has claimed yet."""
        now = now or utcnow()
        fired, seen = [], {}
        claims = self.tables.scheduler_claims
        with self.db.transaction() as session:
            for entry in self.schedule:
                period = entry.when.period(now, self.tz)
                if period is None or self._claimed.get(entry.name) == period:
                    continue  # known to be claimed already: no need to ask the database again
                seen[entry.name] = period
                claimed = session.execute(
                    pg_insert(claims)
                    .values(job_name=entry.name, period_key=period)
                    .on_conflict_do_nothing()
                    .returning(claims.c.job_name)
                ).first()
                if claimed:
                    enqueue(session, self.tables, entry.name, {"period": period})
                    fired.append(entry.name)
        self._claimed.update(seen)
        return fired

    def run_due(self, limit: int = 20) -> int:
        """Run up to `limit` due jobs; the number run (succeeded or failed)."""
        queue = self.tables.job_queue
        with self.db.transaction() as session:
            rows = session.execute(
                select(queue.c.id, queue.c.kind, queue.c.payload, queue.c.attempts, queue.c.max_attempts)
                .where(queue.c.status == "pending", queue.c.run_at <= func.now())
                .order_by(queue.c.run_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                self._run(session, row)
        return len(rows)

    def _run(self, session: Session, row) -> None:
        queue = self.tables.job_queue
        job = self.jobs.get(row.kind)
        savepoint = session.begin_nested()
        try:
            if job is None:
                raise LookupError(f"no job called {row.kind}")
            job(session, row.payload)
            savepoint.commit()
            session.execute(
                update(queue)
                .where(queue.c.id == row.id)
                .values(status="done", finished_at=func.now(), attempts=row.attempts + 1)
            )
            observe_job(row.kind, "done")
        except Exception as exc:
            savepoint.rollback()
            attempts = row.attempts + 1
            dead = attempts >= row.max_attempts
            log.warning(
                "job failed", exc_info=exc, extra={"job": row.kind, "attempts": attempts, "dead": dead}
            )
            session.execute(
                update(queue)
                .where(queue.c.id == row.id)
                .values(
                    attempts=attempts,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    status="dead" if dead else "pending",
                    run_at=func.now() + timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600)),
                )
            )
            observe_job(row.kind, "dead" if dead else "failed")

    def run(self, stop: threading.Event, *, tick_s: float = 1.0) -> None:
        """Fire schedules and run due jobs until `stop`: at once when woken, else every `tick_s`."""
        helpers = [
            threading.Thread(target=self._loop, args=(stop, tick_s, False), name=f"jobs-{n}", daemon=True)
            for n in range(1, self.threads)
        ]
        for helper in helpers:
            helper.start()
        self._loop(stop, tick_s, True)
        for helper in helpers:
            helper.join(timeout=10)

    def _loop(self, stop: threading.Event, tick_s: float, fires_schedules: bool) -> None:
        backoff = tick_s
        while not stop.is_set():
            try:
                with psycopg.connect(self.db.libpq_url(), autocommit=True) as listener:
                    listener.execute(f"LISTEN {JOBS_CHANNEL}")
                    while not stop.is_set():
                        if fires_schedules:
                            self.fire_due()
                        while self.run_due() and not stop.is_set():
                            pass
                        backoff = tick_s
                        for _ in listener.notifies(timeout=tick_s, stop_after=1):
                            pass
            except (SQLAlchemyError, psycopg.Error) as exc:
                log.warning("job runner: database unavailable", extra={"error": repr(exc)})
                backoff = min(backoff * 2, 10.0)
                stop.wait(backoff)
