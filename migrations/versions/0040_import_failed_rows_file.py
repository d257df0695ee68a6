"""crm_customer_imports.failed_rows_file: the rows an import refused, as the file had them, so
they can be downloaded, corrected and imported again (the file itself is emptied when done)

Revision ID: 0040_import_failed_rows_file
Revises: 0039_city_without_shi
Create Date: 2026-12-06 23:20:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0040_import_failed_rows_file'
down_revision = '0039_city_without_shi'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crm_customer_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_rows_file', app.db.JSONType(), nullable=True))


def downgrade():
    with op.batch_alter_table('crm_customer_imports', schema=None) as batch_op:
        batch_op.drop_column('failed_rows_file')
