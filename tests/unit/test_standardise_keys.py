"""The district inbox names each file row by its natural key (pipeline/extract.py) with
``standardise.natural_keys``, which normalises only the key's fields: it must give what the whole
``standardise`` gives — on the generator's varied rows (natural persons, sole traders, placeholders with
another code, full-width and lower-case spellings, blanks) and for every kind."""

from __future__ import annotations

import pandas as pd
import pytest
from creditflow.core import standard
from creditflow.reporting import standardise as st
from creditflow_sandbox.generator.varied import varied_district_rows


def _agree(mapped: pd.DataFrame, kind: str) -> int:
    whole = st.standardise(mapped, kind, blind_keys=False)
    keys = st.natural_keys(mapped, kind)
    lb = f"{standard.PREFIX[kind]}_XDR_LB"
    assert keys["natural_key"].tolist() == whole["natural_key"].tolist()
    assert keys[lb].tolist() == whole[lb].tolist()
    return int(whole["natural_key"].notna().sum())


def test_varied_penalty_rows() -> None:
    rows = varied_district_rows(4000, seed=9, person_share=0.3, sole_trader_share=0.2)
    mapped = st.map_source_rows(rows, "district_file", "penalty")
    assert _agree(mapped, "penalty") > 3000
    assert (mapped["CF_XDR_LB"] == "自然人").sum() > 500


@pytest.mark.parametrize("kind", ["penalty", "license", "coercion"])
def test_hand_made_rows_of_every_kind(kind: str) -> None:
    p = standard.PREFIX[kind]
    org = {f"{p}_XDR_MC": "珠海甲化工有限公司", f"{p}_XDR_LB": "法人及非法人组织",
           f"{p}_XDR_SHXYM": "91230500ma1b3n1n2m", f"{p}_WSH": "珠应急罚〔2026〕１号"}
    rows = [org,
            {**org, f"{p}_XDR_SHXYM": "00000000000000000X", f"{p}_XDR_ZZJG": "12345678-9"},
            {**org, f"{p}_WSH": None},
            {**org, f"{p}_XDR_LB": "自然人", f"{p}_XDR_SHXYM": None, f"{p}_XDR_ZJLX": "身份证",
             f"{p}_XDR_ZJHM": "44040219900101001x"},
            {**org, f"{p}_WSH": "  ", f"{p}_XDR_SHXYM": " 91230500MA1B3N1N2M "}]
    fields = standard.field_map(kind)
    rows = [{k: v for k, v in r.items() if k in fields} | {"_source_key": str(i)} for i, r in enumerate(rows)]
    _agree(st.map_source_rows(rows, "district_file", kind), kind)


def test_the_files_of_an_interval_staged_together_are_staged_as_one_by_one() -> None:
    """extract stages all accepted district files of an interval in one pass (stage_file_rows): the rows,
    their source keys and which row wins a repeated key are what staging each file alone, in order, gives —
    also when the files have different columns (one without the party's other codes, one in Chinese headers
    with a blank row)."""
    from creditflow.reporting.pipeline.extract import stage_file_rows

    varied = varied_district_rows(300, seed=4, person_share=0.3, sole_trader_share=0.2)
    rows = [{k: v for k, v in r.items() if v is not None} for r in varied.to_dict("records")]
    slim = [{k: v for k, v in r.items() if k not in ("CF_XDR_ZZJG", "CF_XDR_GSZC", "CF_XDR_SWDJ")} for r in rows[100:200]]
    again = [dict(rows[5], CF_SY="重复报送（更正事由）"), {}, *rows[200:260]]  # a record sent again; an empty row
    files = [("440402-20261102-a.xlsx", list(enumerate(rows[:100], start=2))),
             ("440403-20261102-b.xlsx", list(enumerate(slim, start=2))),
             ("440402-20261102-c.csv", list(enumerate(again, start=2))),
             ("440404-20261102-d.xlsx", [])]
    one_by_one: dict = {}
    for f in files:
        one_by_one.update(stage_file_rows("penalty", [f]))
    together = stage_file_rows("penalty", files)
    assert together == one_by_one
    assert list(together) == list(one_by_one)
    assert len(together) > 200 and "440402-20261102-c.csv:row3" in together  # keyed rows and a row without a key
    assert not any(k.endswith(":nan") for k in together)
    assert stage_file_rows("penalty", []) == {} == stage_file_rows("penalty", [files[-1]])


def test_rows_without_a_key_are_each_staged_never_merged() -> None:
    """A district file's rows that have no natural key (no 文书号) are staged one each, by file and row —
    validation quarantines them with a finding — never merged under one key (the NaN pandas gives a column
    of text with gaps was once taken for a key, ``<district>:nan``, and the second such row replaced the
    first: a record lost without a trace)."""
    from creditflow.reporting.pipeline.extract import stage_file_rows

    keyed = {"CF_XDR_MC": "珠海甲化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91230500MA1B3N1N2M",
             "CF_WSH": "珠应急罚〔2026〕7号"}
    no_key = [{"CF_XDR_MC": "珠海乙公司", "CF_SY": "经查"}, {"CF_XDR_MC": "珠海丙公司", "CF_WSH": None}]
    staged = stage_file_rows("penalty", [("440402-20261102-a.xlsx", list(enumerate([no_key[0], keyed, no_key[1]],
                                                                                  start=2)))])
    assert sorted(staged) == sorted(["440402-20261102-a.xlsx:row2", "440402-20261102-a.xlsx:row4",
                                     next(k for k in staged if not k.startswith("440402-20261102-a.xlsx:"))])
    assert [r["raw"]["CF_XDR_MC"] for r in staged.values()] == ["珠海乙公司", "珠海甲化工有限公司", "珠海丙公司"]
