"""notifications.task_id: the task a notice asks its reader to act on, so that it counts as read
once the task is done or taken by someone else. Unread notices already sent that link to a task
(/tasks/12) name it too, and those of tasks done by now count as read: an approver's unread count
is what is still theirs to do from the upgrade on.

Revision ID: 0036_notification_task
Revises: 0035_province_abbreviations
Create Date: 2026-12-06 13:40:00

"""
import re
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from app.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0036_notification_task'
down_revision = '0035_province_abbreviations'
branch_labels = None
depends_on = None


notifications = sa.table('notifications', sa.column('id', sa.Integer), sa.column('link', sa.String),
                         sa.column('task_id', sa.Integer), sa.column('read_at', UTCDateTime))
human_tasks = sa.table('human_tasks', sa.column('id', sa.Integer), sa.column('status', sa.String))
TASK_LINK = re.compile(r'^/tasks/(\d+)$')


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notifications_task_id'), ['task_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_task_id_human_tasks'), 'human_tasks',
                                    ['task_id'], ['id'], ondelete='SET NULL')
    connection = op.get_bind()
    linked = {}
    for notice_id, link in connection.execute(sa.select(notifications.c.id, notifications.c.link).where(
            notifications.c.read_at.is_(None), notifications.c.link.like('/tasks/%'))):
        match = TASK_LINK.match(link or '')
        if match:
            linked[notice_id] = int(match.group(1))
    task_ids = sorted(set(linked.values()))
    status = {}
    for start in range(0, len(task_ids), 500):
        status.update(connection.execute(sa.select(human_tasks.c.id, human_tasks.c.status).where(
            human_tasks.c.id.in_(task_ids[start:start + 500]))).all())
    now = datetime.now(timezone.utc)
    rows = [{'notice': notice_id, 'task': task_id, 'read': None if status[task_id] == 'open' else now}
            for notice_id, task_id in linked.items() if task_id in status]
    if rows:
        connection.execute(notifications.update().where(notifications.c.id == sa.bindparam('notice'))
                           .values(task_id=sa.bindparam('task'), read_at=sa.bindparam('read', type_=UTCDateTime())),
                           rows)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_task_id_human_tasks'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notifications_task_id'))
        batch_op.drop_column('task_id')
