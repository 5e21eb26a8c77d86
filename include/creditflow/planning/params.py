"""Planning parameters: every weight, cap, share and frequency is read from ``data/planning/`` with its
source and verification mark, and listed in the plan's output (参数及来源).

The code here only reads the files, checked against their shapes (pydantic models, one per file:
:mod:`.datafiles`); what they mean is applied in ``workload``, ``risk`` and ``selection``. A malformed file raises
:class:`PlanDataError` naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from creditflow.planning.datafiles import (
    CREDIT_RULES,
    CRITERIA,
    GRADES,
    MARKS,
    RISK_LEVELS,
    CapRow,
    CreditFile,
    DoubleRandomFile,
    IndustryRow,
    InspectorDays,
    ItemsFile,
    KeyRulesFile,
    PlanDataError,
    RiskFile,
    Section,
    TagRow,
    WorkloadFile,
    read_csv,
    read_yaml,
)

__all__ = ["CREDIT_RULES", "CRITERIA", "GRADES", "MARKS", "RISK_LEVELS", "PlanDataError", "PlanParameters",
           "default_data_dir", "load_parameters", "regime_for"]

@dataclass(frozen=True)
class Sourced:
    """One parameter value with where it comes from."""

    key: str
    name_zh: str
    value: Any
    source: str
    mark: str
    file: str


@dataclass
class WorkloadItem:
    id: str
    group: str  # other_enforcement | non_enforcement
    name_zh: str
    per_inspector: float | None
    per_unit: float | None
    source: str
    mark: str


@dataclass
class Criterion:
    id: str
    name_zh: str
    min_per_year: int
    quarterly: bool
    classes: tuple[str, ...]
    source: str
    mark: str
    levels: tuple[str, ...] = ()  # assessed risk levels (enterprise.risk_level) that make a unit key


@dataclass
class Regime:
    id: str
    title_zh: str
    effective_from: dt.date
    key_min_per_year: int
    general_cycle_years: int
    criteria: list[Criterion]
    caps: dict[tuple[str, str], int]  # (sector_group, standard_grade) -> max inspections per year
    source: str
    mark: str


@dataclass
class Industry:
    name: str
    sector_group: str
    hazard_points: int
    department: str


@dataclass
class RiskClass:
    code: str
    name_zh: str
    min_score: int


@dataclass
class PlanParameters:
    data_dir: Path
    regime: Regime
    inspectors_per_check: int
    days_per_check: dict[str, float]  # key / general
    key_share: float
    workload_items: list[WorkloadItem]
    inspector_days: dict[str, dict[str, float]]  # inspector_id -> item_id -> days (replaces per_inspector)
    industries: dict[str, Industry]
    hazard_tags: dict[str, int]
    risk: dict[str, Any]
    classes: list[RiskClass]
    credit: dict[str, Any]
    key_frequency_by_class: dict[str, int]
    exclusion_months: int
    exclusion_applies_to: tuple[str, ...]
    min_team_size: int
    ratios: dict[str, dict[str, Fraction]]
    items: list[dict[str, str]]
    sourced: list[Sourced] = field(default_factory=list)

    def industry(self, name: str | None) -> Industry:
        return self.industries.get(name or "", self.industries["*"])

    def class_of(self, score: int) -> RiskClass:
        for rc in self.classes:
            if score >= rc.min_score:
                return rc
        return self.classes[-1]

    @property
    def class_names(self) -> dict[str, str]:
        return {rc.code: rc.name_zh for rc in self.classes}


def default_data_dir() -> Path:
    return Path(str(resources.files("creditflow") / "data" / "planning"))


def _regimes(kr: KeyRulesFile, caps_rows: list[CapRow]) -> list[Regime]:
    out: list[Regime] = []
    for i, r in enumerate(kr.regimes):
        caps: dict[tuple[str, str], int] = {}
        if r.caps != "none":
            caps = {(row.sector_group, row.standard_grade): row.max_per_year for row in caps_rows
                    if row.regime == r.id}
            if not caps:
                raise PlanDataError(f"key_rules.yaml regimes[{i}]: caps {r.caps} has no rows for regime {r.id}")
        criteria = [Criterion(c.id, c.name_zh, c.min_per_year, c.quarterly, c.classes, c.source, c.mark, c.levels)
                    for c in r.criteria]
        out.append(Regime(r.id, r.title_zh, r.effective_from, r.key_min_per_year.value, r.general_cycle_years.value,
                          criteria, caps, r.source, r.mark))
    return sorted(out, key=lambda g: g.effective_from)


def regime_for(regimes: list[Regime], year: int) -> Regime:
    """The newest regime in force on 1 January of the plan year."""
    start = dt.date(year, 1, 1)
    valid = [r for r in regimes if r.effective_from <= start]
    if not valid:
        raise PlanDataError(f"key_rules.yaml: no regime in force on {start} (earliest "
                            f"{regimes[0].effective_from if regimes else 'none'})")
    return valid[-1]


def load_parameters(year: int, data_dir: str | Path | None = None) -> PlanParameters:
    """Read and check every planning data file for plan ``year``."""
    d = Path(data_dir) if data_dir else default_data_dir()
    src: list[Sourced] = []

    wl, _ = read_yaml(d / "workload.yaml", WorkloadFile)
    src.append(Sourced("inspectors_per_check", "每次检查执法人员数", wl.inspectors_per_check.value,
                       wl.inspectors_per_check.source, wl.inspectors_per_check.mark, "workload.yaml"))
    src.append(Sourced("key_share", "重点检查工作日占比", wl.key_share.value, wl.key_share.source, wl.key_share.mark,
                       "workload.yaml"))
    days: dict[str, float] = {}
    for kind, label in (("key", "重点"), ("general", "一般")):
        v = getattr(wl.days_per_check, kind)
        days[kind] = v.value
        src.append(Sourced(f"days_per_check.{kind}", f"每次{label}检查占用组日", v.value, v.source, v.mark,
                           "workload.yaml"))
    items = [WorkloadItem(it.id, it.group, it.name_zh, it.per_inspector, it.per_unit, it.source, it.mark)
             for it in wl.items]
    src += [Sourced(f"workload.{it.id}", f"{it.name_zh}（{'人均' if it.per_inspector is not None else '合计'}天）",
                    it.days, it.source, it.mark, "workload.yaml") for it in wl.items]
    known_items = {i.id for i in items}
    inspector_days: dict[str, dict[str, float]] = {}
    for row in read_csv(d / "inspector_days.csv", InspectorDays):
        if row.item_id not in known_items:
            raise PlanDataError(f"inspector_days.csv: unknown item_id {row.item_id!r}")
        inspector_days.setdefault(row.inspector_id, {})[row.item_id] = row.days
        src.append(Sourced(f"inspector_days.{row.inspector_id}.{row.item_id}", row.note or "按人调整", f"{row.days:g}",
                           row.source, row.mark, "inspector_days.csv"))

    industries: dict[str, Industry] = {}
    for ind in read_csv(d / "industries.csv", IndustryRow):
        industries[ind.industry] = Industry(ind.industry, ind.sector_group, ind.hazard_points, ind.department)
        src.append(Sourced(f"industry.{ind.industry}", f"行业基础分：{ind.industry}（{ind.sector_group}）",
                           ind.hazard_points, ind.source, ind.mark, "industries.csv"))
    if "*" not in industries:
        raise PlanDataError("industries.csv: needs a '*' row (default for unlisted industries)")
    tags: dict[str, int] = {}
    for tag in read_csv(d / "hazard_tags.csv", TagRow):
        tags[tag.tag] = tag.points
        src.append(Sourced(f"tag.{tag.tag}", f"风险标签分：{tag.tag}", tag.points, tag.source, tag.mark,
                           "hazard_tags.csv"))

    risk, rw = read_yaml(d / "risk_weights.yaml", RiskFile)
    src += [Sourced(f"lookback.{key}", f"回溯年数：{key}", e.value, e.source, e.mark, "risk_weights.yaml")
            for key, e in risk.lookback_years.items()]
    for section in ("risk_level", "standard_grade", "accidents", "inspections", "credit"):
        sec: Section = getattr(risk, section)
        src.append(Sourced(f"risk.{section}", f"风险评分：{section}", sec.points(), sec.source, sec.mark,
                           "risk_weights.yaml"))
    classes = [RiskClass(c.code, c.name_zh, c.min_score) for c in risk.classes.entries]
    src.append(Sourced("risk.classes", "风险类别分界（总分）", {c.code: c.min_score for c in classes},
                       risk.classes.source, risk.classes.mark, "risk_weights.yaml"))
    codes = {c.code for c in classes}

    credit, cr = read_yaml(d / "credit.yaml", CreditFile)
    src.append(Sourced("credit.statuses", "信用状况判定", [(s.name_zh, s.rule, s.years) for s in credit.statuses],
                       credit.source, credit.mark, "credit.yaml"))
    excl = credit.good_credit_excludes_key_supervision
    src.append(Sourced("credit.excludes_key_supervision", "信用良好减频不适用于重点监管企业", excl.value, excl.source,
                       excl.mark, "credit.yaml"))

    caps_rows = read_csv(d / "frequency_caps.csv", CapRow)
    kr, _ = read_yaml(d / "key_rules.yaml", KeyRulesFile)
    regime = regime_for(_regimes(kr, caps_rows), year)
    src.append(Sourced("regime", "适用的分类分级执法办法", regime.title_zh, regime.source, regime.mark,
                       "key_rules.yaml"))
    for c in regime.criteria:
        unknown = set(c.classes) - codes
        if unknown:
            raise PlanDataError(f"key_rules.yaml {regime.id}.{c.id}: unknown risk classes {sorted(unknown)}")
        src.append(Sourced(f"criterion.{c.id}", f"重点情形：{c.name_zh}（每年至少{c.min_per_year}次）", c.min_per_year,
                           c.source, c.mark, "key_rules.yaml"))
    for (group, grade), cap in sorted(regime.caps.items()):
        cap_row = next(r for r in caps_rows if r.regime == regime.id and r.sector_group == group
                       and r.standard_grade == grade)
        src.append(Sourced(f"cap.{group}.{grade}", f"年度检查上限：{group} 标准化{grade}", cap, cap_row.source,
                           cap_row.mark, "frequency_caps.csv"))
    kf = kr.key_frequency_by_class
    if set(kf.per_year) != codes:
        raise PlanDataError(f"key_rules.yaml.key_frequency_by_class: needs exactly the classes {sorted(codes)}")
    src.append(Sourced("key_frequency_by_class", "重点单位按风险类别的计划频次", kf.per_year, kf.source, kf.mark,
                       "key_rules.yaml"))

    dr, _ = read_yaml(d / "double_random.yaml", DoubleRandomFile)
    for key, name in (("exclusion_months", "抽取库排除近期已检查（月）"),
                      ("exclusion_applies_to", "近期已检查排除适用的信用状况"), ("min_team_size", "检查组最少人数")):
        v = getattr(dr, key)
        src.append(Sourced(key, name, v.value, v.source, v.mark, "double_random.yaml"))
    ratios = {code: {"good": r.good, "ordinary": r.ordinary, "bad": r.bad} for code, r in dr.ratios.items()}
    if set(ratios) != codes:
        raise PlanDataError(f"double_random.yaml.ratios: needs exactly the classes {sorted(codes)}")
    src.append(Sourced("ratios", "双随机抽查比例（基础风险 × 信用）", {k: {c: str(f) for c, f in v.items()}
                                                                    for k, v in ratios.items()},
                       dr.source, dr.mark, "double_random.yaml"))
    it, _ = read_yaml(d / "inspection_items.yaml", ItemsFile)
    return PlanParameters(
        data_dir=d, regime=regime, inspectors_per_check=wl.inspectors_per_check.value, days_per_check=days,
        key_share=wl.key_share.value, workload_items=items, inspector_days=inspector_days, industries=industries,
        hazard_tags=tags, risk=rw, classes=classes, credit=cr, key_frequency_by_class=dict(kf.per_year),
        exclusion_months=dr.exclusion_months.value, exclusion_applies_to=tuple(dr.exclusion_applies_to.value),
        min_team_size=dr.min_team_size.value, ratios=ratios, items=it.items, sourced=src)
