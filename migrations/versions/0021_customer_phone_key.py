"""customers: the phone number's digits as dialled in China, so the duplicate finder (防撞单)
matches "0592-555 1234", "(0592) 5551234" and "+86 592 5551234"

Revision ID: 0021_customer_phone_key
Revises: 0020_api_idempotency_keys
Create Date: 2026-12-04 17:45:00

"""
from alembic import op
import sqlalchemy as sa

from app.crm.phones import normalise_phone


# revision identifiers, used by Alembic.
revision = '0021_customer_phone_key'
down_revision = '0020_api_idempotency_keys'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_key', sa.String(length=20), nullable=False, server_default=''))
        batch_op.create_index('ix_customers_phone_key', ['phone_key'], unique=False)
    customers = sa.table('customers', sa.column('id', sa.Integer), sa.column('phone', sa.String),
                         sa.column('phone_key', sa.String))
    connection = op.get_bind()
    last_id = 0
    while True:  # in id order, a batch at a time: a large customer table never sits in memory
        rows = connection.execute(sa.select(customers.c.id, customers.c.phone)
                                  .where(customers.c.id > last_id, customers.c.phone.isnot(None))
                                  .order_by(customers.c.id).limit(BATCH)).all()
        if not rows:
            break
        connection.execute(customers.update().where(customers.c.id == sa.bindparam('row_id'))
                           .values(phone_key=sa.bindparam('key')),
                           [{'row_id': row.id, 'key': normalise_phone(row.phone)} for row in rows])
        last_id = rows[-1].id


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_phone_key')
        batch_op.drop_column('phone_key')
