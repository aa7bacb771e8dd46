"""The job queue and the once-per-period scheduler, against the real PostgreSQL."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Column, Integer, String, Table, func, select, update

from club_shared.clubtime import zone
from club_shared.config import with_database
from club_shared.db import Database, drop_database, ensure_database
from club_shared.jobs import Daily, Every, JobRunner, Scheduled, enqueue, job_tables
from club_shared.models import new_metadata

LA = zone("America/Los_Angeles")
metadata = new_metadata()
TABLES = job_tables(metadata)
effects = Table("effects", metadata, Column("id", Integer, primary_key=True), Column("what", String(50)))


@pytest.fixture(scope="module")
def db(pg_url, run_id):
    url = with_database(pg_url, f"club_t{run_id}_jobs")
    ensure_database(url)
    database = Database(url)
    metadata.create_all(database.engine)
    yield database
    database.dispose()
    drop_database(url)


@pytest.fixture(autouse=True)
def empty(db):
    with db.transaction() as session:
        for table in (TABLES.job_queue, TABLES.scheduler_claims, effects):
            session.execute(table.delete())


def record(session, payload):
    session.execute(effects.insert().values(what=payload.get("period", "ran")))


def fail(session, payload):
    session.execute(effects.insert().values(what="half-done"))
    raise RuntimeError("outside system down")


def count(db, table=effects):
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_a_job_runs_only_if_its_transaction_commits(db):
    runner = JobRunner(db, TABLES, {"record": record}, LA)
    with pytest.raises(RuntimeError), db.transaction() as session:
        enqueue(session, TABLES, "record")
        raise RuntimeError("the change failed")
    with db.transaction() as session:
        enqueue(session, TABLES, "record")
    assert runner.run_due() == 1
    assert runner.run_due() == 0
    assert count(db) == 1


def test_a_failing_job_is_retried_with_back_off_then_dead_and_its_writes_undone(db):
    runner = JobRunner(db, TABLES, {"fail": fail}, LA)
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "fail", max_attempts=2)
    assert runner.run_due() == 1
    queue = TABLES.job_queue
    with db.transaction() as session:
        row = session.execute(select(queue).where(queue.c.id == job_id)).one()
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.run_at > datetime.now(UTC) + timedelta(seconds=20)
        assert "outside system down" in row.last_error
        session.execute(update(queue).where(queue.c.id == job_id).values(run_at=func.now()))
    assert runner.run_due() == 1
    with db.transaction() as session:
        assert session.scalar(select(queue.c.status).where(queue.c.id == job_id)) == "dead"
    assert count(db) == 0


def test_daily_fires_once_per_club_day_whatever_the_replicas(db):
    schedule = (Scheduled("record", Daily(time(18, 0))),)
    replicas = [JobRunner(db, TABLES, {"record": record}, LA, schedule) for _ in range(8)]
    before = datetime(2026, 11, 25, 1, 59, tzinfo=UTC)  # 17:59 on the 24th in Los Angeles
    after = datetime(2026, 11, 25, 2, 1, tzinfo=UTC)  # 18:01
    assert all(r.fire_due(before) == [] for r in replicas)

    barrier = threading.Barrier(len(replicas))
    fired = []

    def fire(runner):
        barrier.wait()
        fired.extend(runner.fire_due(after))

    threads = [threading.Thread(target=fire, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fired == ["record"]
    assert replicas[0].run_due() == 1
    with db.transaction() as session:
        assert session.scalars(select(effects.c.what)).all() == ["2026-11-24"]
    # Later the same club day: nothing more. The next club day: once more.
    assert replicas[1].fire_due(after + timedelta(hours=5)) == []
    assert replicas[1].fire_due(after + timedelta(days=1)) == ["record"]


def test_every_interval_periods_agree_across_replicas(db):
    schedule = (Scheduled("record", Every(timedelta(minutes=10))),)
    a, b = (JobRunner(db, TABLES, {"record": record}, LA, schedule) for _ in range(2))
    now = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
    assert a.fire_due(now) == ["record"]
    assert b.fire_due(now + timedelta(minutes=5)) == []
    assert b.fire_due(now + timedelta(minutes=10)) == ["record"]


def test_a_worker_with_schedulers_disabled_runs_jobs_but_fires_no_schedule(db, service_runtime):
    import threading
    from dataclasses import replace

    from club_shared.worker import start_worker

    runtime = service_runtime("notifications")
    runtime.settings = replace(runtime.settings, schedulers_enabled=False)
    runner = JobRunner(
        db, TABLES, {"record": record}, LA, (Scheduled("record", Every(timedelta(minutes=1))),)
    )
    stop = threading.Event()
    threads = start_worker(runtime, {}, stop, runner)
    try:
        assert runner.schedule == ()
        assert runner.fire_due() == []
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
