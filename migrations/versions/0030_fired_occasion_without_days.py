"""automation_fired: a time rule's occasion is the record's date, no longer with the rule's
number of days in it ("date_before:expires_on:30:2027-01-31" → "date_before:expires_on:2027-01-31"),
so that changing a rule from 30 to 31 days does not fire it again for the records it fired for.
Occasions that become the same (fired before and after such a change) are kept once.

Revision ID: 0030_fired_without_days
Revises: 0029_audit_webhook_secrets
Create Date: 2026-12-06 08:30:00

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0030_fired_without_days'
down_revision = '0029_audit_webhook_secrets'
branch_labels = None
depends_on = None

_WITH_DAYS = re.compile(r'^(date_before:[^:]+|date_after:[^:]+|idle|no_activity):-?\d+:(.*)$', re.S)


def upgrade():
    bind = op.get_bind()
    fired = sa.table('automation_fired', sa.column('id', sa.Integer), sa.column('rule_id', sa.Integer),
                     sa.column('entity', sa.String), sa.column('record_id', sa.Integer),
                     sa.column('occasion', sa.String))
    rows = bind.execute(sa.select(fired.c.id, fired.c.rule_id, fired.c.entity, fired.c.record_id, fired.c.occasion)
                        .order_by(fired.c.id)).all()
    kept = {(rule_id, entity, record_id, occasion) for _id, rule_id, entity, record_id, occasion in rows
            if not _WITH_DAYS.match(occasion)}
    for row_id, rule_id, entity, record_id, occasion in rows:
        match = _WITH_DAYS.match(occasion)
        if match is None:
            continue
        key = (rule_id, entity, record_id, f"{match.group(1)}:{match.group(2)}")
        if key in kept:
            bind.execute(fired.delete().where(fired.c.id == row_id))
        else:
            kept.add(key)
            bind.execute(fired.update().where(fired.c.id == row_id).values(occasion=key[3]))


def downgrade():
    pass  # the number of days an occasion fired with is not known any more
