"""Governance by tests: every DAG parses fast, without a DB or network, and carries what operators need."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
ALLOWED_IMPACT = {"impact:reporting", "impact:planning", "impact:internal"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    start = time.monotonic()
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    bag.parse_seconds = time.monotonic() - start
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_exist(dagbag):
    assert {"sgs_penalty", "sgs_license", "sgs_coercion", "sgs_review_signoff", "calendar_watch"} <= set(dagbag.dag_ids)


def test_parsing_is_fast(dagbag):
    assert dagbag.parse_seconds < 10, dagbag.parse_seconds


@pytest.mark.parametrize("attr", ["owner", "tags", "doc_md", "retries", "start_date"])
def test_every_dag_has(dagbag, attr):
    for dag_id, dag in dagbag.dags.items():
        if attr == "owner":
            assert all(t.owner and t.owner != "airflow" for t in dag.tasks), dag_id
        elif attr == "tags":
            assert set(dag.tags) & ALLOWED_IMPACT, f"{dag_id} needs an impact tag"
        elif attr == "doc_md":
            assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        elif attr == "retries":
            for t in dag.tasks:
                assert t.retries >= 1 and t.retry_delay >= dt.timedelta(seconds=10), (dag_id, t.task_id)
        elif attr == "start_date":
            assert dag.start_date.tzinfo is not None
            assert str(getattr(dag.timezone, "name", dag.timezone)) == "Asia/Shanghai", dag_id


def test_dag_files_import_no_heavy_modules():
    """DAG files stay thin: no pandas / GX / SQLAlchemy work at import (checked in a clean interpreter)."""
    import subprocess
    import sys

    code = ("import sys, runpy, glob\n"
            f"for f in sorted(glob.glob('{DAGS_FOLDER}/*.py')): runpy.run_path(f)\n"
            "heavy = [m for m in ('pandas', 'great_expectations', 'rapidfuzz', 'openpyxl') if m in sys.modules]\n"
            "print('HEAVY:' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    heavy = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY:")][-1]
    assert heavy == "HEAVY:", heavy


def test_reporting_dags_use_local_day_intervals(dagbag):
    """The scheduler's view (the serialized DAG): intervals are whole local days, one run at a time."""
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    dag = dagbag.dags["sgs_penalty"]
    core = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    info = core.timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=core.start_date, latest=None, catchup=True))
    start = pendulum.instance(info.data_interval.start).in_timezone("Asia/Shanghai")
    end = pendulum.instance(info.data_interval.end).in_timezone("Asia/Shanghai")
    assert (start.hour, end.hour, (end - start).in_hours()) == (0, 0, 24)
    assert dag.max_active_runs == 1
    assert dag.get_task("deliver.upload").pool == "credit_platform"
    assert dag.get_task("wait_until_0600").delta == dt.timedelta(hours=6)
