"""Who is inspected how often: the key list (重点单位, with reasons), the 双随机 draw of general units,
the random inspector teams, and the inspection jobs the scheduler places.

Randomness is ``random.Random`` seeded with text made of the seed, the year and what is drawn, over
inputs sorted by id: the same seed and data give the same draw on any machine, and the pool, the seed
and the result are all written to the plan for audit.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

from creditflow.planning.inputs import Inspector
from creditflow.planning.params import PlanParameters
from creditflow.planning.risk import Assessment


@dataclass
class KeyUnit:
    a: Assessment
    reasons: list[tuple[str, str]]  # (criterion id, 中文说明)
    visits: int
    quarterly: bool
    cap: int | None
    note: str = ""
    assessed_high: bool = False  # key by the assessed risk level (重大/较大), not by the score alone

    @property
    def priority(self) -> int:
        """2 for legal floors beyond risk (hazard, accident, list), 1 for the assessed risk level, 0 for the
        bureau's score class alone: when capacity is short the statutory floors are placed first, so a
        high composite score never pushes out a unit the bureau assessed 重大/较大."""
        if any(r[0] != "high_risk" for r in self.reasons):
            return 2
        return 1 if self.assessed_high else 0


@dataclass
class Stratum:
    base_class: str
    credit: str  # good | ordinary | bad
    total: int
    excluded_recent: list[str]
    forced: list[str]
    pool: list[str]
    target_ratio: Fraction
    quota: int = 0
    drawn: list[str] = field(default_factory=list)

    @property
    def effective_ratio(self) -> float:
        return self.quota / self.total if self.total else 0.0

    @property
    def seed_text(self) -> str:
        return f"{self.base_class}:{self.credit}"


@dataclass
class Draw:
    seed: int
    strata: list[Stratum]
    scale: float
    capacity_checks: int
    cycle_years: int

    def selected(self) -> list[tuple[str, bool]]:
        """(ent_id, forced) of every general unit to inspect, forced ones first."""
        out = [(e, True) for s in self.strata for e in s.forced]
        return out + [(e, False) for s in self.strata for e in s.drawn]


@dataclass(frozen=True)
class Team:
    team_id: str
    members: tuple[Inspector, ...]
    days: int  # inspection team-days in the year

    @property
    def label(self) -> str:
        return "、".join(m.name for m in self.members)


@dataclass(frozen=True)
class Job:
    job_id: str
    ent_id: str
    kind: str  # key | general
    months: tuple[int, ...]
    half_days: int
    mandatory: bool
    priority: int  # higher is scheduled first when capacity is short
    district: str
    visit_no: int
    visits: int


def _rng(seed: int, year: int, what: str) -> random.Random:
    return random.Random(f"creditflow-plan:{seed}:{year}:{what}")


def select_key(assessments: list[Assessment], params: PlanParameters) -> list[KeyUnit]:
    regime = params.regime
    out: list[KeyUnit] = []
    for a in assessments:
        reasons: list[tuple[str, str]] = []
        floor, quarterly = 0, False
        for c in regime.criteria:
            detail = ""
            if c.id == "high_risk":
                hit, detail = high_risk(a, c.levels, c.classes, params)
            else:
                hit = {"unrectified_major_hazard": a.unrectified_major,
                       "fatal_accident_last_year": a.fatal_last_year,
                       "dishonest_last_year": a.listed_last_year,
                       "listed_now": a.listed_now}[c.id]
            if hit:
                reasons.append((c.id, c.name_zh + (f"：{detail}" if detail else "")))
                floor = max(floor, c.min_per_year)
                quarterly = quarterly or c.quarterly
        if not reasons:
            continue
        visits = max(regime.key_min_per_year, params.key_frequency_by_class[a.risk_class], floor)
        cap = regime.caps.get((a.sector_group, a.ent.standard_grade))
        note = ""
        if cap is not None and visits > cap:
            if floor > cap:
                note = f"下限{floor}次高于上限{cap}次（上限适用于守信单位），按下限"
                visits = floor
            else:
                visits = max(cap, floor)
                note = f"按上限{cap}次"
        by_level = any(c.id == "high_risk" and a.ent.risk_level in c.levels for c in regime.criteria)
        out.append(KeyUnit(a, reasons, visits, quarterly and visits >= 4, cap, note, by_level))
    return out


def high_risk(a: Assessment, levels: tuple[str, ...], classes: tuple[str, ...],
              params: PlanParameters) -> tuple[bool, str]:
    """安全风险等级较高 (粤应急规〔2021〕4号): the level the bureau assessed on the four-level scale is one of
    ``levels`` (重大 / 较大) — always key, whatever the composite score says. The composite score only adds:
    a unit whose score reaches one of ``classes`` is key too (the bureau's own measure, for units not yet
    assessed or assessed lower). Good credit lowers the score but never takes a unit off the key list
    (重点单位除外): the score for this test is the higher of the totals with and without the credit terms."""
    score = max(a.score, a.base_score)
    key_class = params.class_of(score).code
    parts = []
    if a.ent.risk_level in levels:
        parts.append(f"评估等级{a.ent.risk_level}")
    if key_class in classes:
        parts.append(f"风险分{score}（{params.class_names[key_class]}）")
    return bool(parts), "，".join(parts)


def _credit_group(a: Assessment, params: PlanParameters) -> str:
    if a.credit in ("listed", "bad"):
        return "bad"
    excl = bool(params.credit["good_credit_excludes_key_supervision"]["value"])
    if a.credit == "good" and excl and a.ent.key_supervision:
        return "ordinary"  # 重点监管企业除外
    return a.credit


def cycle_due(last_visit: dt.date | None, year: int, cycle_years: int) -> bool:
    """一般单位每三年至少一次 (粤应急规〔2021〕4号): a general unit never inspected, or last inspected in year
    ``year − cycle_years`` or earlier, must be inspected in ``year`` — else ``cycle_years`` whole years would
    pass without an inspection. Over the unit's whole history, not a look-back window."""
    return last_visit is None or last_visit < dt.date(year - cycle_years + 1, 1, 1)


def draw_general(assessments: list[Assessment], key_ids: set[str], params: PlanParameters, year: int, seed: int,
                 capacity_checks: int) -> Draw:
    """The 双随机 draw of general units: strata by base risk class × credit, recent visits excluded, units
    due under the N-year cycle forced in; targets scaled down together when capacity is short."""
    plan_start = dt.date(year, 1, 1)
    recent_from = dt.date(year - 1 - (params.exclusion_months - 1) // 12,
                          12 - (params.exclusion_months - 1) % 12, 1) if params.exclusion_months else plan_start
    cycle = params.regime.general_cycle_years
    by_stratum: dict[tuple[str, str], list[Assessment]] = {}
    for a in assessments:
        if a.ent.ent_id not in key_ids:
            by_stratum.setdefault((a.base_class, _credit_group(a, params)), []).append(a)
    order = [rc.code for rc in params.classes]
    strata: list[Stratum] = []
    for (cls, credit) in sorted(by_stratum, key=lambda k: (order.index(k[0]), ("bad", "ordinary", "good").index(k[1]))):
        members = sorted(by_stratum[(cls, credit)], key=lambda x: x.ent.ent_id)
        excludes = credit in params.exclusion_applies_to
        excluded = [a.ent.ent_id for a in members if excludes and a.last_visit and a.last_visit >= recent_from]
        forced = [a.ent.ent_id for a in members if cycle_due(a.last_visit, year, cycle)]
        pool = [a.ent.ent_id for a in members if a.ent.ent_id not in set(excluded) | set(forced)]
        s = Stratum(cls, credit, len(members), excluded, forced, pool, params.ratios[cls][credit])
        s.quota = min(len(forced) + len(pool), max(len(forced), math.ceil(s.target_ratio * s.total)))
        strata.append(s)
    _fewer_for_better_credit(strata)
    forced_total = sum(len(s.forced) for s in strata)
    optional = [s.quota - len(s.forced) for s in strata]
    room = max(0, capacity_checks - forced_total)
    scale = 1.0
    if sum(optional) > room:
        scale = room / sum(optional) if sum(optional) else 1.0
        shares = [o * room / sum(optional) for o in optional]
        take = [math.floor(x) for x in shares]
        rest = room - sum(take)
        for i in sorted(range(len(strata)), key=lambda i: (-(shares[i] - take[i]), i))[:rest]:
            take[i] += 1
        for s, t in zip(strata, take, strict=True):
            s.quota = len(s.forced) + t
        _fewer_for_better_credit(strata)
    for s in strata:
        k = s.quota - len(s.forced)
        s.drawn = sorted(_rng(seed, year, s.seed_text).sample(s.pool, k)) if k > 0 else []
    return Draw(seed, strata, scale, capacity_checks, cycle)


def _fewer_for_better_credit(strata: list[Stratum]) -> None:
    """Within a base risk class, better credit is visited less often per unit than worse credit (bad →
    ordinary → good). Rounding small strata up can invert that (1 good unit × 1/3 → 1 visit, 6 bad units ×
    1/2 → 3): cap each stratum's quota strictly below the visit rate of the worse credit group before it.
    Units due under the N-year cycle stay in whatever the cap says — a legal floor wins, and the plan
    shows the rates it reached."""
    order = ("bad", "ordinary", "good")
    by_class: dict[str, list[Stratum]] = {}
    for s in strata:
        by_class.setdefault(s.base_class, []).append(s)
    for group in by_class.values():
        group.sort(key=lambda s: order.index(s.credit))
        worse_rate: float | None = None
        for s in group:
            if worse_rate is not None and s.total:
                cap = math.floor(worse_rate * s.total)
                if cap and cap / s.total >= worse_rate:
                    cap -= 1  # strictly fewer
                s.quota = max(len(s.forced), min(s.quota, cap))
            if s.total:
                rate = s.quota / s.total
                worse_rate = rate if worse_rate is None else min(worse_rate, rate)


def form_teams(inspectors: list[Inspector], days: dict[str, float], params: PlanParameters, year: int,
               seed: int) -> list[Team]:
    """Random teams of ``min_team_size`` inspectors (within a department first, then across); a remainder
    joins teams one by one. A team's days are the fewest inspection days of its members."""
    size = params.min_team_size
    rng = _rng(seed, year, "teams")
    by_dept: dict[str, list[Inspector]] = {}
    for i in sorted(inspectors, key=lambda x: x.inspector_id):
        by_dept.setdefault(i.department, []).append(i)
    groups: list[list[Inspector]] = []
    leftover: list[Inspector] = []
    for dept in sorted(by_dept):
        members = by_dept[dept][:]
        rng.shuffle(members)
        full = len(members) - len(members) % size
        groups += [members[i:i + size] for i in range(0, full, size)]
        leftover += members[full:]
    rng.shuffle(leftover)
    full = len(leftover) - len(leftover) % size
    groups += [leftover[i:i + size] for i in range(0, full, size)]
    for n, extra in enumerate(leftover[full:]):
        if groups:
            groups[n % len(groups)].append(extra)
    return [Team(f"T{n + 1:03d}", tuple(g), max(0, math.floor(min(days.get(m.inspector_id, 0.0) for m in g))))
            for n, g in enumerate(groups)]


def windows(visits: int, quarterly: bool) -> list[tuple[int, ...]]:
    """Month windows of ``visits`` evenly spaced inspections: 1 → the year, 2 → halves, 4 → quarters …"""
    k = 4 if quarterly else max(1, min(visits, 12))
    blocks = [tuple(range(12 * i // k + 1, 12 * (i + 1) // k + 1)) for i in range(k)]
    return [blocks[v % k] for v in range(visits)]


def make_jobs(key_units: list[KeyUnit], draw: Draw, by_id: dict[str, Assessment],
              params: PlanParameters) -> list[Job]:
    jobs: list[Job] = []
    hd = {k: round(2 * v) for k, v in params.days_per_check.items()}
    for ku in sorted(key_units, key=lambda k: k.a.ent.ent_id):
        for v, months in enumerate(windows(ku.visits, ku.quarterly)):
            jobs.append(Job(f"K-{ku.a.ent.ent_id}-{v + 1}", ku.a.ent.ent_id, "key", months, hd["key"], True,
                            ku.priority + 1, ku.a.ent.district_name, v + 1, ku.visits))
    for ent_id, forced in draw.selected():
        a = by_id[ent_id]
        jobs.append(Job(f"G-{ent_id}", ent_id, "general", tuple(range(1, 13)), hd["general"], forced,
                        1 if forced else 0, a.ent.district_name, 1, 1))
    return jobs
