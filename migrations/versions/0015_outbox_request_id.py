"""outbox rows keep the id of the request that made them

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-07 04:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('push_deliveries') as batch:
        batch.add_column(sa.Column('request_id', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('push_deliveries') as batch:
        batch.drop_column('request_id')
