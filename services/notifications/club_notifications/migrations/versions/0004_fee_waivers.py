"""fee waivers awaiting an admin's review (read model of billing.fee.waived)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_waivers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("line_key", sa.String(length=12), nullable=False),
        sa.Column("member_email", sa.String(length=320), nullable=False),
        sa.Column("member_name", sa.String(length=200), nullable=True),
        sa.Column("participant_name", sa.String(length=200), nullable=True),
        sa.Column("club_date", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("waived_by", sa.String(length=320), nullable=False),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_waivers")),
        sa.UniqueConstraint("booking_id", "line_key", name=op.f("uq_fee_waivers_booking_id")),
    )
    op.create_index(
        "ix_fee_waivers_unreviewed",
        "fee_waivers",
        ["waived_at"],
        unique=False,
        postgresql_where=sa.text("reviewed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_fee_waivers_unreviewed", table_name="fee_waivers", postgresql_where=sa.text("reviewed_at IS NULL")
    )
    op.drop_table("fee_waivers")
