"""OpenLineage naming of the 双公示 steps (plugins/creditflow_lineage.py): datasets named after the
connections without credentials, one unbroken chain from the sources to the platform's receipts, and the
extractor registered for the operator classes the DAG's steps really are. (The events themselves, from
runs on Celery workers, are checked in tests/integration/test_cluster.py.)"""

from __future__ import annotations

import datetime as dt
import os

import creditflow_lineage as lineage  # plugins/ is on sys.path (conftest); never skipped: the provider is required
import pendulum


def test_the_openlineage_provider_is_installed():
    # requirements.txt pins apache-airflow-providers-openlineage; without it the plugin silently sends nothing
    assert lineage.BaseExtractor is not None


def test_datasets_carry_no_credentials():
    ns, name = lineage.sql_dataset("postgresql+psycopg2://airflow:s3cret@db.internal:5433/creditflow?sslmode=require",
                                   "cf_staging")
    assert (ns, name) == ("postgres://db.internal:5433", "creditflow.public.cf_staging")
    assert lineage.sql_dataset("sqlite:////var/lib/creditflow/wh.sqlite", "cf_std") == (
        "sqlite:///var/lib/creditflow/wh.sqlite", "cf_std")
    assert lineage.http_dataset("https://platform.example:8443", "/api/v1/penalty/batches") == (
        "https://platform.example:8443", "/api/v1/penalty/batches")
    assert "s3cret" not in ns + name


def test_storage_datasets_name_folders_and_buckets():
    assert lineage.storage_dataset("file:///srv/creditflow/inbox/penalty") == ("file", "/srv/creditflow/inbox/penalty")
    assert lineage.storage_dataset("s3://creditflow/zhuhai/inbox/penalty") == ("s3://creditflow",
                                                                              "zhuhai/inbox/penalty")


def test_run_key_is_the_local_day_of_the_interval():
    start = pendulum.datetime(2026, 11, 2, 16, 0, tz="UTC")  # 2026-11-03 00:00 in Asia/Shanghai
    assert lineage.run_key("sgs_penalty", start) == "sgs_penalty|2026-11-03"
    assert lineage.run_key("sgs_license", dt.datetime(2026, 11, 3, tzinfo=dt.UTC)) == "sgs_license|2026-11-03"


def test_the_steps_form_one_chain_from_source_to_receipt():
    order = ["extract", "standardise", "validate", "flush_inflight", "decide", "alert_due_soon", "upload", "receipts",
             "reconcile"]
    assert list(lineage.STEPS) == order
    written: set[str] = set()
    for step in order:
        reads, writes, _, _ = lineage.STEPS[step]
        # every warehouse table a step reads was written by an earlier step (the ledger carries over runs)
        assert set(reads) - written <= {"cf_ledger", "cf_review"}, step
        written |= set(writes)
    assert lineage.STEPS["extract"][2] == ("source",) and lineage.STEPS["upload"][3] == ("batches",)
    assert lineage.STEPS["receipts"][2] == ("receipts",)


def test_the_extractor_is_registered_for_the_dags_steps():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "sgs_reporting.py"))
    dag = bag.dags["sgs_penalty"]
    names = set(lineage.SgsTaskExtractor.get_operator_classnames())
    assert {t.task_id for t in dag.tasks} == set(lineage.TASKS)  # every task of the DAG has its datasets
    for task in dag.tasks:
        assert task.task_type in names, (task.task_id, task.task_type)
        assert lineage.SgsTaskExtractor(task)._kind() == "penalty"


def test_the_tasks_cover_every_step_once_and_keep_the_chain():
    """The daily DAG's four tasks (dags/sgs_reporting.py, issue #17) run the steps in order, each once."""
    assert {task: list(steps) for task, steps in lineage.TASKS.items()} == {
        "prepare": ["extract", "standardise", "validate"],
        "deliver": ["flush_inflight", "decide", "alert_due_soon", "upload"],
        "receipts": ["receipts"], "reconcile": ["reconcile"]}
    steps = [s for task in lineage.TASKS.values() for s in task]
    assert steps == list(lineage.STEPS)
    reads, writes, outside_in, outside_out = lineage.io_of("prepare")
    # prepare reads only the sources and writes the interval's own rows; the ledger is deliver's
    assert set(reads) == set() and set(writes) == {"cf_staging", "cf_source_file", "cf_std", "cf_finding"}
    assert outside_in == ("source",) and outside_out == ()
    reads, writes, outside_in, outside_out = lineage.io_of("deliver")
    assert {"cf_ledger", "cf_review"} <= set(reads) and {"cf_outcome", "cf_ledger"} <= set(writes)
    assert outside_out == ("batches",)
    assert lineage.io_of("receipts")[2] == ("receipts",) and "cf_run_summary" in lineage.io_of("reconcile")[1]
