"""The text rules (issue 18.3): what published text may contain, as RE2 patterns that are data
(``data/standard/text_patterns.yaml``) — their predicates for both engines and their finding details.

* ``TEXT_UNSAFE`` (error): markup or control/invisible characters in a published text field
  (:func:`_text_safe`);
* ``NAME_CHARS`` / ``DOC_NO_FORMAT`` (warnings): a name or 文号 outside its shape (:func:`_text_shape`),
  unless it is unsafe already (then TEXT_UNSAFE says so, once).

One regex engine, RE2 through pyarrow, for the predicates, the details and ``bench/floor.py``: the same
pattern gives the same verdict everywhere (Python's ``re`` knows no ``\\p{Han}`` and differs on ``\\s``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from creditflow.common import mask_text
from creditflow.reporting.validation.predicates import _arrow, _memo, predicate, present


@cache
def text_patterns() -> dict[str, str]:
    """The RE2 patterns of the text rules: ``unsafe``, ``unsafe_name``, ``name_chars``, ``doc_no``."""
    import yaml

    path = resources.files("creditflow") / "data" / "standard" / "text_patterns.yaml"
    return {k: str(v["value"]) for k, v in yaml.safe_load(path.read_text(encoding="utf-8")).items()}


def name_field(code: str) -> bool:
    """Party, representative and authority names: the fields the standardiser normalises as names."""
    from creditflow.reporting.standardise import _NAME_SUFFIXES

    return code.endswith(_NAME_SUFFIXES)


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


def _regex_hit(s: pd.Series, pattern: str) -> np.ndarray:
    """True where the value contains a match of the RE2 ``pattern``, or is no UTF-8 text."""
    import pyarrow.compute as pc

    def compute() -> np.ndarray:
        arr, bad = _text_arrow(s)
        hit = pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)
        return np.asarray(hit, dtype=bool) | bad
    return np.asarray(_memo(s, "regex", compute, pattern), dtype=bool)


@predicate("text_safe")
def _text_safe(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """No markup, control or invisible format character (``pattern``, data/standard/text_patterns.yaml)."""
    s = df[p["column"]]
    return ~present(s) | pd.Series(~_regex_hit(s, p["pattern"]), index=s.index)


@predicate("text_shape")
def _text_shape(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """The whole value matches ``shape`` — values that are ``unsafe`` are TEXT_UNSAFE's, not this rule's."""
    s = df[p["column"]]
    shaped = _regex_hit(s, f"^(?:{p['shape']})$")
    unsafe = _regex_hit(s, p["unsafe"])
    return ~present(s) | pd.Series(shaped | unsafe, index=s.index)


# --- finding details ---------------------------------------------------------------------------------

def _text_hits(values: list[Any], pattern: str) -> list[str | None]:
    """The first match of the RE2 ``pattern`` in each value (``None``: no match, or no UTF-8 text), in one
    pyarrow call: compiling a pattern costs more than matching a column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = [x if isinstance(x, str) and _encodable(x) else None for x in values]
    found = pc.extract_regex(pa.array(texts, pa.string()), f"(?P<hit>{pattern})").to_pylist()
    return [None if f is None else f["hit"] for f in found]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _unsafe_text(value: Any, hit: str | None) -> str:
    if not isinstance(value, str):
        return "无法读取的字符"
    if not _encodable(value):
        return "无法编码的字符"
    if hit is None:
        return "不允许的字符"
    if hit[0] in "<>＜＞":
        at = value.find(hit)  # masked first: a cut-off ID number would escape the masking of the snippet
        snippet = "".join(c for c in mask_text(value)[at:at + 16] if c.isprintable())
        tag = bool(re.match(r"<[A-Za-z!/?]", snippet))
        return f"HTML标记“{snippet}”" if tag else f"尖括号“{hit}”"
    return f"不可见或控制字符（U+{ord(hit[0]):04X}）"


def unsafe_details(values: list[Any], pattern: str) -> list[str]:
    """What TEXT_UNSAFE found in each value, in Chinese, without the character itself when it is invisible
    (unmasked: the caller masks)."""
    return [_unsafe_text(x, h) for x, h in zip(values, _text_hits(values, pattern), strict=True)]


_CHAR_OK: dict[tuple[str, str], bool] = {}


def _chars_ok(chars: list[str], shape: str) -> dict[str, bool]:
    """Whether ``shape`` (a repeated character class) allows each character; learnt once per character."""
    import pyarrow as pa
    import pyarrow.compute as pc

    todo = [c for c in chars if (shape, c) not in _CHAR_OK and _encodable(c)]
    if todo:
        if len(_CHAR_OK) > 200_000:
            _CHAR_OK.clear()
        ok = pc.match_substring_regex(pa.array(todo, pa.string()), f"^(?:{shape})$").to_pylist()
        _CHAR_OK.update({(shape, c): bool(good) for c, good in zip(todo, ok, strict=True)})
    return {c: _CHAR_OK.get((shape, c), False) for c in chars}


def learn_chars(values: list[Any], shape: str) -> None:
    """Look up every character of ``values`` at once (before :func:`unusual_chars` per value)."""
    _chars_ok(list(dict.fromkeys("".join(x for x in values if isinstance(x, str)))), shape)


def unusual_chars(value: Any, shape: str) -> list[str]:
    """The characters of ``value`` that ``shape`` (a repeated character class) does not allow."""
    if not isinstance(value, str):
        return []
    chars = list(dict.fromkeys(value))
    ok = _chars_ok(chars, shape)
    return [c if c.isprintable() else f"U+{ord(c):04X}" for c in chars if not ok[c]]
