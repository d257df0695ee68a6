"""customers: credit codes in the form the product now stores (capitals, no spacing), so the
duplicate finder and the import's credit-code match find codes typed before the check

Revision ID: 0022_credit_code_canonical
Revises: 0021_customer_phone_key
Create Date: 2026-12-04 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_credit_code_canonical'
down_revision = '0021_customer_phone_key'
branch_labels = None
depends_on = None


def upgrade():
    # Only spacing and case: a code that fails the check character stays as typed (an edit of
    # the customer keeps it until someone changes it), since a migration cannot ask which is right.
    code = sa.column('credit_code', sa.String)
    canonical = code
    for spacing in (' ', '\u3000', '-', '\t'):
        canonical = sa.func.replace(canonical, spacing, '')
    op.execute(sa.table('customers', code).update().where(code.isnot(None)).values(credit_code=sa.func.upper(canonical)))


def downgrade():
    pass  # the canonical form is a valid way to write every code
