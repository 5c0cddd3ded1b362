"""a patient can withdraw a request to change an appointment before it is answered

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:30:00.000000
"""
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def _statuses(statuses: tuple[str, ...]) -> None:
    """Replace the CHECK constraint that lists the statuses a change request may have."""
    listed = ", ".join(f"'{status}'" for status in statuses)
    with op.batch_alter_table('appointment_changes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_appointment_changes_changestatus'), type_='check')
        batch_op.create_check_constraint(op.f('ck_appointment_changes_changestatus'), f"status IN ({listed})")


def upgrade() -> None:
    _statuses(('pending', 'approved', 'offered', 'withdrawn'))


def downgrade() -> None:
    # Code before this knows no withdrawn request, and no other status is true of
    # one (pending would reopen it, offered would claim a move): such rows go; the
    # audit log keeps that each was asked and withdrawn.
    op.execute("DELETE FROM appointment_changes WHERE status = 'withdrawn'")
    _statuses(('pending', 'approved', 'offered'))
