"""form_binding_runs: index on (outcome, at), for the home page's count of embedded processes
that failed to start lately

Revision ID: 0028_binding_runs_outcome_index
Revises: 0027_import_left_out_columns
Create Date: 2026-12-06 02:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0028_binding_runs_outcome_index'
down_revision = '0027_import_left_out_columns'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('form_binding_runs', schema=None) as batch_op:
        batch_op.create_index('ix_form_binding_runs_outcome_at', ['outcome', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('form_binding_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_form_binding_runs_outcome_at')
