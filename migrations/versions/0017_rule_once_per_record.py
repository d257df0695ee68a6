"""automation rules: once_per_record (a rule that may act on a record only once, e.g.
"opportunity won → create its contract" after a reopen and a second win)

Revision ID: 0017_rule_once_per_record
Revises: 0016_inbox_queue_indexes
Create Date: 2026-12-03 17:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_rule_once_per_record'
down_revision = '0016_inbox_queue_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('automation_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('once_per_record', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('automation_rules', schema=None) as batch_op:
        batch_op.drop_column('once_per_record')
