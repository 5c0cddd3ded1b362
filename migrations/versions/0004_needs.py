"""needs: transport, housing and other social-needs requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00

Requests (ServiceRequest + Task), their events, per-program SLA rules and case
managers' time away. Urgency is a SMALLINT (1 urgent, 2 soon, 3 routine) so that the
queue index sorts on it; the queue index is partial (open requests only).
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_manager_away',
    sa.Column('staff_id', sa.String(length=36), nullable=False),
    sa.Column('until', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('set_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['users.id'], name=op.f('fk_case_manager_away_staff_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', name=op.f('pk_case_manager_away'))
    )
    op.create_table('need_sla_rules',
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.Enum('transport', 'housing', 'other', name='needkind', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('urgency', sa.SmallInteger(), nullable=False),
    sa.Column('contact_hours', sa.SmallInteger(), nullable=False),
    sa.Column('resolve_hours', sa.SmallInteger(), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_need_sla_rules_program_id_programs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('program_id', 'kind', 'urgency', name=op.f('pk_need_sla_rules'))
    )
    op.create_table('needs',
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.Enum('transport', 'housing', 'other', name='needkind', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('category', sa.Enum('transportation-insecurity', 'housing-instability', 'homelessness', 'food-insecurity', 'utility-insecurity', 'financial-insecurity', 'digital-access', 'employment-status', 'sdoh-category-unspecified', name='sdohcategory', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('other_need', sa.Enum('food', 'utilities', 'phone', 'childcare', 'work', 'money', name='otherneed', native_enum=False, create_constraint=True, length=10), nullable=True),
    sa.Column('urgency', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'requested', 'accepted', 'rejected', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error', name='taskstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=300), nullable=True),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('ride_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pickup', sa.String(length=300), nullable=True),
    sa.Column('destination', sa.String(length=300), nullable=True),
    sa.Column('wheelchair', sa.Boolean(), nullable=False),
    sa.Column('access_needs', sa.String(length=300), nullable=True),
    sa.Column('companions', sa.String(length=200), nullable=True),
    sa.Column('housing_situation', sa.Enum('stable', 'at_risk', 'homeless', 'shelter', name='housingsituation', native_enum=False, create_constraint=True, length=10), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('contact_due_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolve_due_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_contact_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Enum('arranged', 'referred', 'partly', 'not_possible', 'no_longer_needed', name='needoutcome', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_needs_owner_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_needs_patient_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_needs_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_needs'))
    )
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.create_index('ix_needs_owner_status', ['owner_id', 'status'], unique=False)
        batch_op.create_index('ix_needs_patient_created', ['patient_id', 'created_at'], unique=False)
        batch_op.create_index('ix_needs_program_created', ['program_id', 'created_at'], unique=False)
        batch_op.create_index('ix_needs_queue', ['program_id', 'urgency', 'due_at', 'created_at', 'id'], unique=False, postgresql_include=['owner_id', 'kind'], postgresql_where=sa.text("status IN ('requested', 'accepted', 'in-progress', 'on-hold')"), sqlite_where=sa.text("status IN ('requested', 'accepted', 'in-progress', 'on-hold')"))

    op.create_table('need_events',
    sa.Column('need_id', sa.String(length=36), nullable=False),
    sa.Column('at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.Enum('created', 'routed', 'claimed', 'reassigned', 'status', 'note', 'patient_info', 'urgency', name='eventkind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('from_status', sa.Enum('draft', 'requested', 'accepted', 'rejected', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error', name='need_event_from_status', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('to_status', sa.Enum('draft', 'requested', 'accepted', 'rejected', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error', name='need_event_to_status', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('patient_visible', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_need_events_actor_id_users')),
    sa.ForeignKeyConstraint(['need_id'], ['needs.id'], name=op.f('fk_need_events_need_id_needs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_need_events_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_need_events'))
    )
    with op.batch_alter_table('need_events', schema=None) as batch_op:
        batch_op.create_index('ix_need_events_need_at', ['need_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('need_events', schema=None) as batch_op:
        batch_op.drop_index('ix_need_events_need_at')

    op.drop_table('need_events')
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.drop_index('ix_needs_queue', postgresql_where=sa.text("status IN ('requested', 'accepted', 'in-progress', 'on-hold')"), sqlite_where=sa.text("status IN ('requested', 'accepted', 'in-progress', 'on-hold')"))
        batch_op.drop_index('ix_needs_program_created')
        batch_op.drop_index('ix_needs_patient_created')
        batch_op.drop_index('ix_needs_owner_status')

    op.drop_table('needs')
    op.drop_table('need_sla_rules')
    op.drop_table('case_manager_away')
