"""The pandas engine (the benchmark floor) and what both engines share: the input frame and the findings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from creditflow.core import standard
from creditflow.core.normalize import as_text, is_missing
from creditflow.reporting.validation.catalogue import ISSUE_COLUMNS, Rule, details, message_zh, rules_for
from creditflow.reporting.validation.predicates import PREDICATES, _isin, filled, lengths, present, shared


def _cell(value: Any) -> str | None:
    """A field value as both engines see it: text, or ``None`` for missing and blank."""
    if is_missing(value):
        return None
    text = as_text(value)
    return text if text.strip() else None


def _cells(values: pd.Series) -> pd.Series:
    """:func:`_cell` of every value; text as it is unless blank (only ``str.isspace`` characters)."""
    cells = values.to_numpy(dtype=object)
    return pd.Series([(v if v.strip() else None) if type(v) is str else None if v is None else _cell(v)
                      for v in cells],
                     index=values.index, dtype=object)


def prepare(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Every field column present and text (``None`` for missing or blank), a unique ``_row``.

    Standardised frames are text already; anything else (numbers, NaN, ``pd.NA``, timestamps) is turned
    into the same text for both engines, so GX's native checks and the predicates see one value.
    """
    out = df.copy(deep=False)  # copy-on-write (pandas 3): replacing a column never touches ``df``
    for code in standard.codes(kind):
        if code not in out.columns:
            out[code] = None
        else:
            out[code] = _cells(out[code])
    if "_row" not in out.columns:
        out["_row"] = np.arange(len(out))
    return out.reset_index(drop=True)


def _native_ok(rule: Rule, df: pd.DataFrame) -> pd.Series:
    s = df[rule.field]
    if rule.check == "not_null":
        return filled(s, rule.params.get("blank"))
    if rule.check == "max_len":
        return ~present(s) | ~(lengths(s) > rule.params["max_len"])
    if rule.check == "in_set":
        return ~present(s) | _isin(s, rule.params["values"])
    raise ValueError(rule.check)


def rule_ok(rule: Rule, df: pd.DataFrame) -> pd.Series:
    if rule.check == "custom":
        return PREDICATES[rule.params["predicate"]](df, rule.params).astype(bool)
    return _native_ok(rule, df).astype(bool)


def findings(failures: list[tuple[Rule, pd.Index]], df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rule, idx in failures:
        cols = [c for c in dict.fromkeys([rule.field, *rule.columns, *(
            [rule.params["when_column"]] if "when_column" in rule.params else []),
            *([rule.params["text"]] if "text" in rule.params else [])]) if c in df.columns]
        sub = df.loc[idx, ["_row", *cols]].to_dict("records")
        for rec, text in zip(sub, details(rule, sub), strict=True):
            rows.append((rec["_row"], rule.field, rule.rule_id, rule.severity, text))
    out = pd.DataFrame(rows, columns=ISSUE_COLUMNS)
    return out.sort_values(["_row", "field", "rule_id"], kind="stable").drop_duplicates().reset_index(drop=True)


def validate_pandas(df: pd.DataFrame, kind: str, as_of: dt.date) -> pd.DataFrame:
    """Hand-vectorised evaluation of :func:`rules_for` (the benchmark floor; same findings as GX)."""
    frame = prepare(df, kind)
    failures = []
    with shared(frame):
        for rule in rules_for(kind, as_of):
            ok = rule_ok(rule, frame)
            bad = frame.index[~ok.to_numpy()]
            if len(bad):
                failures.append((rule, bad))
    return findings(failures, frame)


def with_messages(found: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Add the clerk-facing Chinese message to each finding."""
    out = found.copy()
    out["message_zh"] = [
        message_zh(r, f, kind, d, d) for r, f, d in zip(out["rule_id"], out["field"], out["detail"], strict=True)
    ]
    return out
