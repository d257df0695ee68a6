"""directory.group_manager: whom the customer report's 3-day escalation goes to, on the real
groups (the database), and the shipped diagram running it end to end."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth import services as auth
from app.auth.models import User, UserRole
from app.db import utcnow
from app.engine import operations
from app.engine import serialization as S
from app.engine import services as svc
from app.engine.models import HumanTask
from app.engine.operations import OperationContext, OperationError
from app.engine.product_operations import register_product_operations
from app.extensions import db
from app.jobs import run_due_jobs
from app.jobs.models import Job

from .support import CUSTOMER_REPORT, make_timer_due


@pytest.fixture
def real_ops(ctx, demo_people, fake_ops):
    """The CRM operations faked, the directory and notifications real."""
    operations.unregister_operation("notify.users")
    operations.unregister_operation("directory.group_manager")
    register_product_operations()
    yield fake_ops
    db.session.rollback()  # groups and users made here are never committed


def lookup(group):
    ctx = OperationContext("directory.group_manager", "Task_find_manager", None, {})
    return operations.call_operation("directory.group_manager", ctx, {"group": group})


def person(username, *roles):
    return auth.create_user(username=username, password="x-long-password-1", roles=roles)


def test_demo_groups_escalate_to_their_managers(real_ops):
    assert lookup("fujian-heads") == "manager"
    assert lookup("medical-reviewers") == "manager"
    assert lookup("sales-managers") == "admin"


def test_group_without_manager_falls_back_to_parents_then_to_the_first_admin(real_ops):
    boss = person("esc_boss", "approver")
    auth.create_group(name="esc-region", manager="esc_boss")
    auth.create_group(name="esc-middle", parent="esc-region")
    auth.create_group(name="esc-team", parent="esc-middle")
    assert lookup("esc-team") == "esc_boss"  # two levels up
    assert auth.escalation_manager("esc-team") == (boss, "parent_manager")
    assert auth.escalation_manager("esc-region") == (boss, "manager")

    boss.active = False  # a manager who left is skipped like a missing one
    first_admin = db.session.scalar(select(User).join(UserRole).where(UserRole.role == "admin", User.active.is_(True))
                                    .order_by(User.id))
    assert lookup("esc-team") == first_admin.username == "admin"
    assert auth.escalation_manager("esc-team")[1] == "admin_fallback"

    auth.create_group(name="esc-loose")  # no manager, no parent
    assert lookup("esc-loose") == "admin"


def test_the_level_above_passes_over_who_decided_below_or_asked(real_ops):
    person("esc_head", "approver")
    person("esc_ceo", "approver")
    auth.create_group(name="esc-board", manager="esc_ceo")
    auth.create_group(name="esc-sales", manager="esc_head", parent="esc-board")
    ctx = OperationContext("directory.group_manager", "Task_find_general_manager", None, {},
                           instance={"actor": "esc_head"})  # the head completed the first level just now
    assert operations.call_operation("directory.group_manager", ctx, {"group": "esc-sales"}) == "esc_ceo"
    assert lookup("esc-sales") == "esc_head"  # a designer's test run: nobody to pass over
    assert auth.escalation_manager("esc-sales", frozenset({"esc_head", "esc_ceo"}))[0].username == "admin"


def test_parent_cycle_does_not_loop(real_ops):
    a = auth.create_group(name="esc-a")
    b = auth.create_group(name="esc-b", parent="esc-a")
    a.parent_id = b.id
    db.session.flush()
    assert lookup("esc-a") == lookup("esc-b") == "admin"


def test_unknown_group_and_nobody_to_escalate_to_are_errors(real_ops):
    for group in ("no-such-group", "", None):
        with pytest.raises(OperationError) as info:
            lookup(group)
        assert info.value.code == "unknown_group"
    assert "no-such-group" in str(pytest.raises(OperationError, lookup, "no-such-group").value)

    auth.create_group(name="esc-orphans")
    for admin in db.session.scalars(select(User).join(UserRole).where(UserRole.role == "admin")):
        admin.active = False
    with pytest.raises(OperationError) as info:
        lookup("esc-orphans")
    assert info.value.code == "no_manager"


def _escalate(instance):
    """Time travel: the 3-day timer of the open approval is due; the worker's job runs it."""
    [task] = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.status == "open"))
    key = task.bpmn_id.split("_")[1]
    wf = S.loads(instance.state, svc.spec_cache)
    make_timer_due(wf, f"Timer_{key}_escalate")
    instance.state = S.dumps(wf)
    for job in db.session.scalars(select(Job).where(Job.kind == svc.TIMER_JOB, Job.status == "pending")):
        if job.payload["bpmn_id"] == f"Timer_{key}_escalate":
            job.due_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert run_due_jobs() >= 1
    db.session.expire_all()
    return db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.status == "open")).all()


CUSTOMER = {"customer_id": 7, "name": "福州一号", "province": "福建", "industry": "制造", "reporter": "sales1", "owner": "sales1"}


def test_report_of_a_group_without_manager_escalates_to_the_parents_manager(real_ops):
    svc.deploy(CUSTOMER_REPORT.read_bytes())
    # A medical-reviewers group without its own manager, under a department that has one.
    person("esc_med_director", "approver")
    auth.create_group(name="esc-medical-dept", manager="esc_med_director")
    group = auth.get_group("medical-reviewers")
    saved = (group.manager_id, group.parent_id)
    auth.update_group(group, actor=None, manager=None, parent="esc-medical-dept")
    try:
        instance = svc.start_instance("customer_report", dict(CUSTOMER, province="广东", industry="医疗"))
        [task] = _escalate(instance)
        assert (task.bpmn_id, task.assignee, task.candidate_groups) == ("Task_escalated_review", "esc_med_director", [])
        # The review the timer interrupted counts as escalated (not as closed by the process).
        assert ("task_cancelled", "医疗行业审核") in [(h.event, h.task) for h in svc.history(instance.id)]
    finally:
        group = auth.get_group("medical-reviewers")
        group.manager_id, group.parent_id = saved
        db.session.commit()


def test_report_with_an_unknown_group_stops_in_error_at_the_lookup(real_ops):
    xml = CUSTOMER_REPORT.read_bytes().replace(b"approver_group = 'sales-managers'", b"approver_group = 'esc-gone'")
    svc.deploy(xml)
    instance = svc.start_instance("customer_report", dict(CUSTOMER, province="广东"))
    _escalate(instance)
    assert instance.status == "error"  # the operator console shows it; retry after fixing the group
    assert instance.error["element_id"] == "Task_find_manager"
    assert "unknown group 'esc-gone'" in instance.error["message"]


def test_a_notice_to_nobody_stops_the_step_instead_of_vanishing(real_ops):
    """users=${target} with target 'ghost' succeeded: the notice went to no one, unsaid."""
    def send(**params):
        ctx = OperationContext("notify.users", "Notify", None, {})
        return operations.call_operation("notify.users", ctx, {"message": "报备待处理", **params})

    assert send(users="manager") == ["manager"]
    for params, name in (({"users": "ghost"}, "ghost"), ({"users": "manager", "groups": "no-such-group"}, "no-such-group")):
        with pytest.raises(OperationError) as info:
            send(**params)
        assert info.value.code == "unknown_recipient" and name in str(info.value)


def test_a_diagram_s_notice_reaches_each_reader_in_their_language(real_ops):
    """The shipped report's 客户报备「…」被驳回 reached an English salesperson in Chinese only."""
    from app.auth.services import get_user
    from app.notifications.models import Notification

    get_user("sales1").locale = "en"
    ctx = OperationContext("notify.users", "Notify", None, {})
    operations.call_operation("notify.users", ctx, {"message": "客户报备「甲」被驳回：重复", "users": "sales1, manager",
                                                    "message_en": "Customer report “甲” was rejected: 重复"})
    said = {n.user_id: n.text for n in db.session.scalars(select(Notification))}
    assert said[get_user("sales1").id] == "Customer report “甲” was rejected: 重复"
    assert said[get_user("manager").id] == "客户报备「甲」被驳回：重复"
