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
