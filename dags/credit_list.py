"""
### 安全生产严重失信主体名单（`credit_list`）

The daily half of 应急管理部令第11号 (the rest is people deciding on *Creditflow → 信用管理*). Each run covers
one local day (06:30 to 06:30, Asia/Shanghai) of the case system and acts as of the interval's end date.

| step | what it does |
|---|---|
| `flush_inflight` | re-sends publications a crashed run left pending (same Idempotency-Key) and collects receipts for up to a minute; never fails on a slow platform |
| `propose_candidates` | penalties decided/entered in the interval matching a listing situation (art. 6(3), 7(1), 7(2)) and accidents within the look-back window (art. 6(1), 6(2), 6(4)) become **candidates** with their facts and article — the DAG proposes, a person decides |
| `follow_penalties` | a penalty changed in the case system puts its listing under **revisit** (due in 3 working days); a revoked one annuls the listing and withdraws its publication |
| `expire` | listings whose 3-year management period has ended are removed and withdrawn |
| `deliver.send` | listings, removals and restorations to 全国信用信息共享平台 (kind `dishonest_list`) through the ledger, exactly once (pool `credit_platform`) — with whatever else the credit capability queued (`credit_repair`'s withdrawals) |
| `deliver.receipts` | waits (every 5 s, up to 1 h) for the platform's per-record receipts; then accepted listings become 已公示 |
| `alerts` | 临期/逾期: publication limit (20 working days [M]), revisits, decisions the objection window now allows, requests near their limit, platform rejections — logged, and e-mailed to Variable `creditflow_alert_email` through `smtp_default` when set |

`flush_inflight` and `deliver` are the same code in `credit_repair` (`include/creditflow_airflow/credit_tasks.py`).
Periods, windows and conditions are rule data: `include/creditflow/data/credit/` (+ `data/rules/deadlines.yaml`),
each with source and mark; unverified ones are marked `M`.

**A case whose publication is still in flight** (no receipt yet) cannot take a new operation: `follow_penalties`
and `expire` skip it with a log line (“尚未收到平台回执…”), count it as `inflight` in their result, and go on
with the other cases. An expiry is done by the next run; a revocation is remembered (event `annul_deferred`)
and done by the next run that finds the receipt in.
**Re-runs are safe**: candidates have deterministic ids, transitions check the state, the ledger prevents a
second publication — also when `credit_repair` delivers at the same time. **When it fails**: clear the
failed task; `deliver` resumes from the ledger. `deliver.receipts` timing out means the platform has not
answered within the hour: clear it later (nothing is sent twice).

Owner: 信用数据组. Changelog: 0.2 — shared delivery, in-flight cases skipped; 0.1 — first version.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronDataIntervalTimetable, dag, task
from creditflow.common import TIMEZONE_NAME
from creditflow_airflow.credit_tasks import DEFAULT_ARGS, START, deliver, flush_inflight, run_interval
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks


def _run_key(context) -> str:  # type: ignore[no-untyped-def]
    return f"{context['dag'].dag_id}|{run_interval(context)[0].date().isoformat()}"


@dag(
    dag_id="credit_list",
    schedule=CronDataIntervalTimetable("30 6 * * *", timezone=TIMEZONE_NAME),
    start_date=START,
    catchup=True,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callbacks(),
    tags=["严重失信名单", "credit", "impact:reporting"],
    doc_md=__doc__,
    dagrun_timeout=dt.timedelta(hours=6),
)
def credit_list() -> None:
    @task
    def propose_candidates(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.credit import candidates, penalties
        from creditflow_airflow.hooks import case_db_engine, warehouse_engine

        start, end, today = run_interval(context)
        case = case_db_engine()
        found = candidates.from_penalties(penalties.case_rows(case, start, end)) + candidates.from_accidents(case, today)
        return {"found": len(found), "new": candidates.propose_all(warehouse_engine(), found, today)}

    @task
    def follow_penalties(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.credit import lifecycle, penalties
        from creditflow_airflow.hooks import case_db_engine, warehouse_engine

        start, end, _ = run_interval(context)
        return lifecycle.follow_penalties(warehouse_engine(), penalties.case_rows(case_db_engine(), start, end),
                                          _run_key(context))

    @task
    def expire(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.credit import lifecycle
        from creditflow_airflow.hooks import warehouse_engine

        return lifecycle.expire(warehouse_engine(), run_interval(context)[2], _run_key(context))

    @task(execution_timeout=TIMEOUTS["quick"])
    def alerts(**context) -> int:  # type: ignore[no-untyped-def]
        from creditflow.credit.alerts import as_mail, due_alerts
        from creditflow_airflow.hooks import warehouse_engine
        from creditflow_airflow.notifiers import send_alert_lines

        today = run_interval(context)[2]
        lines = due_alerts(warehouse_engine(), today)
        return send_alert_lines(lines, *as_mail(lines, today, "严重失信名单"))

    flush_inflight() >> propose_candidates() >> follow_penalties() >> expire() >> deliver() >> alerts()


credit_list()
