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
from helpers import ServedApp, pipeline_env, warehouse

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
        for name, value in pipeline_env(db_url, f"sqlite:///{tmp_path}/case.sqlite", pf.port, ls.port,
                                        tmp_path / "inbox", tmp_path / "var").items():
            monkeypatch.setenv(name, value)
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
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states.pop("prepare") == ("failed", 1)  # refused by the first task, not retried
    assert {state for state, _ in states.values()} == {"upstream_failed"}
    task_log = "".join(capfd.readouterr())  # the task's log (structlog, to the test's stdout/stderr)
    assert f"{DAY} 的数据要到" in task_log and f"选择 {DAY - dt.timedelta(days=1)} 及以前的日期" in task_log
    with warehouse(db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.run_summary)).scalar_one() == 0


# --- #17 §4: the stages as tasks ---------------------------------------------------------------------------


def _xcom(run, task_id: str) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = session.scalar(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id,
                                                  key="return_value").with_only_columns(XComModel.value))
    return json.loads(value) if isinstance(value, str) else value


def _tries(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


def test_the_receipt_wait_is_deferred_and_the_task_resumes_to_record_them(wired):
    """The platform holds its receipts back (sandbox: 3 s of processing): ``receipts`` looks once, finds the
    batches processing, defers to PlatformReceiptsTrigger (dag.test runs the trigger in line, as the
    triggerer would), resumes (``deferred`` 1: it came back through ``execute_complete``) and records every receipt; the day reconciles. ``prepare`` and ``reconcile``
    ran outside the credit_platform pool."""
    pf, db_url, _manifest = wired
    pf.admin("POST", "/admin/faults", json={"processing_seconds": 3})
    run = _dag("sgs_penalty").test(logical_date=_end_of(DAY))
    assert run.state == "success", _tries(run)
    assert _tries(run) == {t: ("success", 1) for t in ("prepare", "deliver", "receipts", "reconcile")}
    got = _xcom(run, "receipts")
    assert got["deferred"] == 1 and got["still_processing"] == 0 and got["accepted"] > 0, got
    delivered, reconciled = _xcom(run, "deliver"), _xcom(run, "reconcile")
    assert delivered["records"] == got["accepted"] + got["rejected"]
    assert reconciled["reconciled"] and reconciled["uploaded"] == got["accepted"]
    assert {r["status"] for r in pf.admin("GET", "/admin/records?kind=penalty")["records"]} == {"published"}
    with warehouse(db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.ledger).where(
            wh.ledger.c.state.in_(["pending", "sent"]))).scalar_one() == 0


def _resume(dag_id: str, run_id: str) -> None:
    """What the scheduler does for a cleared run, in dag.test's minimal loop: schedule the tasks whose
    dependencies are met and run them in this process, until the run is finished."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    dag = _dag(dag_id)
    with create_session() as session:
        dr = session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        dr.dag = DBDagBag().get_dag_for_run(dr, session=session)
        dr.state = DagRunState.RUNNING
        session.commit()
        while dr.state == DagRunState.RUNNING:
            schedulable, _ = dr.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in [t for t in dr.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED]:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
            session.expire_all()


def test_clearing_reconcile_reruns_only_reconcile(wired):
    """Clearing one task resumes from it: cleared alone, ``reconcile`` runs again (a second reconciliation of
    the day, kept beside the first) and nothing upstream runs — no extraction, no decision, no upload."""
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session

    pf, db_url, _manifest = wired
    run = _dag("sgs_penalty").test(logical_date=_end_of(DAY))
    assert run.state == "success", _tries(run)
    operations = pf.admin("GET", "/admin/stats")["operations"]
    engine = warehouse(db_url)
    with engine.connect() as conn:
        staged_at = conn.execute(sa.select(sa.func.count()).select_from(wh.staging)).scalar_one()
    with create_session() as session:
        tis = session.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == "sgs_penalty",
                                                             TaskInstance.run_id == run.run_id,
                                                             TaskInstance.task_id == "reconcile")).all()
        clear_task_instances(tis, session)
        session.commit()
    _resume("sgs_penalty", run.run_id)
    with create_session() as session:
        from airflow.models.dagrun import DagRun

        dr = session.scalar(sa.select(DagRun).where(DagRun.run_id == run.run_id))
        assert dr.state == "success"
        assert _tries(dr) == {"prepare": ("success", 1), "deliver": ("success", 1), "receipts": ("success", 1),
                              "reconcile": ("success", 2)}
    assert pf.admin("GET", "/admin/stats")["operations"] == operations  # nothing sent again
    with engine.connect() as conn:
        summaries = conn.execute(sa.select(wh.run_summary.c.reconciled, wh.run_summary.c.uploaded)
                                 .order_by(wh.run_summary.c.id)).all()
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.staging)).scalar_one() == staged_at
    assert len(summaries) == 2 and summaries[0] == summaries[1] and summaries[0][0]
