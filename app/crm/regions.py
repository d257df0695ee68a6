"""China's provincial-level regions, so a province typed in full Chinese, English or pinyin, or
by its abbreviation or code (福建省, "Fujian", "Guangxi Zhuang Autonomous Region", "beijing shi",
闽, FJ) is stored by the name the
company's rules, routes and filters use (福建, 广西, 北京): a report from an English-speaking
salesperson is routed like anyone's. Anything not recognised (a foreign region) stays as typed."""
from __future__ import annotations

import re
import unicodedata

# Short Chinese name → its usual romanisations (lower case, without spaces or hyphens).
PROVINCES = {
    "北京": ("beijing", "peking"), "天津": ("tianjin",), "上海": ("shanghai",), "重庆": ("chongqing",),
    "河北": ("hebei",), "山西": ("shanxi",), "辽宁": ("liaoning",), "吉林": ("jilin",),
    "黑龙江": ("heilongjiang",), "江苏": ("jiangsu",), "浙江": ("zhejiang",), "安徽": ("anhui",),
    "福建": ("fujian",), "江西": ("jiangxi",), "山东": ("shandong",), "河南": ("henan",), "湖北": ("hubei",),
    "湖南": ("hunan",), "广东": ("guangdong",), "海南": ("hainan",), "四川": ("sichuan",), "贵州": ("guizhou",),
    "云南": ("yunnan",), "陕西": ("shaanxi",), "甘肃": ("gansu",), "青海": ("qinghai",), "台湾": ("taiwan",),
    "内蒙古": ("innermongolia", "neimenggu", "neimongol"), "广西": ("guangxi",), "西藏": ("tibet", "xizang"),
    "宁夏": ("ningxia",), "新疆": ("xinjiang",), "香港": ("hongkong",), "澳门": ("macau", "macao", "aomen"),
}
_BY_ROMAN = {roman: name for name, romans in PROVINCES.items() for roman in romans}
# As an English page names them: the first romanisation, but for the ones of several words.
IN_ENGLISH = {name: romans[0].capitalize() for name, romans in PROVINCES.items()} | {
    "内蒙古": "Inner Mongolia", "西藏": "Tibet", "香港": "Hong Kong", "澳门": "Macau"}
# The one-character abbreviations (简称: 闽 on every Fujian number plate) and the ISO 3166-2:CN
# codes old systems export (FJ, CN-FJ; HB is Hubei, HE Hebei, as GB/T 2260 has them).
_ABBREVIATIONS = {
    "京": "北京", "津": "天津", "沪": "上海", "渝": "重庆", "冀": "河北", "晋": "山西", "辽": "辽宁", "吉": "吉林",
    "黑": "黑龙江", "苏": "江苏", "浙": "浙江", "皖": "安徽", "闽": "福建", "赣": "江西", "鲁": "山东", "豫": "河南",
    "鄂": "湖北", "湘": "湖南", "粤": "广东", "琼": "海南", "川": "四川", "蜀": "四川", "贵": "贵州", "黔": "贵州",
    "云": "云南", "滇": "云南", "陕": "陕西", "秦": "陕西", "甘": "甘肃", "陇": "甘肃", "青": "青海", "台": "台湾",
    "蒙": "内蒙古", "桂": "广西", "藏": "西藏", "宁": "宁夏", "新": "新疆", "港": "香港", "澳": "澳门",
}
_ISO_CODES = {
    "bj": "北京", "tj": "天津", "he": "河北", "sx": "山西", "nm": "内蒙古", "ln": "辽宁", "jl": "吉林", "hl": "黑龙江",
    "sh": "上海", "js": "江苏", "zj": "浙江", "ah": "安徽", "fj": "福建", "jx": "江西", "sd": "山东", "ha": "河南",
    "hb": "湖北", "hn": "湖南", "gd": "广东", "gx": "广西", "hi": "海南", "cq": "重庆", "sc": "四川", "gz": "贵州",
    "yn": "云南", "xz": "西藏", "sn": "陕西", "gs": "甘肃", "qh": "青海", "nx": "宁夏", "xj": "新疆", "tw": "台湾",
    "hk": "香港", "mo": "澳门",
}
# What an English or pinyin name may carry besides the region's own name.
_DESIGNATION = re.compile(r"(province|municipality|city|autonomousregion|specialadministrativeregion|sar|"
                          r"zhuang|hui|uygur|uyghur|uighur|sheng|shi|zizhiqu|tebiexingzhengqu)$")


# What a Chinese name may carry besides the short one (福建省, 广西壮族自治区, 北京市, 香港特别行政区).
_CHINESE_DESIGNATION = re.compile(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)$")


def clean_province(text: str) -> str:
    """The short Chinese name of a region typed in full Chinese, English or pinyin (福建省,
    Fujian), else the text as typed: 福建省 stored as typed missed "province = 福建" and made a
    later edit to 福建 look like a move into Fujian."""
    typed = unicodedata.normalize("NFKC", text).strip()
    short = _CHINESE_DESIGNATION.sub("", typed)
    if short in PROVINCES:
        return short
    if typed in _ABBREVIATIONS:
        return _ABBREVIATIONS[typed]
    key = re.sub(r"[\s\-_'.,]+", "", typed.lower())
    if key.removeprefix("cn") in _ISO_CODES and len(key) in (2, 4):
        return _ISO_CODES[key.removeprefix("cn")]
    while key and key not in _BY_ROMAN:
        stripped = _DESIGNATION.sub("", key)
        if stripped == key:
            break
        key = stripped
    return _BY_ROMAN.get(key, typed)


def clean_city(text: str) -> str:
    """A city without its 市 (厦门市 → 厦门), as the province drops its 省: an old system's export
    writing 厦门市 made a second 厦门 customer past the import's check, and split the city filter."""
    typed = unicodedata.normalize("NFKC", text).strip()
    return typed[:-1] if typed.endswith("市") and len(typed) >= 3 else typed
