"""The credit loop's rules as data (``data/credit/*.yaml``), each with its source and mark.

Periods and time limits are :class:`creditflow.core.rules.Deadline` entries: those the 双公示 rules already
hold (``data/rules/deadlines.yaml``: the list procedure's objection period, publication limit, management
period, early-removal wait, the 3-day withdrawal) and the credit loop's own (``data/credit/periods.yaml``).
Publicity periods are :func:`creditflow.core.rules.publicity_period` (Order 58 / Order 36 by decision date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from creditflow.core import publicity as core_publicity
from creditflow.core import rules as core_rules
from creditflow.core.rules import Deadline, NoRuleInForce
from creditflow.credit import citations

PARTY_TYPES = ("法人及非法人组织", "个体工商户", "自然人")


def _load(name: str) -> dict[str, Any]:
    path = resources.files("creditflow") / "data" / "credit" / name
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def listing() -> dict[str, Any]:
    return _load("listing.yaml")


@lru_cache(maxsize=1)
def repair_notice() -> dict[str, Any]:
    return _load("repair_notice.yaml")


@lru_cache(maxsize=1)
def integrity_policy() -> dict[str, Any]:
    return _load("integrity.yaml")


@lru_cache(maxsize=1)
def _credit_deadlines() -> tuple[Deadline, ...]:
    out = []
    for e in _load("periods.yaml")["deadlines"]:
        out.append(Deadline(e["id"], e["title_zh"], e["effective_from"], int(e["amount"]), e["unit"], e["start"],
                            str(e["mark"]), " ".join(str(e["source"]).split())))
    return tuple(out)


def deadline(rule_id: str, on: dt.date) -> Deadline:
    """The version of ``rule_id`` in force on ``on``, from either deadline file."""
    mine = [d for d in _credit_deadlines() if d.id == rule_id and d.effective_from <= on]
    if mine:
        return max(mine, key=lambda d: d.effective_from)
    return core_rules.deadline(rule_id, on)


def due(rule_id: str, start: dt.date) -> dt.date:
    """``start`` + the period ``rule_id`` in force on ``start`` (working days on the official calendar)."""
    return deadline(rule_id, start).apply(start)


def repair_due(received_on: dt.date, accepted_on: dt.date | None = None, complex_case: bool = False) -> dt.date:
    """When a credit-repair application received on ``received_on`` must be decided, under the time limits in
    force that day (``periods.yaml`` repair_acceptance / repair_decision / repair_extension): the decision limit
    from acceptance (the acceptance limit when ``accepted_on`` is not known) or from receipt, plus the extension
    for a complex case."""
    decision = deadline("repair_decision", received_on)
    start = received_on
    if decision.start == "request_accepted":
        start = accepted_on or due("repair_acceptance", received_on)
    out = decision.apply(start)
    if complex_case:
        try:
            extension = deadline("repair_extension", received_on)
        except NoRuleInForce:  # Order 58 fixes no extension for a complex case: the limit stays
            return out
        out = extension.apply(out)
    return out


def ref(rule_id: str, on: dt.date) -> dict[str, str]:
    """``{"id", "source", "mark"}`` of a deadline, for answers that cite their rules."""
    d = deadline(rule_id, on)
    return {"id": d.id, "source": d.source, "mark": d.mark}


# --- listing situations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    id: str
    article: str
    group: str
    title_zh: str
    detector: dict[str, Any]
    mark: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.article} {self.title_zh}"

    def matches_penalty(self, violation: str | None, basis: str | None, categories: list[str]) -> bool | None:
        """Whether a penalty meets this situation's detector: True / False, or None when the detector
        needs a text that was not given (an impact preview without the violation type)."""
        d = self.detector
        if d.get("type") != "penalty":
            return False
        known = True
        for key, text in (("violation_regex", violation), ("basis_regex", basis)):
            if key in d:
                if text is None:
                    known = False
                elif not citations.search(str(d[key]), text):
                    return False
        wanted = d.get("categories_any")
        if wanted and not set(wanted) & set(categories):
            return False
        return True if known else None


@lru_cache(maxsize=1)
def situations() -> tuple[Situation, ...]:
    out = []
    for s in listing()["situations"]:
        mark = str(s["mark"]) + (f"/detector {s['detector_mark']}" if s.get("detector_mark") else "")
        out.append(Situation(s["id"], s["article"], s["group"], s["title_zh"], dict(s["detector"]), mark,
                             " ".join(str(s["source"]).split())))
    return tuple(out)


def situation(situation_id: str) -> Situation:
    for s in situations():
        if s.id == situation_id:
            return s
    raise KeyError(f"no listing situation {situation_id!r}")


def documents_config() -> dict[str, Any]:
    return dict(listing()["documents"])


def early_removal_conditions() -> list[dict[str, Any]]:
    return [dict(c) for c in listing()["early_removal"]["conditions"]]


def measures_zh() -> list[str]:
    return [str(m) for m in listing()["measures"]["items_zh"]]


# --- publicity and repair ------------------------------------------------------------------------------


def party_type_of(label: str | None) -> str:
    """The 双公示 party category of a CLI/page word (legal, natural, individual, or the Chinese label)."""
    words = {"legal": "法人及非法人组织", "org": "法人及非法人组织", "natural": "自然人", "person": "自然人",
             "individual": "个体工商户", "sole": "个体工商户"}
    text = (label or "").strip()
    if text in PARTY_TYPES:
        return text
    if text.lower() in words:
        return words[text.lower()]
    raise ValueError(f"unknown party type {label!r}: use legal, individual or natural")


@dataclass(frozen=True)
class Publicity:
    """A penalty's publicity under the regime in force on its decision date, for this party type.

    ``min_until`` is the last day of the minimum period and ``earliest_repair`` the day after it
    (民法典 arts. 201–203, :func:`creditflow.core.publicity.period_last_day`); ``max_until`` the last day of
    publication."""

    regime_id: str
    regime_title_zh: str
    penalty_class: str
    published: bool
    repairable: bool
    min_until: dt.date | None
    max_until: dt.date
    earliest_repair: dt.date | None
    rules: tuple[dict[str, str], ...]
    provisional: bool = False


def publicity(decision_date: dt.date, categories: list[str], party_type: str, fine_yuan: Any = None,
              listed: bool = False) -> Publicity:
    """Publicity of a penalty: :func:`creditflow.core.publicity.publicity_period` (the one classification),
    with natural persons' penalties not published [M] (:func:`creditflow.core.publicity.withheld_because`)."""
    period = core_publicity.publicity_period(decision_date, categories, fine_yuan=fine_yuan, party_type=party_type,
                                             listed=listed)
    published = core_publicity.withheld_because(period.publish, party_type) is None
    refs = [{"id": period.regime_id, "source": period.source, "mark": period.mark}]
    regime = core_publicity.publicity_regime(decision_date)
    fines = regime.get("fine_classes") or {}
    specs = {"fine_minor": fines.get("minor"), "fine_serious": fines.get("serious"),
             "listed": regime.get("listed_class")}
    for reason in period.reasons:
        spec = specs.get(reason)
        if spec:
            refs.append({"id": f"{period.regime_id}:{reason}", "source": " ".join(str(spec["source"]).split()),
                         "mark": str(spec["mark"])})
    refs.append(core_publicity.counting_ref())
    if party_type == "自然人":
        refs.append(core_publicity.natural_persons_ref())
    return Publicity(period.regime_id, period.regime_title_zh, period.penalty_class, published,
                     period.repairable, period.min_until, period.publication_end, period.earliest_repair, tuple(refs),
                     period.provisional)


def regime_notice_text(regime_id: str) -> dict[str, Any]:
    """The repair notice's wording under a regime; Order 36's conditions come from publicity.yaml."""
    spec = dict(repair_notice()["regimes"].get(regime_id) or {})
    if "conditions_zh" not in spec:
        regime: dict[str, Any] = next((r for r in core_rules.publicity_rules()["regimes"] if r["id"] == regime_id), {})
        spec["conditions_zh"] = list(regime.get("repair_conditions_zh") or [])
    if not spec:
        raise NoRuleInForce(f"no repair-notice wording for regime {regime_id!r}")
    return spec


def gets_repair_notice(party_type: str) -> bool:
    return party_type in repair_notice()["notice"]["party_types"]


# --- integrity -------------------------------------------------------------------------------------------


def purpose(name: str | None) -> tuple[str, dict[str, Any]]:
    policy = integrity_policy()
    key = name or str(policy["default_purpose"])
    if key not in policy["purposes"]:
        raise ValueError(f"unknown purpose {key!r}: one of {', '.join(policy['purposes'])}")
    return key, dict(policy["purposes"][key])


def major_violation_rule(decision_date: dt.date) -> dict[str, Any]:
    """The 重大违法记录 definition in force on a penalty's decision date (``integrity.yaml``)."""
    versions = [v for v in integrity_policy()["major_violation"] if v["effective_from"] <= decision_date]
    if not versions:
        raise NoRuleInForce(f"no 重大违法记录 rule in force on {decision_date}")
    return dict(max(versions, key=lambda v: v["effective_from"]))


def major_violation(decision_date: dt.date, categories: list[str], fine_yuan: Any) -> bool | None:
    """Whether a penalty is a 重大违法记录 under the rule in force on its decision date: True / False, or None
    when only a fine could make it one and that rule fixes no amount (a person must judge it)."""
    spec = major_violation_rule(decision_date)
    if set(spec["categories"]) & {c.strip().split("-")[0] for c in categories}:
        return True
    fine = core_publicity.fine_of_categories(categories, fine_yuan)  # the amount counts only with 罚款
    if fine is None or fine == 0:
        return False
    if spec.get("min_fine_yuan") is None:
        return None
    return fine >= Decimal(str(spec["min_fine_yuan"]))


def major_violation_until(decision_date: dt.date) -> dt.date:
    from dateutil.relativedelta import relativedelta

    return decision_date + relativedelta(months=int(major_violation_rule(decision_date)["window_months"]))


def major_violation_ref(decision_date: dt.date) -> dict[str, str]:
    spec = major_violation_rule(decision_date)
    return {"id": f"major_violation:{spec['id']}", "source": " ".join(str(spec["source"]).split()),
            "mark": str(spec["mark"])}
