"""screener responses keep the language the questionnaire was shown in

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07 07:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every response stored before now was shown in English.
    with op.batch_alter_table('screener_responses') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), nullable=False, server_default='en'))
    with op.batch_alter_table('screener_responses') as batch_op:
        batch_op.alter_column('language', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('screener_responses') as batch_op:
        batch_op.drop_column('language')
