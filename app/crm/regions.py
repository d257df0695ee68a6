"""China's provincial-level regions, so a province typed in full Chinese, English or pinyin
(福建省, "Fujian", "Guangxi Zhuang Autonomous Region", "beijing shi") is stored by the name the
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
    key = re.sub(r"[\s\-_'.,]+", "", typed.lower())
    while key and key not in _BY_ROMAN:
        stripped = _DESIGNATION.sub("", key)
        if stripped == key:
            break
        key = stripped
    return _BY_ROMAN.get(key, typed)
