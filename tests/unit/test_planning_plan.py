"""The plan on a fixed enterprise set: mandatory units scheduled (or the shortfall reported), good credit
drawn less than bad-credit twins, capacity and working days respected, same seed → same XLSX bytes."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from creditflow.core.workdays import CalendarNotCovered, official_calendar
from creditflow.planning import build_plan, load_parameters
from creditflow.planning.inputs import (
    Accident,
    Conflict,
    Enterprise,
    Inspector,
    ListedParty,
    PastInspection,
    Penalty,
    PlanInputs,
)
from creditflow.planning.params import default_data_dir
from creditflow.planning.plan import Plan
from creditflow.planning.selection import windows
from creditflow.planning.store import list_plans, previous_plan, save_plan
from creditflow.planning.xlsx import write_xlsx

YEAR = 2026
DISTRICTS = ("香洲区", "斗门区", "金湾区")
TWINS = 30


def _ent(ent_id: str, industry: str, risk: str, grade: str, district: int = 0, key_sup: bool = False) -> Enterprise:
    return Enterprise(ent_id, f"91440400TEST{ent_id[-6:]:0>6}", f"测试单位{ent_id}", "440402",
                      DISTRICTS[district % 3], industry, key_sup, grade, risk)


def fixed_inputs(conflicts: list[Conflict] | None = None) -> PlanInputs:
    ents = [_ent(f"K{i:05d}", "危险化学品", "重大", "未定级", i, key_sup=True) for i in range(6)]  # high risk
    ents += [_ent("KHAZ01", "机械", "一般", "二级", 1), _ent("KFAT01", "轻工", "低", "一级", 2),
             _ent("KLST01", "商贸", "低", "一级", 0)]
    ents += [_ent(f"GG{i:04d}", "建材", "一般", "未定级", i) for i in range(TWINS)]  # good-credit twins
    ents += [_ent(f"GB{i:04d}", "建材", "一般", "未定级", i) for i in range(TWINS)]  # bad-credit twins
    ents += [_ent(f"GL{i:04d}", "商贸", "一般", "一级", i) for i in range(10)]
    ents += [_ent("GRECENT", "建材", "一般", "未定级"), _ent("GDUE01", "纺织", "一般", "三级", 2)]
    # General units inspected in 2024 are not due under the three-year cycle in 2026: they are drawn by ratio.
    last = {e.ent_id: dt.date(2024, 4, 1) for e in ents if e.ent_id.startswith(("GG", "GB", "GL"))}
    inspections = [
        PastInspection("KHAZ01", dt.date(2025, 6, 3), ("I1", "I2"), 5, 1, False),  # major hazard, not rectified
        PastInspection("GRECENT", dt.date(2025, 9, 9), ("I3", "I4"), 0, 0, True),  # visited recently
        PastInspection("GDUE01", dt.date(2023, 5, 8), ("I1", "I5"), 1, 0, True),  # 3-year cycle due in 2026
    ]
    return PlanInputs(
        enterprises=ents,
        inspectors=[Inspector(f"I{i}", f"执法员{i}", "危险化学品安全监督管理科" if i < 4 else "工贸行业安全监督管理科")
                    for i in range(1, 7)],
        accidents=[Accident("KFAT01", dt.date(2025, 3, 2), "一般", 1, False)],
        inspections=inspections,
        penalties=[Penalty(f"GB{i:04d}", dt.date(2025, 4, 1), f"珠应急罚〔2025〕{i}号") for i in range(TWINS)],
        listed=[ListedParty("91440400TESTKLST01", "测试单位KLST01", dt.date(2025, 5, 1), None, "瞒报事故")],
        conflicts=conflicts or [],
        as_of=dt.date(YEAR, 1, 1), last_inspected=last)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(YEAR, fixed_inputs([Conflict("I1", "K00000", "近亲属任职")]), seed=11)


def test_key_list_with_reasons_and_frequencies(plan: Plan) -> None:
    key = {k.a.ent.ent_id: k for k in plan.key_units}
    assert set(key) == {*(f"K{i:05d}" for i in range(6)), "KHAZ01", "KFAT01", "KLST01"}
    assert [r[0] for r in key["KHAZ01"].reasons] == ["unrectified_major_hazard"]
    assert [r[0] for r in key["KFAT01"].reasons] == ["fatal_accident_last_year"]
    assert {r[0] for r in key["KLST01"].reasons} == {"dishonest_last_year", "listed_now"}
    assert key["KLST01"].visits == 4 and key["KLST01"].quarterly
    assert key["KLST01"].note  # floor 4 above the cap for 一般行业 标准化一级 (1): the floor wins, said so
    # Good credit lowers the total score but does not take a high-risk unit off the key list.
    k0 = key["K00000"].a
    assert k0.credit == "good" and k0.score < k0.base_score and k0.risk_class != "H"


def test_every_mandatory_inspection_is_scheduled(plan: Plan) -> None:
    assert plan.summary()["mandatory_unscheduled"] == 0 and plan.shortfall_inspector_days == 0
    visits = plan.visits_by_ent()
    for k in plan.key_units:
        assert visits[k.a.ent.ent_id] == k.visits, k.a.ent.ent_id
    listed_days = sorted(p.day for p in plan.schedule.placed if p.job.ent_id == "KLST01")
    assert [(d.month - 1) // 3 for d in listed_days] == [0, 1, 2, 3]  # one per quarter
    assert visits["GDUE01"] == 1  # last visited 2023: due under the three-year cycle, drawn for sure
    assert visits["GRECENT"] == 0  # visited within 12 months: not in the pool
    assert len(plan.schedule.placed) + len(plan.schedule.unscheduled) == len(plan.jobs)


def test_good_credit_gets_fewer_visits_than_bad_twins(plan: Plan) -> None:
    by_id = plan.by_id
    assert all(by_id[f"GG{i:04d}"].base_score == by_id[f"GB{i:04d}"].base_score for i in range(TWINS))
    assert {by_id[f"GG{i:04d}"].credit for i in range(TWINS)} == {"good"}
    assert {by_id[f"GB{i:04d}"].credit for i in range(TWINS)} == {"bad"}
    visits = plan.visits_by_ent()
    good = sum(visits[f"GG{i:04d}"] for i in range(TWINS))
    bad = sum(visits[f"GB{i:04d}"] for i in range(TWINS))
    assert 0 < good < bad
    row = next(r for r in plan.credit_effect() if r["base_class"] == "M")
    assert row["good"]["visits_per_unit"] < row["bad"]["visits_per_unit"] and row["reduction_vs_bad"] > 0


def test_capacity_never_exceeded_and_no_team_double_booked(plan: Plan) -> None:
    use: dict[tuple[str, dt.date], int] = defaultdict(int)
    for p in plan.schedule.placed:
        use[(p.team, p.day)] += p.job.half_days
    assert max(use.values()) <= 2  # one full-day or two half-day inspections per team-day
    per_team = Counter(t for t, _ in use)
    for t in plan.teams:
        assert per_team[t.team_id] <= t.days
        assert sum(len(v) for (tid, _), v in plan.schedule.team_days.items() if tid == t.team_id) <= t.days
        assert len(t.members) >= 2
    members = [m.inspector_id for t in plan.teams for m in t.members]
    assert len(members) == len(set(members)) == 6  # an inspector is in one team: never in two places a day
    for m in range(1, 13):
        load = sum(p.job.half_days for p in plan.schedule.placed if p.day.month == m)
        assert load <= plan.schedule.month_capacity[m]


def test_no_inspection_on_a_non_working_day(plan: Plan) -> None:
    cal = official_calendar()
    days = {p.day for p in plan.schedule.placed}
    assert all(cal.is_workday(d) and d.year == YEAR for d in days)
    assert not any(dt.date(2026, 2, 15) <= d <= dt.date(2026, 2, 23) for d in days)  # 春节


def test_conflict_of_interest_is_respected(plan: Plan) -> None:
    team_of = {m.inspector_id: t.team_id for t in plan.teams for m in t.members}
    assert all(p.team != team_of["I1"] for p in plan.schedule.placed if p.job.ent_id == "K00000")


def test_same_seed_same_plan(plan: Plan, tmp_path: Path) -> None:
    again = build_plan(YEAR, fixed_inputs([Conflict("I1", "K00000", "近亲属任职")]), seed=11)
    a, b = write_xlsx(plan, tmp_path / "a.xlsx"), write_xlsx(again, tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()
    other = build_plan(YEAR, fixed_inputs(), seed=12)
    assert [s.drawn for s in other.draw.strata] != [s.drawn for s in plan.draw.strata]


def test_shortfall_is_reported_not_dropped(tmp_path: Path) -> None:
    d = tmp_path / "planning"
    shutil.copytree(default_data_dir(), d)
    wl = yaml.safe_load((d / "workload.yaml").read_text(encoding="utf-8"))
    wl["items"][0]["per_inspector"] = 129  # 综合监管 eats the year: 248 − 129 − 50 − 61 = 8 inspection days
    (d / "workload.yaml").write_text(yaml.safe_dump(wl, allow_unicode=True), encoding="utf-8")
    inputs = fixed_inputs()
    inputs.inspectors = inputs.inspectors[:2]
    short = build_plan(YEAR, inputs, seed=1, params=load_parameters(YEAR, d))
    assert short.teams[0].days == 8  # fewer team-days than the 12 mandatory key inspections
    s = short.summary()
    missing = [u for u in short.schedule.unscheduled if u.job.mandatory]
    assert s["mandatory_unscheduled"] == len(missing) > 0
    assert s["shortfall_inspector_days"] == sum(u.job.half_days / 2 * 2 for u in missing)
    assert len(short.schedule.placed) + len(short.schedule.unscheduled) == len(short.jobs)
    assert all("检查力量不足" in u.reason for u in missing)
    # What capacity there is goes to the key units first, the highest scores first.
    assert sum(1 for p in short.schedule.placed if p.job.kind == "key") == min(len(short.schedule.placed), 12)


def test_windows() -> None:
    assert windows(1, False) == [tuple(range(1, 13))]
    assert windows(2, False) == [(1, 2, 3, 4, 5, 6), (7, 8, 9, 10, 11, 12)]
    assert windows(4, True) == [(1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12)]


def test_year_without_calendar_fails() -> None:
    assert 2099 not in official_calendar().years  # a year no calendar file will cover soon (2027 will be added)
    with pytest.raises(CalendarNotCovered, match="2099"):
        build_plan(2099, fixed_inputs(), seed=1)


def test_saved_plan_is_listed_and_diffed(plan: Plan, tmp_path: Path) -> None:
    root = tmp_path / "plans"
    prev = {"summary": {"year": YEAR - 1}, "key_list": [
        {"ent_id": "K00000", "name": "测试单位K00000", "reasons": ["high_risk"], "reasons_zh": ["x"], "visits": 2},
        {"ent_id": "GB0001", "name": "测试单位GB0001", "reasons": ["fatal_accident_last_year"],
         "reasons_zh": ["上年度发生亡人生产安全事故"], "visits": 1}]}
    (root / str(YEAR - 1)).mkdir(parents=True)
    (root / str(YEAR - 1) / "plan.json").write_text(json.dumps(prev, ensure_ascii=False), encoding="utf-8")
    previous = previous_plan(root / str(YEAR), YEAR)
    assert previous is not None
    from creditflow.planning.diff import diff_key_lists

    plan.diff = diff_key_lists(previous, plan)
    paths = save_plan(plan, root / str(YEAR))
    assert {p.name for p in paths.values()} == {"inspection_plan_2026.xlsx", "inspection_plan_2026.pdf", "plan.json"}
    listed = list_plans(root)
    assert [x["year"] for x in listed] == [YEAR, YEAR - 1]  # newest first
    assert set(listed[0]["files"]) == {"xlsx", "pdf", "json"} and set(listed[1]["files"]) == {"json"}
    assert listed[0]["summary"]["year"] == YEAR and listed[0]["key_left"] == 1
    left = plan.diff["left"][0]
    assert left["ent_id"] == "GB0001" and "2025年度无亡人" in left["why"]
    assert {e["ent_id"] for e in plan.diff["entered"]} >= {"KLST01", "KHAZ01"}
    assert plan.diff["changed_visits"][0]["ent_id"] == "K00000"  # 2 → 1
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"NotoSansSC" in pdf  # the Chinese font is embedded


def test_small_strata_never_visit_good_credit_more_than_bad():
    """Found on the demo data: 1 good unit × 1/3 rounded up to 1 visit, 6 bad units × 1/2 → 3 visits, so
    good credit (1.0 per unit) was visited more often than bad (0.5). The cap keeps good strictly below."""
    from fractions import Fraction

    from creditflow.planning.selection import Stratum, _fewer_for_better_credit

    bad = Stratum("L", "bad", 6, [], [], [f"b{i}" for i in range(6)], Fraction(1, 2), quota=3)
    good = Stratum("L", "good", 1, [], [], ["g0"], Fraction(1, 3), quota=1)
    ordinary = Stratum("L", "ordinary", 4, [], [], [f"o{i}" for i in range(4)], Fraction(1, 2), quota=2)
    _fewer_for_better_credit([good, ordinary, bad])
    assert good.effective_ratio < bad.effective_ratio and ordinary.effective_ratio < bad.effective_ratio
    assert good.effective_ratio <= ordinary.effective_ratio
    due = Stratum("L", "good", 1, [], ["g0"], [], Fraction(1, 3), quota=1)  # due under the 3-year cycle
    _fewer_for_better_credit([due, Stratum("L", "bad", 6, [], [], [], Fraction(1, 2), quota=3)])
    assert due.quota == 1  # the legal floor wins
