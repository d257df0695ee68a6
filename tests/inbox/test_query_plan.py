"""The inbox query stays index-backed: 10,000 open tasks, and the plan for "assigned to me"
and "offered to my groups" must search human_tasks by index, never scan it."""
import pytest
from sqlalchemy import insert, select

N_TASKS = 10_000


def _seed(db):
    from app.auth.models import User
    from app.db import utcnow
    from app.engine.models import HumanTask, ProcessDefinition, ProcessInstance
    from app.inbox.models import TaskOffer

    now = utcnow()
    starter = db.session.scalar(select(User.id).where(User.username == "sales1"))
    db.session.execute(insert(ProcessDefinition), [{
        "id": 1, "key": "bulk", "name": "bulk", "version": 1, "is_current": True, "xml": "<x/>",
        "spec_hash": "0" * 64, "deployed_at": now, "created_at": now, "updated_at": now}])
    db.session.execute(insert(ProcessInstance), [{
        "id": i, "definition_id": 1, "process_key": "bulk", "status": "running", "state": "", "data": {},
        "started_by_id": starter, "created_at": now, "updated_at": now, "version": 1} for i in range(1, 201)])
    tasks, offers = [], []
    for i in range(1, N_TASKS + 1):
        # A few tasks for fj_head, the rest spread over 500 other people and 50 other groups.
        mine = i % 997 == 0
        assigned = i % 2 == 0
        tasks.append({"id": i, "instance_id": 1 + i % 200, "task_uuid": f"{i:036d}", "bpmn_id": "T", "name": f"task {i}",
                      "assignee": ("fj_head" if mine else f"user{i % 500}") if assigned else None,
                      "candidate_users": [], "candidate_groups": [] if assigned else [f"group{i % 50}"],
                      "status": "open" if i % 10 else "completed", "due_at": now, "created_at": now, "updated_at": now,
                      "version": 1})
        if not assigned and i % 10:  # offers exist for open tasks only
            offers.append({"task_id": i, "principal": "g:fujian-heads" if i % 1001 == 1 else f"g:group{i % 50}"})
    db.session.execute(insert(HumanTask), tasks)
    db.session.execute(insert(TaskOffer), offers)
    db.session.commit()


def _plan(db, stmt) -> str:
    sql = str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
            return "\n".join(r[-1] for r in rows)
        return "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + sql).all())


@pytest.mark.slow
def test_inbox_queries_use_indexes(app, demo_people):
    from app.auth.services import get_user
    from app.extensions import db
    from app.inbox import services

    with app.test_request_context():
        _seed(db)
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        user = get_user("fj_head")
        mine = services.task_page(user, scope="mine")
        offered = services.task_page(user, scope="offered")
        assert mine["total"] == len([i for i in range(1, N_TASKS + 1) if i % 997 == 0 and i % 2 == 0 and i % 10])
        assert offered["total"] == len([i for i in range(1, N_TASKS + 1) if i % 1001 == 1 and i % 2 and i % 10])

        for scope in ("mine", "offered", "all"):
            stmt = services.task_list_query(user, scope=scope)
            plan = _plan(db, stmt)
            if db.engine.dialect.name == "sqlite":
                assert "SCAN human_tasks" not in plan and "SCAN inbox_task_offers" not in plan, plan
                # Tasks must not be reached by walking every instance either.
                assert "SCAN process_instances" not in plan and "ix_human_tasks_instance_id" not in plan, plan
                assert "USING INDEX ix_human_tasks_status_assignee" in plan or "USING INTEGER PRIMARY KEY" in plan, plan
                if scope != "offered":
                    assert "ix_human_tasks_status_claimed_by" in plan, plan
                if scope != "mine":
                    assert "ix_inbox_task_offers_queue" in plan, plan
            else:
                assert "Seq Scan on human_tasks" not in plan and "Seq Scan on inbox_task_offers" not in plan, plan
                assert "Seq Scan on process_instances" not in plan, plan
        for scope in ("mine", "offered", "all"):  # a page's ids and the counts: on the indexes, no joins
            for stmt in (services.task_page_ids_query(user, scope=scope), services.task_count_query(user, scope=scope)):
                plan = _plan(db, stmt)
                assert "SCAN human_tasks" not in plan and "Seq Scan on human_tasks" not in plan, plan
                assert "process_instances" not in plan and "users" not in plan, plan
        # A process filter needs the instances: counted through the list's joins, still indexed.
        count_plan = _plan(db, services.task_count_query(user, scope="all", process="customer_report"))
        assert "SCAN human_tasks" not in count_plan and "Seq Scan on human_tasks" not in count_plan, count_plan
        assert services.task_count(user, "offered", process="customer_report") <= offered["total"]
        # Each queue's head (a page in due order) is an index walk that needs no sort (PostgreSQL
        # sorts the few rows its statistics expect here; with many it walks the index in order).
        for descending in (False, True):
            for head in services.queue_heads(user, "all", None, descending, 25):
                plan = _plan(db, head)
                if db.engine.dialect.name == "sqlite":
                    assert "SEARCH" in plan and "TEMP B-TREE" not in plan, plan
                    assert "COVERING INDEX ix_inbox_task_offers_queue" in plan or "ix_human_tasks_status_" in plan, plan
                else:
                    assert "Seq Scan" not in plan, plan
