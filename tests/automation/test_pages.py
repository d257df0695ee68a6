"""The automation pages: editors only; the run detail shows conditions, chain and deliveries."""
from app.cli import DEMO_PASSWORD


def _login(client, username):
    return client.post("/login", data={"username": username, "password": DEMO_PASSWORD})


def test_pages_are_for_editors_and_show_a_stopped_loop(client, within):
    def setup():
        from app.auth.services import get_user
        from app.automation.models import RuleRun
        from app.automation.services import create_rule
        from app.crm import services as crm
        from app.extensions import db
        from sqlalchemy import select

        for name, src, dst in (("甲", "A", "B"), ("乙", "B", "A")):
            create_rule(dict(name=name, entity="customer", event="updated",
                             condition={"field": "customer_class", "op": "changed_to", "value": src},
                             actions=[{"type": "set_fields",
                                       "values": [{"field": "customer_class", "value": dst}]}]), get_user("admin"))
        customer = crm.create("customer", {"name": "页面客户"}, get_user("sales1"))
        crm.update(customer, {"customer_class": "A"}, get_user("sales1"))
        return (db.session.scalar(select(RuleRun.id).where(RuleRun.outcome == "stopped")), customer.id,
                db.session.scalar(select(RuleRun.id).where(RuleRun.outcome == "matched").limit(1)))

    run_id, customer_id, matched_id = within(setup)
    _login(client, "sales1")
    assert client.get("/automation/").status_code == 403
    assert client.get(f"/automation/runs/{run_id}").status_code == 403
    client.post("/logout")
    _login(client, "admin")
    listing = client.get("/automation/")
    assert listing.status_code == 200 and "甲" in listing.get_data(as_text=True)
    assert client.get("/automation/rules/new").status_code == 200
    runs = client.get("/automation/runs?outcome=stopped").get_data(as_text=True)
    assert "已阻止循环" in runs and runs.count('data-outcome="stopped"') == 1
    detail = client.get(f"/automation/runs/{run_id}").get_data(as_text=True)
    assert 'id="run-chain"' in detail and detail.index("甲 →") < detail.index("乙 →")
    assert client.get("/automation/runs/999999").status_code == 404
    # Action types, statuses and operators read in the page's language, not as identifiers.
    matched = client.get(f"/automation/runs/{matched_id}").get_data(as_text=True)
    assert "1. 设置字段" in matched and 'data-status="done">已完成' in matched and "<td>变更为</td>" in matched
    # Fields and choices by their labels, no Python None (the editor's words).
    assert "<td>客户类别</td><td>变更为</td><td>A</td>" in matched and "customer_class" not in matched.split("<pre", 1)[0]
    assert "None" not in matched
    assert '<ul class="mb-0 mt-1 action-said"><li>客户类别: A → B</li></ul>' in matched  # what the action did, in words
    assert "set_fields" not in matched.split("<pre", 1)[0]
    record_page = client.get(f"/crm/customer/{customer_id}").get_data(as_text=True)
    assert 'id="automation-log"' in record_page and "已阻止循环" in record_page


def test_admin_edits_the_webhook_allow_list_on_the_rules_page(app, client, within):
    _login(client, "admin")
    response = client.post("/automation/settings/webhook-allowlist", data={"hosts": "127.0.0.1\n 10.0.0.5 , "})
    assert response.status_code == 302
    page = client.get("/automation/").get_data(as_text=True)
    assert "10.0.0.5\n127.0.0.1</textarea>" in page
    from app.automation.catalog import webhook_allowlist

    assert within(webhook_allowlist) == ["10.0.0.5", "127.0.0.1"]
    # Other systems read it before they change it (the PUT replaces the list).
    other_system = app.test_client()
    token = other_system.post("/api/v1/tokens", json={"username": "admin", "password": DEMO_PASSWORD}).get_json()["token"]
    read = other_system.get("/api/v1/automation-settings/webhook-allowlist", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200 and read.get_json() == {"hosts": ["10.0.0.5", "127.0.0.1"]}, read.get_json()
    client.post("/logout")
    _login(client, "sales1")
    assert client.post("/automation/settings/webhook-allowlist", data={"hosts": "x"}).status_code == 403


def test_the_editor_offers_stages_and_statuses_by_name(client, within):
    """Values stored as codes (a stage's key, a report status) are picked by their names."""
    from app.crm.demo import seed_stages

    within(seed_stages)
    _login(client, "admin")
    fields = {(e["name"], f["name"]): f for e in client.get("/api/v1/automation-fields").get_json()["entities"]
              for f in e["fields"]}
    stage = fields[("opportunity", "stage")]
    assert "quotation_sent" in stage["choices"] and stage["choice_labels"]["quotation_sent"] == "方案报价"
    assert fields[("customer", "report_status")]["choice_labels"]["approved"] == "报备通过"
    assert fields[("customer", "name")]["choice_labels"] == {}


def test_the_runs_of_a_deleted_rule_can_still_be_picked(client, within):
    def setup():
        from app.auth.services import get_user
        from app.automation.services import create_rule, delete_rule
        from app.crm import services as crm

        kept = create_rule(dict(name="保留的规则", entity="customer", event="created",
                                actions=[{"type": "notify", "users": ["manager"], "template": "{name}"}]), get_user("admin"))
        gone = create_rule(dict(name="已删的规则", entity="customer", event="created",
                                actions=[{"type": "notify", "users": ["manager"], "template": "{name}"}]), get_user("admin"))
        crm.create("customer", {"name": "两条规则的客户"}, get_user("sales1"))
        delete_rule(gone, get_user("admin"))
        return kept.id

    kept_id = within(setup)
    _login(client, "admin")
    page = client.get("/automation/runs").get_data(as_text=True)
    assert '<optgroup label="已删除的规则">' in page and '<option value="deleted:已删的规则" >已删的规则</option>' in page
    only_deleted = client.get("/automation/runs?rule_id=deleted:已删的规则").get_data(as_text=True)
    assert only_deleted.count('data-outcome="matched"') == 1 and "保留的规则" not in only_deleted.split("<tbody>")[1]
    assert '<option value="deleted:已删的规则" selected>' in only_deleted
    only_kept = client.get(f"/automation/runs?rule_id={kept_id}").get_data(as_text=True)
    assert only_kept.count('data-outcome="matched"') == 1 and "已删的规则" not in only_kept.split("<tbody>")[1]
    # Its run's own page says the rule is gone too.
    run_link = only_deleted.split('href="/automation/runs/')[1].split('"')[0]
    assert "data-rule-deleted" in client.get(f"/automation/runs/{run_link}").get_data(as_text=True)
    kept_run = only_kept.split('href="/automation/runs/')[1].split('"')[0]
    assert "data-rule-deleted" not in client.get(f"/automation/runs/{kept_run}").get_data(as_text=True)


def test_a_run_shows_where_each_condition_stands_in_its_groups(client, within):
    """A failed condition inside an OR that held sat flat between two ✔ rows, as if wrong."""
    def setup():
        from sqlalchemy import select

        from app.auth.services import get_user
        from app.automation.models import RuleRun
        from app.automation.services import create_rule
        from app.crm import services as crm
        from app.extensions import db

        create_rule(dict(name="嵌套条件", entity="customer", event="created",
                         condition={"and": [{"field": "name", "op": "contains", "value": "医"},
                                            {"or": [{"field": "industry", "op": "eq", "value": "医疗"},
                                                    {"field": "province", "op": "eq", "value": "福建"}]}]},
                         actions=[{"type": "set_fields", "values": [{"field": "customer_class", "value": "A"}]}]),
                    get_user("admin"))
        crm.create("customer", {"name": "福州医药", "province": "福建", "industry": "零售"}, get_user("sales1"))
        return db.session.scalar(select(RuleRun.id).where(RuleRun.outcome == "matched"))

    run_id = within(setup)
    _login(client, "admin")
    detail = client.get(f"/automation/runs/{run_id}").get_data(as_text=True)
    rows = detail.split('id="run-chain"')[-1].split("<tbody>")[1].split("</tbody>")[0].split("<tr ")[1:]
    assert [row.split('data-depth="')[1][0] for row in rows] == ["0", "1", "1"]
    assert "或者" in rows[1] and "✘" in rows[1] and "✔" in rows[2]  # the failed one is one of an OR
