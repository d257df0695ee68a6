"""API idempotency keys: the first commit of a request's work marks its key, so a retry after
the process died before keeping the answer does not act a second time

Revision ID: 0023_idempotency_effect_mark
Revises: 0022_credit_code_canonical
Create Date: 2026-12-04 23:10:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0023_idempotency_effect_mark'
down_revision = '0022_credit_code_canonical'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effect_committed_at', app.db.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('effect_committed_at')
