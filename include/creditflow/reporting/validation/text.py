"""The text rules (issue 18.3): what published text may contain, as RE2 patterns that are data
(``data/standard/text_patterns.yaml``) — their predicates for both engines and their finding details.

* ``TEXT_UNSAFE`` (error): markup, script (event attributes, javascript: links, character references of
  markup), a spreadsheet formula, control, invisible or unshowable characters in a published text field
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

import pandas as pd

from creditflow.common import mask_text
from creditflow.reporting.validation.predicates import _regex_hit, predicate, present


@cache
def text_patterns() -> dict[str, str]:
    """The RE2 patterns of the text rules: ``unsafe`` (free text, 文号), ``unsafe_name`` (names), ``blank``
    (REQUIRED: whitespace and invisible characters only), ``name_chars``, ``doc_no`` — composed from the
    parts in data/standard/text_patterns.yaml (``markup``, ``markup_name``, ``script``, ``formula``,
    ``control``, ``invisible``)."""
    import yaml

    from creditflow.core.normalize import WHITESPACE_CHARS, re2_class

    path = resources.files("creditflow") / "data" / "standard" / "text_patterns.yaml"
    parts = {k: str(v["value"]) for k, v in yaml.safe_load(path.read_text(encoding="utf-8")).items()}
    shared = [parts[k] for k in ("script", "formula", "control", "invisible")]
    return {**parts, "unsafe": "|".join([parts["markup"], *shared]),
            "unsafe_name": "|".join([parts["markup_name"], *shared]),
            "blank": f"^(?:{re2_class(WHITESPACE_CHARS)}|{parts['invisible']})*$"}


def name_field(code: str) -> bool:
    """Party, representative and authority names: the fields the standardiser normalises as names."""
    from creditflow.reporting.standardise import _NAME_SUFFIXES

    return code.endswith(_NAME_SUFFIXES)


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


_QUOTES_AND_SPACES = " \t\r\n\f\u3000\xa0\"'`/"


def _snippet(value: str, at: int, size: int = 16) -> str:
    """``size`` printable characters of ``value`` from ``at`` — masked first: a cut-off ID number would
    escape the masking of the snippet."""
    return "".join(c for c in mask_text(value)[at:at + size] if c.isprintable())


def _char_text(c: str) -> str:
    code = ord(c)
    if c in "\ufffc\ufffd":
        return f"无法显示的替换字符（U+{code:04X}）"
    if 0xE000 <= code <= 0xF8FF or code >= 0xF0000:
        return f"私用区字符（U+{code:04X}，多为自造的生僻字，请改用国家标准编码中的汉字）"
    if 0xFDD0 <= code <= 0xFDEF or code in (0xFFFE, 0xFFFF):
        return f"非字符（U+{code:04X}）"
    return f"不可见或控制字符（U+{code:04X}）"


def _unsafe_text(value: Any, hit: str | None) -> str:
    if not isinstance(value, str):
        return "无法读取的字符"
    if not _encodable(value):
        return "无法编码的字符"
    if hit is None:
        return "不允许的字符"
    at = value.find(hit)
    lower, core = hit.lower(), hit.strip(_QUOTES_AND_SPACES)
    if at == 0 and core[:1] and core[0] in "=＝@＠+＋-－":
        return f"会被表格软件当作公式的开头“{_snippet(value, 0)}”"
    if hit[0] in "<>＜＞﹤﹥":
        snippet = _snippet(value, at)
        tag = bool(re.match(r"[<＜﹤][A-Za-zＡ-Ｚａ-ｚ!/?！／？]", snippet))
        return f"HTML标记“{snippet}”" if tag else f"尖括号“{hit}”"
    if hit.startswith("&"):
        entity = re.match(r"&#?[0-9A-Za-z]+;?", hit)
        return f"HTML字符实体“{entity.group(0) if entity else hit}”（解码后是标记字符）"
    if core.endswith("=") and core.lower().startswith("on"):  # "ondataavailable=" is no data: link
        return f"HTML事件属性“{core}”"
    if "script" in lower or "data" in lower:
        return f"脚本链接“{hit.strip()}”"
    return _char_text(hit[0])


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
