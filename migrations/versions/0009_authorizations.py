"""authorizations: coverage, payer authorizations and their history, statements of
medical necessity, review packets and their files; a track's minimum daily hours; a
payer as the recipient of a payment consent and a disclosure; the notification kind
for authorizations that need review

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:33:03.676926
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0009'
down_revision = '0008'
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
)


def _notification_kinds(kinds: tuple[str, ...]) -> None:
    """Replace the CHECK constraint that lists the kinds a notification may have."""
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notificationkind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_notificationkind'), f"kind IN ({listed})")


def upgrade() -> None:
    op.create_table('coverage_changes',
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=36), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_coverage_changes_actor_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_coverage_changes_patient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverage_changes'))
    )
    with op.batch_alter_table('coverage_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coverage_changes_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_coverage_changes_subject', ['subject_id', 'at'], unique=False)

    op.create_table('coverages',
    sa.Column('enrollment_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('payer', sa.String(length=120), nullable=False),
    sa.Column('plan', sa.String(length=120), nullable=True),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_coverages_enrollment_id_enrollments')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_coverages_patient_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_coverages_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverages'))
    )
    with op.batch_alter_table('coverages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coverages_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coverages_patient_id'), ['patient_id'], unique=False)

    op.create_table('authorizations',
    sa.Column('coverage_id', sa.String(length=36), nullable=False),
    sa.Column('enrollment_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('level_of_care', sa.Enum('IOP', 'PHP', name='levelofcare', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('focus', sa.Enum('mental_health', 'substance_use', name='carefocus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('service_code', sa.String(length=8), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('requested', 'approved', 'denied', 'partly_approved', 'extended', 'ended', name='authorizationstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('denial_reason', sa.String(length=300), nullable=True),
    sa.Column('appeal_by', sa.Date(), nullable=True),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coverage_id'], ['coverages.id'], name=op.f('fk_authorizations_coverage_id_coverages')),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_authorizations_enrollment_id_enrollments')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_authorizations_patient_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_authorizations_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorizations'))
    )
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorizations_coverage_id'), ['coverage_id'], unique=False)
        batch_op.create_index('ix_authorizations_patient_dates', ['patient_id', 'starts_on'], unique=False)
        batch_op.create_index('ix_authorizations_program_review', ['program_id', 'next_review_on'], unique=False)

    op.create_table('necessity_statements',
    sa.Column('authorization_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author_id', sa.String(length=36), nullable=False),
    sa.Column('written_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('signed_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signer_id', sa.String(length=36), nullable=True),
    sa.Column('signer_name', sa.String(length=120), nullable=True),
    sa.Column('signer_role', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_necessity_statements_author_id_users')),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_necessity_statements_authorization_id_authorizations')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_necessity_statements_patient_id_users')),
    sa.ForeignKeyConstraint(['signer_id'], ['users.id'], name=op.f('fk_necessity_statements_signer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_necessity_statements')),
    sa.UniqueConstraint('authorization_id', 'version', name=op.f('uq_necessity_statements_authorization_id'))
    )
    with op.batch_alter_table('necessity_statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_necessity_statements_patient_id'), ['patient_id'], unique=False)

    op.create_table('review_packets',
    sa.Column('authorization_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('statement_id', sa.String(length=36), nullable=True),
    sa.Column('made_by_id', sa.String(length=36), nullable=False),
    sa.Column('made_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_to', sa.String(length=120), nullable=True),
    sa.Column('released_by_id', sa.String(length=36), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_review_packets_authorization_id_authorizations')),
    sa.ForeignKeyConstraint(['made_by_id'], ['users.id'], name=op.f('fk_review_packets_made_by_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_review_packets_patient_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_review_packets_program_id_programs')),
    sa.ForeignKeyConstraint(['released_by_id'], ['users.id'], name=op.f('fk_review_packets_released_by_id_users')),
    sa.ForeignKeyConstraint(['statement_id'], ['necessity_statements.id'], name=op.f('fk_review_packets_statement_id_necessity_statements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_packets'))
    )
    with op.batch_alter_table('review_packets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_packets_authorization_id'), ['authorization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_packets_patient_id'), ['patient_id'], unique=False)

    op.create_table('review_files',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('packet_id', sa.String(length=36), nullable=True),
    sa.Column('filename', sa.String(length=80), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('made_by_id', sa.String(length=36), nullable=False),
    sa.Column('made_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['made_by_id'], ['users.id'], name=op.f('fk_review_files_made_by_id_users')),
    sa.ForeignKeyConstraint(['packet_id'], ['review_packets.id'], name=op.f('fk_review_files_packet_id_review_packets')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_review_files_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_files'))
    )
    with op.batch_alter_table('review_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_files_packet_id'), ['packet_id'], unique=False)
        batch_op.create_index('ix_review_files_program_made', ['program_id', 'made_at'], unique=False)

    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=120), nullable=True))
        batch_op.alter_column('client_id',
               existing_type=sa.VARCHAR(length=36),
               nullable=True)

    with op.batch_alter_table('record_consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=120), nullable=True))
        batch_op.alter_column('client_id',
               existing_type=sa.VARCHAR(length=36),
               nullable=True)

    # Tracks made before: 4 hours a day for PHP, 3 for IOP, as new tracks get.
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('minimum_daily_hours', sa.Numeric(precision=3, scale=1), nullable=True))
    op.execute(
        "UPDATE tracks SET minimum_daily_hours ="
        " CASE WHEN level_of_care = 'PHP' THEN 4 ELSE 3 END"
    )
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.alter_column('minimum_daily_hours', existing_type=sa.Numeric(precision=3, scale=1), nullable=False)

    _notification_kinds(KINDS + ("authorization_review",))



def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'authorization_review'")
    _notification_kinds(KINDS)
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_column('minimum_daily_hours')

    # A payer is no EHR client: its consents and disclosures cannot go back.
    op.execute("DELETE FROM disclosures WHERE client_id IS NULL")
    op.execute(
        "UPDATE disclosures SET consent_id = NULL WHERE consent_id IN"
        " (SELECT id FROM record_consents WHERE client_id IS NULL)"
    )
    op.execute("DELETE FROM record_consents WHERE client_id IS NULL")

    with op.batch_alter_table('record_consents', schema=None) as batch_op:
        batch_op.alter_column('client_id',
               existing_type=sa.VARCHAR(length=36),
               nullable=False)
        batch_op.drop_column('recipient')

    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.alter_column('client_id',
               existing_type=sa.VARCHAR(length=36),
               nullable=False)
        batch_op.drop_column('recipient')

    with op.batch_alter_table('review_files', schema=None) as batch_op:
        batch_op.drop_index('ix_review_files_program_made')
        batch_op.drop_index(batch_op.f('ix_review_files_packet_id'))

    op.drop_table('review_files')
    with op.batch_alter_table('review_packets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_packets_patient_id'))
        batch_op.drop_index(batch_op.f('ix_review_packets_authorization_id'))

    op.drop_table('review_packets')
    with op.batch_alter_table('necessity_statements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_necessity_statements_patient_id'))

    op.drop_table('necessity_statements')
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.drop_index('ix_authorizations_program_review')
        batch_op.drop_index('ix_authorizations_patient_dates')
        batch_op.drop_index(batch_op.f('ix_authorizations_coverage_id'))

    op.drop_table('authorizations')
    with op.batch_alter_table('coverages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coverages_patient_id'))
        batch_op.drop_index(batch_op.f('ix_coverages_enrollment_id'))

    op.drop_table('coverages')
    with op.batch_alter_table('coverage_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_coverage_changes_subject')
        batch_op.drop_index(batch_op.f('ix_coverage_changes_patient_id'))

    op.drop_table('coverage_changes')
