"""Identifiers: 统一社会信用代码 (GB 32100-2015), 组织机构代码 (GB 11714) and 居民身份证号 (GB 11643-1999).

We use python-stdnum where it is right and wrap it where it is not:

* ``stdnum.cn.uscc`` requires the first eight characters to be digits, so it rejects legitimate codes
  whose registration department is ``A`` (军队), ``N`` (农业) or ``Y`` (其他); it also ignores the
  GB 11714 check digit embedded in positions 9-17. :func:`validate_uscc` implements GB 32100 over the
  full alphabet and reports the embedded digit separately (a warning: some historic codes carry an
  org code that predates the check).
* ``stdnum.cn.ric`` is right for 18-digit resident IDs (checksum, birth date, birth-place code valid in
  the birth year): :func:`validate_ric` calls it and turns its exceptions into Chinese reasons.

Vectorised variants (``*_series``) exist for the pipeline: per-row Python calls cost ~29 s per million.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError

from creditflow.common import mask_id as mask_id  # re-exported: the one masking rule lives in creditflow.common
from creditflow.common import mask_text

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
USCC_PLACEHOLDER = "00000000000000000X"
USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
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
    from creditflow.core.normalize import to_halfwidth

    text = to_halfwidth(str(value or ""))
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


def compact_ric(value: object) -> str:
    from creditflow.core.normalize import to_halfwidth

    return re.sub(r"\s", "", to_halfwidth(str(value or ""))).upper()


def ric_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, RIC_WEIGHTS, strict=True))
    return RIC_CHECK[total % 11]


def validate_ric(value: object) -> list[str]:
    """Return the problems of an 18-digit resident ID as Chinese reasons; empty means valid."""
    number = compact_ric(value)
    if len(number) == 15 and number.isdigit():
        return ["15位旧身份证号码无校验位，请换录18位号码"]
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return ["应为18位（前17位数字，末位数字或X）"]
    if ric_check_char(number[:17]) != number[17]:
        return ["校验位错误"]
    try:
        stdnum_ric.validate(number)
    except ValidationError as exc:
        name = type(exc).__name__
        if name == "InvalidComponent":
            return ["出生日期或出生地代码无效"]
        return ["号码无效"]
    return []


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


def _char_matrix(values: pd.Series, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Byte matrix of the ASCII values of exactly `width` chars; returns (matrix, row_is_candidate)."""
    text = values.fillna("").astype(str)
    ok = (text.str.len() == width) & text.str.fullmatch(r"[0-9A-Z]*", na=False)
    padded = text.where(ok, "0" * width)
    raw = np.frombuffer("".join(padded.tolist()).encode("ascii"), dtype=np.uint8)
    return raw.reshape(-1, width), ok.to_numpy(dtype=bool, copy=True)


def uscc_valid_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`is_valid_uscc` over already compacted values (nulls → False)."""
    mat, ok = _char_matrix(values, 18)
    vals = _ALPHA_VALUE[mat]
    ok &= (vals >= 0).all(axis=1)
    total = (vals[:, :17] * np.array(USCC_WEIGHTS)).sum(axis=1)
    expected = (31 - total % 31) % 31
    ok &= expected == vals[:, 17]
    ok &= ((mat[:, 2:8] >= ord("0")) & (mat[:, 2:8] <= ord("9"))).all(axis=1)
    prefixes = {d + c for d, cats in registration_authorities().items() for c in cats}
    text = values.fillna("").astype(str)
    ok &= text.str[:2].isin(prefixes).to_numpy()
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
    """Vectorised GB 11643 checksum (format + check digit only; birth date/place need validate_ric)."""
    text = values.fillna("").astype(str)
    ok = text.str.fullmatch(r"\d{17}[\dX]", na=False)
    padded = text.where(ok, "0" * 18)
    mat = np.frombuffer("".join(padded.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    digits = mat[:, :17].astype(np.int64) - ord("0")
    total = (digits * np.array(RIC_WEIGHTS)).sum(axis=1) % 11
    expected = np.frombuffer(RIC_CHECK.encode("ascii"), dtype=np.uint8)[total]
    return pd.Series(ok.to_numpy() & (expected == mat[:, 17]), index=values.index)
