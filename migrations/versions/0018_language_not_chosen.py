"""a patient's language may be not chosen yet: the phone's language applies until then

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 11:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Accounts made before now keep the language they were enrolled with. On SQLite
    # this rebuilds `users` (env.py runs it with the keys off and checks them after).
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column(
            'preferred_language', existing_type=sa.String(length=5), nullable=True
        )


def downgrade() -> None:
    op.execute("UPDATE users SET preferred_language = 'en' WHERE preferred_language IS NULL")
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column(
            'preferred_language', existing_type=sa.String(length=5), nullable=False
        )
