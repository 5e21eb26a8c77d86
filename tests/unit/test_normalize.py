import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from creditflow.core import normalize as n


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("珠应急罚[2026]12号", "珠应急罚〔2026〕12号"),
        ("珠应急罚【2026】12号", "珠应急罚〔2026〕12号"),
        ("珠应急罚（2026）12号", "珠应急罚〔2026〕12号"),
        ("珠应急罚(2026)12号", "珠应急罚〔2026〕12号"),
        ("珠应急罚〔2026〕12号", "珠应急罚〔2026〕12号"),
        (" 珠应急罚 〔２０２６〕 １２ 号 ", "珠应急罚〔2026〕12号"),
        ("市场【2019】1号", "市场〔2019〕1号"),
        ("", None),
        (None, None),
    ],
)
def test_doc_no(raw, expected):
    assert n.normalize_doc_no(raw) == expected


def test_doc_no_key_upper_cases():
    assert n.doc_no_key("(珠)应急罚字[2026]a1号") == n.doc_no_key("（珠）应急罚字〔2026〕A1号")


def test_names_use_registered_parentheses():
    assert n.normalize_name("珠海市某某化工有限公司(香洲分公司)") == "珠海市某某化工有限公司（香洲分公司）"
    assert n.normalize_name("  珠海　ＡＢＣ 公司 ") == "珠海 ABC 公司"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-02-12", dt.date(2026, 2, 12)),
        ("2026/2/12", dt.date(2026, 2, 12)),
        ("2026.02.12", dt.date(2026, 2, 12)),
        ("20260212", dt.date(2026, 2, 12)),
        ("2026年2月12日", dt.date(2026, 2, 12)),
        ("２０２６－０２－１２", dt.date(2026, 2, 12)),
        ("2026-02-12 09:30:00", dt.date(2026, 2, 12)),
        ("2026-02-12T09:30:00+08:00", dt.date(2026, 2, 12)),
        (46065, dt.date(2026, 2, 12)),  # Excel serial day
        ("46065", dt.date(2026, 2, 12)),
        (dt.datetime(2026, 2, 12, 8), dt.date(2026, 2, 12)),
        ("2026-02-30", None),
        ("2026-13-01", None),
        ("12/02/2026", None),  # ambiguous day/month order: refused, not guessed
        ("明天", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(raw, expected):
    assert n.parse_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        ("2000元", "万元", Decimal("0.2")),
        ("0.2万元", "元", Decimal("0.2")),
        ("2", "万元", Decimal("2")),
        ("20000", "元", Decimal("2")),
        ("￥2,000.50元", "万元", Decimal("0.20005")),
        (Decimal("1.5"), "万元", Decimal("1.5")),
        (3000, "元", Decimal("0.3")),
        ("两千元", "万元", None),
        ("", "万元", None),
    ],
)
def test_parse_amount(raw, unit, expected):
    assert n.parse_amount(raw, unit) == expected


def test_parse_amount_rejects_unknown_unit():
    with pytest.raises(ValueError):
        n.parse_amount("1", "千元")


def test_split_multi_keeps_enumeration_values_with_enumeration_comma():
    assert n.split_multi("警告；罚款;没收违法所得") == ["警告", "罚款", "没收违法所得"]
    assert n.split_multi("查封场所、设施或者财物") == ["查封场所、设施或者财物"]


@pytest.mark.parametrize(
    "raw",
    ["0000-01-01", "0000年1月1日", "00000101", "2026-00-10", pd.NaT, pd.NA, np.datetime64("NaT"), float("nan"),
     float("inf"), 10**5000, 1e300, True, "\x00"],
    ids=["iso-year-0", "zh-year-0", "compact-year-0", "month-0", "NaT", "NA", "np-NaT", "nan", "inf", "huge-int",
         "huge-float", "bool", "nul"],
)
def test_parse_date_refuses_impossible_and_missing_values(raw):
    assert n.parse_date(raw) is None  # issue 12: year 0000 is not a date (the validators agree)


@pytest.mark.parametrize(
    "raw",
    [float("inf"), float("-inf"), float("nan"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), pd.NA,
     "1" + "0" * 1_000_010 + "元", True],
    ids=["inf", "-inf", "nan", "dec-nan", "dec-snan", "dec-inf", "NA", "beyond-decimal-range", "bool"],
)
def test_parse_amount_refuses_what_is_not_an_amount(raw):
    assert n.parse_amount(raw, "元") is None


def test_huge_integers_are_text_not_an_error():
    assert n.parse_amount(10**5000, "万元") == Decimal(10**5000)
    assert n.clean_text(10**5000) == "1" + "0" * 5000
    assert n.clean_text(pd.NA) is None and n.clean_text(pd.NaT) is None
    assert n.as_text(np.int64(7)) == "7" and n.as_text(None) == ""
