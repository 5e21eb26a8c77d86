"""工作日测算表 against a hand-computed table, its self-checks, the calendar rule, and the data files."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from creditflow.core.workdays import CalendarNotCovered
from creditflow.planning import calendar_action, calendar_warning, load_parameters, require_calendar
from creditflow.planning.params import PlanDataError, default_data_dir
from creditflow.planning.workload import build_workday_table, shares_to_100

HAND_WORKLOAD = {
    "version": "2026-11-28", "effective_from": "2017-12-27", "source": "test", "mark": "local",
    "inspectors_per_check": {"value": 2, "mark": "S", "source": "test"},
    "days_per_check": {"key": {"value": 1.0, "mark": "local", "source": "t"},
                       "general": {"value": 0.5, "mark": "local", "source": "t"}},
    "key_share": {"value": 0.6, "mark": "local", "source": "test"},
    "items": [
        {"id": "comprehensive", "group": "other_enforcement", "name_zh": "综合监管", "per_inspector": 20,
         "mark": "local", "source": "t"},
        {"id": "assigned", "group": "other_enforcement", "name_zh": "上级交办", "per_unit": 30, "mark": "local",
         "source": "t"},
        {"id": "annual_leave", "group": "non_enforcement", "name_zh": "年休假", "per_inspector": 10, "mark": "M",
         "source": "t"},
        {"id": "duty", "group": "non_enforcement", "name_zh": "值班", "per_inspector": 12, "mark": "local",
         "source": "t"},
    ],
}


@pytest.fixture
def hand_data(tmp_path: Path) -> Path:
    d = tmp_path / "planning"
    shutil.copytree(default_data_dir(), d)
    (d / "workload.yaml").write_text(yaml.safe_dump(HAND_WORKLOAD, allow_unicode=True), encoding="utf-8")
    (d / "inspector_days.csv").write_text("inspector_id,item_id,days,note,source,mark\n"
                                          "I2,annual_leave,40,长期病休折算,test,local\n", encoding="utf-8")
    return d


def test_table_matches_hand_computation(hand_data: Path) -> None:
    params = load_parameters(2026, hand_data)
    t = build_workday_table(2026, ["I1", "I2", "I3", "I4", "I5"], params)
    # By hand: N = 248 (2026), T = 248 × 5 = 1240; O = 20 × 5 + 30 = 130; F = 10 × 4 + 40 + 12 × 5 = 140;
    # S = 1240 − 130 − 140 = 970; K = 970 × 0.6 = 582; G = 388.
    assert (t.statutory_days, t.total, t.other_enforcement, t.non_enforcement) == (248, 1240, 130, 140)
    assert (t.inspection, t.key, t.general) == (970, 582, 388)
    # Per inspector: 248 − 20 − 30/5 − 10 − 12 = 200; I2 on long leave: 248 − 20 − 6 − 40 − 12 = 170.
    assert t.inspector_inspection_days == {"I1": 200, "I2": 170, "I3": 200, "I4": 200, "I5": 200}
    rows = {r[0]: r for r in t.rows()}
    # 130/1240 = 10.48%, 140/1240 = 11.29%, 970/1240 = 78.23%: rounded so the printed shares add to 100.0.
    assert (rows["O"][3], rows["F"][3], rows["S"][3]) == ("10.5%", "11.3%", "78.2%")
    assert rows["K"][3].startswith("60.0%") and rows["G"][3].startswith("40.0%")
    assert rows["K/c"][2] == 291 and rows["G/c"][2] == 388  # 582 ÷ (2 × 1), 388 ÷ (2 × 0.5)
    assert "1 人按人调整" in rows["  annual_leave"][4]
    assert t.check() == []


def test_check_catches_a_broken_table(hand_data: Path) -> None:
    params = load_parameters(2026, hand_data)
    t = build_workday_table(2026, ["I1", "I2"], params)
    t.items[0].days = -5
    t.inspector_inspection_days["I1"] += 50  # per-inspector days no longer add up to S
    problems = t.check()
    assert any("天数为负" in p for p in problems) and any("按人合计" in p for p in problems)
    overloaded = build_workday_table(2026, ["I1"], params)
    overloaded.items.append(type(overloaded.items[0])("x", "non_enforcement", "其他", 400, "", "", "local"))
    assert any("监督检查工作日为负" in p for p in overloaded.check())


def test_shares_always_add_to_100() -> None:
    for parts in ([1, 1, 1], [130, 140, 970], [2, 3, 5, 7, 11, 13], [0.5, 0.25, 0.25]):
        assert sum(shares_to_100(parts)) == Decimal(100)


def test_shipped_data_loads_and_balances() -> None:
    params = load_parameters(2026)
    assert params.regime.id == "yue_2025_4" and params.regime.caps
    assert load_parameters(2025).regime.id == "yue_2021_4"  # the 2025 revision is not in force on 1 Jan 2025
    assert all(s.mark in ("S", "M", "local") and s.source for s in params.sourced)
    t = build_workday_table(2026, [f"I{i}" for i in range(8)], params)
    assert t.check() == [] and t.inspection > 0


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["items"][0].update(per_unit=3), "exactly one"),
    (lambda d: d.update(key_share={"value": 1.5, "mark": "S", "source": "x"}), "between 0 and 1"),
    (lambda d: d["days_per_check"]["key"].update(value=2), "0.5 or 1"),
    (lambda d: d["items"][0].update(mark="verified"), "mark must be"),
])
def test_bad_data_is_refused(hand_data: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((hand_data / "workload.yaml").read_text(encoding="utf-8"))
    edit(data)
    (hand_data / "workload.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PlanDataError, match=message):
        load_parameters(2026, hand_data)


def test_good_credit_must_be_drawn_less_than_bad(hand_data: Path) -> None:
    path = hand_data / "double_random.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('M:  {good: "1/3", ordinary: "1/2", bad: "1"}',
                                                             'M:  {good: "1", ordinary: "1", bad: "1"}'),
                    encoding="utf-8")
    with pytest.raises(PlanDataError, match="good < bad"):
        load_parameters(2026, hand_data)


def test_a_year_without_an_official_calendar_is_refused() -> None:
    assert require_calendar(2026) == 248
    # 2099: a year no calendar file will cover soon (2027's file is added when the State Council publishes it).
    with pytest.raises(CalendarNotCovered, match="2099"):
        require_calendar(2099)
    assert calendar_warning(dt.date(2098, 10, 31), 2099) is None
    assert "2099" in (calendar_warning(dt.date(2098, 11, 1), 2099) or "")
    assert calendar_warning(dt.date(2025, 11, 1), 2026) is None  # covered


def test_dag_warns_in_november_and_fails_in_december() -> None:
    assert calendar_action(2027, False, True, dt.date(2026, 11, 15)) == "warn"
    assert calendar_action(2027, False, True, dt.date(2026, 12, 1)) == "fail"
    assert calendar_action(2027, False, False, dt.date(2026, 11, 15)) == "fail"  # manual / backfill: never guess
    assert calendar_action(2026, True, True, dt.date(2025, 12, 1)) == "plan"
