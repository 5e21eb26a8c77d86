"""
### 信用办反馈报告 — {title}（`{dag_id}`）

{what}

| step | what it does |
|---|---|
| `resolve_period` | the period from the `period` param, else the whole {unit} before the run's `run_after` (never an Asset event's `logical_date`); the cut-off from `cut_off`, else the rule's ({cut_rule}) — or the moment of the run when that is still ahead (a period triggered by hand before its cut-off), logged and printed in the report |
| `wait_for_pipeline` | **gate — a check of the ledger and the daily runs, not the pipeline's Assets**: waits (reschedule, every 10 min, up to 12 h) until the cut-off has passed, every daily run of every kind over the period's days has written its reconciliation, and no upload of a decision of the period is pending or sent in `cf_ledger`; then fails and alerts. Off with `wait_for_pipeline = false` (a period whose daily runs never existed) |
| `build_report` | figures as of the cut-off from the warehouse's timestamped history (`cf_run_summary.written_at`, `cf_ledger_history.at`, review `decided_at`), XLSX + PDF + `summary.json` under `<var>/reports/{kind}/<period>/` (replaced whole on a re-run); listed on *Creditflow → 报告下载* |
| `send_report` | e-mail with both files through `smtp_default` to Variable `{variable}` (comma separated); skipped with a log line when unset or `send_email = false` |

**Reproducible**: the same period and cut-off give the same figures whenever the report is made (a
test runs it twice with records corrected in between). Limit: a *reprocessing* backfill of an old daily
run replaces that day's stage rows; run such backfills before the reports that read those days.

**Missed periods**: `scripts/airflow backfill create --dag-id {dag_id} --from-date 2026-01-01 --to-date 2026-06-30`
(each run reports the {unit} before its date), or trigger with the `period` param. By hand, outside
Airflow: `creditflow report {kind} {flag} {example} --out DIR`.

**When it fails**: `wait_for_pipeline` timing out names the days not reconciled or the uploads in flight —
fix the daily DAG first, then clear this run. Owner: 信用数据组. Changelog: 0.1 — first version.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task
from creditflow.common import TIMEZONE_NAME
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args

DEFAULT_ARGS = default_task_args(retries=2, retry_delay=dt.timedelta(minutes=2), execution_timeout=TIMEOUTS["step"])
SPECS = {
    "monthly": {"dag_id": "credit_report_monthly", "cron": "0 8 10 * *", "title": "双公示数据报送情况月报",
                "unit": "month", "flag": "--period", "example": "2026-10", "pattern": r"^$|^\d{4}-\d{2}$",
                "variable": "creditflow_report_email_monthly", "cut_rule": "end of the 9th of the next month",
                "what": f"On the 10th at 08:00 ({TIMEZONE_NAME}), the previous month's 双公示 feedback report to "
                        "市信用办: 及时率, 合规率, 首次校验通过率, 完整率, 纠正率, 未报送 by reason, duplicates "
                        "prevented, per 承办科室 / 区县 / kind, against the previous month and the same month last year."},
    "weekly": {"dag_id": "credit_report_weekly", "cron": "0 8 * * 1", "title": "双公示数据质量周报（内部）",
               "unit": "ISO week", "flag": "--week", "example": "2026-W44", "pattern": r"^$|^\d{4}-W\d{2}$",
               "variable": "creditflow_report_email_weekly", "cut_rule": "the Monday after the week, 08:00",
               "what": "Every Monday at 08:00, the same figures for the previous week (Monday–Sunday), for the "
                       "bureau's own data team."},
}


def build(kind: str):  # type: ignore[no-untyped-def]
    spec = SPECS[kind]

    @dag(
        dag_id=spec["dag_id"],
        schedule=CronTriggerTimetable(spec["cron"], timezone=TIMEZONE_NAME),
        start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE_NAME),
        catchup=False,  # missed periods: `airflow backfill create` (see the runbook)
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        on_failure_callback=dag_failure_callbacks(),
        tags=["双公示", "报告", "impact:reporting"],
        doc_md=__doc__.format(kind=kind, **spec),
        dagrun_timeout=dt.timedelta(hours=16),
        params={
            "period": Param("", type="string", pattern=spec["pattern"], title="统计期",
                            description=f"{spec['example']} 形式；留空为运行时间之前的上一个完整统计期"),
            "cut_off": Param("", type="string", pattern=r"^$|^\d{4}-\d{2}-\d{2}$", title="数据截止日",
                             description="YYYY-MM-DD（截至该日24时）；留空按规则"),
            "wait_for_pipeline": Param(True, type="boolean", title="等待日常上报完成",
                                       description="关闭后不检查日常运行和在途上报（补做从未运行过的统计期时使用）"),
            "send_email": Param(True, type="boolean", title="发送邮件"),
        },
    )
    def credit_report() -> None:
        @task(execution_timeout=TIMEOUTS["quick"])
        def resolve_period(**context) -> dict:  # type: ignore[no-untyped-def]
            import logging

            from creditflow.feedback import parse_period, period_before, resolve_cut_off
            from creditflow.feedback.periods import CUT_OFF_BASIS_ZH

            params = context["params"]
            if params.get("period"):
                period = parse_period(kind, params["period"])
            else:  # the timetable's moment for this run; an Asset event's logical_date is never used
                moment = context["dag_run"].run_after or context.get("logical_date")
                period = period_before(kind, dt.datetime.fromisoformat(moment.isoformat()))
            cut_off, basis = resolve_cut_off(params.get("cut_off") or None, period)
            logging.getLogger("creditflow.report").info("cut-off %s: %s", cut_off.isoformat(), CUT_OFF_BASIS_ZH[basis])
            return {"period": period.label, "cut_off": cut_off.isoformat(), "cut_off_basis": basis}

        # timeout: the whole wait; execution_timeout: one poke.
        @task.sensor(poke_interval=600, timeout=12 * 3600, mode="reschedule", execution_timeout=TIMEOUTS["poke"])
        def wait_for_pipeline(resolved: dict, **context):  # type: ignore[no-untyped-def]
            import logging

            from airflow.sdk import PokeReturnValue
            from creditflow.feedback import parse_period, pipeline_settled
            from creditflow_airflow.hooks import warehouse_engine

            if not context["params"].get("wait_for_pipeline", True):
                return PokeReturnValue(is_done=True, xcom_value={"settled": None})
            settled, reasons = pipeline_settled(warehouse_engine(), parse_period(kind, resolved["period"]),
                                                dt.datetime.fromisoformat(resolved["cut_off"]))
            for reason in reasons:
                logging.getLogger("creditflow.report").info("waiting: %s", reason)
            return PokeReturnValue(is_done=settled, xcom_value={"settled": settled})

        @task
        def build_report(resolved: dict) -> dict:  # type: ignore[no-untyped-def]
            from creditflow.feedback import cli_summary, compute
            from creditflow.feedback.store import save_to
            from creditflow_airflow.hooks import storage, warehouse_engine

            report = compute(warehouse_engine(), kind, resolved["period"], dt.datetime.fromisoformat(resolved["cut_off"]),
                             cut_off_basis=resolved.get("cut_off_basis"))
            files = save_to(report, storage("reports"))  # var/reports in the demo; object storage in a cluster
            return {"files": files, "figures": cli_summary(report)}

        @task(execution_timeout=TIMEOUTS["quick"])
        def send_report(built: dict, **context) -> int:  # type: ignore[no-untyped-def]
            return send(built, spec["variable"], bool(context["params"].get("send_email", True)))

        resolved = resolve_period()
        built = build_report(resolved)
        wait_for_pipeline(resolved) >> built
        send_report(built)

    return credit_report()


def send(built: dict, variable: str, enabled: bool = True) -> int:
    """E-mail both files to the recipients in ``variable`` through ``smtp_default``; returns how many."""
    import contextlib
    import json
    import logging

    from creditflow_airflow.hooks import storage
    from creditflow_airflow.notifiers import recipients

    log = logging.getLogger("creditflow.report")
    to = recipients(variable)
    if not enabled or not to:
        log.info("report e-mail skipped (%s)", "send_email is off" if not enabled else f"Variable {variable} is not set")
        return 0
    from airflow.providers.smtp.hooks.smtp import SmtpHook
    from creditflow.feedback import email_content

    files = built["files"]
    store = storage("reports")  # the files may be on another worker's disk: read them through the storage
    report = json.loads(store.read_text(store.key_of(files["summary"])))
    subject, body = email_content(report)
    with contextlib.ExitStack() as stack, SmtpHook(smtp_conn_id="smtp_default") as smtp:
        attachments = [str(stack.enter_context(store.get_local(store.key_of(files[k])))) for k in ("xlsx", "pdf")]
        smtp.send_email_smtp(to=to, subject=subject, html_content=body, files=attachments,
                             from_email=smtp.from_email or "creditflow-airflow@localhost")
    log.info("report e-mailed to %d recipient(s): %s", len(to), subject)
    return len(to)


credit_report_monthly = build("monthly")
credit_report_weekly = build("weekly")
