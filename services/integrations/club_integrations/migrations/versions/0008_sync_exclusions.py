"""sync exclusions: addresses of deleted people, never synced to or from HubSpot again

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_exclusions",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_sync_exclusions")),
    )


def downgrade() -> None:
    op.drop_table("sync_exclusions")
