"""The job queue and the once-per-period scheduler, against the real PostgreSQL."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time as clock
from datetime import UTC, datetime, time, timedelta

import psycopg
import pytest
from sqlalchemy import Column, Integer, String, Table, func, select, update

from club_shared.clubtime import zone
from club_shared.config import with_database
from club_shared.db import Database, drop_database, ensure_database
from club_shared.jobs import (
    JOBS_CHANNEL,
    Daily,
    Every,
    JobRunner,
    Scheduled,
    enqueue,
    job_tables,
    prune_finished,
    retry_delay,
)
from club_shared.models import new_metadata

LA = zone("America/Los_Angeles")
metadata = new_metadata()
TABLES = job_tables(metadata)
QUEUE = TABLES.job_queue
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
    session.execute(effects.insert().values(what=payload.get("period", payload.get("name", "ran"))))


def fail(session, payload):
    session.execute(effects.insert().values(what="half-done"))
    raise RuntimeError("outside system down")


def count(db, table=effects):
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(table))


def job_row(db, job_id):
    with db.transaction() as session:
        return session.execute(select(QUEUE).where(QUEUE.c.id == job_id)).one()


def make_due(db, job_id):
    with db.transaction() as session:
        session.execute(update(QUEUE).where(QUEUE.c.id == job_id).values(scheduled_for=func.now()))


def test_a_job_runs_only_if_its_transaction_commits(db):
    runner = JobRunner(db, TABLES, {"record": record}, LA)
    with pytest.raises(RuntimeError), db.transaction() as session:
        enqueue(session, TABLES, "record")
        raise RuntimeError("the change failed")
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "record")
    assert runner.run_due() == 1
    assert runner.run_due() == 0
    assert count(db) == 1
    row = job_row(db, job_id)
    assert (row.status, row.attempts, row.retry_count) == ("completed", 1, 0)
    assert row.locked_at is None and row.locked_by is None and row.finished_at is not None


def test_a_committed_job_wakes_the_runner_once_per_transaction(db):
    with psycopg.connect(db.libpq_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {JOBS_CHANNEL}")
        with db.transaction() as session:
            enqueue(session, TABLES, "record")
            enqueue(session, TABLES, "record")
        woken = list(listener.notifies(timeout=2, stop_after=2))
    assert [n.channel for n in woken] == [JOBS_CHANNEL]


def test_the_job_row_is_not_locked_while_the_job_runs(db):
    """Claim, commit, then run: another connection can lock and update the running job's row."""
    seen = {}

    def look_at_myself(session, payload):
        with psycopg.connect(db.libpq_url(), autocommit=True) as other:
            other.execute("SET lock_timeout = '500ms'")
            with other.transaction():
                seen["row"] = other.execute(
                    "SELECT status, attempts, locked_by IS NOT NULL FROM job_queue WHERE id = %s FOR UPDATE NOWAIT",
                    (payload["id"],),
                ).fetchone()
                other.execute("UPDATE job_queue SET last_error = 'looked at' WHERE id = %s", (payload["id"],))
        session.execute(effects.insert().values(what="done"))

    runner = JobRunner(db, TABLES, {"look": look_at_myself}, LA)
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "look")
        session.execute(update(QUEUE).where(QUEUE.c.id == job_id).values(payload={"id": job_id}))
    assert runner.run_due() == 1
    assert seen["row"] == ("processing", 1, True)
    row = job_row(db, job_id)
    assert (row.status, row.last_error) == ("completed", "looked at")
    assert count(db) == 1  # the job's own write committed with its completion


def test_higher_priority_runs_first_then_the_earliest_due(db):
    runner = JobRunner(db, TABLES, {"record": record}, LA)
    with db.transaction() as session:
        for name, priority in (("low", 0), ("high", 10), ("mid", 5), ("high-later", 10)):
            enqueue(session, TABLES, "record", {"name": name}, priority=priority)
    while runner.run_due(limit=1):
        pass
    with db.transaction() as session:
        ran = session.scalars(select(effects.c.what).order_by(effects.c.id)).all()
    assert ran == ["high", "high-later", "mid", "low"]


def test_a_poller_claims_at_most_five_jobs(db):
    runner = JobRunner(db, TABLES, {"record": record}, LA)
    with db.transaction() as session:
        for n in range(7):
            enqueue(session, TABLES, "record", {"name": str(n)})
    assert runner.run_due() == 5
    assert runner.run_due() == 2


def test_the_back_off_doubles_from_a_minute_up_to_an_hour():
    assert [retry_delay(n) for n in (1, 2, 3, 4, 6, 7, 20)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(minutes=32),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_a_failing_job_backs_off_then_fails_after_three_and_alerts_the_staff(db):
    alerts = []

    def alert(session, failed):
        session.execute(effects.insert().values(what="alerted"))  # in the job's last transaction
        alerts.append(failed)

    runner = JobRunner(db, TABLES, {"fail": fail}, LA, alert=alert)
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "fail", {"booking_id": 7})
    for failures, wait in ((1, 60), (2, 120)):
        started = datetime.now(UTC)
        assert runner.run_due() == 1
        row = job_row(db, job_id)
        assert (row.status, row.retry_count, row.attempts) == ("pending", failures, failures)
        assert row.locked_at is None and row.locked_by is None
        assert "outside system down" in row.last_error
        assert timedelta(seconds=wait - 5) < row.scheduled_for - started < timedelta(seconds=wait + 5)
        assert runner.run_due() == 0  # not before its time
        assert alerts == []
        make_due(db, job_id)
    assert runner.run_due() == 1
    row = job_row(db, job_id)
    assert (row.status, row.retry_count, row.max_retries) == ("failed", 3, 3)
    assert row.finished_at is not None
    [failed] = alerts
    assert (failed.id, failed.kind, failed.payload, failed.retry_count) == (
        job_id,
        "fail",
        {"booking_id": 7},
        3,
    )
    assert "outside system down" in failed.error
    with db.transaction() as session:  # the job's writes were undone each time; the alert stayed
        assert session.scalars(select(effects.c.what)).all() == ["alerted"]
    make_due(db, job_id)
    assert runner.run_due() == 0  # failed is final


def test_an_unknown_kind_fails_like_any_error(db):
    runner = JobRunner(db, TABLES, {}, LA)
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "nobody", max_retries=1)
    assert runner.run_due() == 1
    row = job_row(db, job_id)
    assert row.status == "failed" and "no job called nobody" in row.last_error


def test_a_lock_older_than_five_minutes_is_free_again(db):
    runner = JobRunner(db, TABLES, {"record": record}, LA)
    with db.transaction() as session:
        stale, fresh = (enqueue(session, TABLES, "record", {"name": name}) for name in ("stale", "fresh"))
        for job_id, age in ((stale, timedelta(minutes=5, seconds=5)), (fresh, timedelta(minutes=4))):
            session.execute(
                update(QUEUE)
                .where(QUEUE.c.id == job_id)
                .values(status="processing", attempts=1, locked_by="dead:1", locked_at=func.now() - age)
            )
    assert runner.run_due() == 1
    assert (job_row(db, stale).status, job_row(db, stale).attempts) == ("completed", 2)
    assert job_row(db, fresh).status == "processing"
    with db.transaction() as session:
        assert session.scalars(select(effects.c.what)).all() == ["stale"]


def test_a_run_that_outlived_its_lock_does_not_commit(db):
    """Runner A's job is slow; its lock expires and B runs the job: A's writes are dropped."""
    b = JobRunner(db, TABLES, {"record": record}, LA, lock_timeout=timedelta(milliseconds=200))

    def slow(session, payload):
        session.execute(effects.insert().values(what="a"))
        clock.sleep(0.4)
        assert b.run_due() == 1  # B finds the expired lock and runs the job to completion

    a = JobRunner(db, TABLES, {"record": slow}, LA)
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "record", {"name": "b"})
    assert a.run_due() == 1
    row = job_row(db, job_id)
    assert (row.status, row.attempts, row.retry_count) == ("completed", 2, 0)
    with db.transaction() as session:
        assert session.scalars(select(effects.c.what)).all() == ["b"]


def test_two_runners_never_run_one_job_twice(db):
    with db.transaction() as session:
        for n in range(60):
            enqueue(session, TABLES, "record", {"name": str(n)})

    def slow_record(session, payload):
        clock.sleep(0.005)
        record(session, payload)

    runners = [JobRunner(db, TABLES, {"record": slow_record}, LA) for _ in range(4)]
    barrier = threading.Barrier(2 * len(runners))
    ran = []

    def work(runner):
        barrier.wait()
        while n := runner.run_due():
            ran.append(n)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ran) == 60
    with db.transaction() as session:
        names = session.scalars(select(effects.c.what)).all()
        assert sorted(names, key=int) == [str(n) for n in range(60)]
        assert set(session.scalars(select(QUEUE.c.status))) == {"completed"}


CHILD = textwrap.dedent(
    """
    import sys, time
    from zoneinfo import ZoneInfo
    from club_shared.db import Database
    from club_shared.jobs import JobRunner, job_tables
    from club_shared.models import new_metadata

    def hang(session, payload):
        print("running", flush=True)
        time.sleep(600)

    tables = job_tables(new_metadata())
    JobRunner(Database(sys.argv[1]), tables, {"record": hang}, ZoneInfo("UTC")).run_due()
    """
)


def test_a_job_whose_process_is_killed_runs_again_once_its_lock_expires(db):
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "record", {"name": "again"})
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db.url], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert child.stdout.readline().strip() == "running"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    row = job_row(db, job_id)
    assert (row.status, row.attempts) == ("processing", 1) and row.locked_by

    runner = JobRunner(db, TABLES, {"record": record}, LA, lock_timeout=timedelta(seconds=1))
    killed_at = clock.monotonic()
    while not runner.run_due():
        assert clock.monotonic() - killed_at < 10, "the dead process's lock never expired"
        clock.sleep(0.1)
    row = job_row(db, job_id)
    assert (row.status, row.attempts, row.retry_count) == ("completed", 2, 0)
    with db.transaction() as session:
        assert session.scalars(select(effects.c.what)).all() == ["again"]


def test_a_job_that_keeps_killing_its_process_fails_instead_of_coming_back_for_ever(db):
    """Three attempts that died unfinished (lock expired, nothing recorded) and the fourth claim gives
    up without running it, and the staff hear of it."""
    alerts = []
    ran = []
    runner = JobRunner(
        db,
        TABLES,
        {"record": lambda session, payload: ran.append(payload)},
        LA,
        alert=lambda session, failed: alerts.append(failed),
    )
    with db.transaction() as session:
        job_id = enqueue(session, TABLES, "record", {"name": "poison"})
        session.execute(
            update(QUEUE)
            .where(QUEUE.c.id == job_id)
            .values(
                status="processing", attempts=3, locked_by="dead:1", locked_at=func.now() - timedelta(hours=1)
            )
        )
    assert runner.run_due() == 1
    row = job_row(db, job_id)
    assert (row.status, row.attempts) == ("failed", 4) and "3 attempts died" in row.last_error
    assert ran == [] and [failed.id for failed in alerts] == [job_id]


def test_finished_jobs_are_pruned_after_seven_days(db):
    now = datetime.now(UTC)
    with db.transaction() as session:
        ids = {}
        for name, status, age in (
            ("old-completed", "completed", timedelta(days=7, minutes=1)),
            ("old-failed", "failed", timedelta(days=8)),
            ("recent", "completed", timedelta(days=6)),
            ("pending", "pending", None),
        ):
            ids[name] = enqueue(session, TABLES, "record")
            session.execute(
                update(QUEUE)
                .where(QUEUE.c.id == ids[name])
                .values(status=status, finished_at=now - age if age else None)
            )
        assert prune_finished(session, TABLES, now) == 2
    with db.transaction() as session:
        assert set(session.scalars(select(QUEUE.c.id))) == {ids["recent"], ids["pending"]}


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
