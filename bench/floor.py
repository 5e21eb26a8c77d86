"""The floor: a minimal vectorised evaluation of the same rules, independent of the project's predicates.

Input: a standardised frame (what ``bench/floor_standardise.floor_standardise`` returns — in
``bench/run.py pipeline`` the floor validates its own standardisation; or the project's ``standardise``). The rule
*list* is the project's data (``rules_for``: which field, which check, which parameters); every check is
written again here, with numpy and pyarrow.compute over the whole column (Python per distinct value only
for the repetitive columns: multi-valued categories, the 处罚内容 text, resident-ID birth places). No
messages and no details: the output is the set of failing ``(row, field, rule_id)``, which must equal the
findings of the pipeline's GX path (``bench/run.py pipeline`` compares them in the same run).

Also the deduplication the pipeline does (exact natural-key duplicates within the batch).

    from floor import floor_findings      # bench/ on sys.path
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
         "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")  # str.isspace
SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in SPACE) + "]"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
PLACEHOLDER = "00000000000000000X"


def _b(mask: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


class Columns:
    """Arrow views of a frame's text columns, blank → null, and per-column work done once."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.n = len(frame)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def arr(self, code: str) -> pa.Array:
        key = ("arr", code)
        if key not in self._cache:
            values = self.frame[code] if code in self.frame.columns else pd.Series([None] * self.n, dtype=object)
            if isinstance(values.dtype, pd.ArrowDtype):  # the standardisation floor's columns: no copy
                a = pa.array(values.array).cast(pa.string())
                a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
            else:
                a = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            blank = _b(pc.match_substring_regex(a, f"^{SPACE_CLASS}*$"))
            self._cache[key] = pc.if_else(pa.array(blank), pa.nulls(self.n, pa.string()), a)
        return self._cache[key]

    def present(self, code: str) -> np.ndarray:
        return _b(pc.is_valid(self.arr(code)))

    def filled(self, code: str, blank: str | None) -> np.ndarray:
        """Present and not only whitespace / invisible characters (``blank``: the rule's anchored pattern)."""
        if not blank:
            return self.present(code)
        return self.present(code) & ~_b(pc.match_substring_regex(self.arr(code), blank))

    def isin(self, code: str, values: list[str]) -> np.ndarray:
        return _b(pc.is_in(self.arr(code), value_set=pa.array(values, pa.string())))

    def days(self, code: str) -> np.ndarray:
        """Days since 1970 of the valid YYYY-MM-DD values (ASCII digits, a real date, year ≥ 1); else NaN."""
        key = ("days", code)
        if key not in self._cache:
            a = self.arr(code)
            shape = _b(pc.match_substring_regex(a, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
            safe = pc.if_else(pa.array(shape), a, "0001-01-01")
            y = pc.cast(pc.utf8_slice_codeunits(safe, 0, 4), pa.int32()).to_numpy(zero_copy_only=False)
            m = pc.cast(pc.utf8_slice_codeunits(safe, 5, 7), pa.int32()).to_numpy(zero_copy_only=False)
            d = pc.cast(pc.utf8_slice_codeunits(safe, 8, 10), pa.int32()).to_numpy(zero_copy_only=False)
            leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
            month_len = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
            month_len = month_len + ((m == 2) & leap)
            ok = shape & (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= month_len)
            days = _civil_days(np.where(ok, y, 1970), np.where(ok, m, 1), np.where(ok, d, 1)).astype(float)
            self._cache[key] = (np.where(ok, days, np.nan), (y, m, d, ok))
        return self._cache[key][0]

    def ymd(self, code: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.days(code)
        return self._cache[("days", code)][1]

    def uscc(self, code: str) -> tuple[np.ndarray, np.ndarray]:
        """(valid GB 32100, byte matrix) of a column."""
        key = ("uscc", code)
        if key not in self._cache:
            a = self.arr(code)
            shape = _b(pc.match_substring_regex(a, r"^[0-9A-HJ-NPQRTUWXY]{18}$"))
            mat = _matrix(pc.if_else(pa.array(shape), a, "0" * 18), 18)
            value = np.full(256, 0, dtype=np.int64)
            for i, ch in enumerate(USCC_ALPHABET):
                value[ord(ch)] = i
            weights = np.array([pow(3, i, 31) for i in range(17)])
            check = (31 - (value[mat[:, :17]] * weights).sum(axis=1) % 31) % 31
            ok = shape & (check == value[mat[:, 17]]) & ((mat[:, 2:8] >= 48) & (mat[:, 2:8] <= 57)).all(axis=1)
            ok &= np.isin(mat[:, 0].astype(np.int64) * 256 + mat[:, 1], _authority_prefixes())
            self._cache[key] = (ok, mat)
        return self._cache[key]


def _authority_prefixes() -> list[int]:
    from creditflow.core.identifiers import registration_authorities

    return [ord(d) * 256 + ord(c) for d, cats in registration_authorities().items() for c in cats]


def _civil_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (proleptic Gregorian), vectorised (H. Hinnant's days_from_civil)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _matrix(arr: Any, width: int) -> np.ndarray:
    """Bytes of an array whose every value is ``width`` ASCII characters."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    return np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[0] + n * width].reshape(n, width)


def _distinct(arr: pa.Array, fn: Any, null: Any) -> np.ndarray:
    """``fn`` (Python) once per distinct value; nulls → ``null``."""
    enc = pc.dictionary_encode(arr)
    values = np.array([*(fn(v) for v in enc.dictionary.to_pylist()), null], dtype=object)
    return values[enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)]


_NUMBER = re.compile(r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*$")  # a plain decimal: no inf, no exponent


def _number(text: str | None) -> float:
    return float(text) if text is not None and _NUMBER.match(text) else np.nan


def _parts(text: str | None) -> list[str]:
    return [] if text is None else [x.strip() for x in text.replace("；", ";").split(";")]


_FINE = re.compile(r"罚款(?:人民币)?\s*([0-9][0-9,，]*(?:\.[0-9]+)?)\s*(万元|万|元)")


def _stated(text: str | None) -> float:
    m = _FINE.search(text) if text is not None else None
    if not m:
        return np.nan
    number = _number(m.group(1).replace(",", "").replace("，", ""))
    return number if m.group(2) != "元" else number / 10000


def _add_months(c: Columns, code: str, months: int) -> np.ndarray:
    y, m, d, ok = c.ymd(code)
    index = np.where(ok, y, 1970) * 12 + np.where(ok, m, 1) - 1 + months
    ny, nm = index // 12, index % 12 + 1
    leap = (ny % 4 == 0) & ((ny % 100 != 0) | (ny % 400 == 0))
    last = np.select([nm == 2, np.isin(nm, (4, 6, 9, 11))], [np.where(leap, 29, 28), 30], 31)
    d2 = np.minimum(np.where(ok, d, 1), last)
    return np.where(ok, _civil_days(ny, nm, d2), np.nan)


def _ric(c: Columns, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(RIC_INVALID, RIC_AREA_UNKNOWN) failure masks: format, GB 11643 check digit, a real birth date not
    after ``as_of`` — then an address code never known (per distinct code)."""
    a = c.arr(p["column"])
    applies = c.present(p["column"]) & _b(pc.equal(c.arr(p["type_column"]), "身份证"))
    if p.get("when_in"):
        applies &= c.isin(p["when_column"], p["when_in"])
    shape = _b(pc.match_substring_regex(a, r"^[0-9]{17}[0-9X]$"))
    mat = _matrix(pc.if_else(pa.array(shape), a, "0" * 18), 18).astype(np.int64)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.frombuffer(b"10X98765432", dtype=np.uint8)[((mat[:, :17] - 48) * weights).sum(axis=1) % 11]
    checksum = shape & (check == mat[:, 17])
    y = (mat[:, 6:10] - 48) @ np.array([1000, 100, 10, 1])
    mo = (mat[:, 10:12] - 48) @ np.array([10, 1])
    d = (mat[:, 12:14] - 48) @ np.array([10, 1])
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_len = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(mo, 0, 12)] + ((mo == 2) & leap)
    real = (y >= 1) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= month_len)
    as_of = dt.date.fromisoformat(p["as_of"])
    as_of_days = (as_of - dt.date(1970, 1, 1)).days
    birth = np.where(real, _civil_days(np.where(real, y, 1970), np.where(real, mo, 1), np.where(real, d, 1)), 0)
    valid = checksum & real & (birth <= as_of_days)
    from creditflow.core.identifiers import ric_area_name

    area = pc.if_else(pa.array(valid & applies), pc.utf8_slice_codeunits(a, 0, 6), pa.nulls(c.n, pa.string()))
    known = _distinct(area, lambda code: ric_area_name(code) is not None, True).astype(bool)
    return applies & ~valid, applies & valid & ~known


def rule_fails(c: Columns, rule: Any) -> np.ndarray:
    p, f = rule.params, rule.field
    if rule.check == "not_null":
        return ~c.filled(f, p.get("blank"))
    if rule.check == "max_len":
        return c.present(f) & ~_b(pc.less_equal(pc.utf8_length(c.arr(f)), p["max_len"]))
    if rule.check == "in_set":
        return c.present(f) & ~c.isin(f, p["values"])
    pred = p["predicate"]
    if pred == "iso_date":
        return c.present(f) & np.isnan(c.days(f))
    if pred == "not_future":
        limit = (dt.date.fromisoformat(p["as_of"]) - dt.date(1970, 1, 1)).days
        return c.days(f) > limit
    if pred == "date_order":
        a, b = c.days(p["earlier"]), c.days(p["later"])
        both = ~np.isnan(a) & ~np.isnan(b)
        bad = (b <= a) if p.get("strict") else (b < a)
        if p.get("max_months"):
            bad |= b > _add_months(c, p["earlier"], p["max_months"]) + int(p.get("grace_days") or 0)
        return both & bad
    if pred == "required_if":
        return c.isin(p["when_column"], p["when_in"]) & ~c.filled(p["column"], p.get("blank"))
    if pred == "empty_if":
        return c.isin(p["when_column"], p["when_in"]) & c.present(p["column"])
    if pred == "amount_format":
        return c.present(f) & ~_b(pc.match_substring_regex(
            c.arr(f), f"^{SPACE_CLASS}*[0-9]{{1,12}}(\\.[0-9]{{1,6}})?{SPACE_CLASS}*$"))
    if pred in ("multi_in_set", "other_needs_detail"):
        allowed = set(p.get("values", ()))
        if pred == "multi_in_set":
            def ok(text: str) -> bool:
                return all(x != "" and (x in allowed or x.startswith("其他-")) for x in _parts(text))
            return ~_distinct(c.arr(f), ok, True).astype(bool)
        return _distinct(c.arr(f), lambda text: "其他" in _parts(text), False).astype(bool)
    if pred == "uscc":
        valid, _ = c.uscc(f)
        check = c.present(f) & ~valid
        if p.get("allow_placeholder"):
            check &= ~_b(pc.equal(c.arr(f), PLACEHOLDER))
        if p.get("when_in"):
            check &= c.isin(p["when_column"], p["when_in"])
        return check
    if pred == "uscc_org_code":
        valid, mat = c.uscc(f)
        body = mat[:, 8:16].astype(np.int64)
        vals = np.where(body <= 57, body - 48, body - 55)
        r = 11 - (vals * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
        expected = np.where(r == 10, ord("X"), np.where(r == 11, ord("0"), 48 + r))
        return valid & (expected != mat[:, 16])
    if pred == "prefix":
        valid, _ = c.uscc(f)
        check = valid & ~_b(pc.starts_with(c.arr(f), p["prefix"]))
        if p.get("when_in"):
            check &= c.isin(p["when_column"], p["when_in"])
        return check
    if pred == "placeholder_needs_other":
        others = np.zeros(c.n, dtype=bool)
        for o in p["others"]:
            others |= c.present(o)
        return _b(pc.equal(c.arr(f), PLACEHOLDER)) & ~others
    if pred in ("ric", "ric_area"):
        error, warning = _ric(c, p)
        return error if pred == "ric" else warning
    if pred in ("contains_required", "amount_without_category"):
        cats = c.arr(p["categories"])
        need = np.zeros(c.n, dtype=bool)
        for word in p["any_of"]:
            need |= _b(pc.match_substring(cats, word))
        amount = _distinct(c.arr(p["column"]), _number, np.nan).astype(float)
        if pred == "amount_without_category":
            return ~need & (amount > 0)
        return need & ~((amount > 0) if p.get("positive") else c.filled(p["column"], p.get("blank")))
    if pred == "amount_unit":
        amount = _distinct(c.arr(p["column"]), _number, np.nan).astype(float)
        stated = _distinct(c.arr(p["text"]), _stated, np.nan).astype(float)
        with np.errstate(invalid="ignore"):
            swapped = (np.abs(stated * 10000 - amount) < 1e-6) | (np.abs(amount * 10000 - stated) < 1e-6)
        return (amount > p["max_plausible"]) | swapped
    if pred == "seizure_period":
        measures = set(p["measures"])
        applies = _distinct(c.arr(p["measure_column"]), lambda t: any(x in measures for x in _parts(t)), False)
        days = c.days(p["column"]) - c.days(p["start"])
        over = days > p["above"]
        if p.get("at_most") is not None:
            over &= days <= p["at_most"]
        return applies.astype(bool) & over
    if pred == "text_safe":  # markup / control characters (RE2 patterns: data/standard/text_patterns.yaml)
        return c.present(f) & _b(pc.match_substring_regex(c.arr(f), p["pattern"]))
    if pred == "text_shape":  # the whole value in shape, unless it is already unsafe
        unsafe = _b(pc.match_substring_regex(c.arr(f), p["unsafe"]))
        return c.present(f) & ~unsafe & ~_b(pc.match_substring_regex(c.arr(f), "^(?:" + p["shape"] + ")$"))
    raise ValueError(f"floor has no check {pred}")


def floor_findings(frame: pd.DataFrame, kind: str, as_of: dt.date) -> set[tuple[int, str, str]]:
    """The failing ``(_row, field, rule_id)`` of a standardised frame."""
    from creditflow.reporting.validation import rules_for

    c = Columns(frame)
    rows = frame["_row"].to_numpy()
    out: set[tuple[int, str, str]] = set()
    for rule in rules_for(kind, as_of):
        bad = np.flatnonzero(rule_fails(c, rule))
        out.update((int(r), rule.field, rule.rule_id) for r in rows[bad])
    return out


def floor_dedup(frame: pd.DataFrame) -> int:
    """Exact natural-key duplicates within the batch (the pipeline's first deduplication step)."""
    col = frame["natural_key"]
    keys = (pa.array(col.array).cast(pa.string()) if isinstance(col.dtype, pd.ArrowDtype)
            else pa.array(col.to_numpy(dtype=object), type=pa.string(), from_pandas=True))
    valid = keys.filter(pc.is_valid(keys))
    return int(len(valid) - len(pc.unique(valid)))

