"""Publicity of administrative-penalty information: the one classification every capability calls.

Which regime applies (527号 / NDRC Order 58 / Order 36, by decision date), which class a decision falls in
(轻微 / 一般 / 严重 …: by 处罚类别, by the fine for the party's type, and by whether the decision puts the
party on a 严重失信主体名单), whether the class is published, and the minimum and maximum publicity periods
counted as the 民法典 counts periods (arts. 200–204). The impact preview, the repair notice, the penalty
tracker, the integrity check and the feedback report's 免于公示 all read :func:`classify` /
:func:`publicity_period`; none holds its own copy of a threshold. The data is ``data/rules/publicity.yaml``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from dateutil.relativedelta import relativedelta

from creditflow.core.rules import NoRuleInForce
from creditflow.core.workdays import CalendarNotCovered, WorkdayCalendar, official_calendar

_CLASS_ORDER = ["minor", "general", "safety_production", "serious"]

@lru_cache(maxsize=1)
def publicity_rules() -> dict[str, Any]:
    path = resources.files("creditflow") / "data" / "rules" / "publicity.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def longest_max_months() -> int:
    """The longest maximum publicity period of any class of any regime (``publicity.yaml``, in months): how far
    after its decision a 公示截止期 can lie (the QC's DATE_ORDER check of CF_GSJZQ asks this, not a copy)."""
    return max(int(spec["max_months"]) for regime in publicity_rules()["regimes"]
               for spec in (regime.get("classes") or {}).values() if spec.get("max_months") is not None)


def horizon() -> dt.date:
    """The last decision date the rule data is kept for (``publicity.yaml`` ``decision_horizon``)."""
    return dt.date.fromisoformat(str(publicity_rules()["decision_horizon"]["date"]))


def publicity_regime(on: dt.date) -> dict[str, Any]:
    for regime in publicity_rules()["regimes"]:
        start, end = regime["effective_from"], regime.get("effective_to")
        if start <= on and (end is None or on <= end):
            return dict(regime)
    raise NoRuleInForce(f"no publicity regime in force on {on}")


def fine_yuan_of(value: Any, unit: str = "元") -> Decimal | None:
    """A fine as an exact number of 元 (None when absent); ``unit`` 万元 for the 双公示 CF_NR_FK field.

    Raises ValueError for text that is not a number, NaN, infinity or a negative amount."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"罚款金额无效：{value}")
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"罚款金额无效：{value}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"罚款金额无效：{value}")
    return amount * 10000 if unit == "万元" else amount


def max_fine_yuan() -> Decimal:
    """The largest fine any draft may carry: ``thresholds.yaml`` max_plausible_fine_wan (the QC rule AMOUNT_UNIT
    reads the same entry) — above it no fine can reach (安全生产法 (2021) 第一百一十四条 tops at 2,000万元 × 5)."""
    path = resources.files("creditflow") / "data" / "rules" / "thresholds.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Decimal(str(data["max_plausible_fine_wan"]["value"])) * 10000


def _limit(limits: dict[str, Any] | None, party_type: str | None) -> Decimal | None:
    """The amount for ``party_type``; for a type the data does not name (unknown or empty) the ``"*"`` entry,
    or — without one — the lowest amount listed (when unsure, the stricter reading)."""
    if not limits:
        return None
    value = limits.get(str(party_type or ""), limits.get("*"))
    if value is None:
        value = min((Decimal(str(v)) for v in limits.values() if v is not None), default=None)
    return None if value is None else Decimal(str(value))


def fine_of_categories(categories: list[str], fine_yuan: Any) -> Decimal | None:
    """The fine a decision carries: its amount only when 罚款 is among the 处罚类别 (an amount next to 警告 alone is
    no fine — 财库〔2022〕3号 and Order 36 speak of 罚款 amounts), else None."""
    cats = {c.strip().split("-")[0] for c in categories if c and c.strip()}
    return fine_yuan_of(fine_yuan) if "罚款" in cats else None


def _by_category(regime: dict[str, Any], cats: list[str]) -> list[tuple[str, str]]:
    default = str(regime["default_class"])
    mapping = regime.get("class_by_penalty_category") or {}
    found = [(str(mapping.get(c, default)), f"category:{c}") for c in cats] if mapping else []
    return found or [(default, "default")]


def category_class(regime: dict[str, Any], categories: list[str]) -> str:
    """The most severe class the 处罚类别 alone give under ``regime`` (its ``class_order``; default
    minor < general < safety_production < serious)."""
    found = _by_category(regime, [c.strip().split("-")[0] for c in categories if c and c.strip()])
    order = list(regime.get("class_order") or _CLASS_ORDER)
    return max((k for k, _ in found), key=lambda k: order.index(k) if k in order else -1)


@dataclass(frozen=True)
class Classification:
    regime_id: str
    regime_title_zh: str
    penalty_class: str
    publish: bool  # the class is published (natural persons' records: see creditflow.credit.rules.publicity)
    reasons: tuple[str, ...]  # which facts decided the class: category:<x>, fine_minor, fine_serious, listed, default
    mark: str
    source: str


def classify(decision_date: dt.date, categories: list[str], *, fine_yuan: Any = None,
             party_type: str | None = None, listed: bool = False) -> Classification:
    """The publicity class of a penalty decision under the regime in force on ``decision_date``.

    By 处罚类别 (``class_by_penalty_category``, most severe wins in the regime's ``class_order``), then — where
    the regime has ``fine_classes`` (Order 36) — a decision with only the categories of a small penalty and a
    fine at most the party type's 较小数额 is 轻微, a fine of at least the 巨额 amount is 严重, and a decision that
    puts the party on a 严重失信主体名单 (``listed``) is the regime's ``listed_class``. A 罚款 whose amount is
    None or 0 cannot be 轻微 (the amount is unknown)."""
    regime = publicity_regime(decision_date)
    cats = [c.strip().split("-")[0] for c in categories if c and c.strip()]
    fine = fine_of_categories(cats, fine_yuan)
    found = _by_category(regime, cats)
    order = list(regime.get("class_order") or _CLASS_ORDER)

    def rank(k: str) -> int:
        return order.index(k) if k in order else -1

    fc = regime.get("fine_classes") or {}
    minor = fc.get("minor")
    if minor and cats and set(cats) <= set(minor["categories_within"]):
        limit = _limit(minor.get("fine_max_yuan"), party_type)
        fined = "罚款" in cats
        if not fined or (fine is not None and limit is not None and 0 < fine <= limit):
            found = [("minor", "fine_minor" if fined else f"category:{cats[0]}")]
    serious = fc.get("serious")
    if serious and fine is not None:
        floor = _limit(serious.get("fine_min_yuan"), party_type)
        if floor is not None and fine >= floor:
            found.append(("serious", "fine_serious"))
    if listed and regime.get("listed_class"):
        found.append((str(regime["listed_class"]["class"]), "listed"))
    top = max(rank(k) for k, _ in found)
    klass = next(k for k, _ in found if rank(k) == top)
    reasons = tuple(r for k, r in found if k == klass)
    spec = regime["classes"][klass]
    return Classification(regime["id"], regime["title_zh"], klass, bool(spec.get("publish", True)), reasons,
                          str(regime.get("class_mark", regime["mark"])), " ".join(str(regime["source"]).split()))


def natural_persons_ref() -> dict[str, str]:
    spec = publicity_rules()["natural_persons"]
    return {"id": "natural_person_published", "source": " ".join(str(spec["source"]).split()),
            "mark": str(spec["mark"])}


def withheld_because(class_published: bool, party_type: str | None) -> str | None:
    """Why a penalty is not published at all, or None when it is: ``"class"`` — its publicity class is not
    published (Order 36 轻微); ``"natural_person"`` — the party is a 自然人 and natural persons' penalties are
    not published (``publicity.yaml`` natural_persons). The one answer the preview, the repair notice and the
    report's 免于公示 read."""
    if not class_published:
        return "class"
    if party_type == "自然人" and not bool(publicity_rules()["natural_persons"]["published"]):
        return "natural_person"
    return None


def unpublished_reason(decision_date: dt.date, categories: list[str], *, fine_yuan: Any = None,
                       party_type: str | None = None, listed: bool = False) -> str | None:
    """:func:`withheld_because` of a decision, classified by :func:`classify`."""
    c = classify(decision_date, categories, fine_yuan=fine_yuan, party_type=party_type, listed=listed)
    return withheld_because(c.publish, party_type)


# --- periods (民法典 arts. 200–204) ----------------------------------------------------------------


def counting() -> dict[str, Any]:
    return dict(publicity_rules()["counting"])


def _is_rest_day(day: dt.date, calendar: WorkdayCalendar) -> tuple[bool, bool]:
    """(the day is a 法定休假日, the official calendar covers its year). Beyond the covered years only
    Saturdays and Sundays are known to be rest days."""
    try:
        return not calendar.is_workday(day), True
    except CalendarNotCovered:
        return day.weekday() >= 5, False


def period_last_day(start: dt.date, months: int, calendar: WorkdayCalendar | None = None,
                    extend: bool = True) -> tuple[dt.date, bool]:
    """The last day of a period of ``months`` months from the event on ``start``, and whether that day is
    provisional (its year's holidays are not yet published).

    民法典 art. 201: the day of the event is not counted, the period starts the next day; art. 202: a period in
    months ends on the corresponding day of the last month, or that month's last day when it has none
    (``relativedelta`` clamps); art. 203: when the last day is a 法定休假日, the day after the holiday is the
    last day (``extend``); the period ends at 24:00 of its last day."""
    last = start + relativedelta(months=months)
    covered = True
    if extend:
        cal = calendar or official_calendar()
        while True:
            rest, known = _is_rest_day(last, cal)
            covered = covered and known
            if not rest:
                break
            last += dt.timedelta(days=1)
    return last, not covered


@dataclass(frozen=True)
class PublicityPeriod:
    regime_id: str
    regime_title_zh: str
    penalty_class: str
    publish: bool
    start: dt.date  # first day of the period: the day after the decision (民法典 art. 201)
    min_until: dt.date | None  # last day of the minimum period (None: no minimum)
    earliest_repair: dt.date | None  # the day after the minimum period: repair may be requested from then
    publication_end: dt.date  # last day of the maximum period; publication stops after it
    repairable: bool
    provisional: bool  # a date falls in a year whose holiday schedule is not yet published
    reasons: tuple[str, ...]
    mark: str
    source: str


def publicity_period(decision_date: dt.date, categories: list[str], *, fine_yuan: Any = None,
                     party_type: str | None = None, listed: bool = False,
                     calendar: WorkdayCalendar | None = None) -> PublicityPeriod:
    """The class (:func:`classify`) and the publicity periods of a penalty decided on ``decision_date``."""
    c = classify(decision_date, categories, fine_yuan=fine_yuan, party_type=party_type, listed=listed)
    d = class_dates(c.regime_id, c.penalty_class, decision_date, calendar)
    return PublicityPeriod(
        regime_id=c.regime_id, regime_title_zh=c.regime_title_zh, penalty_class=c.penalty_class, publish=c.publish,
        start=decision_date + dt.timedelta(days=1), min_until=d.min_until,
        earliest_repair=d.earliest_repair, publication_end=d.max_until, repairable=d.repairable,
        provisional=d.provisional, reasons=c.reasons, mark=c.mark, source=c.source)


@dataclass(frozen=True)
class ClassDates:
    min_until: dt.date | None
    earliest_repair: dt.date | None
    max_until: dt.date
    repairable: bool
    provisional: bool


def class_dates(regime_id: str, penalty_class: str, decision_date: dt.date,
                calendar: WorkdayCalendar | None = None) -> ClassDates:
    """The publicity dates of a penalty of ``penalty_class`` under ``regime_id`` decided on ``decision_date``,
    on the official calendar as it is NOW — the one computation :func:`publicity_period` and every reader of a
    stored penalty use (a date stored while its year's holidays were unknown is provisional; reading it again
    through here gives the real one once the year's calendar file is added: 民法典 art. 203)."""
    spec = _class_spec(regime_id, penalty_class)
    extends = set(counting().get("holiday_extends") or [])
    repairable = bool(spec.get("repairable", True))
    min_months = spec.get("min_months")
    min_until: dt.date | None = None
    provisional = False
    if min_months is None:
        earliest = None
    elif int(min_months) == 0:
        earliest = decision_date  # no minimum: repair as soon as the obligations are fulfilled
    else:
        min_until, provisional = period_last_day(decision_date, int(min_months), calendar, "min" in extends)
        earliest = min_until + dt.timedelta(days=1)
    end, max_provisional = period_last_day(decision_date, int(spec["max_months"]), calendar, "max" in extends)
    return ClassDates(min_until, earliest if repairable else None, end, repairable, provisional or max_provisional)


def _class_spec(regime_id: str, penalty_class: str) -> dict[str, Any]:
    regime = next(r for r in publicity_rules()["regimes"] if r["id"] == regime_id)
    return dict(regime["classes"][penalty_class])


def counting_ref() -> dict[str, str]:
    rule = counting()
    return {"id": "period_counting", "source": " ".join(str(rule["source"]).split()), "mark": str(rule["mark"])}
