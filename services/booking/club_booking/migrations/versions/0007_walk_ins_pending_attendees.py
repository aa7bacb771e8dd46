"""walk-in visits; Eventbrite attendees waiting for their event

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 03:15:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('walk_in_visits',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('member_email', sa.String(length=320), nullable=False),
    sa.Column('visited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_in_by', sa.String(length=320), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.CheckConstraint("method IN ('qr', 'manual')", name=op.f('ck_walk_in_visits_method')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_walk_in_visits'))
    )
    op.create_index('ix_walk_in_visits_member_id_visited_at', 'walk_in_visits', ['member_id', 'visited_at'], unique=False)
    op.create_index('ix_walk_in_visits_visited_at', 'walk_in_visits', ['visited_at'], unique=False)
    op.create_table('pending_eventbrite_attendees',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('eventbrite_event_id', sa.String(length=100), nullable=False),
    sa.Column('attendee', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_eventbrite_attendees'))
    )
    op.create_index(op.f('ix_pending_eventbrite_attendees_eventbrite_event_id'), 'pending_eventbrite_attendees', ['eventbrite_event_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_pending_eventbrite_attendees_eventbrite_event_id'), table_name='pending_eventbrite_attendees')
    op.drop_table('pending_eventbrite_attendees')
    op.drop_index('ix_walk_in_visits_visited_at', table_name='walk_in_visits')
    op.drop_index('ix_walk_in_visits_member_id_visited_at', table_name='walk_in_visits')
    op.drop_table('walk_in_visits')
