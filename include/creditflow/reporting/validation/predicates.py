"""Vectorised predicates of the custom rules: ``(frame, params) → Series[bool]`` (True = the row passes).

Both engines call these: the pandas engine directly, GX through the custom multicolumn expectation. They
take any frame :func:`creditflow.reporting.validation.engines.prepare` produced (text or ``None``) and
never raise on a value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pandas as pd

from creditflow.core import identifiers as ids

Predicate = Callable[[pd.DataFrame, dict[str, Any]], pd.Series]

PREDICATES: dict[str, Predicate] = {}


def predicate(name: str) -> Callable[[Predicate], Predicate]:
    def register(fn: Predicate) -> Predicate:
        PREDICATES[name] = fn
        return fn
    return register


def present(s: pd.Series) -> pd.Series:
    """Non-empty (``prepare`` has turned blank strings into nulls already)."""
    return s.notna() & (s != "")


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@lru_cache(maxsize=65536)
def _iso_date_ok(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        dt.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:  # 2026-02-30, year 0000
        return False
    return True


def _per_value(s: pd.Series, fn: Callable[[Any], bool]) -> pd.Series:
    """``fn`` once per distinct non-null value; nulls → False."""
    values = s.astype(object)
    mask = values.notna()
    out = pd.Series(False, index=s.index)
    if mask.any():
        uniq = {v: bool(fn(v)) for v in pd.unique(values[mask])}
        out[mask] = values[mask].map(uniq).astype(bool)
    return out


def valid_date_mask(s: pd.Series) -> pd.Series:
    """True where the value is a real date written exactly YYYY-MM-DD (ASCII digits, 0001-9999)."""
    return _per_value(s, lambda v: isinstance(v, str) and _iso_date_ok(v))


def dates(s: pd.Series) -> pd.Series:
    """Datetimes of the valid YYYY-MM-DD values; NaT elsewhere."""
    ok = valid_date_mask(s)
    return pd.to_datetime(s.astype(object).where(ok, None), format="%Y-%m-%d", errors="coerce")


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype(object), errors="coerce").astype("float64")


@predicate("iso_date")
def _iso_date(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    return ~present(s) | valid_date_mask(s)


@predicate("required_if")
def _required_if(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    cond = df[p["when_column"]].isin(p["when_in"])
    return ~cond | present(df[p["column"]])


@predicate("empty_if")
def _empty_if(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    cond = df[p["when_column"]].isin(p["when_in"])
    return ~cond | ~present(df[p["column"]])


def _contains_any(df: pd.DataFrame, column: str, words: list[str]) -> pd.Series:
    text = df[column].fillna("").astype(str)
    found = pd.Series(False, index=df.index)
    for word in words:
        found |= text.str.contains(word, regex=False)
    return found


@predicate("contains_required")
def _contains_required(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    need = _contains_any(df, p["categories"], p["any_of"])
    if p.get("positive"):
        ok = _num(df[p["column"]]) > 0
    else:
        ok = present(df[p["column"]])
    return ~need | ok


@predicate("amount_without_category")
def _amount_without_category(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    return _contains_any(df, p["categories"], p["any_of"]) | ~(_num(df[p["column"]]) > 0)


@predicate("amount_format")
def _amount_format(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    text = s.astype("string").str.strip()
    ok = text.str.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", na=False)
    return ~present(s) | ok


_FINE_IN_TEXT = r"罚款(?:人民币)?\s*([0-9][0-9,，]*(?:\.[0-9]+)?)\s*(万元|万|元)"


@predicate("amount_unit")
def _amount_unit(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """元 entered where 万元 is meant (or the reverse): the amount is 10,000× (or 1/10,000 of) the one
    the 处罚内容 text states, or beyond any plausible fine."""
    amount = _num(df[p["column"]])
    ok = ~(amount > p["max_plausible"])
    text = df[p["text"]].astype("string")
    m = text.str.extract(_FINE_IN_TEXT)
    number = _num(m[0].str.replace(r"[,，]", "", regex=True))
    stated = number.where(m[1] != "元", number / 10000)  # in 万元
    bad = ((stated * 10000 - amount).abs() < 1e-6) | ((amount * 10000 - stated).abs() < 1e-6)
    return ok & ~bad.fillna(False).astype(bool)


def _exploded(s: pd.Series) -> pd.Series:
    """Multi-valued enumeration cells split on ; or ；, one stripped part per row (index repeats)."""
    text = s.astype("string").fillna("").str.replace("；", ";", regex=False)
    return text.str.split(";").explode().str.strip()


def _per_row(parts: pd.Series, index: pd.Index, how: str) -> pd.Series:
    grouped = parts.astype(bool).groupby(level=0)
    out = grouped.all() if how == "all" else grouped.any()
    return out.reindex(index, fill_value=False).astype(bool)


@predicate("multi_in_set")
def _multi_in_set(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    parts = _exploded(s)
    part_ok = parts.isin(set(p["values"])) | (parts.str.startswith("其他-") & bool(p.get("other_ok", True)))
    part_ok &= parts != ""
    return ~present(s) | _per_row(part_ok.fillna(False), df.index, "all")


@predicate("other_needs_detail")
def _other_needs_detail(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    parts = _exploded(df[p["column"]])
    return ~_per_row((parts == "其他").fillna(False), df.index, "any")


@predicate("not_future")
def _not_future(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    d = dates(df[p["column"]])
    return d.isna() | (d <= pd.Timestamp(p["as_of"]))


@predicate("date_order")
def _date_order(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    a, b = dates(df[p["earlier"]]), dates(df[p["later"]])
    ok = (b > a) if p.get("strict") else (b >= a)
    if p.get("max_years"):
        ok &= b <= a + pd.DateOffset(years=p["max_years"])
    return a.isna() | b.isna() | ok


@predicate("seizure_period")
def _seizure_period(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """查封/扣押 measures (行政强制法 art. 25): days from ``start`` to ``column`` (start day not counted)
    must not be above ``above`` — or, with ``at_most``, the rule only covers periods up to it."""
    parts = _exploded(df[p["measure_column"]])
    applies = _per_row(parts.isin(set(p["measures"])), df.index, "any")
    days = (dates(df[p["column"]]) - dates(df[p["start"]])).dt.days
    over = days > p["above"]
    if p.get("at_most") is not None:
        over &= days <= p["at_most"]
    return ~applies | ~over.fillna(False).astype(bool)


@predicate("uscc")
def _uscc(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    ok = ids.uscc_valid_series(s)
    skip = ~present(s)
    if p.get("allow_placeholder"):
        skip |= s == ids.USCC_PLACEHOLDER
    if p.get("when_in"):
        skip |= ~df[p["when_column"]].isin(p["when_in"])
    return skip | ok


@predicate("uscc_org_code")
def _uscc_org_code(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    valid = ids.uscc_valid_series(s)
    return ~valid | ids.uscc_org_code_ok_series(s)


@predicate("prefix")
def _prefix(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    skip = ~ids.uscc_valid_series(s)
    if p.get("when_in"):
        skip |= ~df[p["when_column"]].isin(p["when_in"])
    return skip | s.astype("string").str.startswith(p["prefix"]).fillna(False).astype(bool)


@predicate("placeholder_needs_other")
def _placeholder_needs_other(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    is_placeholder = df[p["column"]] == ids.USCC_PLACEHOLDER
    any_other = pd.Series(False, index=df.index)
    for c in p["others"]:
        any_other |= present(df[c])
    return ~is_placeholder | any_other


def _ric_applies(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    applies = present(df[p["column"]]) & (df[p["type_column"]] == "身份证")
    if p.get("when_in"):
        applies &= df[p["when_column"]].isin(p["when_in"])
    return applies


def _ric_verdicts(df: pd.DataFrame, p: dict[str, Any], want: str) -> pd.Series:
    """``want`` = "errors" (RIC_INVALID) or "warnings" (RIC_AREA_UNKNOWN) of :func:`ids.check_ric`:
    the checksum vectorised, the rest once per distinct number (natural persons are few)."""
    s = df[p["column"]]
    applies = _ric_applies(df, p)
    ok = pd.Series(True, index=df.index)
    if not applies.any():
        return ok
    cand = s[applies]
    checksum = ids.ric_checksum_ok_series(cand)
    if want == "errors":
        ok.loc[cand.index] = checksum
    as_of = dt.date.fromisoformat(p["as_of"])
    passed = cand[checksum]
    if len(passed):
        uniq = {v: not getattr(ids.check_ric(v, as_of), want) for v in passed.unique()}
        ok.loc[passed.index] = passed.map(uniq).astype(bool)
    return ok


@predicate("ric")
def _ric(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    return _ric_verdicts(df, p, "errors")


@predicate("ric_area")
def _ric_area(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    return _ric_verdicts(df, p, "warnings")
