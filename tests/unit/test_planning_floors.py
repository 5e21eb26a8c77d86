"""The plan's statutory floors, each case worked out from the rule text quoted beside it (粤应急规〔2021〕4号, its
2025 revision, 部令第11号), read through the real path: a case database and a warehouse, ``load_case_db``,
``WarehouseDishonestyList`` and ``build_plan``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.planning import build_plan, load_case_db, load_parameters
from creditflow.planning.dishonesty import WarehouseDishonestyList
from creditflow.planning.inputs import Enterprise, Inspector, PlanInputs
from creditflow.planning.risk import assess
from creditflow.planning.selection import cycle_due, select_key
from creditflow.planning.store import plan_document, save_plan
from creditflow_sandbox.generator.casedb import create_case_schema, insert_rows

YEAR = 2026
PARAMS = load_parameters(YEAR)
NOW = dt.datetime(2025, 12, 1, 9)


def ent_row(ent_id: str, risk: str | None = "一般", industry: str = "商贸", grade: str = "一级",
            uscc: str | None = None) -> dict[str, Any]:
    return {"ent_id": ent_id, "uscc": uscc or f"91440400TS{ent_id[-8:]:0>8}", "ent_name": f"测试单位{ent_id}",
            "ent_kind": "ENT", "district_code": "440402", "district_name": "香洲区", "industry": industry,
            "key_supervision": 0, "standard_grade": grade, "risk_level": risk, "created_at": NOW, "updated_at": NOW}


def inspection_row(n: int, ent_id: str, on: dt.date, major: int = 0, rectified: int = 1) -> dict[str, Any]:
    return {"inspection_id": f"N{n:07d}", "ent_id": ent_id, "inspected_on": on, "inspector_ids": "I0001,I0002",
            "problems_found": 5 if major else 0, "major_hazards": major, "rectified": rectified}


def case_db(path: Path, ents: list[dict[str, Any]], inspections: list[dict[str, Any]], inspectors: int = 6) -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    create_case_schema(engine)
    with engine.begin() as conn:
        insert_rows(conn, "enterprise", ents)
        insert_rows(conn, "inspector", [{"inspector_id": f"I{i:04d}", "inspector_name": f"执法员{i}",
                                         "cert_no": f"粤应急执{i:08d}", "department": "工贸行业安全监督管理科",
                                         "active": 1} for i in range(1, inspectors + 1)])
        insert_rows(conn, "inspection", inspections)
    engine.dispose()
    return url


# --- 安全风险等级较高: the assessed level --------------------------------------------------------------------

def test_a_unit_assessed_major_or_considerable_is_key_whatever_its_score(tmp_path: Path) -> None:
    """粤应急规〔2021〕4号 重点单位情形一：“安全风险等级较高的” — the level the bureau assessed on Guangdong's four-level
    scale (重大/较大/一般/低). A 商贸 unit, 标准化一级, good credit, assessed 重大: composite score
    5 (商贸) + 25 (重大) + 0 (一级) − 10 (信用良好) = 20, the lowest class (L < 25) — still a key unit, ≥ 1 a year."""
    url = case_db(tmp_path / "c.sqlite", [ent_row("E0000001", "重大"), ent_row("E0000002", "较大"),
                                          ent_row("E0000003", "一般"), ent_row("E0000004", None)],
                  [inspection_row(i, f"E000000{i}", dt.date(2024, 5, 1)) for i in range(1, 5)])
    data = load_case_db(url, YEAR)
    by = {a.ent.ent_id: a for a in assess(data, PARAMS, YEAR)}
    assert by["E0000001"].score == 20 and by["E0000001"].risk_class == "L" and by["E0000001"].credit == "good"
    key = {k.a.ent.ent_id: k for k in select_key(list(by.values()), PARAMS)}
    assert set(key) == {"E0000001", "E0000002"}  # 一般 and 未评估 with low scores are general units
    assert key["E0000001"].reasons == [("high_risk", "安全风险等级较高：评估等级重大")]
    assert key["E0000002"].visits >= 1 and key["E0000002"].reasons[0][0] == "high_risk"
    plan = build_plan(YEAR, data, seed=1)
    assert plan.visits_by_ent()["E0000001"] >= 1 and plan.summary()["mandatory_unscheduled"] == 0
    record = next(r for r in plan.key_records() if r["ent_id"] == "E0000001")
    assert (record["risk_level"], record["risk_class"]) == ("重大", "L")  # the key list shows the assessed level


def test_the_assessed_level_is_read_however_the_case_system_writes_it(tmp_path: Path) -> None:
    """粤应急规〔2021〕4号 情形一 “安全风险等级较高的”: 重大/较大 on Guangdong's four-level scale, which the case system
    may write as ' 重大', '较大风险' or in the scale's colours (红 = 重大, 橙 = 较大, 黄 = 一般, 蓝 = 低 [M]) — all key or not
    key as their level says. A value outside the scale ('紫') is 未评估 and listed as a data problem, not silently."""
    ents = [ent_row("E0000001", " 重大"), ent_row("E0000002", "较大风险"), ent_row("E0000003", "红"),
            ent_row("E0000004", "橙色"), ent_row("E0000005", "黄"), ent_row("E0000006", "蓝"),
            ent_row("E0000007", "紫"), ent_row("E0000008", None)]
    data = load_case_db(case_db(tmp_path / "c.sqlite", ents,
                                [inspection_row(i, f"E000000{i}", dt.date(2024, 5, 1)) for i in range(1, 9)]), YEAR)
    levels = {e.ent_id: e.risk_level for e in data.enterprises}
    assert levels == {"E0000001": "重大", "E0000002": "较大", "E0000003": "重大", "E0000004": "较大",
                      "E0000005": "一般", "E0000006": "低", "E0000007": "未评估", "E0000008": "未评估"}
    key = {k.a.ent.ent_id for k in select_key(assess(data, PARAMS, YEAR), PARAMS)}
    assert {"E0000001", "E0000002", "E0000003", "E0000004"} <= key and not key & {"E0000005", "E0000006"}
    assert len(data.data_problems) == 1 and "紫" in data.data_problems[0] and "E0000007" in data.data_problems[0]


def test_the_look_back_and_the_cycle_label_come_from_the_rule_data(tmp_path: Path, monkeypatch) -> None:
    """risk_weights.yaml lookback_years (近三年: 3) decides from when accidents are read; with a 2-year look-back
    an accident of 2023 is no longer read for the 2026 plan. The general units' label follows general_cycle_years."""
    import dataclasses

    from creditflow.planning.plan import general_kind_zh

    url = case_db(tmp_path / "c.sqlite", [ent_row("E0000001")], [])
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        insert_rows(conn, "accident", [{"accident_id": "A0001", "ent_id": "E0000001", "occurred_on": dt.date(2023, 6, 1),
                                        "accident_level": "一般", "deaths": 0, "concealed": 0}])
    engine.dispose()
    assert len(load_case_db(url, YEAR).accidents) == 1  # 2023-01-01 onward: three whole years before 2026
    short = {**PARAMS.risk, "lookback_years": {k: {**v, "value": 2} for k, v in PARAMS.risk["lookback_years"].items()}}
    assert load_case_db(url, YEAR, params=dataclasses.replace(PARAMS, risk=short)).accidents == []
    assert general_kind_zh(PARAMS.regime.general_cycle_years) == "一般单位（三年一轮到期）"
    assert general_kind_zh(2) == "一般单位（二年一轮到期）"


def test_the_2025_regime_keeps_the_level_floor() -> None:
    """粤应急规〔2025〕4号 (in force from 2025-08-19) revises the 2021 measures; its key situations are carried over
    [M]: the assessed level is the criterion in both regimes."""
    assert PARAMS.regime.id == "yue_2025_4"
    for year in (2024, 2026):
        crit = next(c for c in load_parameters(year).regime.criteria if c.id == "high_risk")
        assert set(crit.levels) == {"重大", "较大"}


# --- 一般单位每三年至少一次: over the whole history --------------------------------------------------------------

def test_cycle_due_counts_whole_years() -> None:
    """一般单位每三年至少一次: last inspected in 2023 → 2024, 2025 and 2026 would pass without one, so 2026 must have
    it; last inspected in 2024 → due by 2027 at the latest; never inspected → due."""
    assert cycle_due(dt.date(2022, 11, 30), YEAR, 3) and cycle_due(dt.date(2023, 12, 31), YEAR, 3)
    assert not cycle_due(dt.date(2024, 1, 1), YEAR, 3)
    assert cycle_due(None, YEAR, 3)


def test_units_last_seen_long_ago_or_never_are_in_the_plan_whatever_the_draw(tmp_path: Path) -> None:
    """粤应急规〔2021〕4号：一般单位每三年至少开展一次执法检查. A general unit last inspected 2022-11-30 (before the
    risk score's three-year look-back, which starts 2023-01-01) and one never inspected are in the 2026 plan
    for every seed; one inspected in 2024 is only drawn by ratio."""
    ents = [ent_row("E0000001"), ent_row("E0000002"), ent_row("E0000003")]
    ents += [ent_row(f"F{i:07d}") for i in range(30)]
    insp = [inspection_row(1, "E0000001", dt.date(2022, 11, 30)), inspection_row(2, "E0000003", dt.date(2024, 3, 1))]
    insp += [inspection_row(10 + i, f"F{i:07d}", dt.date(2024, 3, 1)) for i in range(30)]
    data = load_case_db(case_db(tmp_path / "c.sqlite", ents, insp), YEAR)
    assert data.last_inspected["E0000001"] == dt.date(2022, 11, 30)
    drawn_e3 = 0
    for seed in range(6):
        plan = build_plan(YEAR, data, seed=seed)
        forced = {e for s in plan.draw.strata for e in s.forced}
        assert {"E0000001", "E0000002"} <= forced and "E0000003" not in forced
        visits = plan.visits_by_ent()
        assert visits["E0000001"] == 1 and visits["E0000002"] == 1
        drawn_e3 += visits["E0000003"]
    assert drawn_e3 < 6  # the 2024 unit is drawn (1/3 of its stratum), not always in


# --- 已超期且仍未完成重大事故隐患整改: however old ------------------------------------------------------------------

def test_a_2021_unrectified_major_hazard_is_still_overdue(tmp_path: Path) -> None:
    """粤应急规〔2021〕4号 重点单位情形二：已超期且仍未完成重大事故隐患整改的. A major hazard found 2021-06-01 and never
    rectified is overdue in 2026 all the more; a rectified one of the same day is not."""
    url = case_db(tmp_path / "c.sqlite", [ent_row("E0000001"), ent_row("E0000002")],
                  [inspection_row(1, "E0000001", dt.date(2021, 6, 1), major=1, rectified=0),
                   inspection_row(2, "E0000002", dt.date(2021, 6, 1), major=1, rectified=1),
                   inspection_row(3, "E0000002", dt.date(2024, 6, 1))])
    data = load_case_db(url, YEAR)
    key = {k.a.ent.ent_id: k for k in select_key(assess(data, PARAMS, YEAR), PARAMS)}
    assert set(key) == {"E0000001"}
    assert [r[0] for r in key["E0000001"].reasons] == ["unrectified_major_hazard"]


# --- 严重失信主体名单: from the warehouse ----------------------------------------------------------------------------

def _case(case_id: str, uscc: str, state: str, start: str | None, end: str | None,
          removed: str | None = None) -> dict[str, Any]:
    return {"case_id": case_id, "situation_id": "art7_1", "party_key": uscc, "party_type": "法人及非法人组织",
            "party_name": f"单位{case_id}", "facts": "x", "basis": "x", "authority_name": "珠海市应急管理局",
            "authority_uscc": "11440400MB2C123457", "state": state, "list_start": start, "list_end": end,
            "removed_on": removed, "created_on": "2020-01-01", "updated_at": wh.now_iso()}


@pytest.fixture
def listed_world(tmp_path: Path, db_url: str) -> tuple[str, str]:
    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    cases = [
        _case("C-NOW", "91440400TSE0000001", "published", "2025-03-01", "2028-03-01"),  # on the list now
        _case("C-LY", "91440400tse0000002", "removed", "2024-01-10", "2027-01-10", "2025-06-01"),  # left in 2025
        _case("C-OLD", "91440400TSE0000003", "expired", "2021-02-01", "2024-02-01", "2024-02-01"),  # left in 2024
        _case("C-ANN", "91440400TSE0000004", "annulled", "2025-03-01", "2028-03-01"),  # listing revoked
        _case("C-CAND", "91440400TSE0000005", "candidate", None, None),  # never decided
        _case("C-LATE", "91440400TSE0000006", "published", "2026-02-01", "2029-02-01"),  # after the data cut-off
    ]
    with engine.begin() as conn:
        conn.execute(wh.credit_case.insert(), cases)
    engine.dispose()
    ents = [ent_row(f"E000000{i}", "低") for i in range(1, 7)]
    url = case_db(tmp_path / "c.sqlite", ents, [inspection_row(i, f"E000000{i}", dt.date(2024, 5, 1))
                                                for i in range(1, 7)])
    return url, db_url


def test_the_list_from_the_warehouse_makes_key_units_and_raises_frequency(listed_world: tuple[str, str]) -> None:
    """粤应急规〔2021〕4号 重点单位情形四：上年度被纳入安全生产领域失信惩戒对象的 → key, ≥ 1 a year; 部令第11号：列入
    名单者加大检查频次 → still listed at the cut-off: the raised frequency of key_rules.yaml (listed_now, 4 a year,
    one a quarter). Left the list in 2025 → listed last year: key, once. Left in 2024, annulled, never decided,
    or listed after the cut-off → not on the list in 2025."""
    case_url, wh_url = listed_world
    data = load_case_db(case_url, YEAR, list_source=WarehouseDishonestyList(wh_url))
    assert "cf_credit_case" in data.list_source
    plan = build_plan(YEAR, data, seed=3)
    key = {k.a.ent.ent_id: k for k in plan.key_units}
    listed_now = next(c for c in PARAMS.regime.criteria if c.id == "listed_now")
    assert set(key) == {"E0000001", "E0000002"}
    assert {r[0] for r in key["E0000001"].reasons} == {"dishonest_last_year", "listed_now"}
    assert key["E0000001"].visits == listed_now.min_per_year == 4 and key["E0000001"].quarterly
    assert [r[0] for r in key["E0000002"].reasons] == ["dishonest_last_year"] and key["E0000002"].visits == 1
    days = sorted(p.day for p in plan.schedule.placed if p.job.ent_id == "E0000001")
    assert [(d.month - 1) // 3 for d in days] == [0, 1, 2, 3]


# --- more due work than inspector-days -----------------------------------------------------------------------

def test_twice_the_due_work_gives_a_plan_with_its_shortfall(tmp_path: Path) -> None:
    """安监总政法〔2017〕150号: the plan follows from the inspector-days; the floors of 粤应急规〔2021〕4号 do not
    shrink with them. Two inspectors (one team) and twice as many 重大 units as the team has inspection days:
    each key inspection takes the team a day (days_per_check.key = 1, 2 inspectors), so half the units cannot be
    placed, and the plan says which, and how many inspector-days are missing — the documents are written."""
    probe = PlanInputs([], [Inspector("I1", "甲", "科"), Inspector("I2", "乙", "科")], as_of=dt.date(YEAR, 1, 1))
    team_days = build_plan(YEAR, probe, seed=1).teams[0].days
    n = 2 * team_days
    ents = [Enterprise(f"K{i:05d}", f"91440400TSK{i:07d}", f"重大单位{i}", "440402", "香洲区", "危险化学品", True,
                       "二级", "重大") for i in range(n)]
    inputs = PlanInputs(ents, probe.inspectors, as_of=dt.date(YEAR, 1, 1))
    plan = build_plan(YEAR, inputs, seed=1)
    s = plan.summary()
    assert s["key_enterprises"] == n and s["inspections"] == team_days
    assert s["mandatory_unscheduled"] == n - team_days
    per_check = PARAMS.inspectors_per_check * PARAMS.days_per_check["key"]
    assert s["shortfall_inspector_days"] == (n - team_days) * per_check
    units = plan.shortfall_units()
    assert len(units) == n - team_days and all(u["kind"] == "key" and u["missing"] == 1 for u in units)
    paths = save_plan(plan, tmp_path / str(YEAR))
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert len(plan_document(plan)["shortfall"]) == n - team_days
    from openpyxl import load_workbook

    rows = list(load_workbook(paths["xlsx"], read_only=True)["未安排"].iter_rows(values_only=True))
    assert sum(1 for r in rows if len(r) > 3 and r[3] == "是") == n - team_days


def test_a_class_whose_bad_credit_units_get_no_visit_still_writes_the_pdf(tmp_path: Path) -> None:
    """Found with the floors: when capacity goes to the key units, good and bad general units alike get no
    visit; the PDF's credit comparison then has no reduction to print (it failed with TypeError)."""
    from creditflow.planning.inputs import Penalty

    ents = [Enterprise(f"K{i:05d}", f"91440400TSK{i:07d}", f"重大单位{i}", "440402", "香洲区", "危险化学品", True,
                       "二级", "重大") for i in range(300)]
    ents += [Enterprise(f"G{i:05d}", f"91440400TSG{i:07d}", f"一般单位{i}", "440402", "香洲区", "商贸", False, "一级",
                        "低") for i in range(20)]
    inputs = PlanInputs(ents, [Inspector("I1", "甲", "科"), Inspector("I2", "乙", "科")],
                        penalties=[Penalty(f"G{i:05d}", dt.date(2025, 3, 1), "x") for i in range(10)],
                        as_of=dt.date(YEAR, 1, 1), last_inspected={f"G{i:05d}": dt.date(2024, 5, 1) for i in range(20)})
    plan = build_plan(YEAR, inputs, seed=1)
    row = next(r for r in plan.credit_effect() if r["good"]["units"] and r["bad"]["units"])
    assert row["bad"]["visits_per_unit"] == 0 and row["reduction_vs_bad"] is None
    assert save_plan(plan, tmp_path / "p")["pdf"].read_bytes().startswith(b"%PDF")


def test_when_short_the_assessed_level_goes_before_the_score(tmp_path: Path) -> None:
    """The composite score ranks and explains; it never demotes a unit the bureau assessed 重大 (粤应急规〔2021〕4号
    情形一). One team, as many days as units of each kind: D units assessed 重大 with the lowest score
    (商贸 一级, good credit: 20) and D units assessed 一般 whose score reaches class H only by the bureau's own
    measure (base: 危化 30 + 一般 5 + 未定级 15 + tags 30 = 80 ≥ 70; 信用良好 −10 → 70). Only D fit: all of them
    are the 重大 units."""
    probe = PlanInputs([], [Inspector("I1", "甲", "科"), Inspector("I2", "乙", "科")], as_of=dt.date(YEAR, 1, 1))
    d = build_plan(YEAR, probe, seed=1).teams[0].days
    low = [Enterprise(f"A{i:05d}", f"91440400TSA{i:07d}", f"重大低分{i}", "440402", "香洲区", "商贸", False, "一级",
                      "重大") for i in range(d)]
    high = [Enterprise(f"B{i:05d}", f"91440400TSB{i:07d}", f"高分{i}", "440402", "香洲区", "危险化学品", True, "未定级",
                       "一般", ("粉尘涉爆", "有限空间")) for i in range(d)]
    plan = build_plan(YEAR, PlanInputs(low + high, probe.inspectors, as_of=dt.date(YEAR, 1, 1)), seed=1)
    by = plan.by_id
    assert by["A00000"].score == 20 and (by["B00000"].base_score, by["B00000"].score) == (80, 70)
    assert len(plan.key_units) == 2 * d
    visited = set(plan.visits_by_ent())
    assert visited == {e.ent_id for e in low}
    assert {u["ent_id"] for u in plan.shortfall_units()} == {e.ent_id for e in high}
