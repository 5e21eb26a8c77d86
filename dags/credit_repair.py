"""
### 信用修复告知与公示期管理（`credit_repair`）

两书同达 and the end of publicity, for every penalty decision of the case system. Each run covers one local
day (06:30 to 06:30, Asia/Shanghai) and acts as of the interval's end date.

| step | what it does |
|---|---|
| `flush_inflight` | re-sends withdrawals a crashed run left pending (same Idempotency-Key) and collects receipts for up to a minute; never fails on a slow platform |
| `track_penalties` | every penalty decided, entered or changed in the interval: its publicity under the rule set in force on the decision date (NDRC Order 58 with the 安全生产 one-year minimum until 2026-03-31, Order 36 classes from 2026-04-01), and for a legal person or other organisation a **信用修复告知书** issued the day the decision was recorded (DOCX/PDF on *Creditflow → 信用管理*) |
| `end_publicity` | penalties whose maximum publicity period has ended: publication stops (withdrawal of the published record queued on the ledger) |
| `deliver.send` | withdrawals (publicity end, approved repairs) to 全国信用信息共享平台 through the ledger, exactly once (pool `credit_platform`) — with whatever else the credit capability queued (`credit_list`'s listings) |
| `deliver.receipts` | waits (every 5 s, up to 1 h) for the platform's per-record receipts |
| `missing_notices` | decisions whose notice has no recorded delivery 2 working days after the decision: logged and e-mailed (Variable `creditflow_alert_email`) |

`flush_inflight` and `deliver` are the same code in `credit_list` (`include/creditflow_airflow/credit_tasks.py`).
Repair requests are recorded, proposed and approved on the page (two people); an approval queues the
withdrawal that `deliver` sends. Rules: `include/creditflow/data/credit/repair_notice.yaml`,
`data/rules/publicity.yaml`.

**A penalty whose upload is still in flight** (the 双公示 upload or a previous withdrawal without receipt):
`end_publicity` skips it with a log line, counts it as `waiting` in its result and ends the others; it stays
due and a later run ends it. **Re-runs are safe** (upserts, one notice per decision, the ledger — also when
`credit_list` or the 双公示 upload deliver at the same time). **When it fails**: clear the failed task;
`deliver` resumes from the ledger.

Owner: 信用数据组. Changelog: 0.2 — shared delivery, in-flight penalties skipped; 0.1 — first version.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronDataIntervalTimetable, dag, task
from creditflow.common import TIMEZONE_NAME
from creditflow_airflow.credit_tasks import DEFAULT_ARGS, START, deliver, flush_inflight, run_interval
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks


@dag(
    dag_id="credit_repair",
    schedule=CronDataIntervalTimetable("30 6 * * *", timezone=TIMEZONE_NAME),
    start_date=START,
    catchup=True,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callbacks(),
    tags=["信用修复", "credit", "impact:reporting"],
    doc_md=__doc__,
    dagrun_timeout=dt.timedelta(hours=6),
)
def credit_repair() -> None:
    @task
    def track_penalties(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.credit import penalties
        from creditflow_airflow.hooks import case_db_engine, warehouse_engine

        start, end, _ = run_interval(context)
        return penalties.track(warehouse_engine(), penalties.case_rows(case_db_engine(), start, end))

    @task
    def end_publicity(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.credit import penalties
        from creditflow_airflow.hooks import warehouse_engine

        start, _, today = run_interval(context)
        return penalties.end_publicity(warehouse_engine(), today, f"{context['dag'].dag_id}|{start.date().isoformat()}")

    @task(execution_timeout=TIMEOUTS["quick"])
    def missing_notices(**context) -> int:  # type: ignore[no-untyped-def]
        from creditflow.credit import penalties
        from creditflow.credit.alerts import as_mail, missing_notice_lines
        from creditflow_airflow.hooks import warehouse_engine
        from creditflow_airflow.notifiers import send_alert_lines

        today = run_interval(context)[2]
        lines = missing_notice_lines(penalties.missing_notices(warehouse_engine(), today))
        return send_alert_lines(lines, *as_mail(lines, today, "信用修复告知书送达"))

    flush_inflight() >> track_penalties() >> end_publicity() >> deliver() >> missing_notices()


credit_repair()
