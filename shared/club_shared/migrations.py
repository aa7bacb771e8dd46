"""The body of every service's Alembic `env.py` (online migrations against the service's database),
and migration steps every service takes alike.

A shared step is history, like any migration: never change one; write a new step instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData, create_engine, pool


def run(metadata: MetaData) -> None:
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        # One migration at a time per database: replicas starting together must not race.
        connection.exec_driver_sql("SELECT pg_advisory_lock(7210001)")
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        connection.exec_driver_sql("SELECT pg_advisory_unlock(7210001)")


# The job queue of club_shared.jobs, from its first form to domain.md §12 (2026-11-25).
def job_queue_to_spec_upgrade() -> None:
    op.add_column("job_queue", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.add_column("job_queue", sa.Column("retry_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("job_queue", sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("job_queue", sa.Column("locked_by", sa.String(length=100), nullable=True))
    op.add_column(
        "job_queue",
        sa.Column(
            "scheduled_for", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
    )
    op.alter_column("job_queue", "max_attempts", new_column_name="max_retries", server_default="3")
    # The old runner kept the next try in run_at and counted every attempt; a pending or dead job's
    # attempts all failed, a done job's last one succeeded.
    op.execute(
        "UPDATE job_queue SET scheduled_for = run_at,"
        " retry_count = CASE WHEN status = 'done' THEN greatest(attempts - 1, 0) ELSE attempts END,"
        " status = CASE status WHEN 'done' THEN 'completed' WHEN 'dead' THEN 'failed' ELSE status END"
    )
    op.drop_index("ix_job_queue_due", table_name="job_queue", postgresql_where=sa.text("status = 'pending'"))
    op.create_index(
        "ix_job_queue_due",
        "job_queue",
        ["scheduled_for"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )


def job_queue_to_spec_downgrade() -> None:
    op.drop_index(
        "ix_job_queue_due",
        table_name="job_queue",
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.execute(
        "UPDATE job_queue SET run_at = scheduled_for,"
        " status = CASE status WHEN 'completed' THEN 'done' WHEN 'failed' THEN 'dead' ELSE 'pending' END"
    )
    op.create_index(
        "ix_job_queue_due",
        "job_queue",
        ["run_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.alter_column("job_queue", "max_retries", new_column_name="max_attempts", server_default="5")
    op.drop_column("job_queue", "scheduled_for")
    op.drop_column("job_queue", "locked_by")
    op.drop_column("job_queue", "locked_at")
    op.drop_column("job_queue", "retry_count")
    op.drop_column("job_queue", "priority")
