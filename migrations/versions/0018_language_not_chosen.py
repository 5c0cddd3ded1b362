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


def _sqlite_keys(on: bool) -> None:
    """SQLite rebuilds `users` to change a column: the rebuild drops the table that
    enrollments, check-ins and the rest point at, which a foreign key check refuses
    while they have rows. Checks are deferred to the commit (the copy has every row
    back by then), and verified before it (as in 0013)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    if on:
        problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
    op.execute(f"PRAGMA defer_foreign_keys={'OFF' if on else 'ON'}")


def upgrade() -> None:
    # Accounts made before now keep the language they were enrolled with.
    _sqlite_keys(on=False)
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column(
            'preferred_language', existing_type=sa.String(length=5), nullable=True
        )
    _sqlite_keys(on=True)


def downgrade() -> None:
    op.execute("UPDATE users SET preferred_language = 'en' WHERE preferred_language IS NULL")
    _sqlite_keys(on=False)
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column(
            'preferred_language', existing_type=sa.String(length=5), nullable=False
        )
    _sqlite_keys(on=True)
