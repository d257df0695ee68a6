"""form bindings: report_pending (customer report status while the process runs)

Revision ID: 0013_binding_report_pending
Revises: 0012_reports_covering_index
Create Date: 2026-11-22 07:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_binding_report_pending'
down_revision = '0012_reports_covering_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('form_bindings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_pending', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('form_bindings', schema=None) as batch_op:
        batch_op.drop_column('report_pending')
