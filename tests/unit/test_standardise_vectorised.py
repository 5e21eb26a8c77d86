"""Issue 12: the vectorised standardisation gives exactly what the scalar normalisers give.

``normalise_column`` keeps the values a safe pattern proves normal and sends the rest through the scalar
normaliser; ``row_hashes`` joins through Arrow. Both are compared here with the scalar definitions on
generated values (every field type, dirty alphabets, any code point), and the whitespace tables the
patterns are built from are recomputed over all of Unicode."""

from __future__ import annotations

import hashlib
import re
import sys

import pandas as pd
import pytest
from creditflow.core import normalize as nz
from creditflow.core import standard
from creditflow.reporting import standardise as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

FIELDS = {f.code: f for kind in standard.KINDS for f in standard.fields(kind)}
#: one field per normaliser (name, code, 文号, date, amount, enum, multi-enum, plain text)
SAMPLE = ["CF_XDR_MC", "CF_XDR_SHXYM", "CF_WSH", "CF_JDRQ", "CF_NR_FK", "CF_XDR_LB", "CF_CFLB", "CF_SY",
          "CF_FRDB", "CF_CFJGDM", "QZ_CSLX"]
DIRTY = "0123456789０１２３４５６７８９٠١٢AaXxｘＡ-./年月日 \t\n\u3000\u00a0\u200b\ufeff\x1c,，¥万元〔〕[]【】()（）號号;；其他有限公司珠海"
text_values = hs.one_of(
    hs.none(), hs.text(max_size=12), hs.text(alphabet=DIRTY, max_size=24),
    hs.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    hs.from_regex(r"(0|[1-9][0-9]{0,13})(\.[0-9]{0,13})?", fullmatch=True),
    hs.from_regex(r"[0-9A-Za-z]{18}", fullmatch=True),
    hs.sampled_from(["珠应急罚〔2026〕1号", "珠应急罚（2026）1號", "珠海甲（香洲）有限公司", "罚款;警告", "自然人",
                     "100", "0.50", "007", "1" * 30, "2026-02-30", "0000-01-01", "", " ", "ａｂ"]),
)
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_whitespace_tables_are_pythons():
    ws = re.compile(r"[\s\u200b\ufeff\u00a0]")
    every = [chr(i) for i in range(sys.maxunicode + 1)]
    assert "".join(c for c in every if c.isspace()) == nz.ISSPACE_CHARS
    assert set(nz.WHITESPACE_CHARS) == {c for c in every if ws.match(c) or c.isspace()}


@SETTINGS
@given(values=hs.lists(text_values, min_size=1, max_size=40), code=hs.sampled_from(SAMPLE),
       unit=hs.sampled_from(["万元", "元"]), as_str_dtype=hs.booleans())
def test_normalise_column_equals_the_scalar_normaliser(values, code, unit, as_str_dtype):
    f = FIELDS[code]
    series = pd.Series(values, dtype="str" if as_str_dtype else object)
    expected = [st.normaliser(f, unit)(None if nz.is_missing(v) else v) for v in series.astype(object)]
    got = st.normalise_column(series, f, unit)
    assert got.dtype == object
    assert got.tolist() == expected


@pytest.mark.parametrize("values", [[1, "2", None], [2.5, float("nan"), "x"], [pd.NA, "珠海 (甲)"]])
def test_non_text_columns_take_the_scalar_path(values):
    f = FIELDS["CF_XDR_MC"]
    expected = [st.normaliser(f)(None if nz.is_missing(v) else v) for v in values]
    assert st.normalise_column(pd.Series(values, dtype=object), f).tolist() == expected


def _scalar_hash(row: dict[str, object], codes: list[str]) -> str:
    parts = [f"{c}={row.get(c)}\x1f" for c in sorted(codes) if row.get(c) is not None and row.get(c) != ""]
    return hashlib.sha256("".join(parts).encode()).hexdigest()


@SETTINGS
@given(rows=hs.lists(hs.fixed_dictionaries({c: text_values for c in ("A", "B", "C")}), min_size=1, max_size=20))
def test_row_hashes_equal_the_scalar_definition(rows):
    df = pd.DataFrame(rows, dtype=object)
    df = df.astype(object).where(df.notna(), None)
    codes = ["C", "A", "B", "D"]  # D absent: no part
    assert st.row_hashes(df, codes) == [_scalar_hash(r, codes) for r in df.to_dict("records")]


def test_row_hashes_are_the_same_in_slices(monkeypatch):
    """``row_hashes`` works ``HASH_SLICE`` rows at a time (issue #20 target 3: peak RSS); slices that
    take the Arrow path and one that takes the per-value path (a number) give the scalar definition."""
    values = ["珠海甲有限公司", None, "", " x ", "𠀀ab", "ａ", "1.50", "珠应急罚〔2026〕1号", None, "z"]
    rows = [{"A": values[i % 10], "B": values[(i * 3) % 10], "C": f"{i}"} for i in range(23)]
    rows[7]["B"] = 5  # not text: its slice hashes value by value
    df = pd.DataFrame(rows, dtype=object)
    df = df.where(df.notna(), None)
    codes = ["C", "A", "B", "D"]
    whole = st.row_hashes(df, codes)
    monkeypatch.setattr(st, "HASH_SLICE", 4)
    sliced = st.row_hashes(df, codes)
    assert sliced == whole == [_scalar_hash(r, codes) for r in df.to_dict("records")]
    assert st.row_hashes(df.iloc[:0], codes) == []
