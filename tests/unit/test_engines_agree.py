"""Issue 12: the pipeline's GX path, the pandas engine and an independent engine (bench/floor.py: the same
rules written again with numpy/pyarrow, none of the project's predicates) find exactly the same
``(row, field, rule_id)`` — on the rule cases of every kind, on fuzzed dirty rows and on the edge cases
where engines used to part (year 0000, 29 February, digits of other scripts, blanks of every kind)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pandas as pd
import pytest
from creditflow.reporting import standardise as st
from creditflow.reporting import validation as v

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from floor import floor_findings

from tests.unit.test_rule_cases import AS_OF, BASES, _rows
from tests.unit.test_validator_fuzz import BASE, _frame, _gx_fuzz_rows


def _triples(found: pd.DataFrame) -> set[tuple[int, str, str]]:
    return {(int(r), f, rid) for r, f, rid in zip(found["_row"], found["field"], found["rule_id"], strict=True)}


def _all_agree(frame: pd.DataFrame, kind: str, as_of: dt.date = AS_OF) -> set[tuple[int, str, str]]:
    gx_found, _ = v.validate_gx(frame, kind, as_of)
    pandas_found = v.validate_pandas(frame, kind, as_of)
    floor = floor_findings(v.prepare(frame, kind), kind, as_of)
    pd.testing.assert_frame_equal(gx_found, pandas_found)
    assert _triples(gx_found) == floor
    return floor


@pytest.mark.parametrize("kind", list(BASES))
def test_rule_cases_of_every_kind(kind):
    frame, labels = _rows(kind)
    found = _all_agree(frame, kind)
    assert len({r for r, _, _ in found}) > len(labels) // 2  # most cases fail something: not two empties


def test_fuzzed_dirty_rows():
    frame = _frame(_gx_fuzz_rows(seed=12, n=80))
    assert len(_all_agree(frame, "penalty")) > len(frame)


EDGES = [
    {"CF_JDRQ": "0000-01-01"}, {"CF_JDRQ": "0001-01-01", "CF_YXQ": "0001-01-01"}, {"CF_JDRQ": "9999-12-31"},
    {"CF_JDRQ": "2024-02-29", "CF_YXQ": "2025-02-28"}, {"CF_JDRQ": "2023-02-29"}, {"CF_JDRQ": "2026-13-01"},
    {"CF_JDRQ": "٢٠٢٦-٠٢-١٢"}, {"CF_JDRQ": "２０２６-０２-１２"}, {"CF_JDRQ": "2026-1-5"}, {"CF_JDRQ": " 2026-01-05"},
    {"CF_JDRQ": "2026-11-28"}, {"CF_JDRQ": "2026-11-27"},
    # 公示截止期 at most the longest maximum period (36 months) after the decision — 29 February + 36 months is
    # 28 February (民法典 第二百零二条) — plus the longest rest-day run (10 days, 第二百零三条): 2027-03-10 at most
    {"CF_JDRQ": "2024-02-29", "CF_GSJZQ": "2027-02-28"}, {"CF_JDRQ": "2024-02-29", "CF_GSJZQ": "2027-03-11"},
    {"CF_JDRQ": "2026-11-02", "CF_GSJZQ": "2026-11-02"},
    {"CF_SY": "\u3000"}, {"CF_SY": " \t"}, {"CF_SY": "\u200b"}, {"CF_SY": "\x1c"}, {"CF_SY": ""},
    {"CF_NR_FK": "1e3"}, {"CF_NR_FK": " 2 "}, {"CF_NR_FK": "0"}, {"CF_NR_FK": "-2"}, {"CF_NR_FK": "2.1234567"},
    {"CF_NR_FK": "20001"}, {"CF_NR_FK": "20000", "CF_NR": "罚款人民币2万元"}, {"CF_NR": "罚款人民币2，000元"},
    {"CF_NR_FK": "0.0002", "CF_NR": "罚款2元"}, {"CF_NR_FK": "２"},
    {"CF_XDR_SHXYM": "91230500ma1b3n1n2m"}, {"CF_XDR_SHXYM": "00000000000000000X"},
    {"CF_XDR_SHXYM": "00000000000000000X", "CF_XDR_GSZC": "440400000012345"}, {"CF_XDR_SHXYM": "ＡＢＣ"},
    {"CF_XDR_SHXYM": "91440400MA4UABCD1N"}, {"CF_XDR_LB": "个体工商户"}, {"CF_CFJGDM": "91230500MA1B3N1N2M"},
    {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None, "CF_XDR_ZJLX": "身份证",
     "CF_XDR_ZJHM": "440402202702290019"},
    {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None, "CF_XDR_ZJLX": "身份证",
     "CF_XDR_ZJHM": "44040219900229001X"},
    {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None, "CF_XDR_ZJLX": "身份证",
     "CF_XDR_ZJHM": "44042219900101001X"},
    {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None, "CF_XDR_ZJLX": "身份证",
     "CF_XDR_ZJHM": "44040219900101001x"},
    {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None, "CF_XDR_ZJLX": "护照号", "CF_XDR_ZJHM": "E123"},
    {"CF_CFLB": "罚款;;警告"}, {"CF_CFLB": "罚款；其他"}, {"CF_CFLB": "其他-通报批评"}, {"CF_CFLB": " 罚款 ; 警告 "},
    {"CF_CFLB": "警告", "CF_NR_FK": "2"}, {"CF_CFLB": "罚款", "CF_NR_FK": None},
]


def test_edge_cases_raw_and_standardised():
    raw = pd.DataFrame([{**BASE, **e} for e in EDGES])
    raw["_row"] = range(len(raw))
    found = _all_agree(raw, "penalty")
    rows = {(r, rid) for r, _, rid in found}
    assert (0, "DATE_FORMAT") in rows and (1, "DATE_FORMAT") not in rows  # year 0000 is no date, 0001 is
    assert (13, "DATE_ORDER") in rows and (12, "DATE_ORDER") not in rows  # 2027-03-11 is past 36 months + 10 days
    records = [{**r, "_source_key": str(i)} for i, r in enumerate(raw.drop(columns="_row").to_dict("records"))]
    standardised = st.standardise(st.map_source_rows(records, "district_file", "penalty"), "penalty")
    _all_agree(standardised, "penalty")


def test_the_reference_date_moves_the_future_rule_in_every_engine():
    frame = _frame([{"CF_JDRQ": "2026-11-28"}])
    assert (0, "CF_JDRQ", "DATE_FUTURE") in _all_agree(frame, "penalty", dt.date(2026, 11, 27))
    assert (0, "CF_JDRQ", "DATE_FUTURE") not in _all_agree(frame, "penalty", dt.date(2026, 11, 28))
