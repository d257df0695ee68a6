"""The home page's task figures: the inbox badge's number and what is due, per user."""
import re
from datetime import timedelta

from tests.inbox.test_pages import login


def _set_due(app, task_id, due_at):
    from app.engine.models import HumanTask
    from app.extensions import db

    with app.app_context():
        db.session.get(HumanTask, task_id).due_at = due_at  # through the ORM: the offers follow
        db.session.commit()


def test_open_overdue_and_due_today_count_tasks_and_to_dos_of_the_user_only(app, flows):
    from app.auth.services import get_user
    from app.automation.models import Todo
    from app.db import utcnow
    from app.extensions import db
    from app.inbox.services import Workload, _due_limits, open_task_count, workload

    limits = _due_limits()
    now, end_of_today = limits["overdue"], limits["today"]
    late = flows.open_task(flows.assigned("fj_head"))  # assigned to fj_head
    later_today = flows.open_task(flows.report())  # offered to the Fujian heads' group
    next_week = flows.open_task(flows.report())
    flows.open_task(flows.assigned("med_reviewer"))  # someone else's
    _set_due(app, late["id"], now - timedelta(hours=2))
    _set_due(app, later_today["id"], now + (end_of_today - now) / 2)
    _set_due(app, next_week["id"], end_of_today + timedelta(days=6))
    with app.app_context():
        head = get_user("fj_head")
        db.session.add_all([
            Todo(user_id=head.id, title="逾期回访", deadline=now - timedelta(days=1)),
            Todo(user_id=head.id, title="无期限"),
            Todo(user_id=head.id, title="还没开始", starts_at=now + timedelta(days=1), deadline=now + timedelta(days=2)),
            Todo(user_id=head.id, title="已完成", done=True, deadline=now - timedelta(days=1)),
        ])
        db.session.commit()
    with app.test_request_context():
        head = get_user("fj_head")
        assert workload(head) == Workload(open=3 + 2, overdue=1 + 1, due_today=2 + 1)
        assert workload(head).open == open_task_count(head)  # the badge in the navigation bar
        assert workload(get_user("med_reviewer")) == Workload(open=1, overdue=0, due_today=0)
        assert workload(get_user("sales1")) == Workload(open=0, overdue=0, due_today=0)

    client = login(app, "fj_head")
    html = client.get("/").get_data(as_text=True)
    tasks = html.split('id="home-tasks"')[1].split("</section>")[0]
    assert re.findall(r"data-value>(\d+)<", tasks) == ["5", "2", "3"]
    assert 'href="/inbox?due=overdue"' in tasks and 'href="/inbox?due=today"' in tasks
    overdue = client.get("/inbox?due=overdue").get_data(as_text=True)
    assert f'data-task-id="{late["id"]}"' in overdue and f'data-task-id="{later_today["id"]}"' not in overdue
