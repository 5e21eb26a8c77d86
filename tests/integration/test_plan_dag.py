"""The ``inspection_plan`` DAG run by Airflow (``dag.test()``) with connections from AIRFLOW_CONN_*: it plans
the year after the run's date into ``$CREDITFLOW_VAR/plans/<year>/`` and fails for a year without an
official calendar."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pendulum
import pytest
from creditflow_sandbox import generator as g

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def airflow_db(airflow_home):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    return airflow_home


@pytest.fixture
def wired(tmp_path, airflow_db, monkeypatch):
    case = f"sqlite:///{tmp_path}/case.sqlite"
    g.generate_to(g.GeneratorConfig(seed=8, decisions=90, start=dt.date(2026, 1, 5), days=1), case_db_url=case)
    monkeypatch.setenv("AIRFLOW_CONN_CASE_DB", json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": case}}))
    monkeypatch.setenv("CREDITFLOW_VAR", str(tmp_path / "var"))
    return tmp_path / "var" / "plans"


def _dag():
    from airflow.models import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("inspection_plan")


def test_plans_next_year_and_refuses_a_year_without_calendar(wired):
    dag = _dag()
    run = dag.test(logical_date=pendulum.datetime(2025, 12, 10, 9, tz=TZ))
    assert run.state == "success", [(t.task_id, t.state) for t in run.get_task_instances()]
    plan = json.loads((wired / "2026" / "plan.json").read_text(encoding="utf-8"))
    assert plan["summary"]["year"] == 2026 and plan["summary"]["seed"] == 2026
    assert (wired / "2026" / "inspection_plan_2026.xlsx").is_file()
    failed = dag.test(logical_date=pendulum.datetime(2026, 12, 10, 9, tz=TZ))  # plans 2027: no calendar
    assert failed.state == "failed"
    states = {t.task_id: t.state for t in failed.get_task_instances()}
    assert states["check_calendar"] == "failed" and states["make_plan"] != "success"
    assert not (wired / "2027").exists()


def test_plan_goes_to_the_configured_object_storage(wired, monkeypatch):
    """With the storage Variable on fsspec's memory:// filesystem, the DAG writes its plan there and
    nothing under the local var/ folder (dag.test runs the tasks in this process, sharing the memory)."""
    import uuid

    from creditflow.core.storage import Storage

    base = f"memory://creditflow-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", base)
    run = _dag().test(logical_date=pendulum.datetime(2025, 12, 11, 9, tz=TZ))
    assert run.state == "success", [(t.task_id, t.state) for t in run.get_task_instances()]
    plans = Storage.from_url(base).child("plans")
    assert json.loads(plans.read_text("2026/plan.json"))["summary"]["year"] == 2026
    assert plans.read_bytes("2026/inspection_plan_2026.pdf").startswith(b"%PDF")
    assert plans.isfile("2026/inspection_plan_2026.xlsx")
    assert not wired.exists()
