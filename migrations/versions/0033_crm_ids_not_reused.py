"""customers, activities, opportunities, contracts: on SQLite, AUTOINCREMENT, so that the id of
a deleted record is never given to a new one (which then showed the deleted one's change
history and found its "once per record" rules already done). PostgreSQL's sequences never
reuse ids: nothing to do there.

Revision ID: 0033_crm_ids_not_reused
Revises: 0032_login_sessions
Create Date: 2026-12-06 09:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0033_crm_ids_not_reused'
down_revision = '0032_login_sessions'
branch_labels = None
depends_on = None

TABLES = ('customers', 'activities', 'opportunities', 'contracts')


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:  # rebuilt as AUTOINCREMENT tables (data, indexes and keys kept)
        with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
            pass


def downgrade():
    pass  # ids that are never reused harm nothing
