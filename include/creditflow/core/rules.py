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


# --- publicity periods: creditflow.core.publicity holds the one classification; these names stay for callers


def publicity_rules() -> dict[str, Any]:
    from creditflow.core import publicity

    return publicity.publicity_rules()


def publicity_regime(on: dt.date) -> dict[str, Any]:
    from creditflow.core import publicity

    return publicity.publicity_regime(on)


def penalty_class(regime: dict[str, Any], categories: list[str]) -> str:
    """The class the 处罚类别 alone give (:func:`creditflow.core.publicity.category_class`)."""
    from creditflow.core import publicity

    return publicity.category_class(regime, categories)


def publicity_period(decision_date: dt.date, categories: list[str], **facts: Any) -> Any:
    """:func:`creditflow.core.publicity.publicity_period` (fine, party type, listing as keywords)."""
    from creditflow.core import publicity

    return publicity.publicity_period(decision_date, categories, **facts)
