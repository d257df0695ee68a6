"""The inbox's queues (a page merged from per-queue index walks, a count from the queues'
indexes) answer exactly what the general query answers, and the offers' copies of a task's
holder and due date stay in step with the task through claims, releases, reassignment and
closing."""
import random
from datetime import timedelta

from sqlalchemy import select

USERS = ("fj_head", "sales1", "manager")


def _seed(db, rnd: random.Random) -> list:
    """300 open tasks through the ORM (so the inbox hooks write their offers): assigned, offered
    to the users, their groups, both (overlaps) or others; due dates past, future, equal or none."""
    from app.db import utcnow
    from app.engine.models import HumanTask, ProcessDefinition, ProcessInstance

    now = utcnow().replace(microsecond=0)
    definition = ProcessDefinition(key="queues", name="queues", version=1, is_current=True, xml="<x/>",
                                   spec_hash="1" * 64, deployed_at=now)
    db.session.add(definition)
    instances = [ProcessInstance(definition=definition, process_key="queues", status="running", state="", data={})
                 for _ in range(30)]
    db.session.add_all(instances)
    db.session.flush()
    groups = ["fujian-heads", "sales-managers", "medical-reviewers", "elsewhere"]
    people = list(USERS) + ["sales2", "nobody"]
    dues = [now + timedelta(hours=h) for h in (-50, -3, -3, 2, 20, 20, 200)] + [None, None]
    tasks = []
    for n in range(300):
        kind = rnd.random()
        assignee = rnd.choice(people) if kind < 0.25 else None
        task = HumanTask(instance_id=instances[n % 30].id, task_uuid=f"{n:036d}", bpmn_id="T", name=f"task {n}",
                         assignee=assignee,
                         candidate_groups=[] if assignee else rnd.sample(groups, rnd.randint(0, 2)),
                         candidate_users=[] if assignee else rnd.sample(people, rnd.randint(0, 2)),
                         due_at=rnd.choice(dues))
        tasks.append(task)
    db.session.add_all(tasks)
    db.session.commit()
    return tasks


def _stir(db, tasks, rnd: random.Random) -> None:
    """Claims, releases, reassignments, moved due dates and closed tasks, as the services make them."""
    from app.db import utcnow

    for task in rnd.sample(tasks, 120):
        change = rnd.choice(("claim", "claim", "release", "reassign", "due", "close"))
        if change == "claim" and not task.assignee:
            task.claimed_by, task.claimed_at = rnd.choice(USERS + ("sales2",)), utcnow()
        elif change == "release":
            task.claimed_by, task.claimed_at = None, None
        elif change == "reassign":
            task.assignee, task.claimed_by = rnd.choice(USERS), None
        elif change == "due":
            task.due_at = None if task.due_at else utcnow() + timedelta(minutes=rnd.randint(-900, 900))
        elif change == "close":
            task.status, task.completed_at = "completed", utcnow()
    db.session.commit()


def _general_page(db, services, user, scope, due, sort, page, per_page):
    stmt = services.task_page_ids_query(user, scope=scope, due=due, sort=sort)
    return list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))


def test_queues_answer_what_the_general_query_answers(app, demo_people):
    from app.auth.services import get_user
    from app.engine.models import HumanTask
    from app.extensions import db
    from app.inbox import services
    from app.inbox.models import TaskOffer

    rnd = random.Random(20261202)
    with app.test_request_context():
        tasks = _seed(db, rnd)
        _stir(db, tasks, rnd)
        _stir(db, tasks, rnd)

        # Every offer repeats its task's holder flag and due date; closed tasks have none.
        pairs = db.session.execute(select(TaskOffer, HumanTask).join(HumanTask, HumanTask.id == TaskOffer.task_id)).all()
        assert pairs
        for offer, task in pairs:
            assert task.status == "open"
            assert offer.held == bool(task.assignee or task.claimed_by), task.name
            assert offer.due_at == task.due_at, task.name

        checked = 0
        for username in USERS:
            user = get_user(username)
            for scope in ("mine", "offered", "all"):
                for due in (None, "overdue", "today", "week", "none"):
                    general_total = db.session.scalar(services.task_count_query(user, scope, due=due))
                    assert services.task_count(user, scope, due=due) == general_total, (username, scope, due)
                    for sort in ("due", "-due"):
                        for page in range(1, 5):
                            got = services.task_page(user, page, 7, sort, scope=scope, due=due)
                            expected = _general_page(db, services, user, scope, due, sort, page, 7)
                            assert [row["task"].id for row in got["items"]] == expected, (username, scope, due, sort, page)
                            assert got["total"] == general_total
                            checked += len(expected)
        assert checked > 500  # the data gives every section real pages


def test_deep_pages_and_other_sorts_use_the_general_query(app, demo_people):
    from app.auth.services import get_user
    from app.extensions import db
    from app.inbox import services

    rnd = random.Random(7)
    with app.test_request_context():
        _seed(db, rnd)
        user = get_user("manager")
        for page, per_page, sort in ((2, services.QUEUE_DEPTH, "due"), (1, 25, "created"), (1, 25, "-created")):
            got = services.task_page(user, page, per_page, sort, scope="all")
            assert [r["task"].id for r in got["items"]] == _general_page(db, services, user, "all", None, sort, page,
                                                                         per_page)
        # A process filter goes the general way too, and agrees.
        assert services.task_count(user, "all", process="queues") == services.task_count(user, "all")
        assert services.task_count(user, "all", process="other") == 0


def test_the_migration_fills_existing_offers_from_their_tasks(tmp_path):
    """Offers written before the queues get their task's holder flag and due date; offers of
    closed tasks are dropped."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.helpers import database_at

    with database_at(tmp_path, "0015_human_task_form_version"):
        now = "2026-12-01 08:00:00.000000"
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO process_definitions (id, key, name, version, is_current, xml, spec_hash, deployed_at, "
                "created_at, updated_at) VALUES (1, 'p', 'p', 1, 1, '<x/>', :h, :now, :now, :now)"), {"h": "0" * 64,
                                                                                                   "now": now})
            connection.execute(text(
                "INSERT INTO process_instances (id, definition_id, process_key, status, state, data, version, "
                "created_at, updated_at) VALUES (1, 1, 'p', 'running', '', '{}', 1, :now, :now)"), {"now": now})
            for task_id, assignee, claimed_by, status, due in ((1, None, None, "open", "2026-12-03 09:00:00.000000"),
                                                               (2, None, "sales1", "open", None),
                                                               (3, "manager", None, "open", None),
                                                               (4, None, None, "completed", None)):
                connection.execute(text(
                    "INSERT INTO human_tasks (id, instance_id, task_uuid, bpmn_id, name, assignee, claimed_by, "
                    "candidate_users, candidate_groups, status, due_at, version, created_at, updated_at) VALUES "
                    "(:id, 1, :id, 'T', 't', :a, :c, '[]', '[\"g\"]', :s, :due, 1, :now, :now)"),
                    {"id": task_id, "a": assignee, "c": claimed_by, "s": status, "due": due, "now": now})
                connection.execute(text("INSERT INTO inbox_task_offers (task_id, principal) VALUES (:id, 'g:g')"),
                                   {"id": task_id})
        upgrade()
        with db.engine.connect() as connection:
            offers = connection.execute(text("SELECT task_id, held, due_at FROM inbox_task_offers ORDER BY task_id")).all()
        assert [tuple(o) for o in offers] == [(1, 0, "2026-12-03 09:00:00.000000"), (2, 1, None), (3, 1, None)]
        downgrade(revision="0015_human_task_form_version")  # and back: the old index and columns
        with db.engine.connect() as connection:
            columns = [row[1] for row in connection.execute(text("PRAGMA table_info(inbox_task_offers)"))]
        assert columns == ["task_id", "principal"]
