"""users.reads_in: the language a user's last login was read in, which texts written for them in
the background use while they have chosen none (users.locale stays their own choice)

Revision ID: 0034_user_reads_in
Revises: 0033_crm_ids_not_reused
Create Date: 2026-12-06 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0034_user_reads_in'
down_revision = '0033_crm_ids_not_reused'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reads_in', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('reads_in')
