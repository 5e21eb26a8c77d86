"""
### 工作日历检查（`calendar_watch`）

The 7-working-day deadline needs the State Council's holiday schedule of every year it touches. This
DAG checks each day that the official calendar covers the next 30 days and, from 1 November, next
year; it fails (and so alerts) while a year is missing, with the file to add
(`include/creditflow/data/calendar/YYYY.yaml`, see the README there). No network access needed.

Owner: 信用数据组.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

DEFAULT_ARGS = {"owner": "creditflow", "retries": 1, "retry_delay": dt.timedelta(minutes=5)}


@dag(
    dag_id="calendar_watch",
    schedule=CronDataIntervalTimetable("0 8 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["calendar", "impact:reporting"],
    doc_md=__doc__,
)
def calendar_watch() -> None:
    @task
    def check_coverage(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.core.workdays import calendar_gaps

        day = context["data_interval_end"].in_timezone("Asia/Shanghai").date()
        gaps = calendar_gaps(day)
        if gaps["missing_now"]:
            raise RuntimeError(f"working-day calendar missing for {gaps['missing_now']}: add "
                               + ", ".join(f"data/calendar/{y}.yaml" for y in gaps["missing_now"]))
        return gaps

    check_coverage()


calendar_watch()
