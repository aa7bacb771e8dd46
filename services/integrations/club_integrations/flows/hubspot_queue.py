"""The HubSpot queue (domain.md §8.1): enqueue with priorities, idempotency keys and supersession;
the worker that claims with FOR UPDATE SKIP LOCKED, sends, and retries with back-off.

A job's HTTP calls run outside any database transaction: it is claimed (status processing, locked)
in one, sent, and its outcome written in another. A worker that dies mid-job leaves it processing;
the next run puts it back after 10 minutes.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..domain import hubspot as rules
from ..models import HubspotSyncQueue
from ..outside.hubspot import HubspotClient, HubspotError, writes_enabled
from . import common

log = logging.getLogger(__name__)


def enqueue(
    session: Session,
    action: str,
    entity_id: str,
    payload: dict[str, Any] | None = None,
    *,
    entity_type: str = "contact",
    key: str | None = None,
    priority: int | None = None,
    now: datetime | None = None,
) -> int | None:
    """Queue a job in the caller's transaction; None when its key is already pending or processing.
    A new tier sync for an e-mail supersedes its older queued ones (closed, never sent). Nothing but
    their deletion is queued for the addresses of deleted people."""
    if action not in rules.OPERATIONS:
        raise ValueError(f"unknown HubSpot operation {action}")
    if action != "delete_contact" and common.excluded(session, entity_id):
        return None
    if action == "sync_tier":
        session.execute(
            update(HubspotSyncQueue)
            .where(
                HubspotSyncQueue.action == "sync_tier",
                HubspotSyncQueue.entity_id == entity_id,
                HubspotSyncQueue.status.in_(("pending", "failed")),
                HubspotSyncQueue.idempotency_key.is_distinct_from(key),
            )
            .values(
                status="completed", outcome="superseded", completed_at=now or _db_now(), updated_at=_db_now()
            )
        )
    values: dict[str, Any] = {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "payload": payload or {},
        "priority": priority or rules.priority_of(action),
        "idempotency_key": key,
        "max_retries": rules.MAX_RETRIES,
    }
    if now is not None:
        values.update(created_at=now, next_retry_at=now, updated_at=now)
    statement = insert(HubspotSyncQueue).values(**values).returning(HubspotSyncQueue.id)
    if key is not None:
        statement = statement.on_conflict_do_nothing(
            index_elements=[HubspotSyncQueue.idempotency_key],
            index_where=text("status IN ('pending', 'processing', 'failed') AND idempotency_key IS NOT NULL"),
        )
    return session.scalar(statement)


def _db_now():
    from sqlalchemy import func

    return func.now()


@dataclass
class RunReport:
    requeued: int = 0
    claimed: int = 0
    completed: int = 0
    failed: int = 0
    dead: int = 0


class QueueWorker:
    """One run of the queue (every 2 minutes): requeue stale jobs, claim up to 50, send them."""

    def __init__(
        self,
        runtime: Runtime,
        client: HubspotClient,
        *,
        clock: Callable[[], datetime],
        jitter: Callable[[], float] | None = None,
    ):
        self.runtime = runtime
        self.client = client
        self.clock = clock
        self.jitter = jitter
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        from .hubspot_sync import Executor

        self.executor = Executor(runtime, client)

    def run_once(self) -> RunReport:
        report = RunReport()
        now = self.clock()
        report.requeued = self.requeue_stale(now)
        for job_id in self.claim(now):
            report.claimed += 1
            outcome = self.work(job_id)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def requeue_stale(self, now: datetime) -> int:
        with self.runtime.db.transaction() as session:
            result = session.execute(
                update(HubspotSyncQueue)
                .where(
                    HubspotSyncQueue.status == "processing",
                    HubspotSyncQueue.locked_at < now - rules.STALE_AFTER,
                )
                .values(
                    status="pending",
                    next_retry_at=now + rules.STALE_RETRY_IN,
                    locked_at=None,
                    locked_by=None,
                    last_error="processing for more than 10 minutes: put back",
                    updated_at=now,
                )
            )
            return result.rowcount or 0

    def claim(self, now: datetime) -> list[int]:
        with self.runtime.db.transaction() as session:
            ids = session.scalars(
                select(HubspotSyncQueue.id)
                .where(
                    HubspotSyncQueue.status.in_(("pending", "failed")), HubspotSyncQueue.next_retry_at <= now
                )
                .order_by(HubspotSyncQueue.priority, HubspotSyncQueue.created_at, HubspotSyncQueue.id)
                .limit(rules.CLAIM_LIMIT)
                .with_for_update(skip_locked=True)
            ).all()
            if ids:
                session.execute(
                    update(HubspotSyncQueue)
                    .where(HubspotSyncQueue.id.in_(ids))
                    .values(status="processing", locked_at=now, locked_by=self.worker_id, updated_at=now)
                )
            return list(ids)

    def work(self, job_id: int) -> str:
        with self.runtime.db.transaction() as session:
            job = session.get(HubspotSyncQueue, job_id)
            action, entity_id, payload = job.action, job.entity_id, dict(job.payload)
        try:
            if writes_enabled(self.runtime.settings):
                outcome = self.executor.run(action, entity_id, payload)
            else:
                outcome = "blocked"
        except HubspotError as exc:
            return self._failed(job_id, exc.failure)
        except Exception as exc:  # a bug or an outage of our own database: retried like any failure
            log.exception("HubSpot job failed", extra={"job_id": job_id})
            return self._failed(job_id, rules.Failure("retry", f"{type(exc).__name__}: {exc}"[:500]))
        now = self.clock()
        with self.runtime.db.transaction() as session:
            session.execute(
                update(HubspotSyncQueue)
                .where(HubspotSyncQueue.id == job_id, HubspotSyncQueue.status == "processing")
                .values(
                    status="completed",
                    outcome=outcome,
                    completed_at=now,
                    locked_at=None,
                    locked_by=None,
                    last_error=None,
                    updated_at=now,
                )
            )
        return "completed"

    def _failed(self, job_id: int, failure: rules.Failure) -> str:
        now = self.clock()
        with self.runtime.db.transaction() as session:
            job = session.get(HubspotSyncQueue, job_id, with_for_update=True)
            if job.status != "processing":
                return "failed"
            job.locked_at = job.locked_by = None
            job.last_error = failure.message[:2000]
            job.updated_at = now
            if failure.kind == "dead":
                job.status, job.outcome, job.completed_at = "dead", "gave_up", now
            else:
                job.retry_count += 1
                if job.retry_count > job.max_retries:
                    job.status, job.outcome, job.completed_at = "dead", "gave_up", now
                else:
                    wait = rules.backoff(job.retry_count, self.jitter() if self.jitter else None)
                    if failure.retry_after_s:
                        wait = max(wait, timedelta(seconds=failure.retry_after_s))
                    job.status, job.next_retry_at = "failed", now + wait
            if job.status == "dead":
                common.alert_staff(
                    self.runtime,
                    session,
                    "integration_error",
                    f"HubSpot sync gave up: {job.action} {job.entity_id}",
                    f"Job {job.id} ({job.action} for {job.entity_id}) is dead after "
                    f"{job.retry_count} retries: {failure.message[:500]}",
                    link="/staff/hubspot/queue?status=dead",
                    urgent=failure.kind == "dead",
                )
                return "dead"
            return "failed"
