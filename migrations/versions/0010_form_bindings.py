"""embedded processes: form bindings and their run log

Revision ID: 0010_form_bindings
Revises: 0009_designer_test_runs
Create Date: 2026-11-22 07:00:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0010_form_bindings'
down_revision = '0009_designer_test_runs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('form_bindings',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('process_key', sa.String(length=120), nullable=False),
    sa.Column('form_key', sa.String(length=80), nullable=True),
    sa.Column('mapping', app.db.JSONType(), nullable=False),
    sa.Column('condition', app.db.JSONType(), nullable=True),
    sa.Column('skip_if_running', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_form_bindings_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_bindings'))
    )
    with op.batch_alter_table('form_bindings', schema=None) as batch_op:
        batch_op.create_index('ix_form_bindings_action', ['entity', 'event', 'enabled'], unique=False)

    op.create_table('form_binding_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('binding_id', sa.Integer(), nullable=True),
    sa.Column('binding_name', sa.String(length=200), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('at', app.db.UTCDateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('process_key', sa.String(length=120), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['binding_id'], ['form_bindings.id'], name=op.f('fk_form_binding_runs_binding_id_form_bindings'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_binding_runs'))
    )
    with op.batch_alter_table('form_binding_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_binding_runs_binding_id'), ['binding_id'], unique=False)
        batch_op.create_index('ix_form_binding_runs_record', ['entity', 'record_id'], unique=False)


def downgrade():
    with op.batch_alter_table('form_binding_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_form_binding_runs_record')
        batch_op.drop_index(batch_op.f('ix_form_binding_runs_binding_id'))
    op.drop_table('form_binding_runs')
    with op.batch_alter_table('form_bindings', schema=None) as batch_op:
        batch_op.drop_index('ix_form_bindings_action')
    op.drop_table('form_bindings')
