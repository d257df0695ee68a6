"""Moving a running instance to the current version of its process (issue #7).

Fixtures: ``migration_v1.bpmn`` (one review with a reminder timer), ``migration_v2.bpmn`` (a
second review after it; the first renamed and also offered to the medical reviewers),
``migration_v3.bpmn`` (the review replaced by another step).
"""
import pytest
from sqlalchemy import select

from app.audit import AuditEvent
from app.auth.models import User
from app.engine import services as svc
from app.engine.models import HumanTask, ProcessInstance
from app.extensions import db
from app.jobs.models import Job

from .support import FIXTURES

V1, V2, V3 = ((FIXTURES / f"migration_v{n}.bpmn").read_bytes() for n in (1, 2, 3))


def user(name):
    return db.session.scalar(select(User).where(User.username == name))


def open_tasks(instance_id):
    return list(db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.status == "open").order_by(HumanTask.id)))


def timer_jobs(instance_id):
    return {(j.key, j.status) for j in db.session.scalars(select(Job).where(Job.kind == svc.TIMER_JOB))
            if j.payload["instance_id"] == instance_id}


@pytest.fixture
def started(ctx, demo_people):
    """Version 1 deployed, an instance waiting in the review (claimed by fj_head)."""
    svc.deploy(V1)
    instance = svc.start_instance("migration_review", {"customer": "泉州一号"}, actor=user("sales1"))
    [task] = open_tasks(instance.id)
    svc.claim(task.id, user("fj_head"))
    return instance.id, task.id


def test_added_step_after_the_waiting_task_runs_after_the_move(started):
    instance_id, task_id = started
    jobs_before = timer_jobs(instance_id)
    assert len(jobs_before) == 1 and next(iter(jobs_before))[1] == "pending"
    svc.deploy(V2)
    instance = svc.get_instance(instance_id)
    state_before = instance.state

    svc.migrate_instance(instance_id, user("admin"))

    db.session.expire_all()
    instance = svc.get_instance(instance_id)
    assert (instance.definition.version, instance.status) == (2, "running")
    assert instance.state != state_before and svc.get_definition("migration_review").spec_hash in instance.state
    # The same task row: id, claim; its name and candidates follow the new version.
    [task] = open_tasks(instance_id)
    assert (task.id, task.claimed_by, task.bpmn_id) == (task_id, "fj_head", "Task_review")
    assert (task.name, task.candidate_groups) == ("区域初审", ["fujian-heads", "medical-reviewers"])
    # The reminder keeps its job (same timer, same due time).
    assert timer_jobs(instance_id) == jobs_before
    migrated = [h for h in svc.history(instance_id) if h.event == "migrated"]
    assert [(h.actor, h.data["from"], h.data["to"]) for h in migrated] == [("admin", 1, 2)]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "process.migrated")).details == {
        "from_version": 1, "to_version": 2}

    # The instance now runs through the step version 2 added.
    svc.complete(task_id, user("fj_head"), {})
    [second] = open_tasks(instance_id)
    assert (second.bpmn_id, second.candidate_groups) == ("Task_second", ["sales-managers"])
    svc.claim(second.id, user("manager"))
    svc.complete(second.id, user("manager"), {})
    assert svc.get_instance(instance_id).status == "completed"


def test_refused_when_the_waiting_task_was_removed(started):
    instance_id, task_id = started
    svc.deploy(V3)
    version_before = svc.get_instance(instance_id).version
    with pytest.raises(svc.MigrationRefused) as info:
        svc.migrate_instance(instance_id, user("admin"))
    assert info.value.status == 409
    assert "Task_review" in str(info.value) and "初审" in str(info.value)
    assert [(p["element_id"], p["reason"]) for p in info.value.problems] == [("Task_review", "removed_active")]
    db.session.rollback()
    instance = svc.get_instance(instance_id)
    assert (instance.definition.version, instance.version) == (1, version_before)
    assert not [h for h in svc.history(instance_id) if h.event == "migrated"]
    # The instance goes on in version 1.
    svc.complete(task_id, user("fj_head"), {})
    assert svc.get_instance(instance_id).status == "completed"


def _without_the_reminder(xml: bytes) -> bytes:
    import re

    xml = re.sub(rb'<bpmn:boundaryEvent id="Timer_remind".*?</bpmn:boundaryEvent>', b"", xml, flags=re.S)
    xml = re.sub(rb'<bpmn:endEvent id="End_reminded".*?</bpmn:endEvent>', b"", xml, flags=re.S)
    xml = re.sub(rb'<bpmn:sequenceFlow id="Flow_reminded"[^>]*/>', b"", xml)
    return re.sub(rb'<bpmndi:BPMN(Shape|Edge) id="(Timer_remind|End_reminded|Flow_reminded)_di".*?</bpmndi:BPMN\1>',
                  b"", xml, flags=re.S)


def test_a_reminder_removed_from_the_waiting_step_is_said_of_that_step(started):
    """It said "the step “Task_review”, which the instance has passed, no longer exists" of the
    step the instance waits at, named by its id (SpiffWorkflow's wrapper of a step with timers)."""
    instance_id, _task_id = started
    svc.deploy(_without_the_reminder(V1))
    with pytest.raises(svc.MigrationRefused) as info:
        svc.migrate_instance(instance_id, user("admin"))
    assert [(p["element_id"], p["reason"]) for p in info.value.problems if p["element_id"] == "Task_review"] == [
        ("Task_review", "attached_changed")]
    assert "“初审”" in str(info.value) and "定时器" in str(info.value)  # by its name, saying what changed


def test_a_reminder_added_to_the_waiting_step_is_refused_not_left_unarmed(ctx, demo_people):
    """The move said it succeeded, but the step kept waiting without the timer: the escalation
    of the new version would never come."""
    svc.deploy(_without_the_reminder(V1))
    instance = svc.start_instance("migration_review", {"customer": "泉州二号"}, actor=user("sales1"))
    assert timer_jobs(instance.id) == set()
    svc.deploy(V1)
    with pytest.raises(svc.MigrationRefused) as info:
        svc.migrate_instance(instance.id, user("admin"))
    assert [(p["element_id"], p["reason"]) for p in info.value.problems] == [("Task_review", "attached_changed")]
    db.session.rollback()
    assert svc.get_instance(instance.id).definition.version == 1


def test_a_second_timer_added_to_the_waiting_step_is_said_of_that_step(started):
    """A step that had a timer got another: it said "the new version adds a branch at
    “Task_review” (Task_review), which the instance has passed" of the step it waits at."""
    instance_id, _task_id = started
    second = (b'<bpmn:boundaryEvent id="Timer_escalate" name="escalate" attachedToRef="Task_review">'
              b'<bpmn:outgoing>Flow_escalated</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>P3D'
              b'</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
              b'<bpmn:endEvent id="End_escalated"><bpmn:incoming>Flow_escalated</bpmn:incoming></bpmn:endEvent>'
              b'<bpmn:sequenceFlow id="Flow_escalated" sourceRef="Timer_escalate" targetRef="End_escalated" />')
    svc.deploy(V1.replace(b"  </bpmn:process>", second + b"  </bpmn:process>", 1))
    with pytest.raises(svc.MigrationRefused) as info:
        svc.migrate_instance(instance_id, user("admin"))
    assert [(p["element_id"], p["reason"]) for p in info.value.problems] == [("Task_review", "attached_changed")]
    assert "“初审”" in str(info.value) and "分支" not in str(info.value)


def test_refused_when_already_current_ended_or_stale(started):
    instance_id, task_id = started
    with pytest.raises(svc.MigrationRefused) as info:  # already on the current version
        svc.migrate_instance(instance_id, user("admin"))
    assert info.value.problems == [] and "1" in str(info.value)
    svc.deploy(V2)
    seen = svc.get_instance(instance_id).version
    svc.unclaim(task_id, user("fj_head"))  # someone acted meanwhile: the task row, not the instance
    svc.suspend(instance_id, user("admin"))  # ... and the instance
    with pytest.raises(svc.Conflict) as info:
        svc.migrate_instance(instance_id, user("admin"), expected_version=seen)
    assert not isinstance(info.value, svc.MigrationRefused)
    # A suspended instance can be moved; it stays suspended.
    svc.migrate_instance(instance_id, user("admin"), expected_version=svc.get_instance(instance_id).version)
    instance = svc.get_instance(instance_id)
    assert (instance.definition.version, instance.status) == (2, "suspended")
    svc.terminate(instance_id, user("admin"))
    svc.deploy(V3)
    with pytest.raises(svc.MigrationRefused):
        svc.migrate_instance(instance_id, user("admin"))
    assert svc.can_migrate(svc.get_instance(instance_id)) is None


def test_concurrent_step_makes_the_move_fail_with_conflict(started):
    """The optimistic lock: a step that committed after the move loaded the instance wins."""
    instance_id, task_id = started
    svc.deploy(V2)
    instance = svc.get_instance(instance_id)
    with db.engine.begin() as connection:  # another request completes a step meanwhile
        connection.execute(ProcessInstance.__table__.update().where(ProcessInstance.id == instance_id)
                           .values(version=ProcessInstance.version + 1))
    assert instance.version is not None
    with pytest.raises(svc.Conflict) as info:
        svc.migrate_instance(instance_id, user("admin"))
    assert not isinstance(info.value, svc.MigrationRefused)
    db.session.rollback()
    assert svc.get_instance(instance_id).definition.version == 1


def test_api_admins_only_refusal_with_reason_stale_and_success(app, api_as):
    with app.app_context():
        svc.deploy(V1)
        instance = svc.start_instance("migration_review", {"customer": "泉州一号"}, actor=user("sales1"))
        instance_id, task_id = instance.id, open_tasks(instance.id)[0].id
        svc.deploy(V3)
        db.session.remove()
    url = f"/api/v1/process-instances/{instance_id}/migrate"
    assert api_as("sales1").post(url, json={}).status_code == 403
    assert api_as("fj_head").post(url, json={}).status_code == 403

    refused = api_as("admin").post(url, json={})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "migration_refused" and "Task_review" in error["message"]
    assert [d["element_id"] for d in error["details"]] == ["Task_review"]

    with app.app_context():
        svc.deploy(V2)  # version 3: the review followed by a second one
        db.session.remove()
    seen = api_as("admin").get(f"/api/v1/process-instances/{instance_id}").get_json()
    assert seen["process_version"] == 1
    assert api_as("admin").post(url, json={"version": seen["version"] + 1}).status_code == 409  # not what they saw
    moved = api_as("admin").post(url, json={"version": seen["version"]})
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["process_version"] == 3 and [t["id"] for t in body["active_tasks"]] == [task_id]
    assert "migrated" in [h["event"] for h in body["history"]]
    assert api_as("admin").post(url, json={}).status_code == 409  # already on the current version


def _scripted(script: str) -> bytes:
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="t">
  <bpmn:process id="migration_script" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="Task_compute" name="计算" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Task_compute" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_compute" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>'''.encode()


def test_failed_instance_moves_to_the_fixed_version_and_retries(ctx, demo_people):
    svc.deploy(_scripted("total = amount / count"))
    instance = svc.start_instance("migration_script", {"amount": 10, "count": 0})
    assert instance.status == "error" and instance.error["element_id"] == "Task_compute"
    message = instance.error["message"]
    svc.deploy(_scripted("total = amount / count if count else 0"))
    svc.migrate_instance(instance.id, user("admin"))
    instance = svc.get_instance(instance.id)
    # Still failed, with the recorded error, until an operator retries it on the new version.
    assert (instance.status, instance.definition.version, instance.error["message"]) == ("error", 2, message)
    svc.retry(instance.id, user("admin"))
    instance = svc.get_instance(instance.id)
    assert instance.status == "completed" and instance.data["total"] == 0


def test_a_changed_form_key_moves_the_task_row_to_that_form(started):
    from app.forms import services as forms

    instance_id, task_id = started
    assert db.session.get(HumanTask, task_id).form_version is None  # no form mig_review stored
    schema = {"type": "default", "components": [{"id": "F", "type": "textfield", "key": "note", "label": "备注"}]}
    forms.save_form("mig_check", "检查表", schema)
    forms.save_form("mig_check", "检查表 v2", schema)
    changed = V1.replace(b'name="\xe5\x88\x9d\xe5\xae\xa1" camunda:formKey="mig_review"',
                         b'name="\xe5\x88\x9d\xe5\xae\xa1" camunda:formKey="mig_check"')
    assert changed != V1
    svc.deploy(changed)
    svc.migrate_instance(instance_id, user("admin"))
    task = db.session.get(HumanTask, task_id)
    assert (task.form_key, task.form_version, task.claimed_by) == ("mig_check", 2, "fj_head")
    assert svc.form_fields(task.form_key, task.form_version) == ["note"]
    svc.complete(task_id, user("fj_head"), {"note": "齐全"})
    assert svc.get_instance(instance_id).status == "completed"


def _parallel(branches: int) -> bytes:
    """A split into ``branches`` reviews, joined before the end."""
    tasks = "".join(
        f'<bpmn:userTask id="Task_{n}" name="会签{n}" camunda:assignee="manager" />'
        f'<bpmn:sequenceFlow id="f_in_{n}" sourceRef="Split" targetRef="Task_{n}" />'
        f'<bpmn:sequenceFlow id="f_out_{n}" sourceRef="Task_{n}" targetRef="Join" />' for n in range(1, branches + 1))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="countersign" name="会签" isExecutable="true">
    <bpmn:startEvent id="Start_1" />
    <bpmn:sequenceFlow id="f0" sourceRef="Start_1" targetRef="Split" />
    <bpmn:parallelGateway id="Split" name="分头会签" />
    {tasks}
    <bpmn:parallelGateway id="Join" />
    <bpmn:sequenceFlow id="f_end" sourceRef="Join" targetRef="End_1" />
    <bpmn:endEvent id="End_1" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_refused_when_a_branch_is_added_to_a_split_the_instance_has_passed(ctx, demo_people):
    """Moved, the instance waited at the join for a branch that never started: running, with
    no step open and no error, for good."""
    svc.deploy(_parallel(2))
    instance = svc.start_instance("countersign", {}, actor=user("sales1"))
    assert len(open_tasks(instance.id)) == 2
    svc.deploy(_parallel(3))
    with pytest.raises(svc.MigrationRefused) as info:
        svc.migrate_instance(instance.id, user("admin"))
    assert [(p["element_id"], p["reason"]) for p in info.value.problems] == [("Split", "branch_added")]
    assert "分头会签" in str(info.value)
    db.session.rollback()
    for task in open_tasks(instance.id):  # it goes on in its own version
        svc.complete(task.id, user("manager"), {})
    assert svc.get_instance(instance.id).status == "completed"
    # An instance started on the new version has all three branches.
    assert len(open_tasks(svc.start_instance("countersign", {}, actor=user("sales1")).id)) == 3
