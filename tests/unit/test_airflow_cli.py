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
