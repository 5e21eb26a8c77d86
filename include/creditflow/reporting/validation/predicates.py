"""Vectorised predicates of the custom rules: ``(frame, params) → Series[bool]`` (True = the row passes).

Both engines call these: the pandas engine directly, GX through the custom multicolumn expectation. They
take any frame :func:`creditflow.reporting.validation.engines.prepare` produced (text or ``None``) and
never raise on a value.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from creditflow.core import identifiers as ids
from creditflow.core.normalize import arrow_text

Predicate = Callable[[pd.DataFrame, dict[str, Any]], pd.Series]

PREDICATES: dict[str, Predicate] = {}


def predicate(name: str) -> Callable[[Predicate], Predicate]:
    def register(fn: Predicate) -> Predicate:
        PREDICATES[name] = fn
        return fn
    return register


class _Shared(threading.local):
    frame: pd.DataFrame | None = None
    memo: dict[tuple[Any, ...], Any] | None = None


_SHARED = _Shared()


@contextmanager
def shared(frame: pd.DataFrame) -> Iterator[None]:
    """Within the block, per-column work (presence, dates, identifier checks, split enumerations) on
    ``frame`` is done once and shared by every rule that needs it — the rules of one validation call."""
    before = (_SHARED.frame, _SHARED.memo)
    _SHARED.frame, _SHARED.memo = frame, {}
    try:
        yield
    finally:
        _SHARED.frame, _SHARED.memo = before


def _memo(s: pd.Series, op: str, fn: Callable[[], Any], *extra: Any) -> Any:
    """``fn()`` once per (column, op) of the shared frame; uncached for anything else."""
    memo = _SHARED.memo
    if memo is None or s.name is None or _SHARED.frame is None or s.name not in _SHARED.frame.columns:
        return fn()
    key = (s.name, op, *extra)
    if key not in memo:
        memo[key] = fn()
    return memo[key]


def distinct_map(s: pd.Series, fn: Callable[[pd.Series], Any], null: bool) -> pd.Series:
    """A vectorised check ``fn`` over the distinct non-null values of ``s`` only, mapped back to every
    row (nulls → ``null``): repetitive columns cost their distinct values, not their rows.

    ``fn`` never sees a null, on either path: when most values are distinct it gets the non-null values
    themselves (no factorised copy), otherwise the distinct ones — each time as an object Series with a
    fresh ``RangeIndex`` (issue 16: a check that assumed text crashed on the first null of a mostly
    distinct column)."""
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    has = codes >= 0
    out = np.full(len(s), null, dtype=bool)
    if not has.any():
        return pd.Series(out, index=s.index)
    if len(uniques) * 2 > len(s):
        values = s.to_numpy(dtype=object)[has]
        out[has] = np.asarray(fn(pd.Series(values, dtype=object)), dtype=bool)
        return pd.Series(out, index=s.index)
    verdicts = np.asarray(fn(pd.Series(np.asarray(uniques, dtype=object), dtype=object)), dtype=bool)
    out[has] = verdicts[codes[has]]
    return pd.Series(out, index=s.index)


def present(s: pd.Series) -> pd.Series:
    """Non-empty (``prepare`` has turned blank strings into nulls already)."""
    return _memo(s, "present", lambda: s.notna() & (s != ""))


def filled(s: pd.Series, blank: str | None) -> pd.Series:
    """Present and not ``blank`` (an anchored RE2 pattern: whitespace and invisible characters only, see
    ``text_patterns()["blank"]``) — what REQUIRED and REQUIRED_IF ask for: a name of only Hangul fillers
    "ㅤㅤㅤ" is present but not filled (issue 18 review)."""
    if not blank:
        return present(s)
    return present(s) & pd.Series(~_regex_hit(s, blank, unencodable=False), index=s.index)


def _text_arrow(s: pd.Series) -> tuple[Any, np.ndarray]:
    """(pyarrow string array, unencodable mask): values that are no UTF-8 text (a lone surrogate) are
    null in the array and True in the mask."""
    import pyarrow as pa

    arr = _arrow(s)
    bad = np.zeros(len(s), dtype=bool)
    if arr is None:
        values = s.to_numpy(dtype=object).copy()
        for i, v in enumerate(values):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                values[i] = None
                continue
            try:
                str(v).encode("utf-8")
                values[i] = str(v)
            except UnicodeEncodeError:
                values[i], bad[i] = None, True
        arr = pa.array(values, type=pa.string())
    return arr, bad


def _regex_hit(s: pd.Series, pattern: str, unencodable: bool = True) -> np.ndarray:
    """True where the value contains a match of the RE2 ``pattern``; values that are no UTF-8 text count
    as ``unencodable``."""
    import pyarrow.compute as pc

    def compute() -> np.ndarray:
        arr, bad = _text_arrow(s)
        hit = pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)
        return np.asarray(hit, dtype=bool) | (bad if unencodable else False)
    return np.asarray(_memo(s, "regex", compute, pattern, unencodable), dtype=bool)


def _isin(s: pd.Series, values: Any) -> pd.Series:
    key = tuple(values)
    return _memo(s, "isin", lambda: s.isin(key), key)


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
    return _memo(s, "valid_date", lambda: _per_value(s, lambda v: isinstance(v, str) and _iso_date_ok(v)))


def dates(s: pd.Series) -> pd.Series:
    """Datetimes of the valid YYYY-MM-DD values; NaT elsewhere."""
    def compute() -> pd.Series:
        ok = valid_date_mask(s)
        return pd.to_datetime(s.astype(object).where(ok, None), format="%Y-%m-%d", errors="coerce")
    return _memo(s, "dates", compute)


#: What the amount rules read as a number: a plain decimal (ASCII digits, optional sign and fraction,
#: surrounding spaces). Not "inf", "NaN", exponents or other scripts' digits — the normaliser does not
#: read those as amounts either (issue 12: engines must agree on such values).
_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")


def _number(value: Any) -> float:
    """A plain decimal as float (a huge one is ``inf``: larger than any threshold); NaN otherwise."""
    return float(value) if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value) else float("nan")


def _num(s: pd.Series) -> pd.Series:
    def compute() -> pd.Series:
        codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
        per_value = np.array([*map(_number, uniques), np.nan], dtype="float64")
        return pd.Series(per_value[np.where(codes >= 0, codes, len(uniques))], index=s.index)
    return _memo(s, "num", compute)


def _arrow(s: pd.Series) -> Any:
    """:func:`arrow_text` of the column, converted once per column of the shared frame (the length, prefix
    and text rules of a column share it)."""
    return _memo(s, "arrow", lambda: arrow_text(s))


def lengths(s: pd.Series) -> pd.Series:
    """Characters per value (NaN for nulls), through Arrow when the column is text."""
    import pyarrow.compute as pc

    def compute() -> pd.Series:
        arr = _arrow(s)
        if arr is None:
            return s.astype("string").str.len().astype("float64")
        return pd.Series(pc.utf8_length(arr).to_numpy(zero_copy_only=False), index=s.index).astype("float64")
    return _memo(s, "lengths", compute)


def _starts_with(s: pd.Series, prefix: str) -> pd.Series:
    import pyarrow.compute as pc

    arr = _arrow(s)
    if arr is None:
        return s.astype("string").str.startswith(prefix).fillna(False).astype(bool)
    hit = pc.fill_null(pc.starts_with(arr, prefix), False).to_numpy(zero_copy_only=False)
    return pd.Series(np.asarray(hit, dtype=bool), index=s.index)


@predicate("iso_date")
def _iso_date(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    return ~present(s) | valid_date_mask(s)


@predicate("required_if")
def _required_if(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    cond = _isin(df[p["when_column"]], p["when_in"])
    return ~cond | filled(df[p["column"]], p.get("blank"))


@predicate("empty_if")
def _empty_if(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    cond = _isin(df[p["when_column"]], p["when_in"])
    return ~cond | ~present(df[p["column"]])


def _contains_any(df: pd.DataFrame, column: str, words: list[str]) -> pd.Series:
    def check(values: pd.Series) -> pd.Series:
        text = values.fillna("").astype(str)
        found = pd.Series(False, index=values.index)
        for word in words:
            found |= text.str.contains(word, regex=False)
        return found
    s = df[column]
    return _memo(s, "contains", lambda: distinct_map(s, check, null=False), tuple(words))


@predicate("contains_required")
def _contains_required(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    need = _contains_any(df, p["categories"], p["any_of"])
    if p.get("positive"):
        ok = _num(df[p["column"]]) > 0
    else:
        ok = filled(df[p["column"]], p.get("blank"))
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


def _stated_fine(s: pd.Series) -> pd.Series:
    """The fine the 处罚内容 text states, in 万元 (NaN when it states none), per distinct text."""
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    text = pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype("string")
    m = text.str.extract(_FINE_IN_TEXT)
    number = _num(m[0].str.replace(r"[,，]", "", regex=True).astype(object).where(m[0].notna(), None))
    per_text = number.where(m[1] != "元", number / 10000).to_numpy(dtype="float64")
    out = np.full(len(s), np.nan)
    has = codes >= 0
    out[has] = per_text[codes[has]]
    return pd.Series(out, index=s.index)


@predicate("amount_unit")
def _amount_unit(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """元 entered where 万元 is meant (or the reverse): the amount is 10,000× (or 1/10,000 of) the one
    the 处罚内容 text states, or beyond any plausible fine."""
    amount = _num(df[p["column"]])
    ok = ~(amount > p["max_plausible"])
    stated = _stated_fine(df[p["text"]])
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

    def check(values: pd.Series) -> pd.Series:
        parts = _exploded(values)
        part_ok = parts.isin(set(p["values"])) | (parts.str.startswith("其他-") & bool(p.get("other_ok", True)))
        part_ok &= parts != ""
        return _per_row(part_ok.fillna(False), values.index, "all")
    return ~present(s) | distinct_map(s, check, null=False)


@predicate("other_needs_detail")
def _other_needs_detail(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    def check(values: pd.Series) -> pd.Series:
        parts = _exploded(values)
        return _per_row((parts == "其他").fillna(False), values.index, "any")
    return ~distinct_map(df[p["column"]], check, null=False)


@predicate("not_future")
def _not_future(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    d = dates(df[p["column"]])
    return d.isna() | (d <= pd.Timestamp(p["as_of"]))


def _plus_months(d: pd.Series, months: int) -> pd.Series:
    """``d + pd.DateOffset(months=months)`` vectorised: the corresponding day, or the month's last day when it
    has none (民法典 第二百零二条; 29 February → 28 February); NaT stays NaT."""
    valid = d.notna()
    index = d.dt.year.where(valid, 2000) * 12 + d.dt.month.where(valid, 1) - 1 + months
    year, month = index // 12, index % 12 + 1
    day = d.dt.day.where(valid, 1)
    last = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}).astype("int64")).dt.days_in_month
    day = day.where(day <= last, last)
    out = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}).astype("int64"))
    return out.where(valid).astype(d.dtype)


@predicate("date_order")
def _date_order(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    a, b = dates(df[p["earlier"]]), dates(df[p["later"]])
    ok = (b > a) if p.get("strict") else (b >= a)
    if p.get("max_months"):
        ok &= b <= _plus_months(a, int(p["max_months"])) + pd.Timedelta(days=int(p.get("grace_days") or 0))
    return a.isna() | b.isna() | ok


@predicate("seizure_period")
def _seizure_period(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """查封/扣押 measures (行政强制法 art. 25): days from ``start`` to ``column`` (start day not counted)
    must not be above ``above`` — or, with ``at_most``, the rule only covers periods up to it."""
    measures = set(p["measures"])
    applies = distinct_map(df[p["measure_column"]],
                           lambda values: _per_row(_exploded(values).isin(measures), values.index, "any"), null=False)
    days = (dates(df[p["column"]]) - dates(df[p["start"]])).dt.days
    over = days > p["above"]
    if p.get("at_most") is not None:
        over &= days <= p["at_most"]
    return ~applies | ~over.fillna(False).astype(bool)


def _uscc_valid(s: pd.Series) -> pd.Series:
    return _memo(s, "uscc_valid", lambda: distinct_map(s, ids.uscc_valid_series, null=False))


def _uscc_org_ok(s: pd.Series) -> pd.Series:
    return _memo(s, "uscc_org", lambda: distinct_map(s, ids.uscc_org_code_ok_series, null=False))


@predicate("uscc")
def _uscc(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    ok = _uscc_valid(s)
    skip = ~present(s)
    if p.get("allow_placeholder"):
        skip |= s == ids.USCC_PLACEHOLDER
    if p.get("when_in"):
        skip |= ~_isin(df[p["when_column"]], p["when_in"])
    return skip | ok


@predicate("uscc_org_code")
def _uscc_org_code(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    valid = _uscc_valid(s)
    return ~valid | _uscc_org_ok(s)


@predicate("prefix")
def _prefix(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    skip = ~_uscc_valid(s)
    if p.get("when_in"):
        skip |= ~_isin(df[p["when_column"]], p["when_in"])
    return skip | _starts_with(s, p["prefix"])


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
        applies &= _isin(df[p["when_column"]], p["when_in"])
    return applies


def _ric_verdicts(df: pd.DataFrame, p: dict[str, Any], want: str) -> pd.Series:
    """``want`` = "errors" (RIC_INVALID) or "warnings" (RIC_AREA_UNKNOWN) of :func:`ids.check_ric`,
    vectorised: format and check digit, then (for those) a real birth date not after ``as_of`` — errors;
    then an address code never known (looked up once per distinct code) — the warning."""
    s = df[p["column"]]
    applies = _ric_applies(df, p).to_numpy(dtype=bool)
    ok = np.ones(len(s), dtype=bool)
    if not applies.any():
        return pd.Series(ok, index=df.index)
    errors, unknown_area = _memo(s, "ric_verdicts", lambda: _ric_checks(s, dt.date.fromisoformat(p["as_of"])),
                                 p["as_of"])
    bad = errors if want == "errors" else unknown_area
    return pd.Series(~(applies & bad), index=df.index)


def _ric_checks(s: pd.Series, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """(error, unknown address code) per row of a column of resident ID numbers (as :func:`ids.check_ric`
    for the values that reach it: text of 17 digits and a check character)."""
    checksum = ids.ric_checksum_ok_series(s).to_numpy(dtype=bool)
    text = s.where(pd.Series(checksum, index=s.index), "000000197001010000").astype(object)
    birth = pd.to_datetime(text.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    real = birth.notna().to_numpy()
    not_future = (birth <= pd.Timestamp(as_of)).to_numpy()
    valid = checksum & real & not_future
    area = text.str.slice(0, 6)
    known = distinct_map(area.where(pd.Series(valid, index=s.index), None),
                         lambda codes: codes.map(lambda c: ids.ric_area_name(c) is not None), null=True)
    return ~valid, valid & ~known.to_numpy(dtype=bool)


@predicate("ric")
def _ric(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    return _ric_verdicts(df, p, "errors")


@predicate("ric_area")
def _ric_area(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    return _ric_verdicts(df, p, "warnings")
