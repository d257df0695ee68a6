"""designer: sandboxed test runs

Revision ID: 0009_designer_test_runs
Revises: 0008_inbox
Create Date: 2026-11-22 06:55:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0009_designer_test_runs'
down_revision = '0008_inbox'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('process_test_runs',
    sa.Column('process_key', sa.String(length=80), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('log', app.db.JSONType(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_process_test_runs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_test_runs'))
    )
    with op.batch_alter_table('process_test_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_test_runs_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('process_test_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_test_runs_user_id'))
    op.drop_table('process_test_runs')
