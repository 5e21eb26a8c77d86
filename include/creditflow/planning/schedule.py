"""Schedule: inspection jobs to months (OR-Tools CP-SAT), then to teams and working days.

1. **Months (CP-SAT).** Jobs are grouped by (kind, month window, duration, priority); the model chooses
   how many of each group go to each month of its window. Month capacity is the teams' inspection
   half-days in that month; general work may not exceed the general-day budget (key work may use
   general days: key floors are mandatory). The objective charges unscheduled jobs by priority
   (mandatory key ≫ cycle-due general ≫ drawn general) and the monthly deviation from a load
   proportional to capacity. The solver reports objective, best bound and gap.
2. **Teams and days (constructive).** Within a month, key jobs are dealt to teams in district order up
   to each team's share (so a team works few districts); general jobs go to a team drawn at random
   (seeded, weighted by free capacity, never a team with a conflict of interest). Each team works only
   on its inspection days, which are official working days; a day holds one full-day job or two
   half-day jobs (grouped by district where possible). Month capacities make this always fit, except
   when a conflict of interest leaves no team: then the job is reported unscheduled with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from creditflow.planning.selection import Job, Team

WEIGHT = {3: 1_000_000, 2: 100_000, 1: 10_000, 0: 100}  # per unscheduled half-day, by job priority


@dataclass
class Placed:
    job: Job
    team: str
    day: dt.date


@dataclass
class Unscheduled:
    job: Job
    reason: str


@dataclass
class Schedule:
    placed: list[Placed]
    unscheduled: list[Unscheduled]
    team_days: dict[tuple[str, int], list[dt.date]]  # (team, month) -> the team's inspection days
    month_capacity: dict[int, int]  # half-days
    status: str
    objective: float
    bound: float
    wall_seconds: float
    district_pairs: int = 0  # Σ over team-months of districts visited
    district_pairs_bound: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


def month_days(year: int, is_workday) -> dict[int, list[dt.date]]:  # type: ignore[no-untyped-def]
    out: dict[int, list[dt.date]] = {m: [] for m in range(1, 13)}
    day = dt.date(year, 1, 1)
    while day.year == year:
        if is_workday(day):
            out[day.month].append(day)
        day += dt.timedelta(days=1)
    return out


def team_calendar(teams: list[Team], workdays: dict[int, list[dt.date]]) -> dict[tuple[str, int], list[dt.date]]:
    """Each team's inspection days: its yearly days spread over the months by working days (largest
    remainder), evenly spaced within the month, shifted per team."""
    total = sum(len(v) for v in workdays.values())
    out: dict[tuple[str, int], list[dt.date]] = {}
    for idx, t in enumerate(teams):
        days = min(t.days, total)
        raw = {m: days * len(workdays[m]) / total if total else 0 for m in workdays}
        take = {m: math.floor(v) for m, v in raw.items()}
        for m in sorted(raw, key=lambda m: (-(raw[m] - take[m]), m))[:days - sum(take.values())]:
            take[m] += 1
        for m, wd in workdays.items():
            d = min(take[m], len(wd))
            pos = sorted({(int((j + 0.5) * len(wd) / d) + idx) % len(wd) for j in range(d)}) if d else []
            out[(t.team_id, m)] = [wd[p] for p in pos]
    return out


def _solve_months(jobs: list[Job], month_cap: dict[int, int], general_cap: int, time_limit: float, seed: int):  # type: ignore[no-untyped-def]
    from ortools.sat.python import cp_model

    groups: dict[tuple[str, tuple[int, ...], int, int], list[Job]] = defaultdict(list)
    for j in jobs:
        groups[(j.kind, j.months, j.half_days, j.priority)].append(j)
    keys = sorted(groups)
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    unscheduled = []
    for gi, g in enumerate(keys):
        count = len(groups[g])
        for m in g[1]:
            x[(gi, m)] = model.new_int_var(0, count, f"x_{gi}_{m}")
        u = model.new_int_var(0, count, f"u_{gi}")
        model.add(sum(x[(gi, m)] for m in g[1]) + u == count)
        unscheduled.append((u, WEIGHT[g[3]] * g[2]))
    load: dict[tuple[str, int], Any] = {}
    for m in range(1, 13):
        for kind in ("key", "general"):
            terms = [keys[gi][2] * var for (gi, mm), var in x.items() if mm == m and keys[gi][0] == kind]
            load[(kind, m)] = sum(terms) if terms else 0
        model.add(load[("key", m)] + load[("general", m)] <= month_cap[m])
    model.add(sum(load[("general", m)] for m in range(1, 13)) <= general_cap)
    cap_total = sum(month_cap.values())
    key_demand = sum(len(v) * k[2] for k, v in groups.items() if k[0] == "key")
    gen_demand = sum(len(v) * k[2] for k, v in groups.items() if k[0] == "general")
    expect = {"key": min(key_demand, cap_total)}
    expect["general"] = min(gen_demand, general_cap, max(0, cap_total - expect["key"]))
    devs = []
    for m in range(1, 13):  # each kind spread over the months in proportion to capacity
        for kind in ("key", "general"):
            target = round(expect[kind] * month_cap[m] / cap_total) if cap_total else 0
            dev = model.new_int_var(0, max(target, month_cap[m]) + 1, f"dev_{kind}_{m}")
            model.add(dev >= load[(kind, m)] - target)
            model.add(dev >= target - load[(kind, m)])
            devs.append(dev)
    model.minimize(sum(w * u for u, w in unscheduled) + sum(devs))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # deterministic: the same seed gives the same plan
    solver.parameters.random_seed = seed % (2**31)
    # The deterministic limit decides where the search stops (same on a busy or an idle machine); the wall
    # clock is only a safety net, so that a loaded worker does not cut the search short and change the plan.
    solver.parameters.max_deterministic_time = time_limit
    solver.parameters.max_time_in_seconds = time_limit * 4
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"CP-SAT found no schedule: {solver.status_name(status)}")
    counts = {(keys[gi], m): int(solver.value(v)) for (gi, m), v in x.items()}
    return groups, counts, solver.status_name(status), solver.objective_value, solver.best_objective_bound, \
        solver.wall_time


def schedule(jobs: list[Job], teams: list[Team], year: int, is_workday, general_cap_half_days: int,  # type: ignore[no-untyped-def]
             score: dict[str, int], blocked: set[tuple[str, str]], seed: int, time_limit: float = 30.0) -> Schedule:
    """Place ``jobs``; ``blocked`` holds (team_id, ent_id) pairs with a conflict of interest."""
    workdays = month_days(year, is_workday)
    cal = team_calendar(teams, workdays)
    month_cap = {m: 2 * sum(len(cal[(t.team_id, m)]) for t in teams) for m in range(1, 13)}
    groups, counts, status, obj, bound, wall = _solve_months(jobs, month_cap, general_cap_half_days, time_limit,
                                                             seed)
    by_month: dict[int, list[Job]] = defaultdict(list)
    unscheduled: list[Unscheduled] = []
    for g, members in groups.items():
        ranked = sorted(members, key=lambda j: (-score.get(j.ent_id, 0), j.ent_id, j.visit_no))
        n_sched = sum(counts[(g, m)] for m in g[1])
        chosen = sorted(ranked[:n_sched], key=lambda j: (j.district, j.ent_id, j.visit_no))
        for j in ranked[n_sched:]:
            unscheduled.append(Unscheduled(j, "检查力量不足：本时间窗口内检查工作日已排满"))
        pos = 0
        for m in g[1]:
            by_month[m].extend(chosen[pos:pos + counts[(g, m)]])
            pos += counts[(g, m)]
    placed: list[Placed] = []
    pairs = 0
    pairs_bound = 0
    for m in range(1, 13):
        got, missed, p = _pack_month(m, by_month[m], teams, cal, blocked, random.Random(f"pack:{seed}:{year}:{m}"))
        placed += got
        unscheduled += missed
        pairs += p
        per_team = max((2 * len(cal[(t.team_id, m)]) for t in teams), default=0)
        loads: dict[str, int] = defaultdict(int)
        for pl in got:
            loads[pl.job.district] += pl.job.half_days
        pairs_bound += sum(math.ceil(v / per_team) for v in loads.values()) if per_team else 0
    return Schedule(placed, sorted(unscheduled, key=lambda u: u.job.job_id), cal, month_cap, status, float(obj),
                    float(bound), float(wall), pairs, pairs_bound)


def _pack_month(m: int, jobs: list[Job], teams: list[Team], cal: dict[tuple[str, int], list[dt.date]],
                blocked: set[tuple[str, str]], rng: random.Random) -> tuple[list[Placed], list[Unscheduled], int]:
    order = [t.team_id for t in teams if cal[(t.team_id, m)]]
    rng.shuffle(order)
    free: dict[str, dict[dt.date, int]] = {t: {d: 2 for d in cal[(t, m)]} for t in order}
    n_full = {t: len(cal[(t, m)]) for t in order}  # days with both halves free
    n_half = dict.fromkeys(order, 0)  # days with one half free
    day_district: dict[tuple[str, dt.date], str] = {}
    cap_total = sum(2 * len(cal[(t, m)]) for t in order)
    key_load = sum(j.half_days for j in jobs if j.kind == "key")
    target = {t: math.ceil(key_load * 2 * len(cal[(t, m)]) / cap_total) if cap_total else 0 for t in order}
    used_key: dict[str, int] = defaultdict(int)
    districts: dict[str, set[str]] = defaultdict(set)
    placed: list[Placed] = []
    missed: list[Unscheduled] = []

    def room(t: str, hd: int) -> bool:
        return n_full[t] > 0 or (hd == 1 and n_half[t] > 0)

    def put(t: str, j: Job) -> None:
        if j.half_days == 2:
            day = min(d for d, v in free[t].items() if v == 2)
        else:
            same = [d for d, v in free[t].items() if v == 1 and day_district.get((t, d)) == j.district]
            whole = [d for d, v in free[t].items() if v == 2]
            day = min(same or whole or [d for d, v in free[t].items() if v == 1])
        before = free[t][day]
        free[t][day] -= j.half_days
        n_full[t] -= before == 2
        n_half[t] += (free[t][day] == 1) - (before == 1)
        day_district[(t, day)] = j.district
        districts[t].add(j.district)
        if j.kind == "key":
            used_key[t] += j.half_days
        placed.append(Placed(j, t, day))

    general = [j for j in jobs if j.kind == "general"]
    rng.shuffle(general)
    for hd in (2, 1):  # full days first: leftover days then always take half-day jobs
        cursor = 0
        for j in (j for j in jobs if j.kind == "key" and j.half_days == hd):
            while cursor < len(order) and (used_key[order[cursor]] + hd > target[order[cursor]]
                                           or not room(order[cursor], hd)):
                cursor += 1
            pick = next((t for t in order[cursor:] if room(t, hd) and used_key[t] + hd <= target[t]
                         and (t, j.ent_id) not in blocked), None)
            pick = pick or next((t for t in order if room(t, hd) and (t, j.ent_id) not in blocked), None)
            if pick:
                put(pick, j)
            else:
                missed.append(Unscheduled(j, _why(j, order, blocked)))
        for j in (j for j in general if j.half_days == hd):
            cands = [t for t in order if room(t, hd) and (t, j.ent_id) not in blocked]
            if not cands:
                missed.append(Unscheduled(j, _why(j, order, blocked)))
                continue
            weights = [2 * n_full[t] + n_half[t] for t in cands]
            put(rng.choices(cands, weights)[0], j)
    return placed, missed, sum(len(v) for v in districts.values())


def _why(j: Job, order: list[str], blocked: set[tuple[str, str]]) -> str:
    if all((t, j.ent_id) in blocked for t in order):
        return "利益冲突：本月所有检查组均有成员需回避"
    return "检查力量不足：本月可用检查组日已排满（含回避限制）"


def verify(s: Schedule, teams: list[Team], is_workday, blocked: set[tuple[str, str]]) -> list[str]:  # type: ignore[no-untyped-def]
    """Problems with a schedule: capacity, non-working days, double booking, conflicts, lost jobs."""
    problems: list[str] = []
    use: dict[tuple[str, dt.date], int] = defaultdict(int)
    allowed = {(t, d) for (t, _), days in s.team_days.items() for d in days}
    for p in s.placed:
        use[(p.team, p.day)] += p.job.half_days
        if not is_workday(p.day):
            problems.append(f"{p.job.job_id}: {p.day} 不是工作日")
        if (p.team, p.day) not in allowed:
            problems.append(f"{p.job.job_id}: {p.day} 不是 {p.team} 的检查日")
        if (p.team, p.job.ent_id) in blocked:
            problems.append(f"{p.job.job_id}: {p.team} 有利益冲突")
        if p.day.month not in p.job.months:
            problems.append(f"{p.job.job_id}: {p.day} 超出时间窗口")
    problems += [f"{t} {d}: 超出一天的容量（{v}个半天）" for (t, d), v in use.items() if v > 2]
    for t in teams:
        n = sum(len(v) for (tid, _), v in s.team_days.items() if tid == t.team_id)
        if n > t.days:
            problems.append(f"{t.team_id}: 检查日 {n} 超过全年 {t.days}")
    ids = [p.job.job_id for p in s.placed] + [u.job.job_id for u in s.unscheduled]
    if len(ids) != len(set(ids)):
        problems.append("有检查被重复安排或重复列为未安排")
    return problems
