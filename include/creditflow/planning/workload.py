"""工作日测算表 (安监总政法〔2017〕150号): N × 执法人员 = 总法定工作日 T; T − 其他执法工作日 O − 非执法工作日 F
= 监督检查工作日 S = 重点 K + 一般 G.

N comes from the official calendar only (:class:`creditflow.core.workdays.CalendarNotCovered` for a year
without a published schedule). Every subtotal and percentage is recomputed by :meth:`WorkdayTable.check`,
and percentages are rounded so that the printed ones add up to exactly 100.0 (largest remainder), which is
where published spreadsheets go wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from creditflow.planning.params import PlanParameters

UNITS_RULE = "150号：天数 ÷ (每次人数 × 每次天数)"
GROUP_LABELS = {"other_enforcement": "其他执法工作日", "non_enforcement": "非执法工作日"}


def statutory_days(year: int) -> int:
    """法定工作日 of ``year`` from the official calendar; raises CalendarNotCovered for an unknown year."""
    from creditflow.core.workdays import official_calendar

    return official_calendar().working_days_in_year(year)


def _q(value: float, places: str = "0.1") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def shares_to_100(parts: list[float], places: int = 1) -> list[Decimal]:
    """Percentages of ``parts`` rounded to ``places`` decimals that add up to exactly 100 (largest remainder)."""
    total = sum(parts)
    if total <= 0:
        return [Decimal(0).quantize(Decimal(1).scaleb(-places)) for _ in parts]
    unit = Decimal(1).scaleb(-places)
    raw = [Decimal(str(p)) * 100 / Decimal(str(total)) for p in parts]
    floors = [(r / unit).to_integral_value(rounding="ROUND_FLOOR") * unit for r in raw]
    missing = int(((Decimal(100) - sum(floors)) / unit).to_integral_value())
    order = sorted(range(len(parts)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += unit
    return [f.quantize(unit) for f in floors]


@dataclass
class WorkdayItem:
    id: str
    group: str
    name_zh: str
    days: float  # total inspector-days
    basis: str  # "人均 20 天 × 8 人" / "合计 30 天"
    source: str
    mark: str


@dataclass
class WorkdayTable:
    year: int
    statutory_days: int
    inspectors: int
    items: list[WorkdayItem]
    key_share: float
    inspector_inspection_days: dict[str, float] = field(default_factory=dict)
    inspectors_per_check: int = 2
    days_per_check: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return float(self.statutory_days * self.inspectors)

    def group_total(self, group: str) -> float:
        return sum(i.days for i in self.items if i.group == group)

    @property
    def other_enforcement(self) -> float:
        return self.group_total("other_enforcement")

    @property
    def non_enforcement(self) -> float:
        return self.group_total("non_enforcement")

    @property
    def inspection(self) -> float:
        return self.total - self.other_enforcement - self.non_enforcement

    @property
    def key(self) -> float:
        return float(_q(self.inspection * self.key_share))

    @property
    def general(self) -> float:
        return self.inspection - self.key

    def checks_possible(self, kind: str) -> int:
        """Inspections the days allow: days ÷ (inspectors per check × days per check)."""
        days = self.key if kind == "key" else self.general
        return int(days // (self.inspectors_per_check * self.days_per_check[kind]))

    def rows(self) -> list[tuple[str, str, float, str, str, str]]:
        """(code, 项目, 天数, 占比, 口径, 来源) in the order published tables use; percentages add to 100."""
        o, f, s = self.other_enforcement, self.non_enforcement, self.inspection
        pct_t = shares_to_100([o, f, s])
        pct_s = shares_to_100([self.key, self.general])
        out: list[tuple[str, str, float, str, str, str]] = [
            ("N", "国家法定工作日", float(self.statutory_days), "", "官方工作日历",
             "国务院办公厅节假日安排（creditflow.core.workdays）"),
            ("n", "执法人员数", float(self.inspectors), "", "在岗执法人员", "执法案件系统 inspector 表（active = 1）"),
            ("T", "总法定工作日 = N × 执法人员数", self.total, "100.0%", "", "150号测算表"),
        ]
        for group, total, pct in (("other_enforcement", o, pct_t[0]), ("non_enforcement", f, pct_t[1])):
            out.append(("O" if group == "other_enforcement" else "F", GROUP_LABELS[group], total, f"{pct}%",
                        "各项合计", "150号测算表"))
            for it in self.items:
                if it.group == group:
                    out.append((f"  {it.id}", f"  {it.name_zh}", it.days, "", it.basis, f"[{it.mark}] {it.source}"))
        out += [
            ("S", "监督检查工作日 = T − O − F", s, f"{pct_t[2]}%", "", "150号测算表"),
            ("K", "其中：重点检查工作日", self.key, f"{pct_s[0]}%（占S）", f"S × {self.key_share:g}",
             "workload.yaml key_share"),
            ("G", "其中：一般检查工作日", self.general, f"{pct_s[1]}%（占S）", "S − K", "150号测算表"),
            ("K/c", "可安排重点检查（户次）", float(self.checks_possible("key")), "",
             f"K ÷ ({self.inspectors_per_check}人 × {self.days_per_check['key']:g}天)", UNITS_RULE),
            ("G/c", "可安排一般检查（户次）", float(self.checks_possible("general")), "",
             f"G ÷ ({self.inspectors_per_check}人 × {self.days_per_check['general']:g}天)", UNITS_RULE),
        ]
        return out

    def check(self) -> list[str]:
        """Recompute every subtotal and percentage; the problems found (an empty list means the table adds up)."""
        problems: list[str] = []
        if self.inspectors <= 0:
            problems.append("执法人员数为0")
        if abs(self.total - self.statutory_days * self.inspectors) > 1e-9:
            problems.append("T ≠ N × 执法人员数")
        for it in self.items:
            if it.days < 0:
                problems.append(f"{it.name_zh} 天数为负")
        if abs(self.other_enforcement + self.non_enforcement + self.inspection - self.total) > 1e-6:
            problems.append("O + F + S ≠ T")
        if self.inspection < 0:
            problems.append(f"监督检查工作日为负（{self.inspection:g}）：其他执法与非执法工作日超过总法定工作日")
        if abs(self.key + self.general - self.inspection) > 1e-6:
            problems.append("K + G ≠ S")
        per_inspector = sum(self.inspector_inspection_days.values())
        if self.inspector_inspection_days and abs(per_inspector - self.inspection) > 0.05 * max(1, self.inspectors):
            problems.append(f"按人合计的监督检查工作日 {per_inspector:g} ≠ S {self.inspection:g}")
        rows = self.rows()
        for code, group in (("O", "other_enforcement"), ("F", "non_enforcement")):
            total_row = next(r for r in rows if r[0] == code)
            ids = {i.id for i in self.items if i.group == group}
            detail = sum(r[2] for r in rows if r[0].startswith("  ") and r[0].strip() in ids)
            if abs(detail - total_row[2]) > 1e-6:
                problems.append(f"{total_row[1]} 合计 {total_row[2]:g} ≠ 分项之和 {detail:g}")
        pct_t = [Decimal(r[3].rstrip("%")) for r in rows if r[0] in ("O", "F", "S")]
        if self.total and sum(pct_t) != Decimal("100.0"):
            problems.append(f"O/F/S 占比合计 {sum(pct_t)}% ≠ 100%")
        pct_s = [Decimal(r[3].split("%")[0]) for r in rows if r[0] in ("K", "G")]
        if self.inspection > 0 and sum(pct_s) != Decimal("100.0"):
            problems.append(f"K/G 占比合计 {sum(pct_s)}% ≠ 100%")
        return problems


def build_workday_table(year: int, inspector_ids: list[str], params: PlanParameters,
                        statutory: int | None = None) -> WorkdayTable:
    """The table for ``year`` and these active inspectors (``statutory`` only to test without a calendar)."""
    n_days = statutory_days(year) if statutory is None else statutory
    n = len(inspector_ids)
    items: list[WorkdayItem] = []
    per_inspector_days = {i: float(n_days) for i in inspector_ids}
    for it in params.workload_items:
        if it.per_inspector is not None:
            total = 0.0
            overridden = 0
            for insp in inspector_ids:
                days = params.inspector_days.get(insp, {}).get(it.id, it.per_inspector)
                overridden += insp in params.inspector_days and it.id in params.inspector_days[insp]
                total += days
                per_inspector_days[insp] -= days
            basis = f"人均 {it.per_inspector:g} 天 × {n} 人" + (f"（{overridden} 人按人调整）" if overridden else "")
        else:
            total = float(it.per_unit or 0.0)
            for insp in inspector_ids:
                per_inspector_days[insp] -= total / n if n else 0.0
            basis = f"合计 {total:g} 天"
        items.append(WorkdayItem(it.id, it.group, it.name_zh, total, basis, it.source, it.mark))
    return WorkdayTable(year, n_days, n, items, params.key_share, per_inspector_days, params.inspectors_per_check,
                        dict(params.days_per_check))
