"""The reporting DAG itself, run by Airflow (``dag.test()``) against the sandboxes, through connections
given as AIRFLOW_CONN_* environment variables — the same wiring the scheduler uses."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import warnings

import pendulum
import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 11, 3)


@pytest.fixture(scope="module")
def airflow_db(airflow_home):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    return airflow_home


@pytest.fixture
def wired(tmp_path, db_url, airflow_db, monkeypatch):
    warehouse(db_url)  # the deployment's init step (`creditflow db upgrade`)
    cfg = g.GeneratorConfig(seed=21, decisions=60, start=DAY, days=1)
    g.generate_to(cfg, case_db_url=f"sqlite:///{tmp_path}/case.sqlite", licensing_db_url=f"sqlite:///{tmp_path}/l.sqlite",
                  inbox=tmp_path / "inbox", manifest=tmp_path / "m.jsonl")
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/l.sqlite")) as ls:
        conns = {
            "CREDITFLOW_DB": {"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}},
            "CASE_DB": {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{tmp_path}/case.sqlite"}},
            "CREDIT_PLATFORM": {"conn_type": "http", "host": "127.0.0.1", "port": pf.port, "schema": "http",
                                "login": "creditflow-demo", "password": "demo-secret", "extra": {"backoff": 0.01}},
            "LICENSING_API": {"conn_type": "http", "host": "127.0.0.1", "port": ls.port, "schema": "http",
                              "login": "creditflow", "password": "demo-licensing"},
        }
        for name, value in conns.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(value))
        monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_INBOX_DIR", str(tmp_path / "inbox"))
        monkeypatch.setenv("CREDITFLOW_VAR", str(tmp_path / "var"))
        yield pf, db_url, g.read_manifest(tmp_path / "m.jsonl")


def _end_of(day: dt.date):
    nxt = day + dt.timedelta(days=1)
    return pendulum.datetime(nxt.year, nxt.month, nxt.day, tz="Asia/Shanghai")


def _dag(dag_id):
    from airflow.models import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    return bag.get_dag(dag_id)


def test_penalty_dag_runs_green_and_uploads(wired):
    pf, db_url, manifest = wired
    dag = _dag("sgs_penalty")
    # A manual run's data interval is the whole local day that ends at its logical date.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = dag.test(logical_date=_end_of(DAY))
    assert run.state == "success", [(t.task_id, t.state) for t in run.get_task_instances()]
    # The task's connections come through the Task SDK: no "get_connection_from_secrets is deprecated"
    # at the top of the task log (it came from the optional creditflow_storage connection's fallback).
    deprecated = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
                  and "get_connection_from_secrets" in str(w.message)]
    assert deprecated == []
    engine = warehouse(db_url)
    with engine.connect() as conn:
        summary = conn.execute(sa.select(wh.run_summary)).mappings().one()
    assert summary["reconciled"] and summary["interval_start"].startswith(DAY.isoformat())
    held = pf.admin("GET", "/admin/records?kind=penalty")["records"]
    expected = {m["natural_key"] for m in manifest if m["kind"] == "penalty" and m["outcome"] == "uploaded"
                and not m.get("review") and m.get("file_day", DAY.isoformat()) <= DAY.isoformat()}
    assert expected <= {r["natural_key"] for r in held}
    assert summary["uploaded"] == len(held)


def test_license_dag_reads_the_api(wired):
    pf, _db_url, manifest = wired
    dag = _dag("sgs_license")
    run = dag.test(logical_date=_end_of(DAY))
    assert run.state == "success"
    held = {r["natural_key"] for r in pf.admin("GET", "/admin/records?kind=license")["records"]}
    assert held == {m["natural_key"] for m in manifest if m["kind"] == "license" and m["outcome"] == "uploaded"}


def test_calendar_watch_passes_when_covered_and_fails_when_a_needed_year_is_missing(airflow_db):
    from creditflow.core.workdays import official_calendar

    dag = _dag("calendar_watch")
    covered = set(official_calendar().years)
    # A covered mid-year day (next year is not yet needed before November) passes ...
    ok = dag.test(logical_date=pendulum.datetime(max(covered), 6, 10, tz="Asia/Shanghai"))
    assert ok.state == "success"
    # ... and from 1 November a missing next year fails the DAG, as its runbook says. The year is the
    # first one past the calendar's coverage, whatever files exist when this test runs.
    uncovered = max(covered) + 1
    failed = dag.test(logical_date=pendulum.datetime(uncovered - 1, 11, 10, tz="Asia/Shanghai"))
    assert failed.state == "failed"


def test_a_manual_run_without_logical_date_processes_the_latest_due_day(wired):
    """#18.5: a run without a logical date (the REST API's and scripts/demo.py's manual trigger) failed three times
    with KeyError 'data_interval_start' and blocked the DAG. Day D's run is due at D+1 06:00 (the timetable's
    delay): triggered at D+1 07:30 with no date it processes D."""
    pf, db_url, manifest = wired
    dag = _dag("sgs_license")
    run_after = _end_of(DAY).add(hours=7, minutes=30)
    run = dag.test(logical_date=None, run_after=run_after)
    assert run.logical_date is None
    assert run.state == "success", [(t.task_id, t.state, t.try_number) for t in run.get_task_instances()]
    engine = warehouse(db_url)
    with engine.connect() as conn:
        summary = conn.execute(sa.select(wh.run_summary)).mappings().one()
    assert summary["interval_start"].startswith(DAY.isoformat()) and summary["reconciled"]
    held = {r["natural_key"] for r in pf.admin("GET", "/admin/records?kind=license")["records"]}
    assert held == {m["natural_key"] for m in manifest if m["kind"] == "license" and m["outcome"] == "uploaded"}


def test_a_manual_run_for_a_day_not_yet_due_is_refused_at_once_in_chinese(wired, capfd):
    """Asking (parameter ``day``) for a day whose run is not due yet (before D+1 06:00) fails at once — one
    try, no retries, nothing written — with a Chinese message saying when to trigger instead."""
    _pf, db_url, _manifest = wired
    dag = _dag("sgs_license")
    run_after = _end_of(DAY).add(hours=5)  # D+1 05:00: D is not yet due, D-1 is
    run = dag.test(logical_date=None, run_after=run_after, run_conf={"day": DAY.isoformat()})
    assert run.state == "failed"
    [ti] = run.get_task_instances()
    assert ti.state == "failed" and ti.try_number == 1  # refused, not retried
    task_log = "".join(capfd.readouterr())  # the task's log (structlog, to the test's stdout/stderr)
    assert f"{DAY} 的数据要到" in task_log and f"选择 {DAY - dt.timedelta(days=1)} 及以前的日期" in task_log
    with warehouse(db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.run_summary)).scalar_one() == 0
