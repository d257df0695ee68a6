"""form definitions (versioned form-js schemas)

Revision ID: 0003_forms
Revises: 0002_jobs_notifications
Create Date: 2026-11-22 06:55:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0003_forms'
down_revision = '0002_jobs_notifications'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('form_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('schema', app.db.JSONType(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_form_definitions_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_definitions')),
    sa.UniqueConstraint('key', 'version', name='uq_form_definitions_key_version')
    )
    with op.batch_alter_table('form_definitions', schema=None) as batch_op:
        batch_op.create_index('ix_form_definitions_current_key', ['key'], unique=True,
                              postgresql_where=sa.text('is_current'), sqlite_where=sa.text('is_current'))
        batch_op.create_index(batch_op.f('ix_form_definitions_key'), ['key'], unique=False)


def downgrade():
    with op.batch_alter_table('form_definitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_definitions_key'))
        batch_op.drop_index('ix_form_definitions_current_key')
    op.drop_table('form_definitions')
