"""customer imports: rows with an id update that customer (re-importing an export), and an
admin may import existing data without running rules and workflows

Revision ID: 0019_customer_import_modes
Revises: 0018_record_changes
Create Date: 2026-12-04 15:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_customer_import_modes'
down_revision = '0018_record_changes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crm_customer_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('automate', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('updated_rows', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('unchanged_rows', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('crm_customer_imports', schema=None) as batch_op:
        batch_op.drop_column('unchanged_rows')
        batch_op.drop_column('updated_rows')
        batch_op.drop_column('automate')
