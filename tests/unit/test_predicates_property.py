"""Issue 16.1: no ordinary data — nor any odd value — makes a validation predicate raise, on either engine.

Property-based over **every** check the rule catalogue uses (enumerated from :func:`rules_for` of every
kind: a new predicate is covered without touching this file, and a predicate missing from the registry,
the floor or the hand cases fails here). Frames of 1–300 rows whose columns mix valid values (real ID
numbers of many counties, valid USCCs, enumeration values, dates, amounts, 文号, names) with invalid,
blank, null, whitespace, full-width, very long and non-text values, at distinct ratios from all-equal to
all-distinct — the shape that crashed: most values distinct and one null (``distinct_map``'s full path).

Properties: no exception; each predicate gives one boolean per row, the same inside and outside the
shared per-column memo; the pandas engine, the GX path and the independent floor (bench/floor.py) find the
same; GX's per-rule counts equal the findings. GX is slow: fewer examples there, but it runs.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from creditflow.core import identifiers as ids
from creditflow.core import standard
from creditflow.reporting import validation as v
from creditflow.reporting.validation.predicates import shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from floor import Columns as FloorColumns
from floor import floor_findings, rule_fails

AS_OF = dt.date(2026, 11, 27)
NATIVE = {"not_null", "max_len", "in_set"}


def _check(rule: v.Rule) -> str:
    return str(rule.params["predicate"]) if rule.check == "custom" else rule.check


#: every check the catalogue uses, per kind — enumerated, never listed by hand
CHECKS = sorted({(kind, _check(r)) for kind in standard.KINDS for r in v.rules_for(kind, AS_OF)})

# --- values -----------------------------------------------------------------------------------------------

#: County codes of ID numbers: Zhuhai's, historical (440421 斗门县), others, never-known (440422, 999999).
AREAS = ["440402", "440403", "440404", "440421", "440422", "999999",
         *(f"{city}{county:02d}" for city in ("1101", "3101", "4401", "4403", "4404", "5101") for county in range(1, 20))]
ODD = [None, "", " ", "\u3000", "\t\n", "\x00", "\u200b", "\ufeff", "\u202e", "<script>alert(1)</script>",
       '"><svg onload=alert(4)>', "其他", "其他-", "null", "None", "NaN", "-", "０", "x" * 5000, "甲" * 300,
       float("nan"), pd.NA, 0, -1, 10**30, 3.5, Decimal("2.5"), dt.date(2026, 11, 2), True]
any_value = st.one_of(st.sampled_from(ODD), st.text(max_size=40), st.integers(), st.floats(),
                      st.text(alphabet="0123456789０１２３Xx-〔〕[]（）;；<>/ ", max_size=24))


def _ric(rng: random.Random, valid: bool = True) -> str:
    body = f"{rng.choice(AREAS)}{rng.randrange(1930, 2030)}{rng.randrange(1, 13):02d}{rng.randrange(1, 32):02d}" \
           f"{rng.randrange(0, 1000):03d}"
    check = "10X98765432"[sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body)) % 11]
    if not valid:
        check = "10X98765432"[("10X98765432".index(check) + 1) % 11]
    return body + check


def _uscc(rng: random.Random) -> str:
    dept, cats = rng.choice(sorted(ids.registration_authorities().items()))
    first = dept + rng.choice(sorted(cats)) + rng.choice(["440400", "440402", "230500"])
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    first17 = first + body + ids.org_code_check_char(body) if rng.random() < 0.8 else first + body + "0"
    return first17 + ids.uscc_check_char(first17)


def _date(rng: random.Random) -> str:
    d = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 3000))
    return rng.choice([d.isoformat(), d.isoformat(), f"{d.year}-{d.month}-{d.day}", f"{d.year}-02-30",
                       d.isoformat().replace("-", "/"), "0000-01-01"])


def _ordinary(rng: random.Random, f: standard.Field, i: int) -> Any:
    """A value as real data has it for field ``f`` (mostly valid, sometimes wrong), distinct by ``i``."""
    code = f.code
    if code.endswith("_ZJHM"):
        return _ric(rng, valid=rng.random() < 0.85)
    if code.endswith("_ZJLX"):
        return rng.choice(["身份证", "身份证", "身份证", "护照号", "居民身份证"])
    if f.type == "uscc":
        return rng.choice([_uscc(rng), _uscc(rng), ids.USCC_PLACEHOLDER, _uscc(rng)[:17] + "0"])
    if f.type == "date":
        return _date(rng)
    if f.type == "decimal":
        return rng.choice([f"{rng.randrange(1, 100000) / 10000:g}", str(rng.randrange(1, 50000)), "0", "1e3", "２"])
    if f.type in ("enum", "enum-multi"):
        values = list(standard.enum_values(code)) or ["x"]
        pick = rng.choice(values)
        if f.type == "enum-multi" or code in ("XK_XKLB", "QZ_CSLX"):
            return rng.choice([pick, f"{pick};{rng.choice(values)}", "其他", f"其他-类型{i}", f"{pick}；其他-<b>"])
        return pick
    if code.endswith("_WSH"):
        return rng.choice([f"珠香应急罚〔2026〕{i:04d}号", f"珠应急罚[2025]{i}号", f"珠斗应急罚（２０２６）{i}号",
                           f"珠应急罚2026年{i}号", f"4404002026{i:06d}"])
    if code.endswith(("_MC", "_FRDB", "JG", "_SJLY", "_LYDW")):
        return rng.choice([f"珠海{i}号化工有限公司", f"阿卜杜·热合曼{i}", f"ZHUHAI {i} CO., LTD.", f"珠海★{i}",
                           f"张{i}\u200e"])
    return rng.choice([f"罚款人民币{rng.randrange(1, 50000)}元", f"经查{i}属实", f"第{i}条", f"依据<安全生产法>{i}"])


def _column(rng: random.Random, f: standard.Field, n: int, k: int, odd: list[Any]) -> list[Any]:
    """n values drawn from k distinct ones (k = 1: all equal; k = n: all distinct), each an ordinary
    value, an odd one or null; the hypothesis-drawn ``odd`` values are among them."""
    pool: list[Any] = []
    for i in range(k):
        roll = rng.random()
        pool.append(_ordinary(rng, f, i) if roll < 0.7 else None if roll < 0.8 else rng.choice(ODD))
    for j, value in enumerate(odd[:k]):
        pool[(j * 7919) % k] = value
    if k == n:
        rng.shuffle(pool)
        return pool
    return [pool[rng.randrange(k)] for _ in range(n)]


@st.composite
def frames(draw: Any, kinds: tuple[str, ...] = standard.KINDS) -> tuple[str, pd.DataFrame]:
    kind = draw(st.sampled_from(kinds))
    n = draw(st.one_of(st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=300)))
    ratio = draw(st.sampled_from(["equal", "few", "half", "most", "distinct"]))
    k = {"equal": 1, "few": max(1, min(n, 3)), "half": max(1, n // 2), "most": max(1, n - 1), "distinct": n}[ratio]
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    odd = draw(st.lists(any_value, max_size=4))
    data = {f.code: _column(rng, f, n, k, odd if rng.random() < 0.3 else []) for f in standard.fields(kind)}
    frame = pd.DataFrame(data)
    frame["_row"] = np.arange(n) * 3 + 5  # not the positions: findings must name rows by _row
    return kind, frame


PANDAS = settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GX = settings(max_examples=6, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- coverage: every check of the catalogue is known everywhere ----------------------------------------------


def test_every_check_of_the_catalogue_is_registered_and_in_the_floor():
    assert CHECKS, "the catalogue has no rules?"
    custom = {c for _, c in CHECKS} - NATIVE
    assert custom <= set(v.PREDICATES), sorted(custom - set(v.PREDICATES))
    one_row = pd.DataFrame({"_row": [0]})
    for kind in standard.KINDS:
        frame = v.prepare(one_row, kind)
        columns = FloorColumns(frame)
        for rule in v.rules_for(kind, AS_OF):
            rule_fails(columns, rule)  # the floor raises ValueError on a check it does not know


def test_every_check_is_exercised_both_ways_by_the_hand_cases():
    """Each check of the catalogue has a hand-made case that fails it and a row that passes it
    (tests/unit/test_rule_cases.py) — a new predicate without cases fails here."""
    from tests.unit.test_rule_cases import _rows

    seen: dict[str, set[bool]] = {}
    for kind in standard.KINDS:
        frame = v.prepare(_rows(kind)[0], kind)
        with shared(frame):
            for rule in v.rules_for(kind, AS_OF):
                seen.setdefault(_check(rule), set()).update(v.rule_ok(rule, frame).tolist())
    missing = {check: sorted({True, False} - outcomes) for check, outcomes in seen.items() if outcomes != {True, False}}
    assert not missing, missing
    assert set(seen) == {c for _, c in CHECKS}


# --- the properties ---------------------------------------------------------------------------------------


def _counts(found: pd.DataFrame) -> dict[tuple[str, str], int]:
    return found.groupby(["field", "rule_id"]).size().to_dict() if len(found) else {}


def _triples(found: pd.DataFrame) -> set[tuple[int, str, str]]:
    return {(int(r), f, rid) for r, f, rid in zip(found["_row"], found["field"], found["rule_id"], strict=True)}


@PANDAS
@given(case=frames())
def test_every_predicate_is_total_and_memo_independent_and_engines_agree(case):
    kind, raw = case
    frame = v.prepare(raw, kind)
    rules = v.rules_for(kind, AS_OF)
    alone = {rule.name: v.rule_ok(rule, frame) for rule in rules}  # no shared memo
    with shared(frame):
        for rule in rules:
            ok = v.rule_ok(rule, frame)
            assert ok.dtype == bool and len(ok) == len(frame), rule.name
            assert ok.index.equals(frame.index), rule.name
            assert ok.tolist() == alone[rule.name].tolist(), f"{rule.name}: the shared memo changes the verdict"
    found = v.validate_pandas(raw, kind, AS_OF)
    assert set(found["_row"]) <= set(raw["_row"])
    assert _triples(found) == floor_findings(frame, kind, AS_OF)


@GX
@given(case=frames())
@pytest.mark.filterwarnings("ignore")
def test_gx_agrees_with_pandas_and_counts_the_findings(case):
    kind, raw = case
    gx_found, result = v.validate_gx(raw, kind, AS_OF)
    pd.testing.assert_frame_equal(gx_found, v.validate_pandas(raw, kind, AS_OF))
    counted: dict[tuple[str, str], int] = {}
    for res in result.results:
        meta = res.expectation_config.meta
        key = (meta["field"], meta["rule_id"])
        counted[key] = counted.get(key, 0) + int(res.result["unexpected_count"])
    assert {k: c for k, c in counted.items() if c} == _counts(gx_found)


def test_the_issue_16_shape_most_distinct_with_a_null_on_every_predicate():
    """The crash's shape, deterministic: every column of every kind mostly distinct with one null."""
    for kind in standard.KINDS:
        rng = random.Random(16)
        n = 9
        data = {}
        for f in standard.fields(kind):
            values = [_ordinary(rng, f, i) for i in range(n - 1)]
            data[f.code] = [*values, None]
        raw = pd.DataFrame(data)
        raw["_row"] = range(n)
        frame = v.prepare(raw, kind)
        gx_found, _ = v.validate_gx(raw, kind, AS_OF)
        pd.testing.assert_frame_equal(gx_found, v.validate_pandas(raw, kind, AS_OF))
        assert _triples(gx_found) == floor_findings(frame, kind, AS_OF)
