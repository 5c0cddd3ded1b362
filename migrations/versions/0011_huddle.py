"""huddle: huddles held, notes and actions about patients (with their owner and
due time), the open actions of a program by due time

Revision ID: 0011
Revises: 0014
Create Date: 2026-12-07 03:07:20.121164
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0011'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('huddle_actions',
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('what', sa.String(length=300), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('due_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_by_id', sa.String(length=36), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_huddle_actions_created_by_id_users')),
    sa.ForeignKeyConstraint(['done_by_id'], ['users.id'], name=op.f('fk_huddle_actions_done_by_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_huddle_actions_owner_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_huddle_actions_patient_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_huddle_actions_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_huddle_actions'))
    )
    with op.batch_alter_table('huddle_actions', schema=None) as batch_op:
        batch_op.create_index('ix_huddle_actions_open', ['program_id', 'due_at'], unique=False, postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_huddle_actions_owner_id'), ['owner_id'], unique=False)

    op.create_table('huddle_notes',
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_id', sa.String(length=36), nullable=False),
    sa.Column('written_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_huddle_notes_author_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_huddle_notes_patient_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_huddle_notes_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_huddle_notes'))
    )
    with op.batch_alter_table('huddle_notes', schema=None) as batch_op:
        batch_op.create_index('ix_huddle_notes_program_written', ['program_id', 'written_at'], unique=False)

    op.create_table('huddles',
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('held_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('held_by_id', sa.String(length=36), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['held_by_id'], ['users.id'], name=op.f('fk_huddles_held_by_id_users')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_huddles_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_huddles'))
    )
    with op.batch_alter_table('huddles', schema=None) as batch_op:
        batch_op.create_index('ix_huddles_program_held', ['program_id', 'held_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('huddles', schema=None) as batch_op:
        batch_op.drop_index('ix_huddles_program_held')

    op.drop_table('huddles')
    with op.batch_alter_table('huddle_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_huddle_notes_program_written')

    op.drop_table('huddle_notes')
    with op.batch_alter_table('huddle_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_huddle_actions_owner_id'))
        batch_op.drop_index('ix_huddle_actions_open', postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))

    op.drop_table('huddle_actions')
