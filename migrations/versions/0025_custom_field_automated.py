"""custom_field_defs.automated: a custom field only automation rules and processes set (an
approval's 审批状态), shown read-only to people

Revision ID: 0025_custom_field_automated
Revises: 0024_record_change_cause
Create Date: 2026-12-05 00:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_custom_field_automated'
down_revision = '0024_record_change_cause'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('custom_field_defs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('automated', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('custom_field_defs', schema=None) as batch_op:
        batch_op.drop_column('automated')
