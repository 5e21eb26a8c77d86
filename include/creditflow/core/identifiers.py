"""Identifiers: 统一社会信用代码 (GB 32100-2015), 组织机构代码 (GB 11714) and 居民身份证号 (GB 11643-1999).

We use python-stdnum where it is right and wrap it where it is not:

* ``stdnum.cn.uscc`` requires the first eight characters to be digits, so it rejects legitimate codes
  whose registration department is ``A`` (军队), ``N`` (农业) or ``Y`` (其他); it also ignores the
  GB 11714 check digit embedded in positions 9-17. :func:`validate_uscc` implements GB 32100 over the
  full alphabet and reports the embedded digit separately (a warning: some historic codes carry an
  org code that predates the check).
* ``stdnum.cn.ric`` is stricter than GB 11643: it requires the address code to have been valid in the
  *birth* year, but the address code is the county of household registration when the number was
  *issued* (a Zhuhai resident born in 1990 may hold 440403 斗门区, a code from 2001); and an unknown
  county under a known prefecture (e.g. 440422) raises a ``KeyError`` out of stdnum. :func:`check_ric`
  therefore does its own checks (format, GB 11643 check digit, a real birth date not after the as-of
  date) and reads stdnum's region table (``stdnum.numdb`` ``cn/loc``) only to ask whether the address
  code is or has ever been a code — ignoring the year marks. An unknown address code with a correct
  check digit is a *warning*, not an error.

Every public function here is total: any input value gives an answer, never an exception.
Vectorised variants (``*_series``) exist for the pipeline: per-row Python calls cost ~29 s per million.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from stdnum.cn import uscc as stdnum_uscc

from creditflow.common import TZ, mask_text
from creditflow.common import mask_id as mask_id  # re-exported: the one masking rule lives in creditflow.common
from creditflow.core.normalize import arrow_text, as_text, to_halfwidth

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
USCC_PLACEHOLDER = "00000000000000000X"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RIC_CHECK = "10X98765432"


@lru_cache(maxsize=1)
def registration_authorities() -> dict[str, dict[str, str]]:
    """GB 32100 登记管理部门 → {机构类别: name}, from the versioned data table."""
    table: dict[str, dict[str, str]] = {}
    path = resources.files("creditflow") / "data" / "standard" / "uscc_registration_authorities.csv"
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            table.setdefault(row["department"], {})[row["category"]] = (
                f"{row['department_zh']}-{row['category_zh']}"
            )
    return table


def compact_uscc(value: object) -> str:
    """Upper-case, strip spaces and separators, fold full-width characters."""
    text = to_halfwidth(as_text(value))
    return re.sub(r"[\s\-]", "", text).upper()


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character for an 8-character 主体标识码 body."""
    total = sum(_org_value(c) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def is_uscc_placeholder(value: object) -> bool:
    return compact_uscc(value) == USCC_PLACEHOLDER


def validate_uscc(value: object) -> list[str]:
    """Return the GB 32100 problems of a USCC as Chinese reasons; empty means valid.

    The embedded GB 11714 digit is *not* part of this verdict (see :func:`uscc_org_code_ok`).
    The placeholder ``00000000000000000X`` is invalid here: callers decide whether it is allowed.
    """
    code = compact_uscc(value)
    if len(code) != 18:
        return [f"应为18位，实际{len(code)}位"]
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        return [f"含有不允许的字符{''.join(bad)}（不使用I、O、Z、S、V）"]
    problems = []
    authorities = registration_authorities()
    if code[0] not in authorities:
        problems.append(f"第1位登记管理部门代码“{code[0]}”无效")
    elif code[1] not in authorities[code[0]]:
        problems.append(f"第2位机构类别代码“{code[1]}”与登记管理部门不符")
    if not code[2:8].isdigit():
        problems.append("第3-8位应为行政区划代码（数字）")
    if uscc_check_char(code[:17]) != code[17]:
        problems.append("校验位错误")
    return problems


def is_valid_uscc(value: object) -> bool:
    return not validate_uscc(value)


def uscc_org_code_ok(value: object) -> bool:
    """True when positions 9-17 form a GB 11714 organisation code with a correct check digit."""
    code = compact_uscc(value)
    if len(code) != 18 or not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", code[8:17]):
        return False
    return org_code_check_char(code[8:16]) == code[16]


def stdnum_says_valid(value: object) -> bool:
    """python-stdnum's verdict, kept for comparison in tests and documentation."""
    return bool(stdnum_uscc.is_valid(compact_uscc(value)))


# --- resident identity card (GB 11643-1999) ---------------------------------------------------------

_RIC_RE = re.compile(r"[0-9]{17}[0-9X]")
_RIC15_RE = re.compile(r"[0-9]{15}")
_LOC_MARK = re.compile(r"^\[[0-9]*-[0-9]*\]")


@dataclass(frozen=True)
class RicCheck:
    """GB 11643 verdict: ``errors`` make the number invalid; ``warnings`` ask a person to look."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def compact_ric(value: object) -> str:
    return re.sub(r"\s", "", to_halfwidth(as_text(value))).upper()


def ric_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, RIC_WEIGHTS, strict=True))
    return RIC_CHECK[total % 11]


def ric_area_name(code: object) -> str | None:
    """The place of a 6-digit address code, if it is or has ever been a code (historical ones included:
    440421 斗门县 1983–2001); ``None`` for an unknown code — and for anything that is not six ASCII digits
    as text (``None``, NaN, numbers: total, like every public function here). The year marks of stdnum's
    table are ignored: the code is the county where the number was issued, not where or when its holder
    was born."""
    if not isinstance(code, str) or not re.fullmatch(r"[0-9]{6}", code, flags=re.ASCII):
        return None
    return _ric_area_name(code)


@lru_cache(maxsize=4096)
def _ric_area_name(code: str) -> str | None:
    from stdnum import numdb

    found: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(code):
        found.update(props)
    county = found.get("county")
    if not county:
        return None
    names = dict.fromkeys(_LOC_MARK.sub("", c.strip()) for c in county.split(","))
    place = "/".join(n for n in names if n)
    return f"{found.get('province', '')}{place}" or None


def check_ric(value: object, as_of: dt.date | None = None) -> RicCheck:
    """Check an 18-digit resident ID: format, GB 11643 check digit, a real birth date not after
    ``as_of`` (default: today in China) — errors; an address code never known — a warning.

    Chinese reasons, and none of them repeats the number.
    """
    number = compact_ric(value)
    if _RIC15_RE.fullmatch(number):
        return RicCheck(("15位旧身份证号码无校验位，请换录18位号码",))
    if not _RIC_RE.fullmatch(number):
        return RicCheck(("应为18位（前17位数字，末位数字或X）",))
    if ric_check_char(number[:17]) != number[17]:
        return RicCheck(("校验位错误",))
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return RicCheck(("第7-14位出生日期无效",))
    today = as_of or dt.datetime.now(TZ).date()
    if birth > today:
        return RicCheck((f"出生日期晚于{today.isoformat()}",))
    if ric_area_name(number[:6]) is None:
        return RicCheck(warnings=(f"地址码{number[:6]}不在已知的行政区划代码中（含已撤销的历史代码）",))
    return RicCheck()


def validate_ric(value: object, as_of: dt.date | None = None) -> list[str]:
    """Return the problems of an 18-digit resident ID as Chinese reasons; empty means valid.

    An unknown address code is not a problem here (see :func:`check_ric` for its warning).
    """
    return list(check_ric(value, as_of).errors)


def is_valid_ric(value: object, as_of: dt.date | None = None) -> bool:
    return not check_ric(value, as_of).errors


def public_key(natural_key: str) -> str:
    """A natural key safe to show in ids, logs and pages: a resident ID number in it is masked."""
    return mask_text(natural_key)


# --- vectorised variants ----------------------------------------------------------------------------

_ALPHA_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _ALPHA_VALUE[ord(_c)] = _i
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ORG_VALUE[ord(_c)] = _org_value(_c)


def _char_matrix(values: pd.Series, width: int, pattern: str = "[0-9A-Z]") -> tuple[np.ndarray, np.ndarray]:
    """Byte matrix of the values that are exactly ``width`` ASCII characters of ``pattern`` (others are a
    row of "0"s); returns (matrix, row_is_candidate). Through Arrow's buffers: no Python string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = arrow_text(values)
    if arr is None:  # not all text: the per-value path
        text = values.astype(object).where(values.notna(), "").astype(str)
        arr = pa.array(text.to_numpy(dtype=object), type=pa.string())
    ok = pc.fill_null(pc.match_substring_regex(arr, f"^{pattern}{{{width}}}$"), False)
    filled = pc.if_else(ok, arr, "0" * width)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    n = len(filled)
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[filled.offset:filled.offset + n + 1]
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8) if n else np.zeros(0, dtype=np.uint8)
    mat = data[offsets[0]:offsets[0] + n * width].reshape(n, width) if n else np.zeros((0, width), np.uint8)
    return mat, np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool).copy()


def uscc_valid_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`is_valid_uscc` over already compacted values (nulls → False)."""
    mat, ok = _char_matrix(values, 18)
    vals = _ALPHA_VALUE[mat]
    ok &= (vals >= 0).all(axis=1)
    total = (vals[:, :17] * np.array(USCC_WEIGHTS)).sum(axis=1)
    expected = (31 - total % 31) % 31
    ok &= expected == vals[:, 17]
    ok &= ((mat[:, 2:8] >= ord("0")) & (mat[:, 2:8] <= ord("9"))).all(axis=1)
    prefixes = [ord(d) * 256 + ord(c) for d, cats in registration_authorities().items() for c in cats]
    ok &= np.isin(mat[:, 0].astype(np.int64) * 256 + mat[:, 1], prefixes)
    return pd.Series(ok, index=values.index)


def uscc_org_code_ok_series(values: pd.Series) -> pd.Series:
    mat, ok = _char_matrix(values, 18)
    body = _ORG_VALUE[mat[:, 8:16]]
    total = (body * np.array(ORG_WEIGHTS)).sum(axis=1)
    c = 11 - total % 11
    check = np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), ord("0") + c))
    ok &= check == mat[:, 16]
    ok &= (body >= 0).all(axis=1)
    return pd.Series(ok, index=values.index)


def ric_checksum_ok_series(values: pd.Series) -> pd.Series:
    """Vectorised GB 11643 checksum (format + check digit only; birth date/place need check_ric).

    ASCII digits only: ``\\d`` would also match other scripts' digits, which cannot be encoded below."""
    mat, ok = _char_matrix(values, 18, "[0-9X]")
    ok &= (mat[:, :17] <= ord("9")).all(axis=1)  # X only as the check character
    digits = mat[:, :17].astype(np.int64) - ord("0")
    total = (digits * np.array(RIC_WEIGHTS)).sum(axis=1) % 11
    expected = np.frombuffer(RIC_CHECK.encode("ascii"), dtype=np.uint8)[total]
    return pd.Series(ok & (expected == mat[:, 17]), index=values.index)
