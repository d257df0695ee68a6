"""customers.name_key: full-width letters and digits read as half-width (ＴＣＬ as tcl), as the
duplicate finder (防撞单) now reads names typed with a Chinese input method; keys stored before
are brought in line so an old 福州ＴＣＬ电子 still meets a new 福州TCL电子.

Revision ID: 0038_name_key_full_width
Revises: 0037_contract_signed_by
Create Date: 2026-12-06 15:00:00

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0038_name_key_full_width'
down_revision = '0037_contract_signed_by'
branch_labels = None
depends_on = None

customers = sa.table('customers', sa.column('id', sa.Integer), sa.column('name_key', sa.String))


def upgrade():
    connection = op.get_bind()
    changed = []
    for customer_id, key in connection.execute(sa.select(customers.c.id, customers.c.name_key)):
        read = unicodedata.normalize('NFKC', key or '').lower()[:200]
        if read != key:
            changed.append({'customer_id': customer_id, 'key': read})
    if changed:
        connection.execute(customers.update().where(customers.c.id == sa.bindparam('customer_id'))
                           .values(name_key=sa.bindparam('key')), changed)


def downgrade():
    pass  # the half-width key finds what the full-width one did, and more
