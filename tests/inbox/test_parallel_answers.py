"""Two approvers of a parallel review answer at the same moment: both answers count.

Each completion reads the instance's state, changes it and writes it back guarded by the
instance's version; the one that writes second used to get 409 "the process moved on" for a
task nobody else had touched."""
import threading

from sqlalchemy import select

PARALLEL_REVIEW = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="two_reviews" name="two reviews" isExecutable="true">
    <bpmn:startEvent id="Start_1" />
    <bpmn:sequenceFlow id="f0" sourceRef="Start_1" targetRef="Split" />
    <bpmn:parallelGateway id="Split" />
    <bpmn:sequenceFlow id="f1" sourceRef="Split" targetRef="Task_legal" />
    <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Task_finance" />
    <bpmn:userTask id="Task_legal" name="legal" camunda:assignee="manager" />
    <bpmn:userTask id="Task_finance" name="finance" camunda:assignee="fj_head" />
    <bpmn:sequenceFlow id="f3" sourceRef="Task_legal" targetRef="Join" />
    <bpmn:sequenceFlow id="f4" sourceRef="Task_finance" targetRef="Join" />
    <bpmn:parallelGateway id="Join" />
    <bpmn:sequenceFlow id="f5" sourceRef="Join" targetRef="End_1" />
    <bpmn:endEvent id="End_1" />
  </bpmn:process>
</bpmn:definitions>"""


def test_parallel_answers_given_at_once_both_count(app, flows, monkeypatch):
    from app.auth.services import get_user
    from app.engine import runtime
    from app.engine import services as engine
    from app.engine.models import HumanTask, ProcessInstance
    from app.extensions import db
    from app.inbox import services as inbox

    with app.app_context():
        engine.deploy(PARALLEL_REVIEW)
        instance = engine.start_instance("two_reviews", {}, actor=get_user("sales1"))
        tasks = {t.bpmn_id: t.id for t in db.session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance.id))}
        instance_id = instance.id
        db.session.commit()
        db.session.remove()

    # Both have read the same state before either writes: the first try of each waits for the other.
    barrier = threading.Barrier(2, timeout=10)
    original = runtime.complete_user_task
    waited = set()

    def complete_after_the_other_read(*args, **kwargs):
        if threading.current_thread().name not in waited:
            waited.add(threading.current_thread().name)
            barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(runtime, "complete_user_task", complete_after_the_other_read)
    outcomes = {}

    def answer(username, bpmn_id):
        with app.app_context():
            try:
                inbox.complete(tasks[bpmn_id], get_user(username), {})
                outcomes[username] = "done"
            except inbox.ApiError as error:
                outcomes[username] = error.code
            finally:
                db.session.remove()

    threads = [threading.Thread(target=answer, args=(u, t), name=u)
               for u, t in (("manager", "Task_legal"), ("fj_head", "Task_finance"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == {"manager": "done", "fj_head": "done"}
    with app.app_context():
        assert db.session.get(ProcessInstance, instance_id).status == "completed"
        completed = [h.actor for h in engine.history(instance_id) if h.event == "completed_task"]
        assert sorted(completed) == ["fj_head", "manager"]
