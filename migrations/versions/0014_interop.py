"""interop: JWKS on EHR clients and used assertion ids (SMART private_key_jwt); Bulk
Data exports and their NDJSON files

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 03:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fhir_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jwks', sa.JSON(), nullable=True))

    op.create_table('fhir_assertions',
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('jti_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['fhir_clients.id'], name=op.f('fk_fhir_assertions_client_id_fhir_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('client_id', 'jti_hash', name=op.f('pk_fhir_assertions'))
    )
    with op.batch_alter_table('fhir_assertions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_assertions_expires_at'), ['expires_at'], unique=False)

    op.create_table('fhir_exports',
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('program_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('types', sa.String(length=1000), nullable=True),
    sa.Column('since', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('request_url', sa.String(length=2000), nullable=False),
    sa.Column('finished_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['fhir_clients.id'], name=op.f('fk_fhir_exports_client_id_fhir_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_fhir_exports_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_exports'))
    )
    with op.batch_alter_table('fhir_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_exports_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fhir_exports_expires_at'), ['expires_at'], unique=False)

    op.create_table('fhir_export_files',
    sa.Column('export_id', sa.String(length=36), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['export_id'], ['fhir_exports.id'], name=op.f('fk_fhir_export_files_export_id_fhir_exports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_export_files'))
    )
    with op.batch_alter_table('fhir_export_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_export_files_export_id'), ['export_id'], unique=False)


def downgrade() -> None:
    op.drop_table('fhir_export_files')
    op.drop_table('fhir_exports')
    op.drop_table('fhir_assertions')
    with op.batch_alter_table('fhir_clients', schema=None) as batch_op:
        batch_op.drop_column('jwks')
