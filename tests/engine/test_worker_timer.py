"""A boundary timer escalates through a real `flask worker` process, on time."""
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from app.engine import services as svc
from app.engine.models import HumanTask
from app.extensions import db
from app.jobs.models import Job

from .support import ROOT

pytestmark = pytest.mark.slow

QUICK_ESCALATION = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="x">
  <bpmn:process id="quick_escalation" name="快速升级" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="审批" camunda:candidateGroups="fujian-heads"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="review"><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT2S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:userTask id="escalated" name="升级审批" camunda:candidateGroups="sales-managers"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e1"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e1"/>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="escalated"/>
    <bpmn:sequenceFlow id="f4" sourceRef="escalated" targetRef="e2"/>
  </bpmn:process>
</bpmn:definitions>"""


def _wait(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def test_timer_escalates_within_five_seconds_of_its_due_time(app, ctx, demo_people, database_url, tmp_path):
    svc.deploy(QUICK_ESCALATION)
    db.session.commit()
    env = dict(os.environ, DATABASE_URL=database_url, FLASK_APP="wsgi", PYTHONPATH=str(ROOT),
               INSTANCE_PATH=str(tmp_path), SECRET_KEY="test")
    worker = subprocess.Popen([sys.executable, "-m", "flask", "worker", "--poll", "0.5"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # The worker is up once it has scheduled its periodic jobs; the timer starts after that.
        assert _wait(lambda: db.session.scalar(select(Job.id).where(Job.key.like("periodic:%"))), 60)
        instance = svc.start_instance("quick_escalation", {})
        due = db.session.scalar(select(Job.due_at).where(Job.kind == svc.TIMER_JOB))
        instance_id = instance.id
        db.session.commit()
        row = _wait(lambda: db.session.scalar(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "escalated")), 30)
        assert row is not None, "the timer did not escalate"
    finally:
        worker.terminate()
        worker.wait(10)
    assert row.candidate_groups == ["sales-managers"]
    assert 0 <= (row.created_at - due).total_seconds() <= 5
    review = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                       HumanTask.bpmn_id == "review"))
    assert review.status == "cancelled"
    assert "timer_fired" in [h.event for h in svc.history(instance_id)]
