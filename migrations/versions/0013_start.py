"""starting and ending well: patient details at enrollment (date of birth, preferred
name, pronouns, language, emergency contact), sign-in by mobile number (email
optional), the first sign-in welcome, discharge with an aftercare plan and the alumni
status, passkeys and their server-side challenges

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07 03:10:00.000000
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None

STATUSES = ("active", "on_hold", "discharged")


def _statuses(statuses: tuple[str, ...]) -> None:
    """Replace the CHECK constraint that lists the statuses an enrollment may have."""
    listed = ", ".join(f"'{status}'" for status in statuses)
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_enrollments_enrollmentstatus'), type_='check')
        batch_op.create_check_constraint(op.f('ck_enrollments_enrollmentstatus'), f"status IN ({listed})")


def _sqlite_keys(on: bool) -> None:
    """SQLite rebuilds `users` to let email be empty: the rebuild drops the table
    that enrollments, check-ins and the rest point at, which a foreign key check
    refuses while they have rows. Checks are deferred to the commit (the copy has
    every row back by then), and verified before it."""
    if op.get_bind().dialect.name != "sqlite":
        return
    if on:
        problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
    op.execute(f"PRAGMA defer_foreign_keys={'OFF' if on else 'ON'}")


def upgrade() -> None:
    _sqlite_keys(on=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('preferred_language', sa.String(length=5), nullable=False, server_default='en'))
        batch_op.add_column(sa.Column('welcome_seen_at', portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_phone'), ['phone'])
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('preferred_language', server_default=None)

    # Patients who used the portal before this release have seen what the welcome says.
    op.execute("UPDATE users SET welcome_seen_at = created_at WHERE role = 'patient'")

    _statuses(STATUSES + ("alumni",))
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('date_of_birth', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('preferred_name', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('pronouns', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('emergency_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('emergency_relationship', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('emergency_phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('aftercare_appointments', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('aftercare_help', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('discharged_by_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_enrollments_discharged_by_id_users'), 'users', ['discharged_by_id'], ['id'])

    _sqlite_keys(on=True)

    op.create_table('passkey_credentials',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.Integer(), nullable=False),
    sa.Column('last_used_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkey_credentials_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkey_credentials')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_passkey_credentials_credential_id'))
    )
    with op.batch_alter_table('passkey_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkey_credentials_user_id'), ['user_id'], unique=False)

    op.create_table('passkey_challenges',
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('expires_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkey_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkey_challenges')),
    sa.UniqueConstraint('challenge_hash', name=op.f('uq_passkey_challenges_challenge_hash'))
    )
    with op.batch_alter_table('passkey_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkey_challenges_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('passkey_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_challenges_expires_at'))
    op.drop_table('passkey_challenges')
    with op.batch_alter_table('passkey_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_credentials_user_id'))
    op.drop_table('passkey_credentials')

    _sqlite_keys(on=False)
    op.execute("UPDATE enrollments SET status = 'discharged' WHERE status = 'alumni'")
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_enrollments_discharged_by_id_users'), type_='foreignkey')
        for column in ('discharged_by_id', 'aftercare_help', 'aftercare_appointments',
                       'emergency_phone', 'emergency_relationship', 'emergency_name',
                       'pronouns', 'preferred_name', 'date_of_birth'):
            batch_op.drop_column(column)
    _statuses(STATUSES)

    # The older schema needs an email: an account without one gets a placeholder
    # that can receive nothing (.invalid is reserved), so nothing of it is lost.
    op.execute("UPDATE users SET email = id || '@no-email.invalid' WHERE email IS NULL")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_phone'), type_='unique')
        batch_op.drop_column('welcome_seen_at')
        batch_op.drop_column('preferred_language')
        batch_op.drop_column('phone')
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
    _sqlite_keys(on=True)
