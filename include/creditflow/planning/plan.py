"""The annual inspection plan, computed and checked: :func:`build_plan` runs the method of issue 10 step by
step (workday table → risk → key list → 双随机 draw → teams → schedule) and refuses to return a plan
that does not add up (:class:`PlanCheckError`). Nothing here reads the clock: the plan depends only on
the year, the inputs, the data files and the seed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from creditflow.planning.inputs import PlanInputs
from creditflow.planning.params import PlanParameters, load_parameters
from creditflow.planning.risk import CREDIT_LABELS, Assessment, assess
from creditflow.planning.schedule import Schedule, schedule, verify
from creditflow.planning.selection import Draw, Job, KeyUnit, Team, draw_general, form_teams, make_jobs, select_key
from creditflow.planning.workload import WorkdayTable, build_workday_table

SUMMARY_KEYS = ("year", "inspectors", "statutory_days", "inspection_days", "key_days", "general_days", "enterprises",
                "key_enterprises", "inspections", "mandatory_unscheduled", "shortfall_inspector_days", "objective",
                "bound", "gap", "seed")


def general_kind_zh(cycle_years: int) -> str:
    """一般单位（N年一轮到期） with N the regime's ``general_cycle_years`` (key_rules.yaml), in Chinese numerals."""
    digits = "零一二三四五六七八九十"
    n = str(digits[cycle_years]) if 0 < cycle_years <= 10 else str(cycle_years)
    return f"一般单位（{n}年一轮到期）"


class PlanCheckError(RuntimeError):
    """The computed plan failed its own arithmetic or scheduling checks."""


def require_calendar(year: int) -> int:
    """The year's 法定工作日; raises CalendarNotCovered when the official schedule is not in the data."""
    from creditflow.core.workdays import official_calendar

    return official_calendar().working_days_in_year(year)


def calendar_warning(today: dt.date, year: int, warn_from_month: int = 11) -> str | None:
    """A warning from 1 November of the year before while the plan year's official schedule is missing."""
    from creditflow.core.workdays import official_calendar

    if year in official_calendar().years:
        return None
    if today >= dt.date(year - 1, warn_from_month, 1):
        return (f"{year}年官方工作日安排尚未录入（data/calendar/{year}.yaml）：国务院办公厅通知发布后录入，"
                f"否则{year}年度监督检查计划无法编制")
    return None


def calendar_action(year: int, covered: bool, scheduled: bool, run_day: dt.date | None, plan_month: int = 12) -> str:
    """What the DAG does about the plan year's calendar: ``plan`` (covered), ``warn`` (missing, a scheduled run
    before the planning month — from 1 November), ``fail`` (missing in December, or in a manual/backfill run)."""
    if covered:
        return "plan"
    if scheduled and run_day is not None and run_day.year == year - 1 and run_day.month < plan_month:
        return "warn"
    return "fail"


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 2)


@dataclass
class Plan:
    year: int
    seed: int
    as_of: dt.date
    params: PlanParameters
    inputs: PlanInputs
    workday: WorkdayTable
    assessments: list[Assessment]
    key_units: list[KeyUnit]
    draw: Draw
    teams: list[Team]
    jobs: list[Job]
    schedule: Schedule
    capacity: dict[str, int] = field(default_factory=dict)
    diff: dict[str, Any] | None = None

    @property
    def by_id(self) -> dict[str, Assessment]:
        return {a.ent.ent_id: a for a in self.assessments}

    @property
    def mandatory_unscheduled(self) -> list[Any]:
        return [u for u in self.schedule.unscheduled if u.job.mandatory]

    @property
    def shortfall_inspector_days(self) -> float:
        per = self.params.inspectors_per_check
        return sum(u.job.half_days / 2 * per for u in self.mandatory_unscheduled)

    def shortfall_units(self) -> list[dict[str, Any]]:
        """The units whose mandatory inspections could not be placed: the shortfall by unit (key units first,
        then by missing inspector-days), with what each lacks."""
        per = self.params.inspectors_per_check
        by_ent: dict[str, list[Any]] = {}
        for u in self.mandatory_unscheduled:
            by_ent.setdefault(u.job.ent_id, []).append(u)
        names = {e.ent_id: e.name for e in self.inputs.enterprises}
        general = general_kind_zh(self.params.regime.general_cycle_years)
        out = [{"ent_id": ent_id, "name": names.get(ent_id, ent_id), "kind": us[0].job.kind,
                "kind_zh": "重点单位" if us[0].job.kind == "key" else general,
                "missing": len(us), "inspector_days": _num(sum(u.job.half_days / 2 * per for u in us)),
                "reason": us[0].reason} for ent_id, us in by_ent.items()]
        return sorted(out, key=lambda r: (r["kind"] != "key", -r["inspector_days"], r["ent_id"]))

    def summary(self) -> dict[str, Any]:
        w = self.workday
        out = {
            "year": self.year, "inspectors": w.inspectors, "statutory_days": w.statutory_days,
            "inspection_days": _num(w.inspection), "key_days": _num(w.key), "general_days": _num(w.general),
            "enterprises": len(self.assessments), "key_enterprises": len(self.key_units),
            "inspections": len(self.schedule.placed), "mandatory_unscheduled": len(self.mandatory_unscheduled),
            "shortfall_inspector_days": _num(self.shortfall_inspector_days),
            "objective": _num(self.schedule.objective), "bound": _num(self.schedule.bound),
            "gap": round(self.schedule.gap, 6), "seed": self.seed,
        }
        return {k: out[k] for k in SUMMARY_KEYS}

    def visits_by_ent(self) -> Counter[str]:
        return Counter(p.job.ent_id for p in self.schedule.placed)

    def key_records(self) -> list[dict[str, Any]]:
        """The key list as plain records (also what next year's diff reads)."""
        return [{"ent_id": k.a.ent.ent_id, "uscc": k.a.ent.uscc, "name": k.a.ent.name,
                 "district": k.a.ent.district_name, "industry": k.a.ent.industry, "risk_level": k.a.ent.risk_level,
                 "score": k.a.score,
                 "risk_class": k.a.risk_class, "credit": k.a.credit, "visits": k.visits,
                 "reasons": [r[0] for r in k.reasons], "reasons_zh": [r[1] for r in k.reasons], "note": k.note}
                for k in sorted(self.key_units, key=lambda k: k.a.ent.ent_id)]

    def credit_effect(self) -> list[dict[str, Any]]:
        """Per base risk class: planned visits per general unit by credit — good credit against its bad-credit
        twins (same score without the credit terms)."""
        rows = []
        names = self.params.class_names
        strata = {(s.base_class, s.credit): s for s in self.draw.strata}
        for rc in self.params.classes:
            row: dict[str, Any] = {"base_class": rc.code, "base_class_zh": names[rc.code]}
            for credit in ("good", "ordinary", "bad"):
                s = strata.get((rc.code, credit))
                row[credit] = {"units": s.total if s else 0, "target_ratio": str(s.target_ratio) if s else "",
                               "visits_per_unit": round(s.effective_ratio, 4) if s else None}
            good, bad = row["good"]["visits_per_unit"], row["bad"]["visits_per_unit"]
            row["reduction_vs_bad"] = round(1 - good / bad, 4) if good is not None and bad else None
            rows.append(row)
        return rows


def blocked_pairs(inputs: PlanInputs, teams: list[Team]) -> set[tuple[str, str]]:
    by_key = {e.ent_id: e.ent_id for e in inputs.enterprises} | {e.uscc: e.ent_id for e in inputs.enterprises
                                                                  if e.uscc}
    team_of = {m.inspector_id: t.team_id for t in teams for m in t.members}
    out = set()
    for c in inputs.conflicts:
        if c.ent_key in by_key and c.inspector_id in team_of:
            out.add((team_of[c.inspector_id], by_key[c.ent_key]))
    return out


def build_plan(year: int, inputs: PlanInputs, seed: int = 0, params: PlanParameters | None = None,
               time_limit: float = 30.0, previous: dict[str, Any] | None = None) -> Plan:
    """Compute the plan for ``year``; raises CalendarNotCovered, PlanDataError or PlanCheckError."""
    from creditflow.core.workdays import official_calendar
    from creditflow.planning.diff import diff_key_lists

    require_calendar(year)
    is_workday = official_calendar().is_workday
    params = params or load_parameters(year)
    inspectors = sorted(inputs.inspectors, key=lambda i: i.inspector_id)
    table = build_workday_table(year, [i.inspector_id for i in inspectors], params)
    problems = table.check()
    if problems:
        raise PlanCheckError("工作日测算表不平衡：" + "；".join(problems))
    assessments = assess(inputs, params, year)
    by_id = {a.ent.ent_id: a for a in assessments}
    key_units = select_key(assessments, params)
    teams = form_teams(inspectors, table.inspector_inspection_days, params, year, seed)
    hd = {k: round(2 * v) for k, v in params.days_per_check.items()}
    total_hd = sum(2 * min(t.days, table.statutory_days) for t in teams)
    key_hd = round(total_hd * params.key_share)
    key_demand = sum(k.visits for k in key_units) * hd["key"]
    general_room = min(total_hd - key_hd, max(0, total_hd - key_demand))
    draw = draw_general(assessments, {k.a.ent.ent_id for k in key_units}, params, year, seed,
                        general_room // hd["general"])
    jobs = make_jobs(key_units, draw, by_id, params)
    blocked = blocked_pairs(inputs, teams)
    sched = schedule(jobs, teams, year, is_workday, general_room, {a.ent.ent_id: a.score for a in assessments},
                     blocked, seed, time_limit)
    problems = verify(sched, teams, is_workday, blocked)
    if problems:
        raise PlanCheckError("排程自检未通过：" + "；".join(problems[:5]))
    plan = Plan(year, seed, inputs.as_of or dt.date(year, 1, 1), params, inputs, table, assessments, key_units, draw,
                teams, jobs, sched, {"team_half_days": total_hd, "key_half_days": key_hd,
                                     "key_demand_half_days": key_demand, "general_room_half_days": general_room})
    if previous is not None:
        plan.diff = diff_key_lists(previous, plan)
    return plan


def credit_label(code: str) -> str:
    return CREDIT_LABELS.get(code, code)
