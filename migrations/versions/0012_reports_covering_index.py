"""reports: covering index of instances for the process report

Replaces ix_process_instances_key_created (0011): the report reads status, completed_at and
definition_id too, and an instance row holds the workflow state (several KB), so an index
with every column the report needs spares reading the rows at all.

Revision ID: 0012_reports_covering_index
Revises: 0011_reports
Create Date: 2026-11-22 07:23:01.969581

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012_reports_covering_index'
down_revision = '0011_reports'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_process_instances_key_created', table_name='process_instances')
    op.create_index('ix_process_instances_report', 'process_instances',
                    ['process_key', 'created_at', 'status', 'completed_at', 'definition_id'], unique=False)


def downgrade():
    op.drop_index('ix_process_instances_report', table_name='process_instances')
    op.create_index('ix_process_instances_key_created', 'process_instances', ['process_key', 'created_at'],
                    unique=False)
