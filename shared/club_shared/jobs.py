"""Background work: each service's `job_queue`, and a scheduler that fires each job once per period.

A job is claimed, then run (domain.md §12). A short transaction claims up to five due jobs with FOR
UPDATE SKIP LOCKED (status processing, `locked_at`/`locked_by`, one more attempt) and commits, so no
row lock or connection is held while a job waits on Stripe, HubSpot or a push service. Each job then
runs in its own transaction, which also marks it completed: its writes and its completion commit
together. A failure is recorded in another transaction: retried after min(1 min × 2^(n−1), 1 h), and
after `max_retries` failures the job is failed and the staff are alerted.

A process that dies mid-job leaves the job processing; its lock is free after five minutes and the
job runs again. Jobs must therefore be idempotent: running one twice must do its work once (Stripe
idempotency keys, upserts, "already sent" checks).

A scheduled job claims `(name, period)` in `scheduler_claims` before it is enqueued: "daily at
18:00 club time" happens once per club day however many replicas are running.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from time import monotonic
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
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
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
#: Tells the staff, in the failing job's last transaction, that a job has given up.
Alert = Callable[[Session, "FailedJob"], None]

MAX_RETRIES = 3
#: A job whose lock is older than this is taken to have died with its process.
LOCK_TIMEOUT = timedelta(minutes=5)
CLAIM_LIMIT = 5
FINISHED_KEPT = timedelta(days=7)
PRUNE_EVERY_S = 3600.0


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
        # pending|processing|completed|failed
        Column("status", String(10), nullable=False, server_default="pending"),
        Column("priority", Integer, nullable=False, server_default="0"),  # higher runs first
        Column("run_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("scheduled_for", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default="0"),  # started
        Column("retry_count", Integer, nullable=False, server_default="0"),  # failed
        Column("max_retries", Integer, nullable=False, server_default=str(MAX_RETRIES)),
        Column("last_error", Text),
        Column("locked_at", DateTime(timezone=True)),
        Column("locked_by", String(100)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("finished_at", DateTime(timezone=True)),
        Index(
            "ix_job_queue_due",
            "scheduled_for",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
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
#: `session.info` key: the (weakly held) transaction in which the job runner was last notified.
_NOTIFIED_IN = "club_jobs_notified_in"
_NOTIFY = text(f"NOTIFY {JOBS_CHANNEL}")


@functools.cache
def _insert_job(queue: Table):
    """Built once per table, values given apart: a busy consumer enqueues a job per event, and
    building the statement each time cost more CPU than running it."""
    return insert(queue).returning(queue.c.id)


def enqueue(
    session: Session,
    tables: JobTables,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    priority: int = 0,
    max_retries: int = MAX_RETRIES,
) -> int:
    """Add a job in the caller's transaction; it runs only if that transaction commits."""
    values: dict[str, Any] = {
        "kind": kind,
        "payload": payload or {},
        "priority": priority,
        "max_retries": max_retries,
    }
    if run_at is not None:
        values["run_at"] = values["scheduled_for"] = run_at
    job_id = session.execute(_insert_job(tables.job_queue), values).scalar_one()
    # One NOTIFY per transaction wakes a runner; PostgreSQL would merge a second one anyway.
    current = session.get_nested_transaction() or session.get_transaction()
    notified = session.info.get(_NOTIFIED_IN)
    if run_at is None and (notified is None or notified() is not current):
        session.execute(_NOTIFY)
        session.info[_NOTIFIED_IN] = weakref.ref(current)
    return job_id


def retry_delay(failures: int) -> timedelta:
    """The wait after the n-th failure: 1 min, 2 min, 4 min … at most an hour."""
    return min(timedelta(minutes=1) * 2 ** (failures - 1), timedelta(hours=1))


@dataclass(frozen=True)
class FailedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    retry_count: int
    error: str


def alert_by_event(publish: Callable[[Session, str, dict[str, Any]], Any], service: str) -> Alert:
    """An `Alert` that asks notifications to tell the staff (`<service>.notification.requested`)."""

    def alert(session: Session, failed: FailedJob) -> None:
        publish(
            session,
            f"{service}.notification.requested",
            {
                "audience": "staff",
                "type": "job_failed",
                "title": "Background job failed",
                "message": failed_text(service, failed),
                "link": None,
                "urgent": True,
                "channels": ["in_app"],
            },
        )

    return alert


def failed_text(service: str, failed: FailedJob) -> str:
    return (
        f"{service} gave up on job {failed.kind} #{failed.id} after {failed.retry_count} "
        f"failures: {failed.error}"
    )[:1000]


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


def prune_finished(session: Session, tables: JobTables, now: datetime) -> int:
    """Delete completed and failed jobs finished more than 7 days ago."""
    queue = tables.job_queue
    return session.execute(
        delete(queue).where(
            queue.c.status.in_(("completed", "failed")), queue.c.finished_at < now - FINISHED_KEPT
        )
    ).rowcount


def _ours(queue: Table):
    """A runner's claim of a job: still processing under its lock, at its attempt (a runner whose
    lock expired and was taken over no longer matches)."""
    return and_(
        queue.c.id == bindparam("job_id"),
        queue.c.status == "processing",
        queue.c.locked_by == bindparam("claimed_by"),
        queue.c.attempts == bindparam("claimed_attempt"),
    )


class _LostLock(Exception):
    """Another runner took the job over (our lock had expired): our run must not commit."""


class JobRunner:
    """Runs a service's jobs on `threads` threads (jobs mostly wait on outside systems; SKIP LOCKED
    lets the threads and every replica share the queue), woken by NOTIFY when a job is queued.
    The scheduling thread also prunes finished jobs hourly: a delete that any replica may repeat."""

    def __init__(
        self,
        db: Database,
        tables: JobTables,
        jobs: Mapping[str, Job],
        tz: ZoneInfo,
        schedule: tuple[Scheduled, ...] = (),
        *,
        threads: int = 1,
        alert: Alert | None = None,
        lock_timeout: timedelta = LOCK_TIMEOUT,
    ):
        self.db = db
        self.tables = tables
        self.jobs = dict(jobs)
        self.tz = tz
        self.schedule = schedule
        self.threads = threads
        self.alert = alert
        self.lock_timeout = lock_timeout
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:80]
        # Built once (with the lock timeout): every job runs them.
        queue = tables.job_queue
        due = (
            select(queue.c.id)
            .where(
                or_(
                    and_(queue.c.status == "pending", queue.c.scheduled_for <= func.now()),
                    and_(queue.c.status == "processing", queue.c.locked_at < func.now() - lock_timeout),
                )
            )
            .order_by(queue.c.priority.desc(), queue.c.scheduled_for, queue.c.id)
            .limit(bindparam("claim_limit"))
            .with_for_update(skip_locked=True)
        )
        self._claim = (
            update(queue)
            .where(queue.c.id.in_(due.scalar_subquery()))
            .values(
                status="processing",
                locked_at=func.now(),
                locked_by=bindparam("claimed_by"),
                attempts=queue.c.attempts + 1,
            )
            .returning(
                queue.c.id,
                queue.c.kind,
                queue.c.payload,
                queue.c.priority,
                queue.c.scheduled_for,
                queue.c.attempts,
                queue.c.retry_count,
                queue.c.max_retries,
                queue.c.locked_by,
            )
        )
        self._complete = (
            update(queue)
            .where(_ours(queue))
            .values(status="completed", finished_at=func.now(), locked_at=None, locked_by=None)
        )
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

    def claim(self, limit: int = CLAIM_LIMIT) -> list[Any]:
        """Claim up to `limit` due jobs (pending and due, or processing under an expired lock),
        highest priority first, and commit the claim at once."""
        locked_by = f"{self.name}:{threading.current_thread().name}"[:100]
        with self.db.transaction() as session:
            rows = session.execute(self._claim, {"claim_limit": limit, "claimed_by": locked_by}).all()
        return sorted(rows, key=lambda row: (-row.priority, row.scheduled_for, row.id))

    def run_due(self, limit: int = CLAIM_LIMIT) -> int:
        """Claim up to `limit` due jobs and run them; the number run (succeeded or failed)."""
        rows = self.claim(limit)
        for row in rows:
            # Attempts that neither completed nor recorded a failure died with their process: a job
            # that kills its worker would otherwise come back every lock timeout, for ever.
            died = row.attempts - 1 - row.retry_count
            if died >= row.max_retries:
                self._failed(row, RuntimeError(f"{died} attempts died with their process"), gave_up=True)
            else:
                self._run(row)
        return len(rows)

    @staticmethod
    def _claim_of(row) -> dict[str, Any]:
        """The parameters of `_ours` for this runner's claim of the job."""
        return {"job_id": row.id, "claimed_by": row.locked_by, "claimed_attempt": row.attempts}

    def _run(self, row) -> None:
        job = self.jobs.get(row.kind)
        try:
            with self.db.transaction() as session:
                if job is None:
                    raise LookupError(f"no job called {row.kind}")
                job(session, row.payload)
                done = session.execute(self._complete, self._claim_of(row))
                if done.rowcount != 1:
                    raise _LostLock
            observe_job(row.kind, "completed")
        except _LostLock:
            log.warning("job outlived its lock and was taken over", extra={"job": row.kind, "id": row.id})
            observe_job(row.kind, "lost_lock")
        except Exception as exc:
            self._failed(row, exc)

    def _failed(self, row, exc: Exception, *, gave_up: bool = False) -> None:
        queue = self.tables.job_queue
        failures = row.retry_count + 1
        gave_up = gave_up or failures >= row.max_retries
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.log(
            logging.ERROR if gave_up else logging.WARNING,
            "job failed",
            exc_info=exc,
            extra={"job": row.kind, "id": row.id, "failures": failures, "gave_up": gave_up},
        )
        values: dict[str, Any] = {
            "retry_count": failures,
            "last_error": error,
            "locked_at": None,
            "locked_by": None,
        }
        if gave_up:
            values.update(status="failed", finished_at=func.now())
        else:
            values.update(status="pending", scheduled_for=func.now() + retry_delay(failures))
        with self.db.transaction() as session:
            recorded = session.execute(
                update(queue).where(_ours(queue)).values(**values), self._claim_of(row)
            ).rowcount
            if recorded and gave_up and self.alert is not None:
                self.alert(session, FailedJob(row.id, row.kind, row.payload, failures, error))
        observe_job(row.kind, "failed" if gave_up else "retry")

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
        backoff, pruned_at = tick_s, -PRUNE_EVERY_S
        while not stop.is_set():
            try:
                with psycopg.connect(self.db.libpq_url(), autocommit=True) as listener:
                    listener.execute(f"LISTEN {JOBS_CHANNEL}")
                    while not stop.is_set():
                        if fires_schedules:
                            self.fire_due()
                            if monotonic() >= pruned_at + PRUNE_EVERY_S:
                                with self.db.transaction() as session:
                                    prune_finished(session, self.tables, utcnow())
                                pruned_at = monotonic()
                        while self.run_due() and not stop.is_set():
                            pass
                        backoff = tick_s
                        for _ in listener.notifies(timeout=tick_s, stop_after=1):
                            pass
            except (SQLAlchemyError, psycopg.Error) as exc:
                log.warning("job runner: database unavailable", extra={"error": repr(exc)})
                backoff = min(backoff * 2, 10.0)
                stop.wait(backoff)
