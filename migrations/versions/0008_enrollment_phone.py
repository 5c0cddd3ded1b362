"""enrollment phone: the patient's mobile number, entered by admin staff

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for every enrollment made before: admin staff fill it in.
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mobile_phone', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_column('mobile_phone')
