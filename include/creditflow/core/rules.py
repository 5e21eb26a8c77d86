"""Rule sets keyed by effective date: deadlines and publicity/repair regimes.

The data lives in ``data/rules/*.yaml`` with a source and a mark per entry; this module only selects the
entry in force on a date and does the arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from dateutil.relativedelta import relativedelta

from creditflow.core.workdays import WorkdayCalendar, official_calendar


class NoRuleInForce(LookupError):
    pass


def _load(name: str) -> dict[str, Any]:
    path = resources.files("creditflow") / "data" / "rules" / name
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Deadline:
    id: str
    title_zh: str
    effective_from: dt.date
    amount: int
    unit: str
    start: str
    mark: str
    source: str

    def apply(self, start: dt.date, calendar: WorkdayCalendar | None = None) -> dt.date:
        if self.unit == "working_days":
            return (calendar or official_calendar()).add_working_days(start, self.amount)
        if self.unit == "calendar_days":
            return start + dt.timedelta(days=self.amount)
        if self.unit == "months":
            return start + relativedelta(months=self.amount)
        if self.unit == "years":
            return start + relativedelta(years=self.amount)
        raise ValueError(f"unknown unit {self.unit!r} in deadline {self.id}")


@lru_cache(maxsize=1)
def deadlines() -> tuple[Deadline, ...]:
    out = []
    for e in _load("deadlines.yaml")["deadlines"]:
        out.append(Deadline(e["id"], e["title_zh"], e["effective_from"], int(e["amount"]), e["unit"],
                            e["start"], str(e["mark"]), " ".join(str(e["source"]).split())))
    return tuple(out)


def deadline(rule_id: str, on: dt.date) -> Deadline:
    """The version of deadline ``rule_id`` in force on ``on`` (latest ``effective_from`` ≤ on)."""
    candidates = [d for d in deadlines() if d.id == rule_id and d.effective_from <= on]
    if not candidates:
        raise NoRuleInForce(f"no deadline {rule_id!r} in force on {on}")
    return max(candidates, key=lambda d: d.effective_from)


def sgs_due_date(decision_date: dt.date, calendar: WorkdayCalendar | None = None) -> dt.date:
    """双公示 publication deadline: 7 working days after the decision (the decision day not counted)."""
    return deadline("sgs_publication", decision_date).apply(decision_date, calendar)


# --- publicity periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicityPeriod:
    regime_id: str
    regime_title_zh: str
    penalty_class: str
    publish: bool
    start: dt.date
    earliest_repair: dt.date | None  # end of the minimum period (repair may be requested from then)
    publication_end: dt.date  # publication stops automatically
    repairable: bool
    mark: str
    source: str


@lru_cache(maxsize=1)
def publicity_rules() -> dict[str, Any]:
    return _load("publicity.yaml")


def publicity_regime(on: dt.date) -> dict[str, Any]:
    for regime in publicity_rules()["regimes"]:
        start, end = regime["effective_from"], regime.get("effective_to")
        if start <= on and (end is None or on <= end):
            return dict(regime)
    raise NoRuleInForce(f"no publicity regime in force on {on}")


_CLASS_ORDER = ["minor", "general", "safety_production", "serious"]


def penalty_class(regime: dict[str, Any], categories: list[str]) -> str:
    """The publicity class of a decision with these 处罚类别: the most severe one mapped, in the
    regime's ``class_order`` (default: minor < general < safety_production < serious)."""
    mapping = regime.get("class_by_penalty_category")
    if not mapping:
        return str(regime["default_class"])
    found = [mapping.get(c.strip().split("-")[0], regime["default_class"]) for c in categories]
    if not found:
        return str(regime["default_class"])
    order = list(regime.get("class_order") or _CLASS_ORDER)
    return str(max(found, key=lambda k: order.index(k) if k in order else -1))


def publicity_period(decision_date: dt.date, categories: list[str]) -> PublicityPeriod:
    """Publicity period of a penalty decided on ``decision_date`` with the given 处罚类别."""
    regime = publicity_regime(decision_date)
    klass = penalty_class(regime, categories)
    spec = regime["classes"][klass]
    min_months = spec.get("min_months")
    return PublicityPeriod(
        regime_id=regime["id"],
        regime_title_zh=regime["title_zh"],
        penalty_class=klass,
        publish=bool(spec.get("publish", True)),
        start=decision_date,
        earliest_repair=None if min_months is None else decision_date + relativedelta(months=min_months),
        publication_end=decision_date + relativedelta(months=int(spec["max_months"])),
        repairable=bool(spec.get("repairable", True)),
        mark=str(regime.get("class_mark", regime["mark"])),
        source=str(regime["source"]),
    )
