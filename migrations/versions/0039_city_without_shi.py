"""customers.city: stored without its 市 (厦门市 → 厦门), as a new or imported customer's is now;
cities stored before are brought in line, so the import's duplicate check and the city filter
meet them.

Revision ID: 0039_city_without_shi
Revises: 0038_name_key_full_width
Create Date: 2026-12-06 20:30:00

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0039_city_without_shi'
down_revision = '0038_name_key_full_width'
branch_labels = None
depends_on = None

customers = sa.table('customers', sa.column('id', sa.Integer), sa.column('city', sa.String))


def upgrade():
    connection = op.get_bind()
    changed = []
    for customer_id, city in connection.execute(sa.select(customers.c.id, customers.c.city)
                                                .where(customers.c.city.is_not(None))):
        typed = unicodedata.normalize('NFKC', city).strip()
        stored = typed[:-1] if typed.endswith('市') and len(typed) >= 3 else typed
        if stored != city:
            changed.append({'customer_id': customer_id, 'stored': stored})
    if changed:
        connection.execute(customers.update().where(customers.c.id == sa.bindparam('customer_id'))
                           .values(city=sa.bindparam('stored')), changed)


def downgrade():
    pass  # 厦门 is the city 厦门市 was
