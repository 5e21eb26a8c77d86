"""The 双公示 data standard as data: field dictionaries, enumerations and header aliases.

Three record kinds: ``penalty`` (行政处罚, CF_), ``license`` (行政许可, XK_) and ``coercion``
(行政强制, QZ_ — a local field set until the Guangdong specification is known).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from creditflow import common
from creditflow.core.normalize import to_halfwidth

KINDS = common.KINDS
PREFIX = {"penalty": "CF", "license": "XK", "coercion": "QZ"}
KIND_ZH = common.KIND_LABELS
#: The field of each kind that holds the decision date (处罚/许可/强制决定日期): what the 7-working-day 双公示
#: deadline counts from and what may not lie in the future. The one home of this map — standardise, validate,
#: the validation catalogue and the pages import it; tests/unit/test_constants.py checks it against the field
#: dictionaries (data/standard/fields-<kind>.csv).
DECISION_DATE: dict[str, str] = {"penalty": "CF_JDRQ", "license": "XK_JDRQ", "coercion": "QZ_JDRQ"}


@dataclass(frozen=True)
class Field:
    code: str
    name_zh: str
    meaning: str
    type: str
    max_len: int | None
    required: str  # "always", "no", or a condition text

    @property
    def always_required(self) -> bool:
        return self.required == "always"


def _open(*parts: str):  # type: ignore[no-untyped-def]
    return (resources.files("creditflow") / "data" / "standard").joinpath(*parts).open(encoding="utf-8")


@cache
def fields(kind: str) -> tuple[Field, ...]:
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")
    with _open(f"fields-{kind}.csv") as fh:
        out = []
        for row in csv.DictReader(fh):
            max_len = int(row["max_len"]) if row["max_len"].isdigit() else None
            out.append(Field(row["code"], row["name_zh"], row["meaning"], row["type"], max_len,
                             row["required"]))
    return tuple(out)


def field_map(kind: str) -> dict[str, Field]:
    return {f.code: f for f in fields(kind)}


def codes(kind: str) -> list[str]:
    return [f.code for f in fields(kind)]


@lru_cache(maxsize=1)
def enumerations() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    with _open("enumerations.csv") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["enum"], []).append(row["value"])
    return {k: tuple(v) for k, v in out.items()}


# Which enumeration governs an enum field (by code suffix).
ENUM_OF_SUFFIX = {
    "_XDR_LB": "party_category",
    "_XDR_ZJLX": "id_type",
    "_FR_ZJLX": "id_type",
    "CF_CFLB": "penalty_category",
    "XK_XKLB": "license_category",
    "XK_ZT": "license_status",
    "QZ_QZLB": "coercion_kind",
    "QZ_CSLX": "coercion_measure+coercion_enforcement",
    "QZ_ZT": "coercion_status",
}


def enum_values(code: str) -> tuple[str, ...]:
    for suffix, name in ENUM_OF_SUFFIX.items():
        if code.endswith(suffix) or code == suffix:
            return tuple(v for part in name.split("+") for v in enumerations()[part])
    raise KeyError(code)


# --- headers -----------------------------------------------------------------------------------------


def header_key(text: object) -> str:
    """Canonical form of a header cell: half-width, no whitespace, （）→(), upper case."""
    s = to_halfwidth(str(text or "")).replace("\ufeff", "")
    s = re.sub(r"\s+", "", s)
    return s.upper()


@cache
def header_lookup(kind: str) -> dict[str, str]:
    """Map of every accepted header spelling (canonical form) to the field code of ``kind``."""
    prefix = PREFIX[kind]
    lookup: dict[str, str] = {}
    for f in fields(kind):
        lookup[header_key(f.code)] = f.code
        lookup[header_key(f.name_zh)] = f.code
        outer = re.sub(r"\(.*?\)", "", to_halfwidth(f.name_zh))
        if outer and header_key(outer) not in lookup:
            lookup[header_key(outer)] = f.code
    known = set(codes(kind))
    with _open("header_aliases.csv") as fh:
        for row in csv.DictReader(fh):
            target = row["code"].replace("*", prefix)
            if target in known:
                lookup.setdefault(header_key(row["alias"]), target)
    return lookup


def map_headers(kind: str, headers: list[object]) -> dict[int, str]:
    """Column index → field code for the headers that are recognised (unrecognised ones are skipped)."""
    lookup = header_lookup(kind)
    out: dict[int, str] = {}
    for i, h in enumerate(headers):
        code = lookup.get(header_key(h))
        if code and code not in out.values():
            out[i] = code
    return out


def guess_kind(headers: list[object]) -> str | None:
    """The kind whose fields the headers match best (None when nothing matches)."""
    scores = {k: len(map_headers(k, headers)) for k in KINDS}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= 3 else None
