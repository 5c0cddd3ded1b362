"""checkin submissions: every check-in key used, not only the latest of the day

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checkin_submissions',
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('checkin_id', sa.String(length=36), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('feels_safe', sa.Boolean(), nullable=False),
    sa.Column('received_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkin_id'], ['checkins.id'], name=op.f('fk_checkin_submissions_checkin_id_checkins'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_checkin_submissions_patient_id_users')),
    sa.PrimaryKeyConstraint('idempotency_key', name=op.f('pk_checkin_submissions'))
    )
    with op.batch_alter_table('checkin_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkin_submissions_checkin_id'), ['checkin_id'], unique=False)

    # Each check-in's current key is a used key. The earlier keys of its day were
    # overwritten before this table existed and cannot be recovered.
    op.execute(
        "INSERT INTO checkin_submissions"
        " (idempotency_key, patient_id, checkin_id, local_date, feels_safe, received_at)"
        " SELECT idempotency_key, patient_id, id, local_date, feels_safe, updated_at"
        " FROM checkins"
    )


def downgrade() -> None:
    # checkins.idempotency_key still holds each day's latest key: nothing to move back.
    with op.batch_alter_table('checkin_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkin_submissions_checkin_id'))

    op.drop_table('checkin_submissions')
