"""loops that close: what was arranged for the patient and whether they got the help
(on a request); a patient's notice that they will be late or cannot come to a
session; a patient's request to change an appointment and staff's answer; the
notification kind that tells staff such a request waits

Revision ID: 0012
Revises: 0015
Create Date: 2026-12-07 03:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0012'
down_revision = '0015'
branch_labels = None
depends_on = None

KINDS = (
    "new_message",
    "need_update",
    "session_reminder",
    "checkin_reminder",
    "schedule_change",
    "risk_escalation",
    "announcement",
    "authorization_review",
)


def _notification_kinds(kinds: tuple[str, ...]) -> None:
    """Replace the CHECK constraint that lists the kinds a notification may have."""
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notificationkind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_notificationkind'), f"kind IN ({listed})")


def upgrade() -> None:
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_outcome_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('help_received', sa.Enum('yes', 'no', 'partly', name='helpanswer', native_enum=False, length=10, create_constraint=True), nullable=True))
        batch_op.add_column(sa.Column('help_received_at', portal.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table('session_notices',
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('group_session_id', sa.String(length=36), nullable=False),
    sa.Column('occurs_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.Enum('late', 'absent', name='noticekind', native_enum=False, length=10, create_constraint=True), nullable=False),
    sa.Column('reason', sa.Enum('sick', 'ride', 'family', 'work', 'other_appointment', 'other', name='noticereason', native_enum=False, length=20, create_constraint=True), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_session_id'], ['group_sessions.id'], name=op.f('fk_session_notices_group_session_id_group_sessions')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_session_notices_patient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_notices')),
    sa.UniqueConstraint('patient_id', 'group_session_id', 'occurs_on', name=op.f('uq_session_notices_patient_id'))
    )
    with op.batch_alter_table('session_notices', schema=None) as batch_op:
        batch_op.create_index('ix_session_notices_day', ['occurs_on', 'group_session_id'], unique=False)

    op.create_table('appointment_changes',
    sa.Column('appointment_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('was_starts_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wanted_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('status', sa.Enum('pending', 'approved', 'offered', name='changestatus', native_enum=False, length=10, create_constraint=True), nullable=False),
    sa.Column('answered_by_id', sa.String(length=36), nullable=True),
    sa.Column('answered_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('new_starts_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('staff_note', sa.String(length=300), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_appointment_changes_answered_by_id_users')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_appointment_changes_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_appointment_changes_patient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_changes'))
    )
    with op.batch_alter_table('appointment_changes', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_changes_appointment', ['appointment_id', 'created_at'], unique=False)
        batch_op.create_index('ix_appointment_changes_patient', ['patient_id', 'created_at'], unique=False)
        batch_op.create_index('ix_appointment_changes_pending', ['status', 'created_at'], unique=False)

    _notification_kinds(KINDS + ("appointment_change",))


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'appointment_change'")
    _notification_kinds(KINDS)
    with op.batch_alter_table('appointment_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_appointment_changes_pending')
        batch_op.drop_index('ix_appointment_changes_patient')
        batch_op.drop_index('ix_appointment_changes_appointment')
    op.drop_table('appointment_changes')
    with op.batch_alter_table('session_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_session_notices_day')
    op.drop_table('session_notices')
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.drop_column('help_received_at')
        batch_op.drop_constraint(op.f('ck_needs_helpanswer'), type_='check')
        batch_op.drop_column('help_received')
        batch_op.drop_column('patient_outcome_note')
