"""One normaliser for legal citations and violation texts, before a listing detector reads them.

A legal basis is written in many ways: ``《安全生产法》第一百一十四条第二款``, ``第114条第2款``, ``第１１４条第２款``
(full-width digits), ``第114条第二款``, ``114条2款``, ``第七条第（一）项`` / ``第7条第1项`` / ``第七条(一)项``. All of
them become one form — Arabic numerals, ``第N条第N款第N项``, half-width characters, no spaces — and the detectors'
patterns in ``data/credit/listing.yaml`` are written in that form (``第114条第2款``).
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2, "三": 3, "叁": 3,
           "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
           "九": 9, "玖": 9}
# Traditional forms of the citation words, folded before anything else (款 and 第 are the same in both).
_TRADITIONAL = str.maketrans({"條": "条", "項": "项", "節": "节"})
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_NUMERAL = "[" + "".join(_DIGITS) + "".join(_UNITS) + "]+"


def chinese_number(text: str) -> int:
    """``一百一十四`` → 114, ``十四`` → 14, ``二十`` → 20, ``一〇一`` → 101 (digit by digit without units).
    Raises ValueError for anything else."""
    if not text or any(c not in _DIGITS and c not in _UNITS for c in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    if not any(c in _UNITS for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))
    total, digit = 0, None
    for c in text:
        if c in _DIGITS:
            digit = _DIGITS[c]
        else:
            total += (1 if digit is None else digit) * _UNITS[c]
            digit = None
    return total + (digit or 0)


def _arabic(match: re.Match[str]) -> str:
    return f"第{chinese_number(match.group(1))}{match.group(2)}"


def normalise(text: str | None) -> str:
    """The text with every citation in the one form (and full-width characters half-width, spaces removed)."""
    if not text:
        return ""
    out = unicodedata.normalize("NFKC", str(text))
    out = re.sub(r"\s+", "", out).replace("〔", "[").replace("〕", "]").translate(_TRADITIONAL)
    # 第一百一十四条 / 第二款 / 第一项 → 第114条 / 第2款 / 第1项
    out = re.sub(rf"第({_NUMERAL})(条|款|项|章|节)", _arabic, out)
    # 第(二)款 / (二)款 → 第2款 (a bracketed numeral followed by its unit keeps that unit)
    out = re.sub(rf"第?\(({_NUMERAL}|\d+)\)(款|项)", lambda m: f"第{_value(m.group(1))}{m.group(2)}", out)
    # 第114条二款 / 第2款三项 → 第114条第2款 / 第2款第3项 (the 第 left out after an article or a paragraph)
    out = re.sub(rf"(?<=[条款])({_NUMERAL})(款|项)", lambda m: f"第{chinese_number(m.group(1))}{m.group(2)}", out)
    # (一)项, 第(一)项, 条(一) / 款(一) → 第1项 (an enumerated item after an article or paragraph, or before 项)
    out = re.sub(rf"(?<=[条款])第?\(({_NUMERAL}|\d+)\)项?|第?\(({_NUMERAL}|\d+)\)项",
                 lambda m: f"第{_value(m.group(1) or m.group(2))}项", out)
    # 114条2款 → 第114条第2款 (the 第 left out)
    out = re.sub(r"(?<![第\d])(\d+)(条|款|项)", r"第\1\2", out)
    return out


def _value(token: str) -> int:
    return int(token) if token.isdigit() else chinese_number(token)


def search(pattern: str, text: str | None) -> bool:
    """Whether a detector pattern (written in the normalised form) occurs in the normalised ``text``."""
    return re.search(pattern, normalise(text)) is not None
