"""``creditflow plan`` (through :mod:`creditflow.planning.cli`) on a small generated case database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.planning import cli as plan_cli
from creditflow.planning.store import list_plans
from creditflow_sandbox import generator as g


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="creditflow")
    plan_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", *argv])
    return int(args.func(args))


@pytest.fixture(scope="module")
def case_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('case') / 'case.sqlite'}"
    g.generate_to(g.GeneratorConfig(seed=3, decisions=150, start=dt.date(2026, 1, 5), days=2), case_db_url=url)
    return url


def test_json_summary_and_files(case_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plans" / "2026"
    assert _run(["--year", "2026", "--out", str(out), "--case-db", case_db, "--seed", "5", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == ["year", "inspectors", "statutory_days", "inspection_days", "key_days", "general_days",
                             "enterprises", "key_enterprises", "inspections", "mandatory_unscheduled",
                             "shortfall_inspector_days", "objective", "bound", "gap", "seed"]
    assert summary["year"] == 2026 and summary["statutory_days"] == 248 and summary["seed"] == 5
    with sa.create_engine(case_db).connect() as conn:
        ents = conn.execute(sa.text("SELECT COUNT(*) FROM enterprise")).scalar()
        active = conn.execute(sa.text("SELECT COUNT(*) FROM inspector WHERE active = 1")).scalar()
    assert (summary["enterprises"], summary["inspectors"]) == (ents, active)
    assert summary["key_days"] + summary["general_days"] == summary["inspection_days"]
    assert summary["bound"] <= summary["objective"] and 0 <= summary["gap"] <= 1
    assert [p["year"] for p in list_plans(out.parent)] == [2026]
    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert saved["summary"] == summary


def test_connection_from_environment(case_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CASE_DB", json.dumps({"conn_type": "generic",
                                                           "extra": {"sqlalchemy_url": case_db}}))
    assert plan_cli.connection_url("case_db") == case_db
    assert _run(["--year", "2026", "--out", str(tmp_path / "2026"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 2026  # default seed: the year
    monkeypatch.setenv("AIRFLOW_CONN_CASE_DB", "postgresql://u:p@db:5432/cases")
    assert plan_cli.connection_url("case_db") == "postgresql+psycopg2://u:p@db:5432/cases"


@pytest.mark.parametrize("argv, text", [
    (["--year", "2027"], "2027"),  # no official calendar: never plan on a guess
    (["--year", "2026", "--dishonesty-list", "/nonexistent/list.csv"], "list.csv"),
])
def test_errors_are_one_line_exit_2(case_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    argv: list[str], text: str) -> None:
    assert _run([*argv, "--out", str(tmp_path / "x"), "--case-db", case_db]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and text in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_missing_connection_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CASE_DB", raising=False)
    assert _run(["--year", "2026", "--out", str(tmp_path / "x")]) == 2
    assert "AIRFLOW_CONN_CASE_DB" in capsys.readouterr().err
