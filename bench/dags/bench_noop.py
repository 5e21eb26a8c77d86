"""The no-op yardstick for ``bench/dagruns.py fixed``: one task that does nothing, on the daily DAGs'
schedule (local midnight intervals, catchup, one run at a time). Not part of the deployment."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from creditflow.common import TIMEZONE_NAME


@dag(dag_id="bench_noop", schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE_NAME),
     start_date=pendulum.parse(os.environ.get("BENCH_NOOP_START", "2026-11-01"), tz=TIMEZONE_NAME),
     catchup=True, max_active_runs=1, tags=["bench"], doc_md="No-op DAG: the per-run fixed cost yardstick.")
def bench_noop() -> None:
    @task
    def noop() -> None:
        return None

    noop()


bench_noop()
