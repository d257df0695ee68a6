"""Demo data: pipeline stages and a handful of records owned by sales1 and sales2.

Rows are inserted directly, without record events, so that loading the demo starts no
workflow and fires no automation rule. Idempotent: records are looked up by name first.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.auth.services import get_user
from app.crm.models import Activity, AssignmentLog, Contract, Customer, Opportunity, Stage
from app.crm.phones import normalise_phone
from app.crm.services import SIGNED, normalise_name
from app.db import utcnow
from app.extensions import db

STAGES = [
    # key, name, required fields
    ("initial_contact", "初步接触", []),
    ("needs_confirmed", "需求确认", []),
    ("quotation_sent", "方案报价", ["amount"]),
    ("negotiation", "商务谈判", ["amount", "expected_close"]),
    ("contract_signing", "合同签订", ["amount", "expected_close"]),
]

CUSTOMERS = [
    # name, province, city, industry, capital, class, source, phone, credit code, owner
    ("厦门海鑫科技有限公司", "福建", "厦门", "软件", 5_000_000, "B", "展会", "0592-5551234", "91350200MA2Y00001N", "sales1"),
    ("福州闽江医疗器械有限公司", "福建", "福州", "医疗", 20_000_000, "A", "官网", "0591-8765432", "91350100MA2Y00002L", "sales1"),
    ("杭州云杉医疗科技有限公司", "浙江", "杭州", "医疗", 12_000_000, "B", "官网", "0571-5550101", "91330100MA2Y00003F", "sales1"),
    ("上海东方物流集团", "上海", "上海", "物流", 80_000_000, "A", "转介绍", "021-66668888", "91310000MA2Y000045", "sales2"),
    ("北京智联教育科技有限公司", "北京", "北京", "教育", 3_000_000, "C", "电话营销", "010-62223333", "91110000MA2Y00005T", "sales2"),
    ("深圳前海新能源股份有限公司", "广东", "深圳", "能源", 50_000_000, "A", "展会", "0755-86661234", "91440300MA2Y00006X", "sales2"),
]

ACTIVITIES = [
    # customer, kind, content, days ago, follow up in days
    ("厦门海鑫科技有限公司", "visit", "上门拜访，客户对 CRM 自动化很感兴趣，约定下周演示。", 3, 4),
    ("厦门海鑫科技有限公司", "call", "电话确认演示时间和参会人员。", 1, None),
    ("福州闽江医疗器械有限公司", "email", "发送产品资料和报价单。", 5, 2),
    ("上海东方物流集团", "call", "初次电话沟通，了解仓储管理需求。", 2, 7),
    ("深圳前海新能源股份有限公司", "visit", "拜访采购部，客户计划年底前上线。", 6, 3),
]

OPPORTUNITIES = [
    # customer, title, amount, stage, close in days, status
    ("厦门海鑫科技有限公司", "海鑫科技 CRM 一期", 180_000, "needs_confirmed", 45, "open"),
    ("福州闽江医疗器械有限公司", "闽江医疗 经销商管理系统", 350_000, "negotiation", 20, "open"),
    ("杭州云杉医疗科技有限公司", "云杉医疗 审批流程改造", None, "initial_contact", None, "open"),
    ("上海东方物流集团", "东方物流 仓储协同平台", 600_000, "quotation_sent", 60, "open"),
    ("深圳前海新能源股份有限公司", "前海新能源 项目报备系统", 420_000, "contract_signing", 10, "won"),
]

CONTRACTS = [
    # customer, opportunity title, title, amount, signed days ago, expires in days, status
    ("深圳前海新能源股份有限公司", "前海新能源 项目报备系统", "前海新能源 项目报备系统 合同", 420_000, 15, 350, "signed"),
    ("上海东方物流集团", None, "东方物流 年度维保合同", 80_000, 340, 25, "signed"),
]


def seed() -> None:
    seed_stages()
    seed_records()


def seed_stages() -> None:
    for position, (key, name, required) in enumerate(STAGES, start=1):
        if db.session.scalar(select(Stage).where(Stage.key == key)) is None:
            db.session.add(Stage(key=key, name=name, position=position * 10, required_fields=required))
    db.session.commit()


def seed_records() -> None:
    now = utcnow()
    customers = {}
    for name, province, city, industry, capital, cls, source, phone, code, owner in CUSTOMERS:
        customer = db.session.scalar(select(Customer).where(Customer.name == name))
        if customer is None:
            user = get_user(owner)
            customer = Customer(name=name, name_key=normalise_name(name), phone_key=normalise_phone(phone),
                                province=province, city=city, industry=industry,
                                registered_capital=Decimal(capital), customer_class=cls, source=source, phone=phone, credit_code=code, owner=user, custom={})
            db.session.add(customer)
            db.session.flush()
            db.session.add(AssignmentLog(entity="customer", record_id=customer.id, record_label=name,
                                         to_user_id=user.id, reason="demo data"))
        customers[name] = customer
    for name, kind, content, ago, follow in ACTIVITIES:
        customer = customers[name]
        exists = db.session.scalar(select(Activity.id).where(Activity.customer_id == customer.id,
                                                             Activity.content == content))
        if exists is None:
            db.session.add(Activity(customer=customer, kind=kind, content=content, owner=customer.owner,
                                    happened_at=now - timedelta(days=ago), custom={},
                                    next_follow_up=date.today() + timedelta(days=follow) if follow else None))
    opportunities = {}
    for name, title, amount, stage, close, status in OPPORTUNITIES:
        customer = customers[name]
        opportunity = db.session.scalar(select(Opportunity).where(Opportunity.title == title))
        if opportunity is None:
            opportunity = Opportunity(
                customer=customer, title=title, amount=Decimal(amount) if amount else None, stage=stage,
                expected_close=date.today() + timedelta(days=close) if close else None, status=status,
                stage_entered_at=now - timedelta(days=4), closed_at=now if status != "open" else None,
                owner=customer.owner, custom={})
            db.session.add(opportunity)
        opportunities[title] = opportunity
    for name, opportunity_title, title, amount, signed_ago, expires_in, status in CONTRACTS:
        if db.session.scalar(select(Contract.id).where(Contract.title == title)) is None:
            customer = customers[name]
            db.session.add(Contract(
                customer=customer, opportunity=opportunities.get(opportunity_title), title=title,
                amount=Decimal(amount), signed_on=date.today() - timedelta(days=signed_ago),
                expires_on=date.today() + timedelta(days=expires_in), status=status, owner=customer.owner,
                signed_by_id=customer.owner.id if status in SIGNED else None,  # whom the sales report credits
                invoice_title=customer.name, invoice_tax_number=customer.credit_code, custom={}))
    db.session.commit()
