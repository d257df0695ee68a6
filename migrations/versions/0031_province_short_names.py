"""customers: a province stored by its full Chinese name (福建省, 广西壮族自治区) takes the short
one the product now stores (福建, 广西), so that rules, routes and filters reading 福建 find it

Revision ID: 0031_province_short_names
Revises: 0030_fired_without_days
Create Date: 2026-12-06 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0031_province_short_names'
down_revision = '0030_fired_without_days'
branch_labels = None
depends_on = None

# As app/crm/regions.py has them (a migration keeps its own copy: the app's may change).
SHORT_NAMES = ("北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建",
               "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾",
               "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门")
DESIGNATIONS = ("省", "市", "壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区")


def upgrade():
    province = sa.column('province', sa.String)
    customers = sa.table('customers', province)
    for short in SHORT_NAMES:
        op.execute(customers.update().where(province.in_([short + d for d in DESIGNATIONS])).values(province=short))


def downgrade():
    pass  # the short name is what the product stores
