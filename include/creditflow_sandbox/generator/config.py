"""What the generator makes and how often: defects and their rates, the configuration, the vocabulary,
and the small text helpers every source uses."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

DEFECTS = ("missing_required", "bad_checksum", "yuan_as_wan", "malformed_date", "fullwidth", "late_entry",
           "edit_after_upload", "revocation", "cross_source_duplicate", "near_duplicate")
DEFAULT_RATES = {"missing_required": 0.03, "bad_checksum": 0.02, "yuan_as_wan": 0.02, "malformed_date": 0.02,
                 "fullwidth": 0.05, "late_entry": 0.04, "edit_after_upload": 0.03, "revocation": 0.02,
                 "cross_source_duplicate": 0.03, "near_duplicate": 0.02}
SOURCE_SHARES = {"case_penalty": 0.55, "case_coercion": 0.08, "licensing": 0.22, "district": 0.15}
USCC_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TZ_OFFSET = "+08:00"
AUTHORITY_USCC = "11440400MB2C123457"


@dataclass
class GeneratorConfig:
    """``start`` and ``days`` place the decisions (on the working days among them).

    ``horizon`` (optional) is the last day anything may happen — the last day a demo runs. With it, every
    later change is drawn inside the window instead: a late entry happens on its slot day and its decision
    is dated 9–13 working days earlier (before ``start`` if need be); an edit, a revocation or the fix of
    a quarantined record comes on an earlier working day after the decision (or not at all when none is
    left); a district copy that would arrive after the horizon is not made. Without it (the default),
    changes keep their usual lags and may fall after ``start + days``.
    """

    seed: int = 20261127
    decisions: int = 1000
    start: dt.date = dt.date(2026, 11, 2)
    days: int = 14
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    person_share: float = 0.05
    sole_trader_share: float = 0.10
    corrupt_file_share: float = 0.0
    chunk: int = 5000
    horizon: dt.date | None = None


@cache
def vocabulary() -> dict[str, Any]:
    path = resources.files("creditflow_sandbox") / "data" / "vocabulary.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _ts(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _typo(doc_no: str, rng: random.Random) -> str:
    digits = [i for i, c in enumerate(doc_no) if c.isdigit()]
    tail = [i for i in digits if i > doc_no.find("〕")] or digits
    i = tail[-1] if len(tail) == 1 else rng.choice(tail)
    return doc_no[:i] + str((int(doc_no[i]) + 1) % 10) + doc_no[i + 1:]
