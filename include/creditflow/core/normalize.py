"""Normalisation of what source systems really produce: widths, brackets, whitespace, dates, amounts.

Every function is total: it returns a normalised value or ``None`` (for "cannot be read"), never
raises on bad input — the validation layer turns ``None`` into a rule violation with a Chinese message.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

# Full-width ASCII (U+FF01..U+FF5E) → half-width, ideographic space → space.
_HALFWIDTH = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20
_HALFWIDTH_TABLE = str.maketrans(_HALFWIDTH)

_WS_RE = re.compile(r"[\s\u200b\ufeff\u00a0]+")
# 文号 year brackets: [2026] 【2026】 (2026) （2026） ［2026］ 〔2026〕 〖2026〗 → 〔2026〕 (GB/T 9704).
_DOCNO_YEAR_RE = re.compile(r"[\[【(（［〔〖{]\s*((?:19|20)\d{2})\s*[\]】)）］〕〗}]")
# Remaining "number" sign variants.
_DOCNO_HAO_RE = re.compile(r"(\d)\s*號")


#: The characters ``str.isspace`` admits (what ``str.strip`` removes), and those plus ZWSP and BOM — every
#: character ``_WS_RE`` folds. Spelled out for the vectorised paths (RE2 has no Python ``\s``);
#: tests/unit/test_standardise_vectorised.py recomputes both over all of Unicode.
ISSPACE_CHARS = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
WHITESPACE_CHARS = "".join(sorted(ISSPACE_CHARS + "\u200b\ufeff"))


def re2_class(chars: str) -> str:
    """An RE2 (pyarrow.compute) character class matching exactly ``chars``."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


def arrow_text(values: pd.Series) -> Any:
    """A column as a pyarrow string array, or ``None`` when it holds anything but text and missing values
    (then callers take their per-value path)."""
    import pyarrow as pa

    try:
        if isinstance(values.dtype, pd.StringDtype):  # arrow-backed already: no Python objects made
            arr = pa.array(values.array)
        else:
            arr = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return arr.cast(pa.string())
    except (pa.ArrowException, TypeError, ValueError):
        return None


def to_halfwidth(text: str) -> str:
    return text.translate(_HALFWIDTH_TABLE)


def is_missing(value: object) -> bool:
    """None, NaN, ``pd.NA``, ``NaT`` (any flavour): a cell with no value. Never raises."""
    if value is None:
        return True
    if isinstance(value, Decimal):  # pd.isna raises on a signalling NaN
        return value.is_nan()
    try:
        missing = pd.isna(value)
    except (TypeError, ValueError, ArithmeticError):
        return False
    return isinstance(missing, (bool, np.bool_)) and bool(missing)


def as_text(value: object) -> str:
    """``str(value)`` that never raises: missing → ``""``; integers of any size (Python's ``str`` refuses
    more than 4300 digits) through :class:`~decimal.Decimal`."""
    if is_missing(value):
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(Decimal(int(value)))
    try:
        return str(value)
    except Exception:  # a foreign object whose __str__ fails is unreadable, not a crash of the run
        return ""


def clean_text(value: object) -> str | None:
    """Trim, fold runs of whitespace (incl. NBSP, zero-width, BOM) to one space; empty → None."""
    text = _WS_RE.sub(" ", as_text(value)).strip()
    return text or None


def normalize_name(value: object) -> str | None:
    """Party / authority names: full-width ASCII folded, then parentheses in the registered form （）."""
    text = clean_text(value)
    if text is None:
        return None
    text = to_halfwidth(text)
    text = re.sub(r"\s*\(\s*", "（", text)
    text = re.sub(r"\s*\)\s*", "）", text)
    return text


def normalize_doc_no(value: object) -> str | None:
    """决定书文号: half-width digits/letters, no whitespace, year in 〔〕 (GB/T 9704)."""
    text = clean_text(value)
    if text is None:
        return None
    text = to_halfwidth(text)
    text = _WS_RE.sub("", text)
    text = _DOCNO_YEAR_RE.sub(lambda m: f"〔{m.group(1)}〕", text)
    text = _DOCNO_HAO_RE.sub(r"\1号", text)
    return text


def doc_no_key(value: object) -> str | None:
    """Matching key for a 文号 (upper case, brackets unified)."""
    text = normalize_doc_no(value)
    return text.upper() if text else None


def normalize_code(value: object) -> str | None:
    """USCC / registration codes: half-width, upper case, no spaces or hyphens."""
    text = clean_text(value)
    if text is None:
        return None
    text = re.sub(r"[\s\-]", "", to_halfwidth(text)).upper()
    return text or None


# --- dates -------------------------------------------------------------------------------------------

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?(?:\s.*)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_date(value: object) -> dt.date | None:
    """Dates as source systems write them; ``None`` when unreadable or impossible.

    Accepted: ISO ``2026-02-12`` (with or without a time part), ``2026/2/12``, ``2026.02.12``,
    ``20260212``, ``2026年2月12日``, full-width digits, ``datetime``/``date``/``Timestamp`` objects and
    Excel serial day numbers (20000..80000, i.e. 1954..2119).
    """
    if is_missing(value) or isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, dt.datetime):  # incl. pd.Timestamp (NaT is caught above)
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        big = value > 10**15 or value < -(10**15)  # an int too large for float() stays an int here
        number = float("inf") if big else float(value)
        if not number.is_integer():
            return None
        if 20000 <= number <= 80000:
            return _EXCEL_EPOCH + dt.timedelta(days=int(number))
        value = str(int(number))  # 20260212 written as a number
    text = clean_text(value)
    if text is None:
        return None
    text = to_halfwidth(text)
    if re.fullmatch(r"\d{5}(\.0+)?", text) and 20000 <= float(text) <= 80000:
        return _EXCEL_EPOCH + dt.timedelta(days=int(float(text)))
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


# --- amounts -----------------------------------------------------------------------------------------

WAN = Decimal(10000)
_AMOUNT_RE = re.compile(r"^[¥￥]?\s*([+-]?\d+(?:\.\d+)?)\s*(万元|万|元)?$")


def parse_amount(value: object, unit: str = "万元") -> Decimal | None:
    """An amount in 万元. ``unit`` is the unit a bare number is in (元 or 万元).

    An explicit unit in the value wins: ``"2000元"`` → 0.2; ``"0.2万元"`` → 0.2. Thousands separators
    and a currency sign are accepted. ``None`` for empty; raises nothing — unreadable → ``None`` and
    the caller can tell "empty" from "bad" by :func:`clean_text` of the raw value. Infinite and NaN
    amounts are unreadable (``None``).
    """
    if unit not in ("元", "万元"):
        raise ValueError(f"unknown unit {unit!r}")
    if is_missing(value) or isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        number = Decimal(int(value))
        explicit = None
    elif isinstance(value, (float, np.floating, Decimal)):
        number = Decimal(str(value))  # str: 0.1 stays 0.1, not its binary expansion
        explicit = None
    else:
        text = clean_text(value)
        if text is None:
            return None
        text = to_halfwidth(text).replace(",", "").replace("，", "")
        m = _AMOUNT_RE.match(text)
        if not m:
            return None
        try:
            number = Decimal(m.group(1))
        except InvalidOperation:
            return None
        explicit = m.group(2)
    if not number.is_finite():
        return None
    effective = {"万元": "万元", "万": "万元", "元": "元"}.get(explicit or "", unit)
    try:
        return number / WAN if effective == "元" else number
    except ArithmeticError:  # beyond Decimal's exponent range: not a readable amount
        return None


def split_multi(value: object) -> list[str]:
    """Multi-valued enumerations separated by ; ； , ， or | (not 、: it occurs inside values)."""
    text = clean_text(value)
    if text is None:
        return []
    text = to_halfwidth(text)
    return [p.strip() for p in re.split(r"[;,|]", text) if p.strip()]
