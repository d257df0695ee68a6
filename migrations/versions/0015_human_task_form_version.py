"""human tasks: form_version (the form version in force when the task started)

Tasks open before this revision keep NULL: they show and validate the current version, as
they did until now.

Revision ID: 0015_human_task_form_version
Revises: 0014_audit_append_only
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_human_task_form_version'
down_revision = '0014_audit_append_only'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_version', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_column('form_version')
