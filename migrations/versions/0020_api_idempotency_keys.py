"""API idempotency keys: a POST or PATCH repeated with the same Idempotency-Key answers the
first answer instead of acting twice

Revision ID: 0020_api_idempotency_keys
Revises: 0019_customer_import_modes
Create Date: 2026-12-04 17:30:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0020_api_idempotency_keys'
down_revision = '0019_customer_import_modes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_idempotency_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('started_at', app.db.UTCDateTime(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('headers', app.db.JSONType(), nullable=True),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'key', name='uq_api_idempotency_keys_user_key'),
    )
    with op.batch_alter_table('api_idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_idempotency_keys_started_at'), ['started_at'], unique=False)


def downgrade():
    with op.batch_alter_table('api_idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_idempotency_keys_started_at'))
    op.drop_table('api_idempotency_keys')
