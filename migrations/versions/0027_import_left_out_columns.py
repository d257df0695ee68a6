"""crm_customer_imports.left_out_columns: the columns naming no customer field that the
importer chose to leave out (None: such a column refuses the file)

Revision ID: 0027_import_left_out_columns
Revises: 0026_contract_approval_status
Create Date: 2026-12-06 01:40:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0027_import_left_out_columns'
down_revision = '0026_contract_approval_status'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crm_customer_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_out_columns', app.db.JSONType(), nullable=True))


def downgrade():
    with op.batch_alter_table('crm_customer_imports', schema=None) as batch_op:
        batch_op.drop_column('left_out_columns')
