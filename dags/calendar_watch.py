"""
### 工作日历检查（`calendar_watch`）

The 7-working-day deadline needs the State Council's holiday schedule of every year it touches. This
DAG checks each day that the official calendar covers the next 30 days and, from 1 November, next
year; it fails (and so alerts) while a year is missing, with the file to add
(`include/creditflow/data/calendar/YYYY.yaml`, see the README there). No network access needed.

A missing year never stops the work: decisions are recorded and records published, their deadlines
待定（YYYY年官方日历未发布） (pages, 临期预警, credit alerts). Every page and alert computes them from the
stored start day as soon as the file is added; `fill_deadlines` also writes the ones that became computable
into the credit tables' deadline columns, and lists those still unknown in its log and in the failure.

Owner: 信用数据组.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from creditflow.common import TIMEZONE_NAME
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args

DEFAULT_ARGS = default_task_args(retries=1, retry_delay=dt.timedelta(seconds=30), execution_timeout=TIMEOUTS["quick"])


@dag(
    dag_id="calendar_watch",
    schedule=CronDataIntervalTimetable("0 8 * * *", timezone=TIMEZONE_NAME),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE_NAME),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callbacks(),
    tags=["calendar", "impact:reporting"],
    doc_md=__doc__,
)
def calendar_watch() -> None:
    @task
    def fill_deadlines() -> dict:  # type: ignore[no-untyped-def]
        """Deadlines that became computable since the year's file was added, written to their columns."""
        import logging

        from airflow.exceptions import AirflowNotFoundException
        from creditflow.credit import deadlines
        from creditflow_airflow.hooks import warehouse_engine

        try:
            engine = warehouse_engine()
        except AirflowNotFoundException:  # a deployment without the warehouse: only the coverage check
            return {"skipped": "no creditflow_db connection"}
        try:
            filled = deadlines.fill_known(engine)
            pending = deadlines.unknown_lines(engine)
        finally:
            engine.dispose()
        for line in pending[:50]:
            logging.getLogger(__name__).warning(line)
        return {**filled, "pending": len(pending)}

    @task
    def check_coverage(filled: dict, **context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.core.workdays import calendar_gaps

        day = context["data_interval_end"].in_timezone(TIMEZONE_NAME).date()
        gaps = calendar_gaps(day)
        missing = sorted({*gaps["missing_now"], *([gaps["missing_next_year"]] if gaps["missing_next_year"] else [])})
        if missing:
            pending = int(filled.get("pending") or 0)
            raise RuntimeError("缺少官方工作日历（国务院办公厅节假日安排）：" + "、".join(f"{y}年" for y in missing)
                               + "。期限计算和检查计划需要它，请补充 "
                               + ", ".join(f"include/creditflow/data/calendar/{y}.yaml" for y in missing)
                               + (f"；目前有 {pending} 项信用期限待定，补充后自动计算" if pending else "")
                               + f" (working-day calendar missing for {missing})")
        return {**gaps, "filled": filled}

    check_coverage(fill_deadlines())


calendar_watch()
