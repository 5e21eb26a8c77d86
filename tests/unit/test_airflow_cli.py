"""scripts/airflow (#18.5): one way to run the Airflow CLI with the services' environment, for either shape. The
documented commands themselves run in tests/integration/test_runbook_commands.py; here the shapes' environments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import airflow_cli  # noqa: E402


def test_the_wrapper_options_come_before_airflows_own():
    assert airflow_cli.parse(["--cluster", "dags", "list", "--home", "x"]) == ("cluster", None, None,
                                                                              ["dags", "list", "--home", "x"])
    shape, home, port, args = airflow_cli.parse(["--home", "/tmp/h", "--port", "9000", "--", "--version"])
    assert (shape, home, port, args) == ("demo", Path("/tmp/h"), 9000, ["--version"])
    with pytest.raises(SystemExit, match="端口号"):
        airflow_cli.parse(["--port", "x", "dags"])


def test_the_demo_shape_is_the_services_environment(tmp_path):
    env = airflow_cli.environment("demo", tmp_path / "home", 9123)
    # What was missing when operators ran `.venv/bin/airflow` or only set AIRFLOW_HOME: the plugins folder (the
    # DAGs' timetable: TimetableNotRegistered without it), the DAGs folder, the home and its metadata DB.
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(ROOT / "plugins")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "dags")
    assert env["AIRFLOW_HOME"] == str((tmp_path / "home").resolve())
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(f"{tmp_path / 'home' / 'airflow.db'}")
    assert env["AIRFLOW__API__PORT"] == "9123" and str(ROOT / "include") in env["PYTHONPATH"].split(":")


def test_the_cluster_shape_is_make_clusters_environment(tmp_path):
    home = tmp_path / "cluster-home"
    home.mkdir()
    with pytest.raises(SystemExit, match="没有正在运行的 make cluster"):
        airflow_cli.environment("cluster", home)
    (home / "cluster.json").write_text(json.dumps({"settings": {
        "name": "creditflow_cluster", "pg_url": "postgresql://ops@db.example:5433/postgres", "port": 8091,
        "redis_url": "redis://127.0.0.1:6379/3", "sgs_start": "2026-11-20"}}))
    env = airflow_cli.environment("cluster", home)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == \
        "postgresql+psycopg2://ops@db.example:5433/creditflow_cluster_airflow"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/3" and env["AIRFLOW__API__PORT"] == "8091"
    assert env["CREDITFLOW_SGS_START"] == "2026-11-20"  # the DAGs parse with the cluster's start date
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(ROOT / "plugins")


def test_a_refusal_is_one_chinese_line_and_exit_2(tmp_path, capsys):
    assert airflow_cli.main(["--cluster", "--home", str(tmp_path), "dags", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "没有正在运行的 make cluster" in err


def test_a_fresh_clone_is_refused_in_chinese_before_anything_is_created(tmp_path, capsys):
    # #18.5: on a fresh clone (no .airflow/airflow.db yet) Airflow created a home and failed in English
    # ("Database migration required"). The wrapper refuses first: exit 2, one Chinese line, nothing created.
    home = tmp_path / "fresh-home"
    assert airflow_cli.main(["--home", str(home), "dags", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "演示环境尚未初始化" in err and "db migrate" in err
    assert not home.exists()


def test_the_default_demo_home_without_its_db_says_run_make_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(airflow_cli, "ROOT", tmp_path)  # a checkout where make demo never ran
    monkeypatch.setattr(airflow_cli, "_in_venv", lambda: True)  # (its .venv is this one)
    assert airflow_cli.main(["dags", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "演示环境尚未初始化" in err and "make demo" in err
    assert not (tmp_path / ".airflow").exists()


def test_db_commands_pass_the_check_they_create_the_db(tmp_path):
    airflow_cli.require_demo_db(tmp_path / "fresh", ["db", "migrate"])  # no refusal
    with pytest.raises(SystemExit, match="演示环境尚未初始化"):
        airflow_cli.require_demo_db(tmp_path / "fresh", ["backfill", "create"])
