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


# Every DAG of the deployment, written out (README, docs/design.md): adding or removing one is a change here.
EXPECTED_DAGS = {
    "sgs_penalty", "sgs_license", "sgs_coercion",  # 双公示 daily reporting, one per kind (sgs_reporting.py)
    "sgs_review_signoff",  # 批量签署 of the review queue
    "sgs_history",  # first load / long backfills
    "calendar_watch",  # the official working-day calendar
    "credit_report_monthly", "credit_report_weekly",  # feedback reports to 市信用办 (credit_reports.py)
    "credit_list", "credit_repair",  # serious-dishonesty list, credit repair
    "inspection_plan",  # the annual inspection plan
}


def test_expected_dags_exist(dagbag):
    assert len(EXPECTED_DAGS) == 11
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


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
    # The run of day D is created at D+1 06:00 (the timetable), not held by a waiting task.
    assert info.run_after == info.data_interval.end + dt.timedelta(hours=6)


STAGES = ["prepare", "deliver", "receipts", "reconcile"]


@pytest.mark.parametrize("kind", ["penalty", "license", "coercion"])
def test_reporting_dags_show_their_stages_in_order(dagbag, kind):
    """#17 §4: the Grid shows the stages as tasks, one chain prepare → deliver → receipts → reconcile (checked
    on the serialized DAG, the scheduler's and the Grid's view); only the steps that talk to the platform take
    a credit_platform slot; the Asset is produced when the day is reconciled."""
    from itertools import pairwise

    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[f"sgs_{kind}"]))
    assert len(dag.tasks) >= 4 and set(STAGES) <= set(dag.task_ids)
    for before, after in pairwise(STAGES):
        assert dag.get_task(before).downstream_task_ids == {after}, (before, after)
    assert dag.get_task("prepare").upstream_task_ids == set()
    assert {t.task_id for t in dag.tasks if t.pool == "credit_platform"} == {"deliver", "receipts"}
    assert [t.task_id for t in dag.tasks if t.outlets] == ["reconcile"]
    assert [str(a.uri) for a in dag.get_task("reconcile").outlets] == [f"creditflow://sgs/{kind}"]


def test_the_receipt_wait_is_deferrable_and_its_trigger_loads_where_the_triggerer_runs(dagbag, tmp_path):
    """``receipts`` resumes from a trigger; the trigger's module imports (and the trigger round-trips through
    its kwargs) in a fresh interpreter that has only the deployment's path — what the triggerer has — and its
    kwargs carry the connection id, never the platform's secret."""
    import json
    import subprocess
    import sys

    receipts = dagbag.dags["sgs_penalty"].get_task("receipts")
    assert callable(receipts.execute_complete)
    code = ("from airflow.sdk._shared.module_loading import import_string\n"
            "import json, sys\n"
            "cls = import_string('creditflow_airflow.triggers.PlatformReceiptsTrigger')\n"
            "path, kwargs = cls(kind='penalty', batch_ids=['B1'], deadline=1.0).serialize()\n"
            "assert import_string(path)(**kwargs).serialize() == (path, kwargs)\n"
            "print(json.dumps([path, kwargs, sorted(m for m in sys.modules if m.startswith('creditflow'))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    path, kwargs, loaded = json.loads(out.stdout.splitlines()[-1])
    assert path == "creditflow_airflow.triggers.PlatformReceiptsTrigger"
    assert kwargs["conn_id"] == "credit_platform" and "secret" not in json.dumps(kwargs)
    assert loaded == ["creditflow_airflow", "creditflow_airflow.triggers"]  # no warehouse, no plugins


def _is_hitl(task) -> bool:
    from airflow.providers.standard.operators.hitl import HITLOperator

    return isinstance(task, HITLOperator)


def test_every_task_has_an_execution_timeout(dagbag):
    """A hung task fails (and alerts) instead of holding a slot forever. HITL tasks are bounded by
    response_timeout instead: an execution_timeout would race the human answer (airflow-3.3-notes)."""
    for dag_id, dag in dagbag.dags.items():
        for t in dag.tasks:
            if _is_hitl(t):
                assert t.response_timeout and t.response_timeout <= dt.timedelta(days=7), (dag_id, t.task_id)
                assert t.execution_timeout is None, (dag_id, t.task_id)
                continue
            assert t.execution_timeout is not None, (dag_id, t.task_id)
            assert dt.timedelta(minutes=1) <= t.execution_timeout <= dt.timedelta(hours=8), (dag_id, t.task_id)
            if getattr(t, "mode", None) == "reschedule":  # a sensor's overall wait, beside the per-poke timeout
                assert dt.timedelta(0) < dt.timedelta(seconds=float(t.timeout)) <= dt.timedelta(hours=12), t.task_id


def test_reporting_timeouts_fit_the_day(dagbag):
    """The run starts at 06:00: dagrun_timeout must leave room for both steps, and end before the next run."""
    dag = dagbag.dags["sgs_penalty"]
    steps = sum((t.execution_timeout for t in dag.tasks), dt.timedelta(0))
    assert dag.dagrun_timeout >= steps
    assert dag.dagrun_timeout < dt.timedelta(hours=24), "a run must end before the next day's run is due"


def _routes(callbacks) -> dict[str, str]:
    cbs = callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []
    return {getattr(cb, "route", ""): getattr(cb, "level", "") for cb in cbs}


def test_every_task_and_dag_has_both_failure_routes(dagbag):
    """Failures reach a person: e-mail and webhook notifiers on every task (reliable in Airflow 3.x) and on
    every DAG (for runs that fail without a failed task, e.g. dagrun_timeout)."""
    for dag_id, dag in dagbag.dags.items():
        assert _routes(dag.on_failure_callback) == {"email": "dag", "webhook": "dag"}, dag_id
        for t in dag.tasks:
            assert _routes(t.on_failure_callback) == {"email": "task", "webhook": "task"}, (dag_id, t.task_id)


def test_failure_routes_survive_serialization(dagbag):
    """The scheduler sees the callbacks in the serialized DAG (it decides from these flags whether to run them)."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id, dag in dagbag.dags.items():
        data = DagSerialization.to_dict(dag)
        core = DagSerialization.from_dict(data)
        assert core.has_on_failure_callback, dag_id
        assert all(t.has_on_failure_callback for t in core.tasks), dag_id


def test_history_loads_no_more_kinds_at_once_than_there_are_cores(dagbag, monkeypatch):
    """Each kind's load is one CPU-bound process: on 2 cores three at once only share them (#20: a year took
    197.5 s with three at once, 183.6 s with two). The operator can set it (CREDITFLOW_HISTORY_KINDS_AT_ONCE)."""
    import os
    import runpy

    load = dagbag.dags["sgs_history"].get_task("load")
    assert load.max_active_tis_per_dagrun == min(3, os.cpu_count() or 1)
    monkeypatch.setenv("CREDITFLOW_HISTORY_KINDS_AT_ONCE", "3")
    assert runpy.run_path(str(DAGS_FOLDER / "sgs_history.py"))["KINDS_AT_ONCE"] == 3
