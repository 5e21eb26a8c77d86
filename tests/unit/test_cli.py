import subprocess
import sys

from creditflow.cli import main


def test_workdays_add_and_due(capsys):
    assert main(["workdays", "add", "2026-02-12", "7"]) == 0
    assert capsys.readouterr().out.strip() == "2026-02-28"
    assert main(["workdays", "due", "2026/2/12"]) == 0
    assert capsys.readouterr().out.strip() == "2026-02-28"


def test_uncovered_year_is_one_line_and_exit_2(capsys):
    assert main(["workdays", "due", "2027-03-01"]) == 2
    err = capsys.readouterr().err
    assert "2027" in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_arguments_exit_2(capsys):
    assert main(["workdays", "add", "2026-02-30", "3"]) == 2
    assert main(["workdays", "add", "2026-02-12", "seven"]) == 2
    assert main(["workdays"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_console_script_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "creditflow", "workdays", "due", "2026-02-12"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2026-02-28"
    bad = subprocess.run([sys.executable, "-m", "creditflow", "workdays", "due", "2027-06-01"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
