"""Risk scores term by term, credit status, caps against floors, the seeded draw and the random teams."""

from __future__ import annotations

import datetime as dt

from creditflow.planning import load_parameters
from creditflow.planning.inputs import (
    Accident,
    Enterprise,
    Inspector,
    ListedParty,
    PastInspection,
    Penalty,
    PlanInputs,
)
from creditflow.planning.risk import assess
from creditflow.planning.selection import draw_general, form_teams, select_key

PARAMS = load_parameters(2026)


def _ent(ent_id: str, industry: str = "机械", risk: str = "一般", grade: str = "二级", tags: tuple[str, ...] = (),
         key_sup: bool = False) -> Enterprise:
    return Enterprise(ent_id, f"USCC{ent_id}", f"单位{ent_id}", "440402", "香洲区", industry, key_sup, grade, risk, tags)


def test_score_is_explained_term_by_term() -> None:
    inputs = PlanInputs(
        enterprises=[_ent("E1", "危险化学品", "较大", "三级", tags=("粉尘涉爆", "有限空间"))],
        inspectors=[],
        accidents=[Accident("E1", dt.date(2024, 7, 1), "一般", 1, True),
                   Accident("E1", dt.date(2021, 7, 1), "重大", 12, False)],  # outside the 3-year lookback
        inspections=[PastInspection("E1", dt.date(2025, 3, 1), ("I1", "I2"), 4, 1, False),
                     PastInspection("E1", dt.date(2024, 3, 1), ("I1", "I2"), 3, 0, True)],
        penalties=[Penalty("E1", dt.date(2024, 5, 1), "x"), Penalty("E1", dt.date(2025, 5, 1), "y")],
        as_of=dt.date(2026, 1, 1))
    (a,) = assess(inputs, PARAMS, 2026)
    pts = {t.code: t.points for t in a.terms}
    # 危化 30; tags 20 + 15 = 35 capped at 30; 较大 15; 三级 10; 一般亡人 15 + 瞒报 20 = 35; problems 7;
    # one major hazard 10; unrectified 15; penalties 2 × 5 = 10 (credit term).
    assert pts == {"industry": 30, "tags": 30, "risk_level": 15, "standard_grade": 10, "accidents": 35,
                   "problems": 7, "major_hazards": 10, "unrectified": 15, "penalties": 10}
    assert a.base_score == 152 and a.score == 162 and a.risk_class == "H" and a.credit == "bad"
    assert a.unrectified_major and not a.fatal_last_year
    assert "粉尘涉爆" in a.explain() and "瞒报" in a.explain()


def test_credit_status_and_key_reasons() -> None:
    ents = [_ent("CLEAN"), _ent("PEN"), _ent("OLDPEN"), _ent("LISTED"), _ent("FATAL", "轻工")]
    inputs = PlanInputs(
        enterprises=ents, inspectors=[],
        accidents=[Accident("FATAL", dt.date(2025, 8, 1), "一般", 1, False)],
        penalties=[Penalty("PEN", dt.date(2025, 2, 1), "a"), Penalty("OLDPEN", dt.date(2023, 6, 1), "b")],
        listed=[ListedParty("USCCLISTED", "单位LISTED", dt.date(2024, 3, 1), dt.date(2025, 4, 1), "无证经营")],
        as_of=dt.date(2026, 1, 1))
    by = {a.ent.ent_id: a for a in assess(inputs, PARAMS, 2026)}
    assert {k: v.credit for k, v in by.items()} == {
        "CLEAN": "good", "PEN": "bad", "OLDPEN": "ordinary", "LISTED": "listed", "FATAL": "ordinary"}
    assert by["LISTED"].listed_last_year and not by["LISTED"].listed_now  # removed in April 2025
    key = {k.a.ent.ent_id: k for k in select_key(list(by.values()), PARAMS)}
    assert set(key) == {"LISTED", "FATAL"}
    assert key["LISTED"].visits == 1 and not key["LISTED"].quarterly  # no longer listed: once a year
    assert key["FATAL"].reasons[0][0] == "fatal_accident_last_year"


def test_draw_is_seeded_stratified_and_excludes_recent_visits() -> None:
    ents = [_ent(f"E{i:03d}", "建材", "较大", "未定级") for i in range(40)]
    inspections = [PastInspection(f"E{i:03d}", dt.date(2025, 10, 1), ("I1", "I2"), 0, 0, True) for i in range(5)]
    inputs = PlanInputs(enterprises=ents, inspectors=[], inspections=inspections, as_of=dt.date(2026, 1, 1),
                        last_inspected={e.ent_id: dt.date(2024, 6, 1) for e in ents[5:]})  # not due in 2026
    assessed = assess(inputs, PARAMS, 2026)
    d1 = draw_general(assessed, set(), PARAMS, 2026, seed=9, capacity_checks=1000)
    d2 = draw_general(assessed, set(), PARAMS, 2026, seed=9, capacity_checks=1000)
    d3 = draw_general(assessed, set(), PARAMS, 2026, seed=10, capacity_checks=1000)
    (s1,) = d1.strata
    assert (s1.base_class, s1.credit, s1.total, len(s1.excluded_recent)) == ("M", "good", 40, 5)
    assert s1.quota == 14 and len(s1.drawn) == 14  # ⌈40 × 1/3⌉
    assert not set(s1.drawn) & set(s1.excluded_recent)
    assert d1.selected() == d2.selected() and d1.selected() != d3.selected()
    short = draw_general(assessed, set(), PARAMS, 2026, seed=9, capacity_checks=7)
    assert len(short.selected()) == 7 and short.scale < 1


def test_teams_are_random_pairs_of_at_least_two() -> None:
    inspectors = [Inspector(f"I{i}", f"执法员{i}", "A科" if i < 4 else "B科") for i in range(7)]
    days = {i.inspector_id: 100.0 for i in inspectors} | {"I0": 80.5}
    teams = form_teams(inspectors, days, PARAMS, 2026, seed=3)
    assert sorted(len(t.members) for t in teams) == [2, 2, 3]
    assert sorted(m.inspector_id for t in teams for m in t.members) == [f"I{i}" for i in range(7)]
    assert any(t.days == 80 for t in teams)  # a team works the days its least available member has
    assert form_teams(inspectors, days, PARAMS, 2026, seed=3) == teams
