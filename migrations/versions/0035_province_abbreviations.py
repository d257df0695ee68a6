"""customers: a province stored in English or pinyin (Fujian, Guangxi Zhuang Autonomous Region),
or by its abbreviation or code (闽, FJ, CN-FJ), takes the short name the product now stores
(福建), so that rules, routes and filters reading 福建 find it

Revision ID: 0035_province_abbreviations
Revises: 0034_user_reads_in
Create Date: 2026-12-06 11:00:00

"""
import re
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0035_province_abbreviations'
down_revision = '0034_user_reads_in'
branch_labels = None
depends_on = None

# As app/crm/regions.py has them (a migration keeps its own copy: the app's may change).
ROMANISED = {
    "beijing": "北京", "peking": "北京", "tianjin": "天津", "shanghai": "上海", "chongqing": "重庆", "hebei": "河北",
    "shanxi": "山西", "liaoning": "辽宁", "jilin": "吉林", "heilongjiang": "黑龙江", "jiangsu": "江苏", "zhejiang": "浙江",
    "anhui": "安徽", "fujian": "福建", "jiangxi": "江西", "shandong": "山东", "henan": "河南", "hubei": "湖北",
    "hunan": "湖南", "guangdong": "广东", "hainan": "海南", "sichuan": "四川", "guizhou": "贵州", "yunnan": "云南",
    "shaanxi": "陕西", "gansu": "甘肃", "qinghai": "青海", "taiwan": "台湾", "innermongolia": "内蒙古",
    "neimenggu": "内蒙古", "neimongol": "内蒙古", "guangxi": "广西", "tibet": "西藏", "xizang": "西藏",
    "ningxia": "宁夏", "xinjiang": "新疆", "hongkong": "香港", "macau": "澳门", "macao": "澳门", "aomen": "澳门",
}
DESIGNATION = re.compile(r"(province|municipality|city|autonomousregion|specialadministrativeregion|sar|"
                         r"zhuang|hui|uygur|uyghur|uighur|sheng|shi|zizhiqu|tebiexingzhengqu)$")
ABBREVIATIONS = {
    "京": "北京", "津": "天津", "沪": "上海", "渝": "重庆", "冀": "河北", "晋": "山西", "辽": "辽宁", "吉": "吉林",
    "黑": "黑龙江", "苏": "江苏", "浙": "浙江", "皖": "安徽", "闽": "福建", "赣": "江西", "鲁": "山东", "豫": "河南",
    "鄂": "湖北", "湘": "湖南", "粤": "广东", "琼": "海南", "川": "四川", "蜀": "四川", "贵": "贵州", "黔": "贵州",
    "云": "云南", "滇": "云南", "陕": "陕西", "秦": "陕西", "甘": "甘肃", "陇": "甘肃", "青": "青海", "台": "台湾",
    "蒙": "内蒙古", "桂": "广西", "藏": "西藏", "宁": "宁夏", "新": "新疆", "港": "香港", "澳": "澳门",
}
ISO_CODES = {
    "bj": "北京", "tj": "天津", "he": "河北", "sx": "山西", "nm": "内蒙古", "ln": "辽宁", "jl": "吉林", "hl": "黑龙江",
    "sh": "上海", "js": "江苏", "zj": "浙江", "ah": "安徽", "fj": "福建", "jx": "江西", "sd": "山东", "ha": "河南",
    "hb": "湖北", "hn": "湖南", "gd": "广东", "gx": "广西", "hi": "海南", "cq": "重庆", "sc": "四川", "gz": "贵州",
    "yn": "云南", "xz": "西藏", "sn": "陕西", "gs": "甘肃", "qh": "青海", "nx": "宁夏", "xj": "新疆", "tw": "台湾",
    "hk": "香港", "mo": "澳门",
}


def short_name(stored: str) -> str:
    typed = unicodedata.normalize("NFKC", stored).strip()
    if typed in ABBREVIATIONS:
        return ABBREVIATIONS[typed]
    key = re.sub(r"[\s\-_'.,]+", "", typed.lower())
    if len(key) in (2, 4) and key.removeprefix("cn") in ISO_CODES:
        return ISO_CODES[key.removeprefix("cn")]
    while key and key not in ROMANISED and DESIGNATION.sub("", key) != key:
        key = DESIGNATION.sub("", key)
    return ROMANISED.get(key, stored)


def upgrade():
    province = sa.column('province', sa.String)
    customers = sa.table('customers', province)
    connection = op.get_bind()
    stored = connection.execute(sa.select(province).distinct().where(province.is_not(None))).scalars().all()
    for value in stored:
        if short_name(value) != value:
            connection.execute(customers.update().where(province == value).values(province=short_name(value)))


def downgrade():
    pass  # the short name is what the product stores
