"""contracts.approval_status: where a contract's approval (合同审批) stands, kept by its
process like a customer's report status

Revision ID: 0026_contract_approval_status
Revises: 0025_custom_field_automated
Create Date: 2026-12-06 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_contract_approval_status'
down_revision = '0025_custom_field_automated'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_status', sa.String(length=16), nullable=False, server_default='none'))


def downgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_column('approval_status')
