"""board indexes: who attended which session from the index alone; screener totals
per patient and instrument from the index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ATTENDED = sa.text("status IN ('present', 'late')")


def upgrade() -> None:
    op.create_index(
        'ix_attendance_attended',
        'attendance',
        ['group_session_id', 'occurs_on', 'patient_id'],
        postgresql_where=ATTENDED,
        sqlite_where=ATTENDED,
    )
    op.create_index(
        'ix_screener_patient_scores',
        'screener_responses',
        ['patient_id', 'instrument', 'completed_at', 'total'],
    )
    op.drop_index('ix_screener_patient_instrument', table_name='screener_responses')


def downgrade() -> None:
    op.create_index(
        'ix_screener_patient_instrument',
        'screener_responses',
        ['patient_id', 'instrument', 'completed_at'],
    )
    op.drop_index('ix_screener_patient_scores', table_name='screener_responses')
    op.drop_index('ix_attendance_attended', table_name='attendance')
