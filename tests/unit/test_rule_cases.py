"""Hand-made cases with known answers for every validation rule, checked on BOTH engines.

GX and pandas agree partly by construction (the custom GX expectation calls the same predicates), so
agreement alone proves little: the expected findings written here are the independent truth. Every rule
that :func:`rules_for` generates must have a case — a valid row changed so that it breaks exactly that
rule (where one change necessarily breaks a second rule, the second is listed too). A new rule without a
case fails ``test_rule_has_a_case_and_both_engines_find_exactly_it``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from creditflow.reporting import validation as v

AS_OF = dt.date(2026, 11, 27)

# Identifiers with known answers (checked with python-stdnum where it applies).
USCC_ORG = "91230500MA1B3N1N2M"  # public sample, embedded GB 11714 digit correct
USCC_AUTHORITY = "11230500001755309F"  # public sample, 机关 (11)
USCC_SOLE_TRADER = "92440400MA4UABCD9C"  # 个体工商户 (92), both check characters correct
USCC_BAD_CHECK = "91230500MA1B3N1N2X"
USCC_BAD_ORG_DIGIT = "91440400MA4UABCD1N"  # GB 32100 check right, embedded GB 11714 digit wrong
RIC_OK = "440402199001010014"
RIC_BAD_CHECK = "440402199001010015"
RIC_UNKNOWN_AREA = "44042219900101001X"  # 440422: a Zhuhai county code that never existed; check right

#: Severity of each rule id, written down here (not read from the catalogue): a warning never quarantines.
SEVERITY = {
    "REQUIRED": "error", "REQUIRED_IF": "error", "MAX_LENGTH": "error", "ENUM": "error", "DATE_FORMAT": "error",
    "DATE_FUTURE": "error", "DATE_ORDER": "error", "USCC_INVALID": "error", "USCC_ORG_CODE": "warning",
    "AUTHORITY_USCC_PREFIX": "warning", "SOLE_TRADER_USCC_PREFIX": "warning",
    "PLACEHOLDER_NEEDS_OTHER_CODE": "error", "ORG_MUST_NOT_HAVE_PERSON_ID": "error",
    "PERSON_MUST_NOT_HAVE_ORG_CODE": "error", "RIC_INVALID": "error", "RIC_AREA_UNKNOWN": "warning",
    "AMOUNT_FORMAT": "error", "AMOUNT_REQUIRED": "error", "AMOUNT_WITHOUT_CATEGORY": "warning",
    "AMOUNT_UNIT": "error", "OTHER_NEEDS_DETAIL": "warning", "SEIZURE_OVER_30_DAYS": "warning",
    "SEIZURE_OVER_60_DAYS": "error",
    # issue 18.3: markup/control characters must not be published (error); an odd name or 文号 is looked at
    "TEXT_UNSAFE": "error", "NAME_CHARS": "warning", "DOC_NO_FORMAT": "warning",
}
#: Catalogue entries raised by pipeline stages, not by the validation rules.
PIPELINE_RULES = {"LATE", "DUPLICATE", "NEAR_DUPLICATE", "PLATFORM_REJECTED", "DUE_DATE_UNKNOWN"}

PENALTY = {
    "CF_XDR_MC": "珠海甲化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": USCC_ORG, "CF_FRDB": "张三",
    "CF_WSH": "珠应急罚〔2026〕1号", "CF_WFXW": "未按规定培训", "CF_SY": "经查", "CF_YJ": "安全生产法", "CF_CFLB": "罚款",
    "CF_NR": "罚款人民币2万元", "CF_NR_FK": "2", "CF_JDRQ": "2026-11-02", "CF_YXQ": "2027-11-02", "CF_CFJG": "珠海市应急管理局",
    "CF_CFJGDM": USCC_AUTHORITY, "CF_SJLY": "珠海市应急管理局", "CF_SJLYDM": USCC_AUTHORITY,
}
LICENSE = {
    "XK_XDR_MC": "珠海甲化工有限公司", "XK_XDR_LB": "法人及非法人组织", "XK_XDR_SHXYM": USCC_ORG, "XK_FRDB": "张三",
    "XK_XKWS": "危险化学品经营许可证核发决定书", "XK_WSH": "珠应急许〔2026〕1号", "XK_XKLB": "普通", "XK_NR": "危险化学品经营",
    "XK_JDRQ": "2026-11-02", "XK_YXQZ": "2026-11-02", "XK_YXQZI": "2029-11-01", "XK_XKJG": "珠海市应急管理局",
    "XK_XKJGDM": USCC_AUTHORITY, "XK_ZT": "1", "XK_LYDW": "珠海市应急管理局", "XK_LYDWDM": USCC_AUTHORITY,
}
COERCION = {
    "QZ_XDR_MC": "珠海乙仓储有限公司", "QZ_XDR_LB": "法人及非法人组织", "QZ_XDR_SHXYM": USCC_ORG, "QZ_FRDB": "王五",
    "QZ_WSH": "珠应急强〔2026〕3号", "QZ_QZLB": "行政强制措施", "QZ_CSLX": "查封场所、设施或者财物", "QZ_SY": "存在重大事故隐患",
    "QZ_YJ": "安全生产法第七十条", "QZ_NR": "查封仓库一处", "QZ_JDRQ": "2026-11-02", "QZ_QXZ": "2026-11-02",
    "QZ_QXZI": "2026-12-02",  # 30 days, the start day not counted: the longest period without an extension
    "QZ_ZT": "1", "QZ_SSJG": "珠海市应急管理局", "QZ_SSJGDM": USCC_AUTHORITY, "QZ_SJLY": "珠海市应急管理局",
    "QZ_SJLYDM": USCC_AUTHORITY,
}
BASES = {"penalty": PENALTY, "license": LICENSE, "coercion": COERCION}


def person(p: str) -> dict[str, Any]:
    """Changes that make the base row a valid natural person's record."""
    return {f"{p}_XDR_LB": "自然人", f"{p}_XDR_SHXYM": None, f"{p}_FRDB": None, f"{p}_XDR_ZJLX": "身份证",
            f"{p}_XDR_ZJHM": RIC_OK}


def long(n: int, char: str = "甲") -> str:
    return char * n


def party_cases(p: str, with_rep_id: bool) -> dict[str, tuple[dict[str, Any], set[str]]]:
    """Cases of the party fields every kind shares (prefix ``p``)."""
    pe = person(p)
    cases: dict[str, tuple[dict[str, Any], set[str]]] = {
        f"REQUIRED:{p}_XDR_MC": ({f"{p}_XDR_MC": None}, set()),
        f"MAX_LENGTH:{p}_XDR_MC": ({f"{p}_XDR_MC": long(201)}, set()),
        f"REQUIRED:{p}_XDR_LB": ({f"{p}_XDR_LB": None}, set()),
        f"MAX_LENGTH:{p}_XDR_LB": ({f"{p}_XDR_LB": long(17)}, {f"ENUM:{p}_XDR_LB"}),
        f"ENUM:{p}_XDR_LB": ({f"{p}_XDR_LB": "企业"}, set()),
        f"MAX_LENGTH:{p}_XDR_SHXYM": ({f"{p}_XDR_SHXYM": USCC_ORG + "1"}, {f"USCC_INVALID:{p}_XDR_SHXYM"}),
        f"USCC_INVALID:{p}_XDR_SHXYM": ({f"{p}_XDR_SHXYM": USCC_BAD_CHECK}, set()),
        f"MAX_LENGTH:{p}_XDR_GSZC": ({f"{p}_XDR_GSZC": long(51, "1")}, set()),
        f"MAX_LENGTH:{p}_XDR_ZZJG": ({f"{p}_XDR_ZZJG": long(10, "1")}, set()),
        f"MAX_LENGTH:{p}_XDR_SWDJ": ({f"{p}_XDR_SWDJ": long(16, "1")}, set()),
        f"MAX_LENGTH:{p}_XDR_SYDW": ({f"{p}_XDR_SYDW": long(13, "1")}, set()),
        f"MAX_LENGTH:{p}_XDR_SHZZ": ({f"{p}_XDR_SHZZ": long(51, "1")}, set()),
        f"MAX_LENGTH:{p}_FRDB": ({f"{p}_FRDB": long(51)}, set()),
        f"MAX_LENGTH:{p}_XDR_ZJLX": ({**pe, f"{p}_XDR_ZJLX": long(65)}, {f"ENUM:{p}_XDR_ZJLX"}),
        f"ENUM:{p}_XDR_ZJLX": ({**pe, f"{p}_XDR_ZJLX": "居民身份证"}, set()),
        f"MAX_LENGTH:{p}_XDR_ZJHM": ({**pe, f"{p}_XDR_ZJLX": "护照号", f"{p}_XDR_ZJHM": long(65, "E")}, set()),
        f"REQUIRED_IF:{p}_XDR_SHXYM": ({f"{p}_XDR_SHXYM": None}, set()),
        f"REQUIRED_IF:{p}_FRDB": ({f"{p}_FRDB": None}, set()),
        f"REQUIRED_IF:{p}_XDR_ZJLX": ({**pe, f"{p}_XDR_ZJLX": None}, set()),
        f"ORG_MUST_NOT_HAVE_PERSON_ID:{p}_XDR_ZJLX": ({f"{p}_XDR_ZJLX": "身份证"}, set()),
        f"REQUIRED_IF:{p}_XDR_ZJHM": ({**pe, f"{p}_XDR_ZJHM": None}, set()),
        f"ORG_MUST_NOT_HAVE_PERSON_ID:{p}_XDR_ZJHM": ({f"{p}_XDR_ZJHM": RIC_OK}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_XDR_SHXYM": ({**pe, f"{p}_XDR_SHXYM": USCC_ORG}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_XDR_GSZC": ({**pe, f"{p}_XDR_GSZC": "440400000012345"}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_XDR_ZZJG": ({**pe, f"{p}_XDR_ZZJG": "455858565"}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_XDR_SWDJ": ({**pe, f"{p}_XDR_SWDJ": "440400455858565"}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_XDR_SYDW": ({**pe, f"{p}_XDR_SYDW": "事证123456"}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_XDR_SHZZ": ({**pe, f"{p}_XDR_SHZZ": "粤民证字第1号"}, set()),
        f"PERSON_MUST_NOT_HAVE_ORG_CODE:{p}_FRDB": ({**pe, f"{p}_FRDB": "张三"}, set()),
        f"PLACEHOLDER_NEEDS_OTHER_CODE:{p}_XDR_SHXYM": ({f"{p}_XDR_SHXYM": "00000000000000000X"}, set()),
        f"USCC_ORG_CODE:{p}_XDR_SHXYM": ({f"{p}_XDR_SHXYM": USCC_BAD_ORG_DIGIT}, set()),
        f"SOLE_TRADER_USCC_PREFIX:{p}_XDR_SHXYM": ({f"{p}_XDR_LB": "个体工商户"}, set()),
        f"RIC_INVALID:{p}_XDR_ZJHM": ({**pe, f"{p}_XDR_ZJHM": RIC_BAD_CHECK}, set()),
        f"RIC_AREA_UNKNOWN:{p}_XDR_ZJHM": ({**pe, f"{p}_XDR_ZJHM": RIC_UNKNOWN_AREA}, set()),
        "MAX_LENGTH:BZ": ({"BZ": long(4001)}, set()),
    }
    if with_rep_id:
        cases |= {
            f"MAX_LENGTH:{p}_FR_ZJLX": ({f"{p}_FR_ZJLX": long(65)}, {f"ENUM:{p}_FR_ZJLX"}),
            f"ENUM:{p}_FR_ZJLX": ({f"{p}_FR_ZJLX": "身份证件"}, set()),
            f"MAX_LENGTH:{p}_FR_ZJHM": ({f"{p}_FR_ZJLX": "护照号", f"{p}_FR_ZJHM": long(65, "E")}, set()),
            f"RIC_INVALID:{p}_FR_ZJHM": ({f"{p}_FR_ZJLX": "身份证", f"{p}_FR_ZJHM": RIC_BAD_CHECK}, set()),
            f"RIC_AREA_UNKNOWN:{p}_FR_ZJHM": ({f"{p}_FR_ZJLX": "身份证", f"{p}_FR_ZJHM": RIC_UNKNOWN_AREA}, set()),
        }
    return cases


def authority_cases(name: str, code: str, source: str, source_code: str) -> dict[str, Any]:
    return {
        f"REQUIRED:{name}": ({name: None}, set()),
        f"MAX_LENGTH:{name}": ({name: long(201)}, set()),
        f"REQUIRED:{code}": ({code: None}, set()),
        f"MAX_LENGTH:{code}": ({code: USCC_AUTHORITY + "1"}, {f"USCC_INVALID:{code}"}),
        f"USCC_INVALID:{code}": ({code: "123"}, set()),
        f"AUTHORITY_USCC_PREFIX:{code}": ({code: USCC_ORG}, set()),
        f"REQUIRED:{source}": ({source: None}, set()),
        f"MAX_LENGTH:{source}": ({source: long(201)}, set()),
        f"REQUIRED:{source_code}": ({source_code: None}, set()),
        f"MAX_LENGTH:{source_code}": ({source_code: USCC_AUTHORITY + "1"}, {f"USCC_INVALID:{source_code}"}),
        f"USCC_INVALID:{source_code}": ({source_code: "11230500001755309G"}, set()),
    }


#: Issue 18.3: the fields a clerk's text reaches the platform through — free text, and the "其他-…" of the
#: enumerations that take it — from the field dictionary (a new text field gets its case here).
FREE_ENUMS = {"CF_CFLB", "XK_XKLB", "QZ_CSLX"}
NAME_SUFFIXES = ("_MC", "_CFJG", "_XKJG", "_SSJG", "_SJLY", "_LYDW", "_FRDB")


def text_cases(kind: str) -> dict[str, tuple[dict[str, Any], set[str]]]:
    """One tag in every published text field: TEXT_UNSAFE and nothing else (an unsafe name or 文号 is not
    also an odd name or 文号); an odd character in each name (NAME_CHARS), an odd 文号 (DOC_NO_FORMAT)."""
    from creditflow.core import standard

    p = standard.PREFIX[kind]
    cases: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for f in standard.fields(kind):
        if f.type != "text" and f.code not in FREE_ENUMS:
            continue
        tag = "<b>"  # an HTML tag: "<" then an ASCII letter (WHATWG tokenizer, tag open state)
        change: dict[str, Any] = {f.code: tag}
        if f.code in FREE_ENUMS:  # "其他-…" passes ENUM: the tag must still be refused
            first = {"CF_CFLB": "罚款;", "XK_XKLB": "", "QZ_CSLX": ""}[f.code]  # the base row's fine keeps 罚款
            change = {f.code: f"{first}其他-{tag}"}
        elif f.code.endswith("_WSH"):
            change = {f.code: f"{p}应急罚〔2026〕1号{tag}"}
        elif f.code.endswith("_XDR_ZJHM"):  # a passport number: the ID-number rules do not apply
            change = {**person(p), f"{p}_XDR_ZJLX": "护照号", f.code: f"E{tag}"}
        elif f.code.endswith("_FR_ZJHM"):
            change = {f"{p}_FR_ZJLX": "护照号", f.code: f"E{tag}"}
        cases[f"TEXT_UNSAFE:{f.code}"] = (change, set())
        if f.code.endswith(NAME_SUFFIXES):
            cases[f"NAME_CHARS:{f.code}"] = ({f.code: "珠海★甲化工有限公司"}, set())
        if f.code.endswith("_WSH"):
            cases[f"DOC_NO_FORMAT:{f.code}"] = ({f.code: "珠应急罚2026年12号"}, set())  # year not in brackets
    return cases


CASES: dict[str, dict[str, tuple[dict[str, Any], set[str]]]] = {
    "penalty": {
        **party_cases("CF", with_rep_id=True),
        **text_cases("penalty"),
        **authority_cases("CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM"),
        "REQUIRED:CF_WSH": ({"CF_WSH": None}, set()),
        # a 130-digit sequence number is no 文号 shape either (GB/T 9704: 机关代字〔年份〕序号号)
        "MAX_LENGTH:CF_WSH": ({"CF_WSH": "珠应急罚〔2026〕" + long(130, "1") + "号"}, {"DOC_NO_FORMAT:CF_WSH"}),
        "REQUIRED:CF_WFXW": ({"CF_WFXW": None}, set()),
        "MAX_LENGTH:CF_WFXW": ({"CF_WFXW": long(2001)}, set()),
        "REQUIRED:CF_SY": ({"CF_SY": None}, set()),
        "MAX_LENGTH:CF_SY": ({"CF_SY": long(5001)}, set()),
        "REQUIRED:CF_YJ": ({"CF_YJ": None}, set()),
        "MAX_LENGTH:CF_YJ": ({"CF_YJ": long(2001)}, set()),
        # Without a category the fine would be "an amount without its category": drop both.
        "REQUIRED:CF_CFLB": ({"CF_CFLB": None, "CF_NR_FK": None}, set()),
        "MAX_LENGTH:CF_CFLB": ({"CF_CFLB": ";".join(["罚款"] * 86)}, set()),
        "ENUM:CF_CFLB": ({"CF_CFLB": "罚款;打板子"}, set()),
        "OTHER_NEEDS_DETAIL:CF_CFLB": ({"CF_CFLB": "罚款；其他"}, set()),
        "REQUIRED:CF_NR": ({"CF_NR": None}, set()),
        "MAX_LENGTH:CF_NR": ({"CF_NR": "罚款人民币2万元" + long(3993, "。")}, set()),  # 4001 characters
        "AMOUNT_FORMAT:CF_NR_FK": ({"CF_NR_FK": "1.1234567"}, set()),
        "AMOUNT_FORMAT:CF_NR_WFFF": ({"CF_NR_WFFF": "五千"}, set()),
        "MAX_LENGTH:CF_NR_ZKDX": ({"CF_NR_ZKDX": long(201)}, set()),
        "REQUIRED:CF_JDRQ": ({"CF_JDRQ": None}, set()),
        "DATE_FORMAT:CF_JDRQ": ({"CF_JDRQ": "0000-01-01"}, set()),  # issue 12: pandas used to accept year 0
        "REQUIRED:CF_YXQ": ({"CF_YXQ": None}, set()),
        "DATE_FORMAT:CF_YXQ": ({"CF_YXQ": "2027-02-30"}, set()),
        "DATE_FORMAT:CF_GSJZQ": ({"CF_GSJZQ": "2027/01/01"}, set()),
        "DATE_FUTURE:CF_JDRQ": ({"CF_JDRQ": "2026-11-28"}, set()),
        "DATE_ORDER:CF_YXQ/CF_JDRQ": ({"CF_YXQ": "2026-11-01"}, set()),
        "DATE_ORDER:CF_GSJZQ/CF_JDRQ": ({"CF_GSJZQ": "2026-11-02"}, set()),  # must be strictly later
        "AMOUNT_REQUIRED:CF_NR_FK": ({"CF_NR_FK": None}, set()),
        "AMOUNT_WITHOUT_CATEGORY:CF_NR_FK": ({"CF_CFLB": "警告", "CF_NR": "警告"}, set()),
        "AMOUNT_REQUIRED:CF_NR_WFFF": ({"CF_CFLB": "罚款;没收违法所得"}, set()),
        "AMOUNT_WITHOUT_CATEGORY:CF_NR_WFFF": ({"CF_NR_WFFF": "0.5"}, set()),
        "REQUIRED_IF:CF_NR_ZKDX": ({"CF_CFLB": "罚款;吊销许可证件"}, set()),
        "AMOUNT_UNIT:CF_NR_FK": ({"CF_NR_FK": "20000"}, set()),  # 罚款人民币2万元 entered in 元
    },
    "license": {
        **party_cases("XK", with_rep_id=True),
        **text_cases("license"),
        **authority_cases("XK_XKJG", "XK_XKJGDM", "XK_LYDW", "XK_LYDWDM"),
        "REQUIRED:XK_XKWS": ({"XK_XKWS": None}, set()),
        "MAX_LENGTH:XK_XKWS": ({"XK_XKWS": long(65)}, set()),
        "REQUIRED:XK_WSH": ({"XK_WSH": None}, set()),
        "MAX_LENGTH:XK_WSH": ({"XK_WSH": long(65, "1")}, {"DOC_NO_FORMAT:XK_WSH"}),  # 65 digits: not a serial
        "REQUIRED:XK_XKLB": ({"XK_XKLB": None}, set()),
        "MAX_LENGTH:XK_XKLB": ({"XK_XKLB": ";".join(["普通"] * 86)}, set()),
        "ENUM:XK_XKLB": ({"XK_XKLB": "特别"}, set()),
        "OTHER_NEEDS_DETAIL:XK_XKLB": ({"XK_XKLB": "其他"}, set()),
        "MAX_LENGTH:XK_XKZS": ({"XK_XKZS": long(65)}, set()),
        "MAX_LENGTH:XK_XKBH": ({"XK_XKBH": long(65, "1")}, set()),
        "REQUIRED:XK_NR": ({"XK_NR": None}, set()),
        "MAX_LENGTH:XK_NR": ({"XK_NR": long(4001)}, set()),
        "REQUIRED:XK_JDRQ": ({"XK_JDRQ": None}, set()),
        "DATE_FORMAT:XK_JDRQ": ({"XK_JDRQ": "2026-1-5"}, set()),  # not zero-padded: the platform refuses it
        "REQUIRED:XK_YXQZ": ({"XK_YXQZ": None}, set()),
        "DATE_FORMAT:XK_YXQZ": ({"XK_YXQZ": "2026-13-01"}, set()),
        "REQUIRED:XK_YXQZI": ({"XK_YXQZI": None}, set()),
        "DATE_FORMAT:XK_YXQZI": ({"XK_YXQZI": "２０２９-１１-０１"}, set()),  # full width: not YYYY-MM-DD
        "REQUIRED:XK_ZT": ({"XK_ZT": None}, set()),
        "MAX_LENGTH:XK_ZT": ({"XK_ZT": "11"}, {"ENUM:XK_ZT"}),
        "ENUM:XK_ZT": ({"XK_ZT": "3"}, set()),
        "DATE_FUTURE:XK_JDRQ": ({"XK_JDRQ": "2026-11-28"}, set()),
        # Valid to before valid from, but after the decision: only the first order rule.
        "DATE_ORDER:XK_YXQZI/XK_YXQZ": ({"XK_YXQZ": "2026-12-01", "XK_YXQZI": "2026-11-15"}, set()),
        # Valid to before the decision, but after valid from: only the second.
        "DATE_ORDER:XK_YXQZI/XK_JDRQ": ({"XK_JDRQ": "2026-11-20", "XK_YXQZI": "2026-11-15"}, set()),
    },
    "coercion": {
        **party_cases("QZ", with_rep_id=False),
        **text_cases("coercion"),
        **authority_cases("QZ_SSJG", "QZ_SSJGDM", "QZ_SJLY", "QZ_SJLYDM"),
        "REQUIRED:QZ_WSH": ({"QZ_WSH": None}, set()),
        "MAX_LENGTH:QZ_WSH": ({"QZ_WSH": long(129, "1")}, {"DOC_NO_FORMAT:QZ_WSH"}),
        "REQUIRED:QZ_QZLB": ({"QZ_QZLB": None}, set()),
        "MAX_LENGTH:QZ_QZLB": ({"QZ_QZLB": long(17)}, {"ENUM:QZ_QZLB"}),
        "ENUM:QZ_QZLB": ({"QZ_QZLB": "强制"}, set()),
        "REQUIRED:QZ_CSLX": ({"QZ_CSLX": None}, set()),
        "MAX_LENGTH:QZ_CSLX": ({"QZ_CSLX": ";".join(["查封场所、设施或者财物"] * 6)}, set()),
        "ENUM:QZ_CSLX": ({"QZ_CSLX": "罚没"}, set()),
        "OTHER_NEEDS_DETAIL:QZ_CSLX": ({"QZ_CSLX": "其他"}, set()),
        "REQUIRED:QZ_SY": ({"QZ_SY": None}, set()),
        "MAX_LENGTH:QZ_SY": ({"QZ_SY": long(5001)}, set()),
        "REQUIRED:QZ_YJ": ({"QZ_YJ": None}, set()),
        "MAX_LENGTH:QZ_YJ": ({"QZ_YJ": long(2001)}, set()),
        "REQUIRED:QZ_NR": ({"QZ_NR": None}, set()),
        "MAX_LENGTH:QZ_NR": ({"QZ_NR": long(4001)}, set()),
        "REQUIRED:QZ_JDRQ": ({"QZ_JDRQ": None}, set()),
        "DATE_FORMAT:QZ_JDRQ": ({"QZ_JDRQ": "20261102"}, set()),
        "REQUIRED:QZ_QXZ": ({"QZ_QXZ": None}, set()),
        "DATE_FORMAT:QZ_QXZ": ({"QZ_QXZ": "2026-11-2"}, set()),
        "DATE_FORMAT:QZ_QXZI": ({"QZ_QXZI": "2026-12-32"}, set()),
        "DATE_FORMAT:QZ_JCRQ": ({"QZ_JCRQ": "2026/12/01"}, set()),
        "REQUIRED:QZ_ZT": ({"QZ_ZT": None}, set()),
        "MAX_LENGTH:QZ_ZT": ({"QZ_ZT": "12"}, {"ENUM:QZ_ZT"}),
        "ENUM:QZ_ZT": ({"QZ_ZT": "3"}, set()),
        "DATE_FUTURE:QZ_JDRQ": ({"QZ_JDRQ": "2026-11-28", "QZ_QXZ": "2026-11-28", "QZ_QXZI": "2026-12-10"},
                                set()),
        "DATE_ORDER:QZ_QXZ/QZ_JDRQ": ({"QZ_QXZ": "2026-11-01", "QZ_QXZI": "2026-11-20"}, set()),
        "DATE_ORDER:QZ_QXZI/QZ_QXZ": ({"QZ_QXZI": "2026-11-01"}, set()),
        "DATE_ORDER:QZ_JCRQ/QZ_QXZ": ({"QZ_ZT": "2", "QZ_JCRQ": "2026-11-01"}, set()),
        "REQUIRED_IF:QZ_JCRQ": ({"QZ_ZT": "2"}, set()),
        # 行政强制法 art. 25: 30 days, one approved extension of at most 30 more.
        "SEIZURE_OVER_30_DAYS:QZ_QXZI": ({"QZ_QXZI": "2026-12-03"}, set()),  # 31 days
        "SEIZURE_OVER_60_DAYS:QZ_QXZI": ({"QZ_QXZI": "2027-01-02"}, set()),  # 61 days
        "SEIZURE_OVER_30_DAYS:QZ_JCRQ": ({"QZ_QXZI": "2026-11-20", "QZ_ZT": "2", "QZ_JCRQ": "2026-12-10"}, set()),
        "SEIZURE_OVER_60_DAYS:QZ_JCRQ": ({"QZ_ZT": "2", "QZ_JCRQ": "2027-01-05"}, set()),  # lifted after 64 days
    },
}

#: Rows every engine must pass without a single finding (besides the three bases).
VALID = {
    "penalty": [person("CF"), {**person("CF"), "CF_XDR_ZJHM": "440403199001010010"},  # 斗门区 [2001-], born 1990
                {**person("CF"), "CF_XDR_ZJHM": "440421199001010048"},  # 斗门县 [1983-2001], historical
                {"CF_XDR_LB": "个体工商户", "CF_XDR_SHXYM": USCC_SOLE_TRADER},
                {"CF_XDR_SHXYM": "00000000000000000X", "CF_XDR_GSZC": "440400000012345"},
                {"CF_FR_ZJLX": "身份证", "CF_FR_ZJHM": RIC_OK}, {"CF_GSJZQ": "2029-11-02"},
                # decided 2026-11-02: the longest maximum publicity period (publicity.yaml, 36 months) ends
                # 2029-11-02; 民法典 第二百零三条 moves a last day that is a 法定休假日 past the holiday, by at most
                # the calendar's longest rest-day run (10 days) — a 公示截止期 of 2029-11-12 is possible
                {"CF_GSJZQ": "2029-11-12"},
                {"CF_CFLB": "罚款;其他-责令改正", "CF_YXQ": "2099-12-31"},
                # issue 18.3, real 文号 variants (GB/T 9704 form and what districts and licences write)
                {"CF_WSH": "粤珠应急罚〔2026〕12号"}, {"CF_WSH": "珠香应急罚[2026]12号"},
                {"CF_WSH": "珠应急罚(2026)12号"}, {"CF_WSH": "珠应急罚【2026】12号"},
                {"CF_WSH": "珠应急罚〔2026〕第12号"}, {"CF_WSH": "珠应急罚〔2026〕12-1号"},
                {"CF_WSH": "珠香应急罚（２０２６）０００１号"},  # the generator's full-width district variant
                {"CF_WSH": "珠应急（横琴）罚〔2026〕1号"}, {"CF_WSH": "市场【2019】1号"},  # sample 文号 [S]
                {"CF_WSH": "珠应急简罚〔2026〕3号"}, {"CF_WSH": "4404002026000123"},  # 简易程序 form serial
                # issue 18 review: the year first (as court 案号 write it) and 字…第 [M]
                {"CF_WSH": "(2026)珠应急罚12号"}, {"CF_WSH": "（2026）珠应急罚12号"}, {"CF_WSH": "（2026）珠应急罚第12号"},
                {"CF_WSH": "【2026】珠应急罚12号"}, {"CF_WSH": "珠应急罚字2026第12号"},
                # issue 18 review: "-12" and "+86 …" are no formula; "on duty" no event handler
                {"CF_SY": "-12", "CF_YJ": "+86 756 1234567", "CF_WFXW": "on duty 时未佩戴安全帽"},
                # names as they really are: 间隔号, registered parentheses, Latin letters, & - 、 .
                {"CF_XDR_MC": "珠海（横琴）A&B科技有限公司", "CF_FRDB": "阿卜杜·热合曼"},
                {"CF_XDR_MC": "ZHUHAI ABC CO., LTD.", "CF_FRDB": "John Smith"},
                {"CF_XDR_MC": "珠海市香洲区甲乙、丙丁商行(普通合伙)", "CF_FRDB": "欧阳•娜娜"},
                # text that is not markup: no parser takes "<安" or "<3" for a tag
                {"CF_YJ": "依据<安全生产法>第九十七条", "CF_SY": "温度<30℃，压力>2MPa"}],
    "license": [person("XK"), {"XK_XKLB": "其他-备案"}, {"XK_YXQZI": "2099-12-31"},
                {"XK_WSH": "（粤珠）WH安许证字〔2026〕000123号"}, {"XK_WSH": "珠应急许【2026】0001号"}],
    "coercion": [person("QZ"), {"QZ_ZT": "2", "QZ_JCRQ": "2026-11-20"},
                 {"QZ_CSLX": "扣押财物;查封场所、设施或者财物"},
                 {"QZ_CSLX": "冻结存款、汇款", "QZ_QXZI": "2027-03-01"},  # art. 25 is about 查封/扣押 only
                 {"QZ_QZLB": "行政强制执行", "QZ_CSLX": "代履行", "QZ_QXZI": "2027-06-30"}],
}


def _rows(kind: str) -> tuple[pd.DataFrame, list[str]]:
    base = BASES[kind]
    rows, labels = [dict(base)], ["base"]
    for i, changes in enumerate(VALID[kind]):
        rows.append({**base, **changes})
        labels.append(f"valid-{i}")
    for name, (changes, _) in CASES[kind].items():
        rows.append({**base, **changes})
        labels.append(name)
    frame = pd.DataFrame(rows)
    frame["_row"] = range(len(frame))
    return frame, labels


Found = dict[str, set[tuple[str, str, str, str]]]


def _by_label(found: pd.DataFrame, labels: list[str]) -> Found:
    out: Found = {label: set() for label in labels}
    for f in found.to_dict("records"):
        out[labels[int(f["_row"])]].add((f["field"], f["rule_id"], f["severity"], f["detail"]))
    return out


def _verdicts(found: set[tuple[str, str, str, str]]) -> set[tuple[str, str, str]]:
    return {f[:3] for f in found}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Found]]:
    """Findings per kind, engine and case label: each engine runs once per kind over all cases."""
    out = {}
    for kind in BASES:
        frame, labels = _rows(kind)
        gx_found, _ = v.validate_gx(frame, kind, AS_OF)
        out[kind] = {"pandas": _by_label(v.validate_pandas(frame, kind, AS_OF), labels),
                     "gx": _by_label(gx_found, labels)}
    return out


def _expected(name: str, extra: set[str]) -> set[tuple[str, str, str]]:
    out = set()
    for rule_name in {name, *extra}:
        rule_id, field = rule_name.split("/")[0].split(":")
        out.add((field, rule_id, SEVERITY[rule_id]))
    return out


RULE_NAMES = [(kind, rule.name) for kind in BASES for rule in v.rules_for(kind, AS_OF)]


@pytest.mark.parametrize(("kind", "name"), RULE_NAMES, ids=[f"{k}-{n}" for k, n in RULE_NAMES])
def test_rule_has_a_case_and_both_engines_find_exactly_it(results, kind, name):
    assert name in CASES[kind], f"rule {name} ({kind}) has no hand-made case in CASES"
    expected = _expected(name, CASES[kind][name][1])
    assert _verdicts(results[kind]["pandas"][name]) == expected, "pandas engine"
    assert _verdicts(results[kind]["gx"][name]) == expected, "GX engine"
    assert results[kind]["gx"][name] == results[kind]["pandas"][name], "the engines' details differ"


@pytest.mark.parametrize("kind", list(BASES))
def test_valid_rows_pass_both_engines(results, kind):
    for label in ["base", *(f"valid-{i}" for i in range(len(VALID[kind])))]:
        assert results[kind]["pandas"][label] == set(), label
        assert results[kind]["gx"][label] == set(), label


@pytest.mark.parametrize("kind", list(BASES))
def test_every_case_names_a_rule_that_exists(kind):
    names = {rule.name for rule in v.rules_for(kind, AS_OF)}
    assert set(CASES[kind]) <= names, sorted(set(CASES[kind]) - names)


def test_every_catalogue_entry_is_a_rule_or_a_pipeline_finding():
    produced = {rule.rule_id for kind in BASES for rule in v.rules_for(kind, AS_OF)}
    catalogue = set(v.rule_catalogue())
    assert catalogue <= produced | PIPELINE_RULES, sorted(catalogue - produced - PIPELINE_RULES)
    assert produced <= set(SEVERITY), sorted(produced - set(SEVERITY))
    for rule_id in produced:
        assert v.rule_catalogue()[rule_id].severity == SEVERITY[rule_id], rule_id
