"""record_changes: what acted besides the person (an automation rule, a process step), so the
change history can say "销售经理 · 流程 客户报备 #12" instead of a plain edit

Revision ID: 0024_record_change_cause
Revises: 0023_idempotency_effect_mark
Create Date: 2026-12-04 23:58:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_record_change_cause'
down_revision = '0023_idempotency_effect_mark'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('record_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cause', sa.String(length=250), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('record_changes', schema=None) as batch_op:
        batch_op.drop_column('cause')
