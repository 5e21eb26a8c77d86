"""Constants and the one masking function shared by every capability, DAG files and plugins.

Standard library only: DAG files import this at parse time, so no pandas, SQLAlchemy or GX here.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

#: The one time zone of the project (Beijing time): every local day, deadline day and timestamp shown to a
#: clerk. ``TZ`` for Python date arithmetic; ``TIMEZONE_NAME`` where Airflow or pendulum want a name (timetables,
#: ``start_date``). Nowhere else is the zone written out (tests/unit/test_constants.py).
TIMEZONE_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TIMEZONE_NAME)

#: 双公示 record kinds, in the order the UI lists them.
KINDS: tuple[str, ...] = ("penalty", "license", "coercion")
KIND_LABELS: dict[str, str] = {"penalty": "行政处罚", "license": "行政许可", "coercion": "行政强制"}

#: A daily run covers one local day and starts this long after the day ends (06:00 the next morning):
#: the district inbox step claims the files that had arrived by then, and the DAG waits until then.
DAILY_RUN_DELAY = dt.timedelta(hours=6)

# A resident ID number (GB 11643, 18 characters — also written in 6/8/4 groups; or the first-generation
# 15 digits) anywhere in a text, whatever stands next to it except more digits. ``\b`` is not enough:
# Chinese characters are word characters, so "身份证号440402199001010014" has no word boundary before the
# digits; letters do not protect it either ("sfz440402…"). Longer digit runs are not ID numbers. A
# 15-digit run must carry a calendar date (YYMMDD) where the old numbers do, so that hex digests and
# other codes are not taken for one.
_ID_IN_TEXT = re.compile(r"(?<![0-9])(?:\d{17}[\dXx]|\d{6}[ -]\d{8}[ -]\d{3}[\dXx]"
                         r"|\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9])")
# A quick test that a text cannot hold one (most texts): every form above contains 15 digits in a row or
# 6 digits, a separator and 8 digits. ``\d`` also matches full-width digits, so it holds before folding.
# Widen this together with _ID_IN_TEXT.
_MAYBE_ID = re.compile(r"\d{15}|\d{6}[ -]\d{8}")
# Full-width digits and Ｘ are folded before matching, so "４４０４…" is masked as well.
_FULLWIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"Ｘ": "X", "ｘ": "x"})


def _text(value: Any) -> str:
    """``str(value)`` that also works for integers beyond Python's 4300-digit ``str`` limit."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(Decimal(value))
    return str(value)


def mask_id(value: Any) -> str:
    """Mask one identifier for anything a person or a log can see: keep the first and last 4 characters."""
    text = _text(value)
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_text(value: Any) -> str:
    """Mask every resident ID number inside a free text (messages, keys, file names, alerts, pages).

    The project's single masking rule: every log line, XCom value, finding, report cell, document and
    page that may carry a personal ID number passes through here (or :func:`mask_id` for a bare value).
    """
    text = _text(value)
    if not _MAYBE_ID.search(text):
        return text
    folded = text.translate(_FULLWIDTH)
    if folded == text:
        return _ID_IN_TEXT.sub(lambda m: mask_id(m.group(0)), text)
    # Same length after folding: mask positions found in the folded text, keep the rest as written.
    out = list(text)
    for m in _ID_IN_TEXT.finditer(folded):
        masked = mask_id(m.group(0))
        out[m.start():m.end()] = list(masked)
    return "".join(out)


def mask_name(value: Any) -> str:
    """Mask a natural person's name for a page, a log or a sample: the surname (first character) and ＊ for each
    other character ("张三丰" → "张＊＊"). Organisations' names are not personal data and are never passed here."""
    text = _text(value).strip()
    if not text:
        return text
    return text[0] + "＊" * max(len(text) - 1, 1)


#: The alphabet of :func:`opaque_token`: sixteen letters, no digit (a nibble each).
_OPAQUE = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def opaque_token(digest: bytes) -> str:
    """A machine key (form token, review key) written in letters only, two per byte.

    Hex digests carry runs of digits; one run in 200 or so is shaped like a resident ID number, and the
    masking of a page would then rewrite the key inside a form (the post fails). Letters can never be
    taken for an ID number, so a key passes every page, log and report unchanged."""
    return digest.hex().translate(_OPAQUE)


def contains_unmasked_id(value: Any) -> bool:
    """True if a text still carries a full resident ID number (used by tests that scan artefacts)."""
    return bool(_ID_IN_TEXT.search(_text(value).translate(_FULLWIDTH)))
