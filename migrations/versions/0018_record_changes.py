"""crm: record_changes, the field-change history of customers, activities, opportunities and
contracts (one row per created / updated / deleted event)

Revision ID: 0018_record_changes
Revises: 0017_rule_once_per_record
Create Date: 2026-12-04 16:00:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0018_record_changes'
down_revision = '0017_rule_once_per_record'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('record_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(), nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=80), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('changes', app.db.JSONType(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_record_changes_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_changes'))
    )
    with op.batch_alter_table('record_changes', schema=None) as batch_op:
        batch_op.create_index('ix_record_changes_record', ['entity', 'record_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('record_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_record_changes_record')
    op.drop_table('record_changes')
