"""Demo rules (API.md "Demo data" and the seed examples of issue 4); idempotent by name."""
from __future__ import annotations

from sqlalchemy import select

from app.auth import services as auth
from app.automation.models import Rule
from app.automation.services import create_rule
from app.extensions import db

FUJIAN_SALES = "fujian-sales"

RULES = [
    # First, so that the rules after it (the A-class notice) name the owner it gives.
    dict(name="福建客户 → 福建销售组轮询分配", entity="customer", event="created",
         description="官网来的福建线索在福建销售组内轮流分配负责人（跳过已离职人员）；销售自己开发的客户仍归自己。",
         condition={"and": [{"field": "province", "op": "contains", "value": "福建"},
                            {"field": "source", "op": "eq", "value": "官网"}]},
         actions=[{"type": "assign_owner", "strategy": "round_robin", "group": FUJIAN_SALES}]),
    dict(name="注册资金 ≥ 1000 万 → A 类客户，通知销售经理", entity="customer", event="created",
         description="大客户自动定级，并通知销售经理跟进。",
         condition={"and": [{"field": "registered_capital", "op": "ge", "value": 10_000_000}]},
         actions=[{"type": "set_fields", "values": [{"field": "customer_class", "mode": "value", "value": "A"}]},
                  {"type": "notify", "users": ["manager"],
                   "template": "新的 A 类客户：{name}（注册资金 {registered_capital} 元，负责人 {owner}）"}]),
    dict(name="商机赢单 → 生成合同", entity="opportunity", event="won", once_per_record=True,
         description="标记为赢单的商机自动生成一份合同草稿（重新打开后再次赢单不会重复生成）。",
         actions=[{"type": "create_record", "entity": "contract", "mapping": [
             {"field": "title", "mode": "template", "template": "{title} 合同"},
             {"field": "amount", "mode": "copy", "from": "amount"}]}]),  # a draft: dates come when it is signed
    dict(name="行动记录有意向 → 创建商机", entity="activity", event="created",
         description="跟进记录里写到客户有意向时，自动创建一个商机。",
         condition={"or": [{"field": "content", "op": "contains", "value": "有意向"},
                           {"field": "content", "op": "contains", "value": "interested"}]},
         actions=[{"type": "create_record", "entity": "opportunity", "mapping": [
             {"field": "title", "mode": "template", "template": "意向：{content}"}]}]),
    dict(name="合同到期前 30 天 → 负责人续签待办", entity="contract", event="date_before",
         event_options={"field": "expires_on", "days": 30},
         description="已签订的合同到期前 30 天给负责人建一个续签待办（草稿还没有可续签的）。",
         condition={"field": "status", "op": "eq", "value": "signed"},
         actions=[{"type": "create_todo", "assignee": "owner", "title": "续签合同：{title}",
                   "description": "合同 {title} 将于 {expires_on} 到期，请联系客户续签。",
                   "deadline": {"mode": "copy", "from": "expires_on"}}]),
]


def seed() -> None:
    if auth.get_group(FUJIAN_SALES) is None:
        auth.create_group(name=FUJIAN_SALES, display_name="福建销售组 Fujian sales", members=["sales1", "sales2"])
    admin = auth.get_user("admin")
    existing = set(db.session.scalars(select(Rule.name)))
    for rule in RULES:
        if rule["name"] not in existing:
            create_rule(rule, admin)
