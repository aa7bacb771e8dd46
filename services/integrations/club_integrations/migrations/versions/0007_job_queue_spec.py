"""job queue to spec: priority, retries, locks, next eligible time; statuses completed/failed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 03:20:00.000000
"""
from club_shared import migrations

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The same step in every service (the job queue is club_shared.jobs's).
upgrade = migrations.job_queue_to_spec_upgrade
downgrade = migrations.job_queue_to_spec_downgrade
