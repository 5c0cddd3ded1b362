"""messages keep the key the phone sent them under, so a resend is not a second message

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 07:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Messages sent before now have no key (NULL never collides).
    with op.batch_alter_table('messages') as batch_op:
        batch_op.add_column(sa.Column('sent_key', sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint('uq_messages_author_id', ['author_id', 'sent_key'])


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch_op:
        batch_op.drop_constraint('uq_messages_author_id', type_='unique')
        batch_op.drop_column('sent_key')
