"""Every figure of the reports on a fixture of known histories (SQLite and PostgreSQL)."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import Float, String, func, literal, select, union_all

from app.extensions import db
from app.reports import services, sql
from app.reports.models import ActionMinutes

from .histories import FIRST, LAST, NOW, T0, build_histories, build_runs


@pytest.fixture
def period(ctx):
    return services.make_period(FIRST, LAST)


@pytest.fixture
def histories(ctx, demo_people):
    build_histories()


def percentile_cont(values, p):
    """The definition PostgreSQL's percentile_cont implements (the reference)."""
    v = sorted(values)
    pos = p * (len(v) - 1)
    low = int(pos)
    high = min(low + 1, len(v) - 1)
    return v[low] + (pos - low) * (v[high] - v[low])


def test_percentiles_match_percentile_cont(ctx):
    rng = random.Random(7)
    rows, expected = [], {}
    for group, size in (("one", 1), ("two", 2), ("odd", 7), ("many", 120), ("empty", 3)):
        vals = [round(rng.uniform(0, 10_000), 3) for _ in range(size)]
        if group == "empty":
            rows += [(group, None)] * size
            continue
        rows += [(group, v) for v in vals] + [(group, None)]  # NULLs are left out
        expected[group] = (len(vals), percentile_cont(vals, 0.5), percentile_cont(vals, 0.9))
    rng.shuffle(rows)
    # (SQLite has no column aliases on VALUES: a UNION ALL of one-row selects instead)
    src = union_all(*[select(literal(g, String).label("g"), literal(v, Float).label("v")) for g, v in rows]).subquery()
    got = {g: (n, *sql.unpack(times)) for g, n, times in db.session.execute(
        select(src.c.g, func.count(src.c.v), sql.percentiles(src.c.v)).group_by(src.c.g))}
    assert got["empty"] == (0, None, None)
    for group, (n, p50, p90) in expected.items():
        assert got[group][0] == n
        assert got[group][1] == pytest.approx(p50, abs=1e-6), group
        assert got[group][2] == pytest.approx(p90, abs=1e-6), group


def test_task_spans_equal_the_percentiles_of_each_span(ctx):
    """sql.task_spans (one SQLite aggregate for three spans) gives exactly what three
    percentiles of sql.span give, with claims and finishes missing here and there."""
    from datetime import datetime, timedelta, timezone

    from app.db import UTCDateTime

    rng = random.Random(11)
    t0 = datetime(2026, 1, 6, 2, 0, tzinfo=timezone.utc)
    rows = []
    for group, size in (("one", 1), ("few", 3), ("many", 150), ("unclaimed", 4), ("unfinished", 5)):
        for _ in range(size):
            created = t0 + timedelta(seconds=rng.uniform(0, 9 * 86400))
            claimed = created + timedelta(seconds=rng.lognormvariate(8, 1.5))
            finished = claimed + timedelta(seconds=rng.lognormvariate(7, 1.2))
            if group == "unclaimed" or rng.random() < 0.2:
                claimed = None
            if group == "unfinished" or rng.random() < 0.15:
                finished = None
            rows.append((group, created, claimed, finished))
    src = union_all(*[select(literal(g, String).label("g"), literal(c, UTCDateTime).label("created"),
                             literal(cl, UTCDateTime).label("claimed"), literal(f, UTCDateTime).label("finished"))
                      for g, c, cl, f in rows]).subquery()
    reference = {"waiting": sql.span(src.c.created, src.c.claimed),
                 "handling": sql.span(func.coalesce(src.c.claimed, src.c.created), src.c.finished),
                 "in_step": sql.span(src.c.created, src.c.finished)}
    got = {row.g: sql.unpack_task_spans(row) for row in db.session.execute(
        select(src.c.g, *sql.task_spans(src.c.created, src.c.claimed, src.c.finished)).group_by(src.c.g))}
    expected = {row.g: {name: sql.unpack(row._mapping[name]) for name in reference} for row in db.session.execute(
        select(src.c.g, *[sql.percentiles(expr).label(name) for name, expr in reference.items()])
        .group_by(src.c.g))}
    assert got == expected
    assert got["unclaimed"]["waiting"] == (None, None) and got["unfinished"]["in_step"] == (None, None)
    assert got["many"]["handling"][0] is not None


def test_instance_counts_outcomes_and_durations(histories, period):
    report = services.process_report("customer_report", None, period, now=NOW)
    assert report["instances"] == {"started": 9, "completed": 5, "in_progress": 1, "withdrawn": 1,
                                   "terminated": 1, "error": 1}
    assert report["outcomes"] == {"approved": 4, "rejected": 1, "other": 0, "approval_rate": 0.8,
                                  "rejection_rate": 0.2}
    assert report["ends"] == [{"name": "报备通过", "count": 4}, {"name": "报备驳回", "count": 1}]
    # durations of A, B, C, D, I: 3 h, 6 h, 1.5 h, 3 d 2 h, 4 d 1 h
    assert report["duration"] == {"n": 5, "median_s": 21600.0, "p90_s": 316080.0}
    assert report["weekly"] == [
        {"week": "2026-01-05", "started": 3, "completed": 3, "median_s": 10800.0, "p90_s": 19440.0},
        {"week": "2026-01-12", "started": 6, "completed": 2, "median_s": 307800.0, "p90_s": 340920.0},
    ]


def test_step_figures(histories, period):
    steps = {s["id"]: s for s in services.process_report("customer_report", 1, period, now=NOW)["steps"]}
    assert list(steps) == ["Task_fujian_review", "Task_medical_review", "Task_manager_review",
                           "Task_escalated_review"]  # diagram order, also steps that never ran
    manager = steps["Task_manager_review"]
    assert manager == {
        "id": "Task_manager_review", "name": "销售经理审批",
        "runs": 7, "completed": 3, "open": 1,
        "waiting_median_s": 7200.0, "waiting_p90_s": 277920.0,     # 1 h, 2 h, 4 d (claimed tasks)
        "handling_median_s": 7200.0, "handling_p90_s": 12960.0,    # 2 h, 4 h, 1 h
        "in_step_median_s": 21600.0, "in_step_p90_s": 283680.0,    # 3 h, 6 h, 4 d 1 h
        "overdue": 2,        # I completed late, H open past due
        "escalated": 1,      # D (the terminated F and G do not count)
        "delegated": 1, "reassigned": 0,
        "skipped": 1,        # C went to the Fujian head
        "bottleneck": True,
    }
    fujian = steps["Task_fujian_review"]
    assert (fujian["runs"], fujian["waiting_median_s"], fujian["handling_median_s"], fujian["in_step_p90_s"],
            fujian["skipped"], fujian["bottleneck"]) == (1, 1800.0, 3600.0, 5400.0, 4, False)
    medical = steps["Task_medical_review"]
    assert (medical["runs"], medical["open"], medical["overdue"], medical["waiting_median_s"],
            medical["handling_median_s"], medical["skipped"]) == (1, 1, 1, 3600.0, None, 5)
    escalated = steps["Task_escalated_review"]
    assert (escalated["runs"], escalated["in_step_median_s"], escalated["overdue"], escalated["skipped"],
            escalated["bottleneck"]) == (1, 7200.0, 0, 4, False)


def test_period_filter_and_unknown_process(histories, ctx):
    first_week = services.make_period(FIRST, FIRST.replace(day=11))
    report = services.process_report("customer_report", None, first_week, now=NOW)
    assert report["instances"]["started"] == 3 and report["duration"]["median_s"] == 10800.0
    with pytest.raises(services.ReportError) as err:
        services.process_report("nope", None, first_week)
    assert err.value.status == 404
    with pytest.raises(services.ReportError):
        services.make_period(LAST, FIRST)


def test_people_report(histories, period):
    everything = services.people_report(period, now=NOW)
    assert {p["username"]: p["completed"] for p in everything["people"]}["manager"] == 4  # + the other process
    report = services.people_report(period, process_key="customer_report", now=NOW)
    people = {p["username"]: p for p in report["people"]}
    assert people["manager"] == {"username": "manager", "label": people["manager"]["label"], "open": 0,
                                      "overdue": 0, "completed": 3, "handling_median_s": 7200.0,
                                      "handling_p90_s": 12960.0}
    assert (people["med_reviewer"]["open"], people["med_reviewer"]["overdue"],
            people["med_reviewer"]["completed"]) == (1, 1, 0)
    assert (people["fj_head"]["completed"], people["fj_head"]["handling_median_s"]) == (1, 3600.0)
    assert (people["admin"]["completed"], people["admin"]["handling_median_s"]) == (1, 3600.0)
    assert report["people"][0]["username"] == "med_reviewer"  # the overloaded first
    groups = {g["name"]: g for g in report["groups"]}
    # sales-managers: open H (unclaimed, overdue); done: A, B, I (manager) and D (escalated step)
    assert {k: groups["sales-managers"][k] for k in ("open", "unclaimed", "overdue", "completed",
                                                     "handling_median_s", "handling_p90_s")} == \
        {"open": 1, "unclaimed": 1, "overdue": 1, "completed": 4, "handling_median_s": 5400.0,
         "handling_p90_s": 12240.0}
    assert (groups["medical-reviewers"]["open"], groups["medical-reviewers"]["unclaimed"],
            groups["medical-reviewers"]["overdue"]) == (1, 0, 1)
    assert groups["fujian-heads"]["completed"] == 1


def test_people_report_of_a_manager_shows_only_their_groups(histories, period):
    report = services.people_report(period, scope_groups=["fujian-heads", "medical-reviewers", "sales"], now=NOW)
    assert {p["username"] for p in report["people"]} == {"fj_head", "med_reviewer", "sales1", "sales2"}
    assert {g["name"] for g in report["groups"]} == {"fujian-heads", "medical-reviewers", "sales"}


def test_automation_report_and_time_saved(ctx, demo_people, period):
    ids = build_runs()
    services.set_action_minutes(ids["r1"], [{"index": 0, "minutes": 5}, {"index": 1, "minutes": 1}])
    services.set_action_minutes(ids["r2"], [{"index": 0, "minutes": 10}])
    # a setting made for another action type at that index no longer counts
    db.session.add(ActionMinutes(rule_id=ids["r3"], action_index=0, action_type="set_field", minutes=100))
    db.session.commit()
    report = services.automation_report(period)
    rules = {r["rule_id"]: r for r in report["rules"]}
    r1 = rules[ids["r1"]]
    assert {k: r1[k] for k in ("evaluations", "matches", "failures", "stopped", "actions_done", "minutes_saved",
                               "last_error")} == \
        {"evaluations": 6, "matches": 3, "failures": 2, "stopped": 0, "actions_done": 6, "minutes_saved": 18.0,
         "last_error": "boom"}
    assert r1["actions"] == [{"index": 0, "type": "set_field", "minutes": 5.0},
                             {"index": 1, "type": "notify", "minutes": 1.0}]
    r2 = rules[ids["r2"]]
    assert (r2["evaluations"], r2["matches"], r2["actions_done"], r2["minutes_saved"], r2["last_error"]) == \
        (3, 3, 2, 20.0, None)
    r3 = rules[ids["r3"]]
    assert (r3["actions_done"], r3["minutes_saved"], r3["actions"][0]["minutes"]) == (1, 0.0, 0)
    assert report["total_hours_saved"] == round(38 / 60, 2)
    assert report["hours_saved_per_week"] == round(38 / 60 / 4, 2)  # four weeks
    # One day's savings are not scaled up to a week's.
    one_day = services.automation_report(services.make_period(T0.date(), T0.date()))
    assert one_day["hours_saved_per_week"] == one_day["total_hours_saved"] > 0
    assert report["weekly"] == [{"week": "2026-01-05", "hours_saved": 0.3},
                                {"week": "2026-01-12", "hours_saved": round(20 / 60, 2)}]


def test_each_deleted_rule_keeps_a_row_of_its_own(ctx, demo_people, period):
    """Deleted, every rule's runs lost their rule id and the report merged them into one row,
    under one of their names, marked "off"."""
    from app.automation.models import Rule

    ids = build_runs()
    for key in ("r1", "r2"):
        db.session.delete(db.session.get(Rule, ids[key]))
    db.session.commit()
    rows = {r["name"]: r for r in services.automation_report(period)["rules"]}
    assert {name: (r["evaluations"], r["actions_done"], r["deleted"], r["last_error"]) for name, r in rows.items()} == {
        "A类客户": (6, 6, True, "boom"), "赢单建合同": (3, 2, True, None), "提醒": (1, 1, False, None)}


def test_time_saved_settings_are_checked(ctx, demo_people):
    ids = build_runs()
    with pytest.raises(services.ReportError) as err:
        services.set_action_minutes(ids["r2"], [{"index": 3, "minutes": 1}])
    assert err.value.status == 400
    with pytest.raises(services.ReportError) as err:
        services.set_action_minutes(999999, [{"index": 0, "minutes": 1}])
    assert err.value.status == 404


def test_csv_tables(histories, period):
    report = services.process_report("customer_report", None, period, now=NOW)
    lines = services.to_csv("process", "steps", report).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("步骤 ID,名称,执行次数,已完成,待办任务,认领前等待中位数（秒）")
    assert lines[0].endswith(",未经过,瓶颈")  # another way taken: not "已跳过", read as an approval skipped
    assert "Task_manager_review,销售经理审批,7,3,1,7200.0,277920.0" in lines[3]
    summary = services.to_csv("process", "summary", report)
    assert "已启动,9" in summary and "通过率,80.0%" in summary
    # "open" says what is open: tasks a person holds, a group's tasks (the home page counts those
    # offered too; the report said 0 beside 22).
    people = services.people_report(period, now=NOW)
    assert services.to_csv("people", "people", people).lstrip("\ufeff").startswith("用户名,名称,手上待办,")
    assert services.to_csv("people", "groups", people).lstrip("\ufeff").startswith("组代码,用户组,待办任务,")


def test_a_step_with_too_few_completed_tasks_is_not_called_a_bottleneck():
    def step(name, completed, median):
        return {"id": name, "completed": completed, "in_step_median_s": median}

    steps = services.mark_bottlenecks([step("once_slow", 1, 90_000.0), step("usual", 12, 7200.0),
                                       step("near", 5, 3700.0), step("quick", 8, 600.0)])
    assert {s["id"]: s["bottleneck"] for s in steps} == {"once_slow": False, "usual": True, "near": True,
                                                         "quick": False}
    assert not any(s["bottleneck"] for s in services.mark_bottlenecks([step("few", 2, 5000.0)]))


def test_a_step_is_a_bottleneck_only_next_to_a_clearly_quicker_one():
    def step(name, completed, median):
        return {"id": name, "completed": completed, "in_step_median_s": median}

    assert not services.mark_bottlenecks([step("only", 40, 7200.0)])[0]["bottleneck"]  # a one-step process
    alike = services.mark_bottlenecks([step("first", 9, 7200.0), step("second", 9, 5400.0), step("never", 0, None)])
    assert not any(s["bottleneck"] for s in alike)
    named = services.mark_bottlenecks([step("first", 9, 7200.0), step("second", 9, 5400.0), step("quick", 1, 900.0)])
    assert [s["id"] for s in named if s["bottleneck"]] == ["first", "second"]
    # Steps done in seconds hold nothing up, however they compare ("0 分钟" beside a 瓶颈 badge).
    seconds = services.mark_bottlenecks([step("manager", 9, 10.6), step("head", 9, 0.2)])
    assert not any(s["bottleneck"] for s in seconds)
