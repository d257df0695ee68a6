"""audit_events: webhook signing secrets written by rule changes before they were masked become
the short fingerprint the log has shown since (sha256:1a2b3c4d…)

Rows are otherwise append-only (0014's trigger on PostgreSQL); this one rewrite takes a secret
out of a log that every administrator reads, and keeps what the log needs: a rotation still
shows as a different fingerprint.

Revision ID: 0029_audit_webhook_secrets
Revises: 0028_binding_runs_outcome_index
Create Date: 2026-12-06 08:00:00

"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029_audit_webhook_secrets'
down_revision = '0028_binding_runs_outcome_index'
branch_labels = None
depends_on = None

RULE_EVENTS = ('automation.rule_created', 'automation.rule_changed', 'automation.rule_deleted')


def _masked(value):
    """``value`` with every webhook action's secret as its fingerprint (None: nothing to mask)."""
    changed = False

    def walk(item):
        nonlocal changed
        if isinstance(item, list):
            return [walk(v) for v in item]
        if not isinstance(item, dict):
            return item
        out = {k: walk(v) for k, v in item.items()}
        secret = out.get('secret')
        if out.get('type') == 'webhook' and isinstance(secret, str) and secret and not secret.startswith('sha256:'):
            out['secret'] = f"sha256:{hashlib.sha256(secret.encode()).hexdigest()[:8]}…"
            changed = True
        return out

    masked = walk(value)
    return masked if changed else None


def upgrade():
    bind = op.get_bind()
    details = sa.column('details', sa.JSON)
    audit = sa.table('audit_events', sa.column('id', sa.Integer), sa.column('event', sa.String), details)
    rows = bind.execute(sa.select(audit.c.id, audit.c.details).where(audit.c.event.in_(RULE_EVENTS))).all()
    fixed = [(row_id, _masked(json.loads(value) if isinstance(value, str) else value)) for row_id, value in rows]
    fixed = [(row_id, value) for row_id, value in fixed if value is not None]
    if not fixed:
        return
    postgresql = bind.dialect.name == 'postgresql'
    if postgresql:
        op.execute('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only')
    for row_id, value in fixed:
        bind.execute(audit.update().where(audit.c.id == row_id).values(details=value))
    if postgresql:
        op.execute('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only')


def downgrade():
    pass  # a secret once masked is not known any more
