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


def test_role_and_group_names_see_what_the_relationships_would(ctx):
    """User.role_names / group_names are one column query per transaction (not the ORM
    collections), yet see the transaction's own changes, an expire, and other connections'
    committed changes after the commit."""
    from sqlalchemy import insert

    from app.auth.models import UserRole
    from app.auth.services import create_group, create_user, get_group, get_user, update_group, update_user
    from app.extensions import db

    create_group(name="memo_group")
    create_user(username="memo_user", password="memo-pass-1234", roles=["sales"])
    db.session.expire_all()  # as the next request finds the user: its collections not loaded
    user = get_user("memo_user")
    assert user.role_names == {"sales"} and user.group_names == set()
    assert "roles" not in user.__dict__ and "groups" not in user.__dict__  # read without the collections
    update_user(user, actor=None, roles=["sales", "approver"])  # through the collection, committed
    assert user.role_names == {"sales", "approver"}
    update_group(get_group("memo_group"), actor=None, members=["memo_user"])
    assert user.group_names == {"memo_group"}
    db.session.commit()
    assert user.role_names == {"sales", "approver"}  # a new transaction reads them again
    with db.engine.begin() as other:  # another connection adds a role
        other.execute(insert(UserRole).values(user_id=user.id, role="designer"))
    assert "designer" not in user.role_names  # this transaction's answer stands, as a loaded collection's would …
    db.session.expire(user)
    assert "designer" in user.role_names  # … until the user is expired
    user.roles = [r for r in user.roles if r.role != "sales"]  # a pending change through the collection
    assert user.role_names == {"approver", "designer"}
    db.session.rollback()
    assert user.role_names == {"sales", "approver", "designer"}


def test_dispatch_reads_rules_and_bindings_as_the_orm_would(ctx, demo_people):
    """Rules and bindings handed to dispatch as plain data: the same values as the ORM
    objects, the author on demand, and the transaction's pending changes (autoflush)."""
    from sqlalchemy import inspect

    from app.auth.services import get_user
    from app.automation import execution
    from app.automation.models import Rule
    from app.extensions import db
    from app.forms import bindings
    from app.forms.models import FormBinding

    admin = get_user("admin")
    rule = Rule(name="plain", entity="customer", event="updated", condition={"all": []},
                actions=[{"type": "notify", "to": ["owner"], "template": "x"}], created_by_id=admin.id)
    binding = FormBinding(name="plain", entity="customer", event="updated", process_key="p", mapping=[],
                          created_by_id=admin.id)
    db.session.add_all([rule, binding])  # pending: read_plain autoflushes, as the ORM query does
    with db.session.no_autoflush:  # … except where the ORM query would not either
        assert "plain" not in [r.name for r in execution.read_plain(execution.DispatchRule, execution._RULES_FOR,
                                                                    {"entity": "customer", "event": "updated"})]
    plain_rule = next(r for r in execution.rules_for("customer", "updated") if r.name == "plain")
    plain_binding = next(b for b in bindings.read_plain(bindings.DispatchBinding, bindings._BINDINGS_FOR,
                                                        {"entity": "customer", "event": "updated"}) if b.name == "plain")
    for orm, plain in ((rule, plain_rule), (binding, plain_binding)):
        for prop in inspect(type(orm)).column_attrs:
            assert getattr(plain, prop.key) == getattr(orm, prop.key), prop.key
        assert plain.created_by is admin
    assert plain_binding.action == binding.action == "customer.updated"
    db.session.rollback()
