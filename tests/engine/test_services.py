"""Engine services on the database: deploy/versions, tasks, permissions, timers, errors."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.auth.models import User
from app.db import utcnow
from app.engine import runtime as R
from app.engine import serialization as S
from app.engine import services as svc
from app.engine.models import HumanTask, ProcessDefinition, ProcessInstance
from app.engine.product_operations import register_product_operations
from app.engine.xml import DiagramError
from app.extensions import db
from app.jobs import run_due_jobs
from app.jobs.models import Job

from .support import CUSTOMER_REPORT, make_timer_due

XML = CUSTOMER_REPORT.read_bytes()
CUSTOMER = {"customer_id": 7, "name": "福州一号", "province": "福建", "industry": "制造", "reporter": "sales1", "owner": "sales1"}


@pytest.fixture
def env(ctx, demo_people, fake_ops):
    from app.engine import operations
    operations.unregister_operation("notify.users")  # the real one: in-app notifications
    operations.unregister_operation("directory.group_manager")  # the real one: the groups' managers
    register_product_operations()
    yield fake_ops


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


def open_tasks(instance):
    return list(db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.status == "open")))


def test_deploy_versions_and_rollback(env):
    v1 = svc.deploy(XML, actor=user("admin"))
    v2 = svc.deploy(XML.replace(b"P1D</bpmn:timeDuration>", b"PT12H</bpmn:timeDuration>", 1))
    assert (v1.key, v1.version, v2.version) == ("customer_report", 1, 2)
    assert [d.version for d in svc.list_definitions(current_only=True)] == [2]
    old = svc.start_instance("customer_report", CUSTOMER)
    svc.make_current("customer_report", 1)
    assert svc.get_definition("customer_report").version == 1
    new = svc.start_instance("customer_report", CUSTOMER)
    assert (old.definition.version, new.definition.version) == (2, 1)
    assert svc.get_definition("customer_report", 2).xml != svc.get_definition("customer_report", 1).xml


def test_invalid_deploy_stores_nothing(env):
    with pytest.raises(DiagramError) as info:
        svc.deploy(XML.replace(b"crm.set_report_status", b"crm.unknown"))
    assert {p["element_id"] for p in info.value.problems} == {"Task_mark_approved", "Task_mark_rejected"}
    assert db.session.scalar(select(ProcessDefinition)) is None


def test_claim_complete_permissions_and_history(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER, actor=user("sales1"), record={"type": "customer", "id": 7})
    [task] = open_tasks(instance)
    assert (task.bpmn_id, task.candidate_groups, task.form_key) == ("Task_fujian_review", ["fujian-heads"], "customer_report")
    assert [t.id for t in svc.inbox(user("fj_head"))] == [task.id]
    assert svc.inbox(user("manager")) == []
    with pytest.raises(svc.Forbidden):
        svc.complete(task.id, user("fj_head"), {"decision": "approve"})  # claim first
    with pytest.raises(svc.Forbidden):
        svc.claim(task.id, user("manager"))
    svc.claim(task.id, user("fj_head"))
    with pytest.raises(svc.InvalidData):
        svc.complete(task.id, user("fj_head"), {"decision": "approve", "report_status": "approved"})
    svc.complete(task.id, user("fj_head"), {"decision": "approve", "comment": "归属确认"})
    instance = svc.get_instance(instance.id)
    assert instance.status == "completed"
    assert env.of("crm.set_report_status")[0]["status"] == "approved"
    events = [(h.event, h.actor) for h in svc.history(instance.id)]
    assert events[:4] == [("started", "sales1"), ("task_created", None), ("claimed", "fj_head"),
                          ("completed_task", "fj_head")]
    assert events[-1] == ("completed", "fj_head")
    with pytest.raises(svc.Conflict):
        svc.complete(task.id, user("fj_head"), {"decision": "approve"})


def test_taking_a_task_someone_holds_names_them_also_when_both_took_it_at_once(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    original = svc._history

    def the_other_took_it_first(*args, **kwargs):
        # Between reading the task as free and writing the claim, another process claimed it.
        monkeypatch.setattr(svc, "_history", original)
        with db.engine.begin() as other:
            other.execute(update(HumanTask).where(HumanTask.id == task.id)
                          .values(claimed_by="manager", version=HumanTask.version + 1))
        return original(*args, **kwargs)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(svc, "_history", the_other_took_it_first)
    try:
        with pytest.raises(svc.Conflict) as lost:
            svc.claim(task.id, user("fj_head"))
    finally:
        monkeypatch.undo()
    assert str(lost.value) == f"该待办已被 {user('manager').label} 认领。"
    assert db.session.get(HumanTask, task.id).claimed_by == "manager"
    with pytest.raises(svc.Conflict) as later:  # and so does a claim after it
        svc.claim(task.id, user("fj_head"))
    assert str(later.value) == str(lost.value)


def test_reject_notifies_reporter_in_app(env):
    from app.notifications.models import Notification
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", dict(CUSTOMER, province="广东"))
    [task] = open_tasks(instance)
    svc.claim(task.id, user("manager"))
    svc.complete(task.id, user("manager"), {"decision": "reject", "comment": "撞单"})
    notices = list(db.session.scalars(select(Notification).where(Notification.user_id == user("sales1").id)))
    assert [n.text for n in notices] == ["客户报备「福州一号」被驳回：撞单"]  # once, though reporter and owner
    assert notices[0].link == f"/process-instances/{instance.id}"


def test_a_rejection_reaches_the_owner_a_rule_gave_the_customer_as_well_as_the_reporter(env):
    from app.notifications.models import Notification
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", dict(CUSTOMER, province="广东", owner="sales2"))
    [task] = open_tasks(instance)
    svc.claim(task.id, user("manager"))
    svc.complete(task.id, user("manager"), {"decision": "reject", "comment": "资料不全"})
    told = {n.user_id for n in db.session.scalars(select(Notification).where(Notification.text.like("%被驳回%")))}
    assert told == {user("sales1").id, user("sales2").id}


def test_a_notice_links_only_to_pages_of_the_product(app, env):
    from app.engine.operations import OperationContext, OperationError, call_operation
    from app.engine.product_operations import register_product_operations

    register_product_operations()
    with app.test_request_context():
        ctx = OperationContext("notify.users", "Task_n", None, {}, {"instance_id": 1})
        for link in ("javascript:alert(1)", "https://evil.example/", "//evil.example/x", "/\\evil.example/x",
                     "/\t/evil.example/x"):  # browsers read "\" as "/" and drop tabs
            with pytest.raises(OperationError, match="以 / 开头"):
                call_operation("notify.users", ctx, {"message": "看这里", "users": "sales1", "link": link})


def test_a_notice_to_someone_away_reaches_their_substitute_too(app, env):
    """The "waiting for more than a day" reminder went only to the head on holiday."""
    from app.clock import company_today
    from app.engine.operations import OperationContext, call_operation
    from app.inbox.services import set_out_of_office
    from app.notifications.models import Notification

    with app.test_request_context():
        set_out_of_office(user("fj_head"), "manager", company_today(), company_today())
        ctx = OperationContext("notify.users", "Task_remind", None, {}, {"instance_id": 1})
        told = call_operation("notify.users", ctx, {"message": "客户报备等待审批已超过 1 天", "groups": "fujian-heads"})
        assert told == ["fj_head", "manager"]
        readers = {n.user_id for n in db.session.scalars(select(Notification))}
        assert readers == {user("fj_head").id, user("manager").id}
        assert call_operation("notify.users", ctx, {"message": "给在岗的人", "users": "sales1"}) == ["sales1"]


def test_stale_instance_version_is_a_conflict(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    svc.claim(task.id, user("fj_head"))
    db.session.refresh(instance)
    # Another worker completed a step meanwhile: the row's version moved on under us.
    with db.engine.begin() as other:
        other.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id)
                      .values(version=ProcessInstance.version + 1))
    with pytest.raises(svc.Conflict):
        svc.complete(task.id, user("fj_head"), {"decision": "approve"})
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).status == "running"
    assert db.session.get(HumanTask, task.id).status == "open"  # the losing step left nothing behind


def test_a_task_already_completed_in_the_state_is_a_conflict_not_a_crash(env):
    # Another web process completed the task and committed; this one had read the task row as
    # open just before, and now loads a state where the finished step was pruned away.
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    svc.claim(task.id, user("fj_head"))
    svc.complete(task.id, user("fj_head"), {"decision": "approve"})
    # What this process read before the other's commit: the task open, the instance running.
    db.session.execute(update(HumanTask).where(HumanTask.id == task.id).values(status="open", completed_by=None))
    db.session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id).values(status="running"))
    db.session.commit()
    with pytest.raises(svc.Conflict):
        svc.complete(task.id, user("fj_head"), {"decision": "reject", "comment": "晚了"})


def test_escalation_timer_fired_by_worker(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    jobs = list(db.session.scalars(select(Job).where(Job.kind == svc.TIMER_JOB)))
    assert sorted(j.payload["bpmn_id"] for j in jobs) == ["Timer_fujian_escalate", "Timer_fujian_remind"]
    escalate = next(j for j in jobs if j.payload["bpmn_id"] == "Timer_fujian_escalate")
    assert timedelta(days=2, hours=23) < escalate.due_at - utcnow() <= timedelta(days=3)
    # time travel: the timer and its job are due now
    wf = S.loads(instance.state, svc.spec_cache)
    make_timer_due(wf, "Timer_fujian_escalate")
    instance.state = S.dumps(wf)
    escalate.due_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert run_due_jobs() == 1
    db.session.expire_all()
    [task] = open_tasks(instance)
    # The demo's fujian-heads are managed by the sales manager.
    assert (task.bpmn_id, task.assignee, task.candidate_groups, task.candidate_users) == (
        "Task_escalated_review", "manager", [], [])
    old = db.session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "Task_fujian_review"))
    assert old.status == "cancelled"
    remind = db.session.get(Job, next(j.id for j in jobs if j.payload["bpmn_id"] == "Timer_fujian_remind"))
    assert (remind.status, remind.last_error) == ("done", "cancelled")  # dropped with its task
    new_jobs = list(db.session.scalars(select(Job).where(Job.kind == svc.TIMER_JOB, Job.status == "pending")))
    assert new_jobs == []  # the escalation task has no timers
    assert "timer_fired" in [h.event for h in svc.history(instance.id)]


def test_error_then_retry(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    svc.claim(task.id, user("fj_head"))
    env.fail_status = True
    svc.complete(task.id, user("fj_head"), {"decision": "approve"})
    instance = svc.get_instance(instance.id)
    assert instance.status == "error"
    assert instance.error["element_id"] == "Task_mark_approved"
    from app.notifications.models import Notification
    notice = db.session.scalar(select(Notification).where(Notification.user_id == user("admin").id))
    # In the admin's language (the default, Chinese), whoever's step hit the error.
    assert notice.text.startswith(f"流程 客户报备 #{instance.id} 在 报备通过 出错：此步骤的操作 crm.set_report_status 失败："
                                  "RuntimeError: CRM unavailable")  # names, not ids; the frame in words
    assert notice.kind == "error" and notice.link == f"/process-instances/{instance.id}"
    # The history says the system stopped there, not that the approver did.
    [stopped] = [h for h in svc.history(instance.id) if h.event == "error"]
    assert stopped.actor is None and stopped.task == "报备通过"
    env.fail_status = False
    svc.retry(instance.id, user("admin"))
    assert svc.get_instance(instance.id).status == "completed"
    events = [e.event for e in svc.history(instance.id)]
    assert events.index("error") < events.index("retried") < events.index("completed")
    assert svc.get_instance(instance.id).error is None


def test_terminate_cancels_tasks_and_timers(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    svc.terminate(instance.id, user("admin"), comment="重复报备")
    assert svc.get_instance(instance.id).status == "terminated"
    assert open_tasks(instance) == []
    assert db.session.scalar(select(Job).where(Job.kind == svc.TIMER_JOB, Job.status == "pending")) is None


def test_concurrent_completion_exactly_one_wins(app, env):
    """Two approvers complete the same task at the same moment: one wins, the other gets 409."""
    import threading

    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    task_id, instance_id = task.id, instance.id
    db.session.commit()
    db.session.remove()

    # Both steps run the approve service task; holding them there guarantees both loaded the
    # same instance version before either commits.
    barrier = threading.Barrier(2, timeout=10)
    original = env.set_report_status

    def slow_set_report_status(ctx, **params):
        barrier.wait()
        return original(ctx, **params)

    from app.engine import operations
    operations.register_operation("crm.set_report_status", slow_set_report_status,
                                  params=["customer_id", "status"], optional=["comment"], replace=True)
    outcomes = []

    def approve():
        with app.app_context():
            try:
                svc.complete(task_id, user("admin"), {"decision": "approve", "comment": threading.current_thread().name})
                outcomes.append("won")
            except svc.Conflict:
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, name=f"t{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "won"]
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, instance_id)
    assert instance.status == "completed"
    row = db.session.get(HumanTask, task_id)
    assert row.status == "completed"
    completed = [h for h in svc.history(instance_id) if h.event == "completed_task"]
    assert len(completed) == 1


def test_form_designer_fields_are_the_whitelist(env):
    """With the form designer's customer_report form saved, its editable fields are what a
    task accepts; read-only embedded fields (e.g. province) are refused."""
    from app.forms import services as forms

    from .support import ROOT

    key, name, schema = forms.read_form_file(ROOT / "forms" / "customer_report.form")
    forms.save_form(key, name, schema)
    db.session.commit()
    editable = svc.form_fields("customer_report")
    assert "decision" in editable and "province" not in editable
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    svc.claim(task.id, user("fj_head"))
    with pytest.raises(svc.InvalidData) as info:
        svc.complete(task.id, user("fj_head"), {"decision": "approve", "province": "广东"})
    assert info.value.fields == ["province"]
    svc.complete(task.id, user("fj_head"), {"decision": "approve"})
    assert svc.get_instance(instance.id).status == "completed"


def _make_job_due(instance, bpmn_id):
    """Time travel for one timer: in the saved workflow and in its job row."""
    wf = S.loads(instance.state, svc.spec_cache)
    task = make_timer_due(wf, bpmn_id)
    instance.state = S.dumps(wf)
    job = next(j for j in db.session.scalars(select(Job).where(Job.kind == svc.TIMER_JOB))
               if j.payload["task_id"] == str(task.id))
    timer = next(t for t in R.waiting_timers(wf) if t.task_id == str(task.id))
    job.due_at, job.key = timer.due_at, svc._timer_key(instance.id, timer.task_id, timer.due_at)
    db.session.commit()
    return job


def test_timer_waits_while_suspended_and_fires_on_resume(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    [task] = open_tasks(instance)
    svc.claim(task.id, user("fj_head"))
    svc.suspend(instance.id, user("admin"), comment="核实中")
    with pytest.raises(svc.Conflict, match="已挂起"):
        svc.complete(task.id, user("fj_head"), {"decision": "approve"})
    svc.unclaim(task.id, user("fj_head"))
    with pytest.raises(svc.Conflict, match="已挂起"):  # nor can a held task be taken
        svc.claim(task.id, user("fj_head"))
    job = _make_job_due(instance, "Timer_fujian_remind")
    run_due_jobs()
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "pending" and "TimerNotFired" in job.last_error  # retried later, not lost
    svc.resume(instance.id, user("admin"))
    events = [h.event for h in svc.history(instance.id)]
    assert events.index("suspended") < events.index("resumed") < events.index("timer_fired")
    from app.notifications.models import Notification
    texts = [n.text for n in db.session.scalars(select(Notification).where(Notification.user_id == user("fj_head").id))]
    assert "客户报备「福州一号」等待审批已超过 1 天" in texts


def test_timer_due_while_in_error_fires_at_retry(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    job = _make_job_due(instance, "Timer_fujian_remind")
    db.session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id).values(status="error"))
    db.session.execute(update(Job).where(Job.id == job.id).values(max_attempts=1))
    db.session.commit()
    run_due_jobs()
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "failed"  # could not fire while in error
    assert "timer_fired" not in [h.event for h in svc.history(instance.id)]
    svc.retry(instance.id, user("admin"))
    events = [h.event for h in svc.history(instance.id)]
    assert events.index("retried") < events.index("timer_fired")
    from app.notifications.models import Notification
    assert db.session.scalar(select(Notification).where(Notification.user_id == user("fj_head").id)) is not None


def test_failed_timer_job_is_rescheduled_while_its_timer_still_waits(env):
    svc.deploy(XML)
    instance = svc.start_instance("customer_report", CUSTOMER)
    job = db.session.scalar(select(Job).where(Job.kind == svc.TIMER_JOB))
    job.status = "failed"  # e.g. the worker gave up during an outage
    db.session.commit()
    [task] = open_tasks(instance)
    svc.claim(task.id, user("fj_head"))  # any later step of the instance...
    svc.fire_timers(instance.id)
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "pending"  # ...schedules the timer again


def test_cli_deploy_list_and_rollback(app, env, tmp_path):
    path = tmp_path / "customer_report.bpmn"
    path.write_bytes(XML)
    runner = app.test_cli_runner()
    if "process" not in app.cli.commands:  # before app/__init__.py registered the engine
        from app import create_app
        from app.engine import init_app
        other = create_app(dict(app.config))
        init_app(other)
        runner = other.test_cli_runner()
    assert "deployed customer_report version 1" in runner.invoke(args=["process", "deploy", str(path)]).output
    assert "nothing deployed" in runner.invoke(args=["process", "deploy", str(path)]).output
    path.write_bytes(XML + b"\n")
    runner.invoke(args=["process", "deploy", str(path)])
    assert runner.invoke(args=["process", "rollback", "customer_report", "1"]).exit_code == 0
    listing = runner.invoke(args=["process", "list"]).output.splitlines()
    assert [line[:22] for line in listing] == ["* customer_report v1  ", "  customer_report v2  "]
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(XML.replace(b'camunda:candidateGroups="${approver_group}" ', b"", 1))
    result = runner.invoke(args=["process", "deploy", str(bad)])
    assert result.exit_code == 1 and "Task_fujian_review" in result.output
    assert runner.invoke(args=["process", "rollback", "customer_report", "9"]).exit_code != 0


def test_countersign_rows_any_one_approves(env):
    from .support import FIXTURES

    xml = ((FIXTURES / "countersign.bpmn.template").read_text()
           .replace("IS_SEQUENTIAL", "")
           .replace("COMPLETION", '<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">'
                                  "${decision == &apos;approve&apos;}</bpmn:completionCondition>")
           .replace("OUTCOME", "${any(r[&apos;decision&apos;] == &apos;approve&apos; for r in Sign_results)}"))
    svc.deploy(xml)
    instance = svc.start_instance("countersign", {"approvers": ["fj_head", "manager", "med_reviewer"]})
    rows = open_tasks(instance)
    assert sorted(r.assignee for r in rows) == ["fj_head", "manager", "med_reviewer"]
    assert [t.assignee for t in svc.inbox(user("manager"))] == ["manager"]
    with pytest.raises(svc.Forbidden):
        svc.complete(next(r.id for r in rows if r.assignee == "manager"), user("fj_head"), {"decision": "approve"})
    svc.complete(next(r.id for r in rows if r.assignee == "fj_head"), user("fj_head"), {"decision": "reject"})
    svc.complete(next(r.id for r in rows if r.assignee == "manager"), user("manager"), {"decision": "approve"})
    instance = svc.get_instance(instance.id)
    assert instance.status == "completed"
    statuses = {r.assignee: r.status for r in db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id))}
    assert statuses == {"fj_head": "completed", "manager": "completed", "med_reviewer": "cancelled"}
    assert [(r["approver"], r["decision"]) for r in instance.data["Sign_results"]] == [
        ("fj_head", "reject"), ("manager", "approve")]


def test_a_review_sent_back_many_times_keeps_a_small_state(env):
    """Saved states are pruned (trap 10): the 40th round saves no more than the 2nd."""
    from app.inbox.services import diagram_markers

    from .test_pruning import REVIEW_LOOP

    svc.deploy(REVIEW_LOOP.encode())
    instance = svc.start_instance("review_loop", {"rounds": 0, "reminders": 0}, actor=user("sales1"))
    sizes = []
    for round_ in range(40):
        if round_ == 5:  # the daily reminder, fired by the worker, runs to its own end event
            _make_job_due(svc.get_instance(instance.id), "remind")
            assert run_due_jobs() == 1
            db.session.expire_all()
        [task] = open_tasks(instance)
        svc.claim(task.id, user("manager"))
        svc.complete(task.id, user("manager"), {"decision": "reject", "comment": "补充材料"})
        sizes.append(len(svc.get_instance(instance.id).state))
    assert max(sizes[1:5]) - sizes[1] < 100 and max(sizes[6:]) - sizes[6] < 100, sizes
    assert sizes[-1] - sizes[1] < 2000, sizes  # the reminder's end step stays (its data is merged at the end)
    trace = diagram_markers(svc.get_instance(instance.id))
    assert {"s", "decide", "rework", "remind", "count_reminder", "reminded"} <= set(trace["completed"])
    assert trace["active"] == ["review"]  # current again, though done in every earlier round (it read "completed")
    assert ["s", "review"] in trace["flows"] and ["rework", "review"] in trace["flows"]
    [task] = open_tasks(instance)
    svc.claim(task.id, user("manager"))
    svc.complete(task.id, user("manager"), {"decision": "approve"})
    instance = svc.get_instance(instance.id)
    assert instance.status == "completed" and instance.data["rounds"] == 40


NO_DEFAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="no_default" name="\xe6\x97\xa0\xe9\xbb\x98\xe8\xae\xa4" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="Gateway_0l2pbaw" name="\xe6\x98\xaf\xe5\x90\xa6\xe5\x90\x8c\xe6\x84\x8f">
      <bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>yes</bpmn:outgoing><bpmn:outgoing>no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="e1"><bpmn:incoming>yes</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>no</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="Gateway_0l2pbaw" />
    <bpmn:sequenceFlow id="yes" sourceRef="Gateway_0l2pbaw" targetRef="e1">
      <bpmn:conditionExpression>${decision == 'approve'}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no" sourceRef="Gateway_0l2pbaw" targetRef="e2">
      <bpmn:conditionExpression>${decision == 'reject'}</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_condition_reading_a_variable_the_process_lacks_says_so_in_words(env):
    # The evaluator's "NameError: name 'decision' is not defined" becomes what to do, in Chinese.
    svc.deploy(NO_DEFAULT)
    instance = svc.start_instance("no_default", {})
    assert instance.status == "error" and instance.error["error_type"] == "unknown_variable"
    assert instance.error["detail"] == "decision"
    assert instance.error["message"].startswith("“是否同意”读取了 decision，但流程中没有这个变量")
    assert "NameError" not in instance.error["message"]


def test_a_gateway_no_path_fits_says_so_in_words(env):
    # SpiffWorkflow says "No conditions satisfied for Gateway_0l2pbaw"; the operator reads what to do.
    svc.deploy(NO_DEFAULT)
    instance = svc.start_instance("no_default", {"decision": "maybe"})
    assert instance.status == "error" and instance.error["error_type"] == "no_path"
    assert instance.error["message"] == ("“是否同意”的出口条件都不成立，且没有默认流：请把一条流设为默认流，"
                                         "或修正数据后重试。")


def test_a_step_closed_by_another_branch_is_no_escalation(ctx, demo_people):
    """One branch reaching a terminate end closes the other's task: its history says the process
    closed it ("task_closed"), which the reports do not count as escalated (task_cancelled)."""
    from app.auth.models import User

    svc.deploy(b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="either" name="either" isExecutable="true">
    <bpmn:startEvent id="Start_1" />
    <bpmn:sequenceFlow id="f0" sourceRef="Start_1" targetRef="Split" />
    <bpmn:parallelGateway id="Split" />
    <bpmn:sequenceFlow id="f1" sourceRef="Split" targetRef="Task_veto" />
    <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Task_other" />
    <bpmn:userTask id="Task_veto" name="veto" camunda:assignee="manager" />
    <bpmn:userTask id="Task_other" name="other" camunda:assignee="manager" />
    <bpmn:sequenceFlow id="f3" sourceRef="Task_veto" targetRef="End_veto" />
    <bpmn:sequenceFlow id="f4" sourceRef="Task_other" targetRef="End_other" />
    <bpmn:endEvent id="End_veto"><bpmn:terminateEventDefinition /></bpmn:endEvent>
    <bpmn:endEvent id="End_other" />
  </bpmn:process>
</bpmn:definitions>""")
    manager = db.session.scalar(select(User).where(User.username == "manager"))
    instance = svc.start_instance("either", {}, actor=manager)
    veto = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.bpmn_id == "Task_veto"))
    svc.complete(veto.id, manager, {})
    events = [(h.event, h.task) for h in svc.history(instance.id)]
    assert ("task_closed", "other") in events and not [e for e in events if e[0] == "task_cancelled"]


def test_a_condition_comparing_text_with_a_number_says_so_in_words(ctx, demo_people):
    """It stopped with Python's "TypeError: '>=' not supported between instances of 'str' and 'int'"."""
    svc.deploy("""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="big_deal" name="big deal" isExecutable="true">
    <bpmn:startEvent id="Start_1" />
    <bpmn:sequenceFlow id="f0" sourceRef="Start_1" targetRef="Gate" />
    <bpmn:exclusiveGateway id="Gate" name="金额大吗" default="f_small" />
    <bpmn:sequenceFlow id="f_big" sourceRef="Gate" targetRef="End_big">
      <bpmn:conditionExpression>${title &gt;= 200000}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="Gate" targetRef="End_small" />
    <bpmn:endEvent id="End_big" />
    <bpmn:endEvent id="End_small" />
  </bpmn:process>
</bpmn:definitions>""".encode())
    instance = svc.start_instance("big_deal", {"title": "二期项目"})
    assert instance.status == "error" and instance.error["error_type"] == "mismatched_types"
    said = instance.error["message"]
    assert said.startswith("“金额大吗”在 ${title >= 200000} 中把类型不相容的值放在了一起") and "更正流程图" in said


@pytest.mark.parametrize("script, said", [
    ("x = 1 / 0", "脚本执行失败：除数为零"),
    ("x = len(5)", "类型不相容的值"),  # no comparison, no condition: not said to be one
])
def test_a_failing_script_says_what_failed_in_the_reader_s_words(ctx, demo_people, script, said):
    """A Chinese designer read "script failed: ZeroDivisionError: division by zero", and a
    len(5) read as a condition comparing a text with a number."""
    svc.deploy(f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="calc" isExecutable="true">
    <bpmn:startEvent id="Start_1" />
    <bpmn:sequenceFlow id="f0" sourceRef="Start_1" targetRef="Calc" />
    <bpmn:scriptTask id="Calc" name="计算" scriptFormat="python"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f1" sourceRef="Calc" targetRef="End_1" />
    <bpmn:endEvent id="End_1" />
  </bpmn:process>
</bpmn:definitions>""".encode())
    instance = svc.start_instance("calc", {})
    assert instance.status == "error" and said in instance.error["message"]
    assert "比较" not in instance.error["message"] and "Error" not in instance.error["message"].split("（")[0]
