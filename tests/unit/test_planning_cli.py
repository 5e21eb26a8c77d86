"""``creditflow plan`` (through :mod:`creditflow.planning.cli`) on a small generated case database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
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


@pytest.fixture(scope="module")
def warehouse_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('wh') / 'wh.sqlite'}"
    wh.upgrade(url)
    return url


def test_json_summary_and_files(case_db: str, warehouse_db: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plans" / "2026"
    assert _run(["--year", "2026", "--out", str(out), "--case-db", case_db, "--db", warehouse_db, "--seed", "5",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    shortfall = printed.pop("shortfall")
    summary = printed
    assert list(summary) == ["year", "inspectors", "statutory_days", "inspection_days", "key_days", "general_days",
                             "enterprises", "key_enterprises", "inspections", "mandatory_unscheduled",
                             "shortfall_inspector_days", "objective", "bound", "gap", "seed"]
    assert sum(u["missing"] for u in shortfall) == summary["mandatory_unscheduled"]
    assert sum(u["inspector_days"] for u in shortfall) == summary["shortfall_inspector_days"]
    assert summary["year"] == 2026 and summary["statutory_days"] == 248 and summary["seed"] == 5
    with sa.create_engine(case_db).connect() as conn:
        ents = conn.execute(sa.text("SELECT COUNT(*) FROM enterprise")).scalar()
        active = conn.execute(sa.text("SELECT COUNT(*) FROM inspector WHERE active = 1")).scalar()
    assert (summary["enterprises"], summary["inspectors"]) == (ents, active)
    assert summary["key_days"] + summary["general_days"] == summary["inspection_days"]
    assert summary["bound"] <= summary["objective"] and 0 <= summary["gap"] <= 1
    assert [p["year"] for p in list_plans(out.parent)] == [2026]
    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert saved["summary"] == summary and saved["shortfall"] == [
        {**u, "kind_zh": v["kind_zh"], "reason": v["reason"]} for u, v in zip(shortfall, saved["shortfall"], strict=True)]
    assert "cf_credit_case" in saved["list_source"]


def test_connection_from_environment(case_db: str, warehouse_db: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CASE_DB", json.dumps({"conn_type": "generic",
                                                           "extra": {"sqlalchemy_url": case_db}}))
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_DB", json.dumps({"conn_type": "generic",
                                                                 "extra": {"sqlalchemy_url": warehouse_db}}))
    assert plan_cli.connection_url("case_db") == case_db
    assert _run(["--year", "2026", "--out", str(tmp_path / "2026"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 2026  # default seed: the year
    monkeypatch.setenv("AIRFLOW_CONN_CASE_DB", "postgresql://u:p@db:5432/cases")
    assert plan_cli.connection_url("case_db") == "postgresql+psycopg2://u:p@db:5432/cases"


BAD_CSV = "uscc,listed_on\n91440400MA4UABCD1N,2025-13-40\n"


@pytest.mark.parametrize("argv, text", [
    (["--year", "2099"], "2099"),  # no official calendar: never plan on a guess (2099: surely not covered)
    (["--year", "2026", "--dishonesty-list", "/nonexistent/list.csv"], "list.csv"),
    (["--year", "2026", "--dishonesty-list", "{bad_csv}"], "not a date"),
    (["--year", "2026", "--dishonesty-list", "{latin1}"], "UTF-8"),
    (["--year", "2026", "--hazard-tags", "{short_rows}", "--db", "{wh}"], None),  # short rows are fine: a plan
    (["--year", "2026"], "--db"),  # no warehouse, no export: the list cannot be read — refused, not left empty
    (["--year", "2026", "--db", "sqlite:////nonexistent/wh.sqlite"], "no such SQLite file"),
    (["--year", "2026", "--db", "not a url"], "not a database URL"),
    (["--year", "2026", "--db", "{empty_wh}"], "cf_credit_case"),  # a warehouse that was never migrated
    (["--year", "2026", "--db", "{wh}", "--time-limit", "0"], "time-limit"),
    (["--year", "2026", "--db", "{wh}", "--conflicts", "{tmp}"], "{tmp}"),  # a directory, not a file
])
def test_errors_are_one_line_exit_2(case_db: str, warehouse_db: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                    argv: list[str], text: str | None) -> None:
    """Every refusal of ``creditflow plan`` is exit 2 and one line on stderr, never a traceback."""
    from creditflow.cli import main

    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_DB", raising=False)
    (tmp_path / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes("uscc,listed_on\n名单,2025-01-01\n".encode("gb18030"))
    (tmp_path / "short.csv").write_text("ent_key,tag\nE0000001\n,\n", encoding="utf-8")
    empty = tmp_path / "empty.sqlite"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    subs = {"{bad_csv}": str(tmp_path / "bad.csv"), "{latin1}": str(tmp_path / "latin1.csv"),
            "{short_rows}": str(tmp_path / "short.csv"), "{wh}": warehouse_db, "{empty_wh}": f"sqlite:///{empty}",
            "{tmp}": str(tmp_path)}
    argv = [subs.get(a, a) for a in argv]
    code = main(["plan", *argv, "--out", str(tmp_path / "x"), "--case-db", case_db, "--time-limit",
                 argv[argv.index("--time-limit") + 1] if "--time-limit" in argv else "5"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if text is None:
        assert code == 0 and err == ""
        return
    assert code == 2 and err.count("\n") == 1 and subs.get(text, text) in err, err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv", [["--year", "abc"], ["--year", "2026", "--as-of", "2026-02-30"], ["--seed", "1"]])
def test_bad_arguments_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           argv: list[str]) -> None:
    from creditflow.cli import main

    assert main(["plan", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_connection_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CASE_DB", raising=False)
    assert _run(["--year", "2026", "--out", str(tmp_path / "x")]) == 2
    assert "AIRFLOW_CONN_CASE_DB" in capsys.readouterr().err


def test_a_shortfall_year_is_a_plan_with_the_shortfall_printed(tmp_path: Path, warehouse_db: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """More due work than inspector-days — 400 units assessed 重大 (粤应急规〔2021〕4号: key, ≥ 1 a year), two
    inspectors (one team, fewer than 200 inspection days in 2026) — is a plan: exit 0, the documents written,
    and the units left without their key inspection printed with the inspector-days missing."""
    from creditflow_sandbox.generator.casedb import create_case_schema, insert_rows

    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    engine = sa.create_engine(url)
    create_case_schema(engine)
    now = dt.datetime(2025, 12, 1)
    with engine.begin() as conn:
        insert_rows(conn, "enterprise", [
            {"ent_id": f"E{i:07d}", "uscc": f"91440400TS{i:08d}", "ent_name": f"重大单位{i}", "ent_kind": "ENT",
             "district_code": "440402", "district_name": "香洲区", "industry": "危险化学品", "key_supervision": 1,
             "standard_grade": "二级", "risk_level": "重大", "created_at": now, "updated_at": now} for i in range(400)])
        insert_rows(conn, "inspector", [{"inspector_id": f"I{i}", "inspector_name": f"执法员{i}", "cert_no": str(i),
                                         "department": "危险化学品安全监督管理科", "active": 1} for i in (1, 2)])
    engine.dispose()
    out = tmp_path / "plans" / "2026"
    assert _run(["--year", "2026", "--out", str(out), "--case-db", url, "--db", warehouse_db]) == 0
    text = capsys.readouterr().out
    lines = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line and not line.startswith(" "))
    placed, missing = int(lines["inspections"]), int(lines["mandatory_unscheduled"])
    assert placed + missing == 400 and missing > placed  # more than twice the work of the year
    assert float(lines["shortfall_inspector_days"]) == missing * 2  # one day × two inspectors per key inspection
    assert f"缺口：{missing}户次必检未能安排" in text
    assert sum(1 for line in text.splitlines() if line.startswith("  E")) == missing
    assert (out / "inspection_plan_2026.pdf").is_file() and (out / "inspection_plan_2026.xlsx").is_file()


def test_generated_case_db_has_what_the_floors_read(case_db: str) -> None:
    """The sandbox's case system records the assessed level on the four-level scale, few units 重大/较大 (a key
    list of realistic size), and a history older than the three-year look-back: some units last inspected
    before 2024 (due in 2026 under the cycle), some never."""
    with sa.create_engine(case_db).connect() as conn:
        levels = dict(conn.execute(sa.text("SELECT COALESCE(risk_level, '未评估'), COUNT(*) FROM enterprise "
                                           "GROUP BY risk_level")).all())
        last = [r[0] for r in conn.execute(sa.text(
            "SELECT MAX(i.inspected_on) FROM enterprise e LEFT JOIN inspection i ON i.ent_id = e.ent_id "
            "GROUP BY e.ent_id"))]
    assert set(levels) <= {"重大", "较大", "一般", "低", "未评估"}
    assert 0 < levels.get("重大", 0) + levels.get("较大", 0) < sum(levels.values()) / 3
    assert None in last and any(d is not None and str(d) < "2024-01-01" for d in last)
