"""Every planning data file is checked against its shape before it is used: a file that does not fit is
refused with a PlanDataError naming the file, the field (with the entry's id where it has one) and what is
wrong — which the planning CLI prints as its one-line refusal (exit 2). The shapes: ``datafiles.py``; the
rules they enforce are the ones the files' own comments state (quoted next to each case)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from creditflow.planning.params import PlanDataError, default_data_dir, load_parameters


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "planning"
    shutil.copytree(default_data_dir(), d)
    return d


def _edit(d: Path, name: str, old: str, new: str) -> None:
    path = d / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


CASES = [
    # key_rules.yaml: "criteria 的 id 由代码识别（未知 id 报错）"
    ("key_rules.yaml", "- {id: unrectified_major_hazard,", "- {id: unknown_case,",
     r"key_rules\.yaml\.regimes\[0\] 'yue_2021_4'\.criteria\[1\] 'unknown_case': unknown criterion 'unknown_case'"),
    # high_risk: "评定为重大、较大者一律列为重点" — the levels that make a unit key must be given ...
    ("key_rules.yaml", "levels: [重大, 较大], classes: [H], min_per_year: 1, mark: S,",
     "classes: [H], min_per_year: 1, mark: S,", "needs levels"),
    # ... and be among Guangdong's four levels (重大/较大/一般/低)
    ("key_rules.yaml", "levels: [重大, 较大], classes: [H], min_per_year: 1, mark: S,",
     "levels: [重大, 极高], classes: [H], min_per_year: 1, mark: S,", "levels must be among 重大, 较大, 一般, 低"),
    # mark: S / M / local only
    ("key_rules.yaml", "min_per_year: 4, quarterly: true, mark: M,", "min_per_year: 4, quarterly: true, mark: X,",
     r"criteria\[4\] 'listed_now'\.mark: mark must be one of \('S', 'M', 'local'\), got 'X'"),
    ("industries.csv", "冶金,高危行业,25,工贸行业安全监督管理科,\"山西2025上限表把冶金与危化同列 [S: aqsx.sxkjnews.com]; 分值为本局评分口径\",local",
     "冶金,高危行业,25,工贸行业安全监督管理科,\"山西2025上限表把冶金与危化同列 [S: aqsx.sxkjnews.com]; 分值为本局评分口径\",verified",
     r"industries\.csv row 4\.mark: mark must be one of"),
    ("industries.csv", "冶金,高危行业,25,", "冶金,高危行业,很高,", r"industries\.csv row 4\.hazard_points: .*integer"),
    # risk_weights.yaml classes: "总分 → 风险类别（自高到低，取第一个 min_score 满足者）" — the last one catches all (0)
    ("risk_weights.yaml", "{code: MH, name_zh: 较高风险, min_score: 45}", "{code: MH, name_zh: 较高风险, min_score: 75}",
     "min_score must decrease and end at 0"),
    ("risk_weights.yaml", "{code: L, name_zh: 低风险, min_score: 0}", "{code: L, name_zh: 低风险, min_score: 5}",
     "min_score must decrease and end at 0"),
    # every value with its source
    ("risk_weights.yaml", 'accidents: {value: 3, mark: local, source: "本局口径“近三年事故”"}',
     "accidents: {value: 3, mark: local}", r"risk_weights\.yaml\.lookback_years\.accidents\.source: missing 'source'"),
    ("workload.yaml", "per_inspector: 20, mark: local,\n     source: \"150号 O 项目列表 [S]；天数为本局口径\"}",
     "per_inspector: 20, mark: local}", r"workload\.yaml\.items\[0\] 'comprehensive'\.source: missing 'source'"),
    ("workload.yaml", "value: 0.65", "value: 六成", r"workload\.yaml\.key_share\.value: .*number.*六成"),
    # frequency caps: standardisation grades 一级/二级/三级/未定级
    ("frequency_caps.csv", "yue_2025_4,高危行业,一级,2,", "yue_2025_4,高危行业,特级,2,", "unknown grade '特级'"),
    # double_random.yaml: ratios are shares of a stratum; credit lowers the draw (守信减频)
    ("double_random.yaml", 'H:  {good: "1/2"', 'H:  {good: "3/2"', r"ratios\.H\.good: ratio 3/2 outside \[0, 1\]"),
    ("double_random.yaml", 'H:  {good: "1/2"', 'H:  {good: "一半"', "not a ratio: '一半'"),
    ("double_random.yaml", "value: [good, ordinary]", "value: [good, excellent]", "only good, ordinary, bad"),
    # 执法人员不少于两人（行政处罚法 art. 42）
    ("double_random.yaml", 'min_team_size: {value: 2,', 'min_team_size: {value: 1,', "at least 2 inspectors"),
    # credit.yaml: the rules the code knows
    ("credit.yaml", "rule: clean_record", "rule: always_good", r"credit\.yaml\.statuses\[2\]\.rule: unknown rule"),
]


@pytest.mark.parametrize("name, old, new, message", CASES)
def test_a_file_that_does_not_fit_is_refused_naming_file_and_field(data: Path, name: str, old: str, new: str,
                                                                   message: str) -> None:
    _edit(data, name, old, new)
    with pytest.raises(PlanDataError, match=message):
        load_parameters(2026, data)


def test_the_shipped_files_fit_and_keep_their_values_and_sources() -> None:
    params = load_parameters(2026)
    by_key = {s.key: s for s in params.sourced}
    assert by_key["inspectors_per_check"].value == 2 and by_key["inspectors_per_check"].mark == "S"
    assert by_key["key_share"].value == 0.65 and params.key_share == 0.65
    assert params.days_per_check == {"key": 1.0, "general": 0.5}
    assert by_key["min_team_size"].value == 2 and params.exclusion_applies_to == ("good", "ordinary")
    assert str(params.ratios["M"]["good"]) == "1/3" and params.regime.caps[("高危行业", "二级")] == 4
    assert [c.code for c in params.classes] == ["H", "MH", "M", "L"]


def test_an_unreadable_or_non_mapping_file_is_refused(data: Path) -> None:
    (data / "credit.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(PlanDataError, match=r"credit\.yaml: not a mapping"):
        load_parameters(2026, data)
    (data / "credit.yaml").write_text("statuses: [unclosed\n", encoding="utf-8")
    with pytest.raises(PlanDataError, match=r"credit\.yaml: cannot read"):
        load_parameters(2026, data)
