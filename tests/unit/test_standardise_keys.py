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
