"""Planning parameters: every weight, cap, share and frequency is read from ``data/planning/`` with its
source and verification mark, and listed in the plan's output (参数及来源).

The code here only parses and checks the files; what they mean is applied in ``workload``, ``risk``
and ``selection``. A malformed file raises :class:`PlanDataError` naming the file and the field.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

MARKS = ("S", "M", "local")
CRITERIA = ("high_risk", "unrectified_major_hazard", "fatal_accident_last_year", "dishonest_last_year", "listed_now")
CREDIT_RULES = ("on_list_at_plan_start_or_last_year", "penalty_within_years", "clean_record", "otherwise")
GRADES = ("一级", "二级", "三级", "未定级")
RISK_LEVELS = ("重大", "较大", "一般", "低")  # Guangdong's four-level scale of the assessed safety risk


class PlanDataError(ValueError):
    """A planning data file is missing a field, has a bad value, or contradicts itself."""


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


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlanDataError(f"{path.name}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise PlanDataError(f"{path.name}: not a mapping")
    return data


def _csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return [dict(r) for r in csv.DictReader(fh)]
    except OSError as exc:
        raise PlanDataError(f"{path.name}: cannot read: {exc}") from None


def _need(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] is None:
        raise PlanDataError(f"{where}: missing {key!r}")
    return data[key]


def _mark(value: Any, where: str) -> str:
    if str(value) not in MARKS:
        raise PlanDataError(f"{where}: mark must be one of {MARKS}, got {value!r}")
    return str(value)


def _sourced_value(data: dict[str, Any], key: str, where: str) -> tuple[Any, str, str]:
    entry = _need(data, key, where)
    if not isinstance(entry, dict) or "value" not in entry:
        raise PlanDataError(f"{where}.{key}: needs value, source and mark")
    return entry["value"], str(_need(entry, "source", f"{where}.{key}")), _mark(entry.get("mark"), f"{where}.{key}")


def _fraction(text: Any, where: str) -> Fraction:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        raise PlanDataError(f"{where}: not a ratio: {text!r}") from None
    if not 0 <= value <= 1:
        raise PlanDataError(f"{where}: ratio {text} outside [0, 1]")
    return value


def _as_date(value: Any, where: str) -> dt.date:
    try:
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise PlanDataError(f"{where}: not a date: {value!r}") from None


def _regimes(d: Path, caps_rows: list[dict[str, str]]) -> list[Regime]:
    data = _yaml(d / "key_rules.yaml")
    out: list[Regime] = []
    for i, r in enumerate(_need(data, "regimes", "key_rules.yaml")):
        where = f"key_rules.yaml regimes[{i}]"
        criteria = []
        for c in _need(r, "criteria", where):
            cw = f"{where}.criteria {c.get('id')!r}"
            if c.get("id") not in CRITERIA:
                raise PlanDataError(f"{cw}: unknown criterion (known: {', '.join(CRITERIA)})")
            levels = tuple(str(v) for v in (c.get("levels") or ()))
            if set(levels) - set(RISK_LEVELS):
                raise PlanDataError(f"{cw}: levels must be among {', '.join(RISK_LEVELS)}, got {list(levels)}")
            if c["id"] == "high_risk" and not levels:
                raise PlanDataError(f"{cw}: needs levels (the assessed risk levels that make a unit key)")
            criteria.append(Criterion(c["id"], str(_need(c, "name_zh", cw)), int(_need(c, "min_per_year", cw)),
                                      bool(c.get("quarterly", False)), tuple(c.get("classes", ()) or ()),
                                      str(_need(c, "source", cw)), _mark(c.get("mark"), cw), levels))
        caps: dict[tuple[str, str], int] = {}
        if str(r.get("caps", "none")) != "none":
            for row in caps_rows:
                if row["regime"] == r["id"]:
                    if row["standard_grade"] not in GRADES:
                        raise PlanDataError(f"frequency_caps.csv: unknown grade {row['standard_grade']!r}")
                    caps[(row["sector_group"], row["standard_grade"])] = int(row["max_per_year"])
            if not caps:
                raise PlanDataError(f"{where}: caps {r['caps']} has no rows for regime {r['id']}")
        kmin, _, _ = _sourced_value(r, "key_min_per_year", where)
        cycle, _, _ = _sourced_value(r, "general_cycle_years", where)
        out.append(Regime(str(r["id"]), str(_need(r, "title_zh", where)), _as_date(_need(r, "effective_from", where),
                          where), int(kmin), int(cycle), criteria, caps, str(_need(r, "source", where)),
                          _mark(r.get("mark"), where)))
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

    wl = _yaml(d / "workload.yaml")
    ipc, s, m = _sourced_value(wl, "inspectors_per_check", "workload.yaml")
    src.append(Sourced("inspectors_per_check", "每次检查执法人员数", ipc, s, m, "workload.yaml"))
    share, s, m = _sourced_value(wl, "key_share", "workload.yaml")
    if not 0 < float(share) < 1:
        raise PlanDataError(f"workload.yaml.key_share: {share} must be between 0 and 1")
    src.append(Sourced("key_share", "重点检查工作日占比", share, s, m, "workload.yaml"))
    days: dict[str, float] = {}
    for kind, label in (("key", "重点"), ("general", "一般")):
        v, s, m = _sourced_value(_need(wl, "days_per_check", "workload.yaml"), kind, "workload.yaml.days_per_check")
        if float(v) not in (0.5, 1.0):
            raise PlanDataError(f"workload.yaml.days_per_check.{kind}: only 0.5 or 1 team-day, got {v}")
        days[kind] = float(v)
        src.append(Sourced(f"days_per_check.{kind}", f"每次{label}检查占用组日", v, s, m, "workload.yaml"))
    items: list[WorkloadItem] = []
    for it in _need(wl, "items", "workload.yaml"):
        where = f"workload.yaml item {it.get('id')!r}"
        if it.get("group") not in ("other_enforcement", "non_enforcement"):
            raise PlanDataError(f"{where}: group must be other_enforcement or non_enforcement")
        per_i, per_u = it.get("per_inspector"), it.get("per_unit")
        if (per_i is None) == (per_u is None):
            raise PlanDataError(f"{where}: give exactly one of per_inspector / per_unit")
        value = float(per_i if per_i is not None else per_u)
        if value < 0:
            raise PlanDataError(f"{where}: negative days")
        items.append(WorkloadItem(str(it["id"]), str(it["group"]), str(_need(it, "name_zh", where)),
                                  float(per_i) if per_i is not None else None,
                                  float(per_u) if per_u is not None else None,
                                  str(_need(it, "source", where)), _mark(it.get("mark"), where)))
        src.append(Sourced(f"workload.{it['id']}", f"{it['name_zh']}（{'人均' if per_i is not None else '合计'}天）",
                           value, str(it["source"]), str(it["mark"]), "workload.yaml"))
    known_items = {i.id for i in items}
    if len(known_items) != len(items):
        raise PlanDataError("workload.yaml: item ids must be unique")
    inspector_days: dict[str, dict[str, float]] = {}
    for row in _csv(d / "inspector_days.csv"):
        if row["item_id"] not in known_items:
            raise PlanDataError(f"inspector_days.csv: unknown item_id {row['item_id']!r}")
        inspector_days.setdefault(row["inspector_id"], {})[row["item_id"]] = float(row["days"])
        src.append(Sourced(f"inspector_days.{row['inspector_id']}.{row['item_id']}", row.get("note") or "按人调整",
                           row["days"], row.get("source", ""), _mark(row.get("mark"), "inspector_days.csv"),
                           "inspector_days.csv"))

    industries: dict[str, Industry] = {}
    for row in _csv(d / "industries.csv"):
        industries[row["industry"]] = Industry(row["industry"], row["sector_group"], int(row["hazard_points"]),
                                               row["department"])
        src.append(Sourced(f"industry.{row['industry']}", f"行业基础分：{row['industry']}（{row['sector_group']}）",
                           int(row["hazard_points"]), row["source"], _mark(row["mark"], "industries.csv"),
                           "industries.csv"))
    if "*" not in industries:
        raise PlanDataError("industries.csv: needs a '*' row (default for unlisted industries)")
    tags: dict[str, int] = {}
    for row in _csv(d / "hazard_tags.csv"):
        tags[row["tag"]] = int(row["points"])
        src.append(Sourced(f"tag.{row['tag']}", f"风险标签分：{row['tag']}", int(row["points"]), row["source"],
                           _mark(row["mark"], "hazard_tags.csv"), "hazard_tags.csv"))

    rw = _yaml(d / "risk_weights.yaml")
    for key in ("lookback_years", "risk_level", "standard_grade", "accidents", "inspections", "credit", "classes"):
        _need(rw, key, "risk_weights.yaml")
    for key, entry in rw["lookback_years"].items():
        src.append(Sourced(f"lookback.{key}", f"回溯年数：{key}", entry["value"], entry["source"],
                           _mark(entry.get("mark"), "risk_weights.yaml"), "risk_weights.yaml"))
    for section in ("risk_level", "standard_grade", "accidents", "inspections", "credit"):
        entry = rw[section]
        values = entry.get("points", {k: v for k, v in entry.items() if k not in ("mark", "source")})
        src.append(Sourced(f"risk.{section}", f"风险评分：{section}", values, str(_need(entry, "source", section)),
                           _mark(entry.get("mark"), f"risk_weights.yaml.{section}"), "risk_weights.yaml"))
    classes = [RiskClass(str(c["code"]), str(c["name_zh"]), int(c["min_score"])) for c in rw["classes"]["list"]]
    if [c.min_score for c in classes] != sorted((c.min_score for c in classes), reverse=True) or classes[-1].min_score:
        raise PlanDataError("risk_weights.yaml.classes: min_score must decrease and end at 0")
    src.append(Sourced("risk.classes", "风险类别分界（总分）", {c.code: c.min_score for c in classes},
                       rw["classes"]["source"], _mark(rw["classes"].get("mark"), "classes"), "risk_weights.yaml"))
    codes = {c.code for c in classes}

    cr = _yaml(d / "credit.yaml")
    for st in _need(cr, "statuses", "credit.yaml"):
        if st.get("rule") not in CREDIT_RULES:
            raise PlanDataError(f"credit.yaml: unknown rule {st.get('rule')!r}")
    src.append(Sourced("credit.statuses", "信用状况判定", [(s["name_zh"], s["rule"], s.get("years")) for s in
                                                        cr["statuses"]], cr["source"], _mark(cr.get("mark"), "credit"),
                       "credit.yaml"))
    excl, s, m = _sourced_value(cr, "good_credit_excludes_key_supervision", "credit.yaml")
    src.append(Sourced("credit.excludes_key_supervision", "信用良好减频不适用于重点监管企业", excl, s, m,
                       "credit.yaml"))

    caps_rows = _csv(d / "frequency_caps.csv")
    regime = regime_for(_regimes(d, caps_rows), year)
    src.append(Sourced("regime", "适用的分类分级执法办法", regime.title_zh, regime.source, regime.mark,
                       "key_rules.yaml"))
    for c in regime.criteria:
        unknown = set(c.classes) - codes
        if unknown:
            raise PlanDataError(f"key_rules.yaml {regime.id}.{c.id}: unknown risk classes {sorted(unknown)}")
        src.append(Sourced(f"criterion.{c.id}", f"重点情形：{c.name_zh}（每年至少{c.min_per_year}次）", c.min_per_year,
                           c.source, c.mark, "key_rules.yaml"))
    for (group, grade), cap in sorted(regime.caps.items()):
        row = next(r for r in caps_rows if r["regime"] == regime.id and r["sector_group"] == group
                   and r["standard_grade"] == grade)
        src.append(Sourced(f"cap.{group}.{grade}", f"年度检查上限：{group} 标准化{grade}", cap, row["source"],
                           _mark(row["mark"], "frequency_caps.csv"), "frequency_caps.csv"))
    kr = _yaml(d / "key_rules.yaml")
    kf = _need(kr, "key_frequency_by_class", "key_rules.yaml")
    per_class = {str(k): int(v) for k, v in kf["per_year"].items()}
    if set(per_class) != codes:
        raise PlanDataError(f"key_rules.yaml.key_frequency_by_class: needs exactly the classes {sorted(codes)}")
    src.append(Sourced("key_frequency_by_class", "重点单位按风险类别的计划频次", per_class, kf["source"],
                       _mark(kf.get("mark"), "key_frequency_by_class"), "key_rules.yaml"))

    dr = _yaml(d / "double_random.yaml")
    excl_m, s, m = _sourced_value(dr, "exclusion_months", "double_random.yaml")
    src.append(Sourced("exclusion_months", "抽取库排除近期已检查（月）", excl_m, s, m, "double_random.yaml"))
    applies, s, m = _sourced_value(dr, "exclusion_applies_to", "double_random.yaml")
    if not set(applies) <= {"good", "ordinary", "bad"}:
        raise PlanDataError("double_random.yaml.exclusion_applies_to: only good, ordinary, bad")
    src.append(Sourced("exclusion_applies_to", "近期已检查排除适用的信用状况", applies, s, m, "double_random.yaml"))
    team, s, m = _sourced_value(dr, "min_team_size", "double_random.yaml")
    if int(team) < 2:
        raise PlanDataError("double_random.yaml.min_team_size: at least 2 inspectors per inspection")
    src.append(Sourced("min_team_size", "检查组最少人数", team, s, m, "double_random.yaml"))
    ratios: dict[str, dict[str, Fraction]] = {}
    for code, row in _need(dr, "ratios", "double_random.yaml").items():
        ratios[str(code)] = {k: _fraction(row[k], f"double_random.yaml.ratios.{code}.{k}")
                             for k in ("good", "ordinary", "bad")}
        r = ratios[str(code)]
        if not r["good"] <= r["ordinary"] <= r["bad"] or r["good"] == r["bad"]:
            raise PlanDataError(f"double_random.yaml.ratios.{code}: need good ≤ ordinary ≤ bad and good < bad "
                                "(守信减频)")
    if set(ratios) != codes:
        raise PlanDataError(f"double_random.yaml.ratios: needs exactly the classes {sorted(codes)}")
    src.append(Sourced("ratios", "双随机抽查比例（基础风险 × 信用）", {k: {c: str(f) for c, f in v.items()}
                                                                    for k, v in ratios.items()},
                       dr["source"], _mark(dr.get("mark"), "double_random"), "double_random.yaml"))
    it = _yaml(d / "inspection_items.yaml")
    return PlanParameters(
        data_dir=d, regime=regime, inspectors_per_check=int(ipc), days_per_check=days, key_share=float(share),
        workload_items=items, inspector_days=inspector_days, industries=industries, hazard_tags=tags, risk=rw,
        classes=classes, credit=cr, key_frequency_by_class=per_class, exclusion_months=int(excl_m),
        exclusion_applies_to=tuple(applies),
        min_team_size=int(team), ratios=ratios, items=list(_need(it, "items", "inspection_items.yaml")), sourced=src)
