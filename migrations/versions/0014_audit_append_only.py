"""audit: the database itself refuses UPDATE and DELETE of audit_events (PostgreSQL)

The product never edits audit rows; this makes that hold for anyone with SQL access short of
the table owner dropping the trigger. The one UPDATE allowed is the foreign key's
ON DELETE SET NULL of actor_id when a user is deleted (actor_name keeps who it was).
SQLite has no equivalent worth having (triggers there are trivially dropped by anyone who
can write the file), so nothing is done on SQLite.

Revision ID: 0014_audit_append_only
Revises: 0013_binding_report_pending
Create Date: 2026-11-22 07:50:00

"""
from alembic import op


revision = '0014_audit_append_only'
down_revision = '0013_binding_report_pending'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL
               AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
                RETURN NEW;  -- ON DELETE SET NULL of the user's foreign key
            END IF;
            RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql
    """)
    op.execute("""
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION audit_events_append_only()")
