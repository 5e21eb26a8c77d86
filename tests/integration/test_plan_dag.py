"""The ``inspection_plan`` DAG run by Airflow (``dag.test()``) with connections from AIRFLOW_CONN_*: it plans
the year after the run's date into ``$CREDITFLOW_VAR/plans/<year>/`` with the serious-dishonesty list read
from the warehouse (``creditflow_db``), and fails for a year without an official calendar."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pendulum
import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow_sandbox import generator as g
from helpers import warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def airflow_db(airflow_home):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    return airflow_home


UNCOVERED = 2099  # a year no calendar file will cover soon (2027's is added when the State Council publishes it)


@pytest.fixture
def wired(tmp_path, db_url, airflow_db, monkeypatch):
    case = f"sqlite:///{tmp_path}/case.sqlite"
    g.generate_to(g.GeneratorConfig(seed=8, decisions=90, start=dt.date(2026, 1, 5), days=1), case_db_url=case)
    engine = warehouse(db_url)  # the deployment's init step (`creditflow db upgrade`)
    with sa.create_engine(case).connect() as conn:
        ent_id, uscc, name = conn.execute(sa.text(
            "SELECT ent_id, uscc, ent_name FROM enterprise WHERE uscc IS NOT NULL AND risk_level IN ('一般', '低') "
            "ORDER BY ent_id")).first()
    with engine.begin() as conn:  # a listing decided in 2025 and in force at the plan's cut-off
        conn.execute(wh.credit_case.insert().values(
            case_id="SX-art7_1-PLAN", situation_id="art7_1", party_key=uscc, party_type="法人及非法人组织",
            party_name=name, facts="x", basis="x", authority_name="珠海市应急管理局",
            authority_uscc="11440400MB2C123457", state="published", list_start="2025-04-01", list_end="2028-04-01",
            created_on="2025-03-01", updated_at=wh.now_iso()))
    engine.dispose()
    for conn_id, url in (("CASE_DB", case), ("CREDITFLOW_DB", db_url)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps({"conn_type": "generic",
                                                                 "extra": {"sqlalchemy_url": url}}))
    monkeypatch.setenv("CREDITFLOW_VAR", str(tmp_path / "var"))
    return SimpleNamespace(plans=tmp_path / "var" / "plans", listed=ent_id)


def _dag():
    from airflow.models import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("inspection_plan")


def test_plans_next_year_and_refuses_a_year_without_calendar(wired):
    from creditflow.core.workdays import official_calendar

    dag = _dag()
    run = dag.test(logical_date=pendulum.datetime(2025, 12, 10, 9, tz=TZ))
    assert run.state == "success", [(t.task_id, t.state) for t in run.get_task_instances()]
    plans = wired.plans
    plan = json.loads((plans / "2026" / "plan.json").read_text(encoding="utf-8"))
    assert plan["summary"]["year"] == 2026 and plan["summary"]["seed"] == 2026
    assert (plans / "2026" / "inspection_plan_2026.xlsx").is_file()
    # The list comes from the warehouse: listed in 2025 and still listed → key unit (粤应急规〔2021〕4号 情形四),
    # at the raised frequency of key_rules.yaml (listed_now: four a year, one a quarter).
    assert "cf_credit_case" in plan["list_source"]
    listed = next(k for k in plan["key_list"] if k["ent_id"] == wired.listed)
    assert {"dishonest_last_year", "listed_now"} <= set(listed["reasons"]) and listed["visits"] == 4
    assert UNCOVERED not in official_calendar().years  # the refusal below needs a year without a calendar
    failed = dag.test(logical_date=pendulum.datetime(UNCOVERED - 1, 12, 10, 9, tz=TZ))  # plans 2099: no calendar
    assert failed.state == "failed"
    states = {t.task_id: t.state for t in failed.get_task_instances()}
    assert states["check_calendar"] == "failed" and states["make_plan"] != "success"
    assert not (plans / str(UNCOVERED)).exists()


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
    assert not wired.plans.exists()
