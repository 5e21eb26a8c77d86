import subprocess
import sys

import pytest
from creditflow.cli import main
from creditflow.core import workdays


@pytest.fixture
def uncovered_year() -> int:
    """The first year after the last one the official calendar covers (not a fixed 2027)."""
    return max(workdays.official_calendar().years) + 1


def test_workdays_add_and_due(capsys):
    assert main(["workdays", "add", "2026-02-12", "7"]) == 0
    assert capsys.readouterr().out.strip() == "2026-02-28"
    assert main(["workdays", "due", "2026/2/12"]) == 0
    assert capsys.readouterr().out.strip() == "2026-02-28"


def test_uncovered_year_is_one_line_and_exit_2(capsys, uncovered_year):
    assert main(["workdays", "due", f"{uncovered_year}-03-01"]) == 2
    err = capsys.readouterr().err
    assert str(uncovered_year) in err and err.count("\n") == 1 and "Traceback" not in err


def test_due_before_the_rule_is_in_force_is_one_line_and_exit_2(capsys):
    """data/rules/deadlines.yaml: sgs_publication (国办发〔2015〕51号, 7 working days) is in force from 2015-06-24;
    for a decision before it there is no deadline rule — one Chinese line and exit 2, the answer the pages give
    (duedates.sgs_due: 待定（无有效的期限规则）), never a traceback."""
    assert main(["workdays", "due", "2015-06-23"]) == 2
    err = capsys.readouterr().err
    assert "无有效的期限规则" in err and err.count("\n") == 1 and "Traceback" not in err


def test_uncovered_year_says_which_file_makes_the_deadline_known(capsys, uncovered_year):
    assert main(["workdays", "due", f"{uncovered_year}-03-01"]) == 2
    assert f"data/calendar/{uncovered_year}.yaml" in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys):
    assert main(["workdays", "add", "2026-02-30", "3"]) == 2
    assert main(["workdays", "add", "2026-02-12", "seven"]) == 2
    assert main(["workdays"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_console_script_and_module_entry_point(uncovered_year):
    out = subprocess.run([sys.executable, "-m", "creditflow", "workdays", "due", "2026-02-12"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2026-02-28"
    bad = subprocess.run([sys.executable, "-m", "creditflow", "workdays", "due", f"{uncovered_year}-06-01"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_generate_with_horizon_and_timeline_seeds_only_the_past(tmp_path, capsys):
    """``creditflow generate --horizon --timeline`` prepares sources the way ``make demo`` does: every change
    inside the window, only the past in the sandboxes, the rest in the timeline in time order."""
    import json

    import sqlalchemy as sa

    args = ["generate", "--seed", "7", "--decisions", "40", "--start", "2026-11-02", "--days", "3",
            "--horizon", "2026-11-04", "--case-db", f"sqlite:///{tmp_path}/case.sqlite",
            "--licensing-db", f"sqlite:///{tmp_path}/lic.sqlite", "--inbox", str(tmp_path / "drop"),
            "--timeline", str(tmp_path / "timeline.jsonl")]
    assert main(args) == 0
    counts = dict(line.split(": ") for line in capsys.readouterr().out.splitlines())
    events = [json.loads(line) for line in (tmp_path / "timeline.jsonl").read_text().splitlines()]
    assert len(events) == int(counts["timeline"]) > 0
    assert all(events[i]["at"] <= events[i + 1]["at"] for i in range(len(events) - 1))
    assert max(e["at"][:10] for e in events) <= "2026-11-04"  # nothing after the horizon
    engine = sa.create_engine(f"sqlite:///{tmp_path}/case.sqlite")
    with engine.connect() as conn:  # the decisions wait in the timeline: none is in the case system yet
        assert conn.execute(sa.text("SELECT count(*) FROM penalty_decision")).scalar() == 0
    engine.dispose()
    assert main([*args[:9], "--horizon", "2026-11-01"]) == 2  # before the start
    assert "--horizon" in capsys.readouterr().err
