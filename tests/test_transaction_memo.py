"""app.db.transaction_memo: a look-up read once per transaction still sees every change —
the transaction's own (pending, flushed, undone by a savepoint rollback) and, after commit,
other sessions'."""
from __future__ import annotations

from sqlalchemy import delete, select


def _keys():
    from app.crm import services as crm

    return [d.key for d in crm.custom_field_defs("customer")]


def _add(key):
    from app.crm.models import CustomFieldDef
    from app.extensions import db

    db.session.add(CustomFieldDef(entity="customer", key=key, label=key, type="text", choices=[], position=0))


def test_memo_sees_pending_flushed_and_rolled_back_changes(ctx):
    from app.crm.models import CustomFieldDef
    from app.extensions import db

    statements = []
    from sqlalchemy import event

    def count(*args):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert _keys() == []
        before = len(statements)
        assert _keys() == [] and len(statements) == before  # memoized: no second query
        _add("memo_a")  # pending: the memo is not used, the query's autoflush includes it
        assert _keys() == ["memo_a"]
        with db.session.begin_nested():
            _add("memo_b")
            db.session.flush()
            assert _keys() == ["memo_a", "memo_b"]
        nested = db.session.begin_nested()
        _add("memo_c")
        assert "memo_c" in _keys()
        nested.rollback()  # the savepoint's row is gone, and so is the memo that saw it
        assert _keys() == ["memo_a", "memo_b"]
        db.session.commit()
        # Another connection deletes a row: the next transaction reads again.
        with db.engine.begin() as other:
            other.execute(delete(CustomFieldDef).where(CustomFieldDef.key == "memo_b"))
        assert _keys() == ["memo_a"]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        db.session.rollback()
        db.session.execute(delete(CustomFieldDef).where(CustomFieldDef.key.like("memo_%")))
        db.session.commit()
    assert db.session.scalar(select(CustomFieldDef.id).where(CustomFieldDef.key.like("memo_%"))) is None
