"""contracts.signed_by_id: who signed a contract (its owner when marked signed), whom the sales
report credits after the contract moves to another owner (a customer handed on, a leaver's
contracts kept for renewal). Contracts signed before this revision are credited to their
owner now, as the report did.

Revision ID: 0037_contract_signed_by
Revises: 0036_notification_task
Create Date: 2026-12-06 14:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0037_contract_signed_by'
down_revision = '0036_notification_task'
branch_labels = None
depends_on = None


def upgrade():
    # SQLite rebuilds the table for the foreign key: still AUTOINCREMENT (0033).
    with op.batch_alter_table('contracts', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('signed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_contracts_signed_by_id_users'), 'users',
                                    ['signed_by_id'], ['id'], ondelete='SET NULL')
    op.execute("UPDATE contracts SET signed_by_id = owner_id WHERE status IN ('signed', 'expired')")


def downgrade():
    with op.batch_alter_table('contracts', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contracts_signed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('signed_by_id')
