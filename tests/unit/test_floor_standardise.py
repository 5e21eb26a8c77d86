"""Issue #20 target 1: the standardisation floor (bench/floor_standardise.py, written without the project's
modules) gives the project's field values, natural keys and content hashes on dirty text — so a benchmark
difference means a real disagreement, not a floor that only works on the benchmark's input."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from creditflow.core import standard
from creditflow.reporting import standardise as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from floor_standardise import floor_standardise

CODES = standard.codes("penalty")
DIRTY = "0123456789０１２３４５６７８９٠١٢AaXxｘＡ-./年月日 \t\n\u3000\u00a0\u200b\ufeff\x1c,，¥万元〔〕[]【】()（）號号;；其他有限公司珠海"
value = hs.one_of(
    hs.none(), hs.text(max_size=12), hs.text(alphabet=DIRTY, max_size=24),
    hs.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    hs.from_regex(r"(0|[1-9][0-9]{0,13})(\.[0-9]{0,13})?", fullmatch=True),
    hs.sampled_from(["珠应急罚〔2026〕1号", "珠应急罚（2026）1號", "00000000000000000X", "自然人", "01", "罚款;警告",
                     "91440400MA00000001", "2026/2/3", "20260203", "45000", "2000元", "", " "]))
row = hs.fixed_dictionaries({c: value for c in CODES} | {"_source_key": hs.one_of(hs.none(), hs.text(max_size=6))})


def _cells(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.astype(object)]


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=hs.lists(row, min_size=1, max_size=30))
def test_floor_standardise_equals_the_project(rows):
    raw = pd.DataFrame(rows, dtype=object)
    ours = st.standardise(st.map_source_rows(raw, "district_file", "penalty"), "penalty")
    floor = floor_standardise(raw, "district_file", "penalty")
    for col in [*CODES, "record_id", "doc_key", "party_key", "natural_key", "content_hash"]:
        assert _cells(floor[col]) == _cells(ours[col]), col


def test_floor_blinds_a_natural_persons_key_as_the_project_does():
    base = dict.fromkeys(CODES)
    raw = pd.DataFrame([{**base, "CF_XDR_LB": "自然人", "CF_XDR_ZJHM": "440402199001011234", "CF_WSH": "珠应急罚〔2026〕1号"},
                        {**base, "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91440400MA00000001",
                         "CF_WSH": "珠应急罚〔2026〕2号"}], dtype=object)
    ours = st.standardise(st.map_source_rows(raw, "district_file", "penalty"), "penalty")
    floor = floor_standardise(raw, "district_file", "penalty")
    assert _cells(floor["natural_key"]) == _cells(ours["natural_key"])
    assert str(ours["party_key"][0]).startswith("bi:") and ours["party_key"][1] == "91440400MA00000001"
