"""inbox queues: offers carry the task's held flag and due date; task indexes end in due date

``inbox_task_offers.held`` / ``due_at`` repeat the task's columns (the inbox hooks keep them in
step) so the "offered to me" queue is one index walk in due order and its count reads no task
rows; the (status, assignee) and (status, claimed_by) indexes of ``human_tasks`` gain
(due_at, id) for the same walk over "assigned to / claimed by me". Existing offers are filled
from their tasks, and stray offers of closed tasks are dropped.

Revision ID: 0016_inbox_queue_indexes
Revises: 0015_human_task_form_version
Create Date: 2026-12-02 14:30:00

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '0016_inbox_queue_indexes'
down_revision = '0015_human_task_form_version'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbox_task_offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('due_at', app.db.UTCDateTime(), nullable=True))
        batch_op.drop_index('ix_inbox_task_offers_principal')
    op.execute("DELETE FROM inbox_task_offers WHERE task_id IN (SELECT id FROM human_tasks WHERE status <> 'open')")
    op.execute("UPDATE inbox_task_offers SET "
               "held = (SELECT assignee IS NOT NULL OR claimed_by IS NOT NULL FROM human_tasks t "
               "WHERE t.id = inbox_task_offers.task_id), "
               "due_at = (SELECT due_at FROM human_tasks t WHERE t.id = inbox_task_offers.task_id)")
    with op.batch_alter_table('inbox_task_offers', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_task_offers_queue', ['principal', 'held', 'due_at', 'task_id'], unique=False)
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_status_assignee')
        batch_op.drop_index('ix_human_tasks_status_claimed_by')
        batch_op.create_index('ix_human_tasks_status_assignee', ['status', 'assignee', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_human_tasks_status_claimed_by', ['status', 'claimed_by', 'due_at', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_status_claimed_by')
        batch_op.drop_index('ix_human_tasks_status_assignee')
        batch_op.create_index('ix_human_tasks_status_claimed_by', ['status', 'claimed_by'], unique=False)
        batch_op.create_index('ix_human_tasks_status_assignee', ['status', 'assignee'], unique=False)
    with op.batch_alter_table('inbox_task_offers', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_task_offers_queue')
        batch_op.create_index('ix_inbox_task_offers_principal', ['principal', 'task_id'], unique=False)
        batch_op.drop_column('due_at')
        batch_op.drop_column('held')
