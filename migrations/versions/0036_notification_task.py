"""notifications.task_id: the task a notice asks its reader to act on, so that it counts as read
once the task is done or taken by someone else. Notices already sent name no task and stay as
they are.

Revision ID: 0036_notification_task
Revises: 0035_province_abbreviations
Create Date: 2026-12-06 13:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0036_notification_task'
down_revision = '0035_province_abbreviations'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notifications_task_id'), ['task_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_task_id_human_tasks'), 'human_tasks',
                                    ['task_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_task_id_human_tasks'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notifications_task_id'))
        batch_op.drop_column('task_id')
