"""
### 双公示上报 — {kind_zh}（`sgs_{kind}`）

Every {kind_zh} decision made — or entered, corrected or revoked — during the data interval (one local
day, Asia/Shanghai) goes to 全国信用信息共享平台(广东珠海): extracted, mapped to the 双公示 standard,
validated with Great Expectations, deduplicated, reviewed (层层审核) and uploaded **once**, within
7 working days of the decision.

| step | what it does |
|---|---|
| `wait_until_0600` | the interval closes at midnight; the run starts at 06:00 so late-evening entries are in |
| `extract` | case system (SQL), licensing API, district inbox `<inbox>/{kind}/` — the files that had arrived (file time) before 06:00 of the day after the interval; archived to `archive/{kind}/<day>/`, unreadable or wrong-kind files to `rejected/{kind}/<day>/` with a Chinese reason; an I/O error fails the task so it is retried — + records still waiting for review |
| `standardise` | mapping tables → 双公示 fields, normalisation, natural key, content hash, due date |
| `validate` | GX suite generated from the field dictionary; failures → quarantine with a Chinese message |
| `flush_inflight` | re-sends any batch a crashed run left pending (same Idempotency-Key) and collects its receipts |
| `decide` | duplicates (exact / cross-source / near → review), create / 更正 / 撤销 against the ledger, review gate, late / due-soon |
| `alert_due_soon` | 临期预警: records not yet accepted and due within 2 working days, and records whose deadline cannot be computed (`DUE_DATE_UNKNOWN`) — a warning in the log, and an e-mail to Variable `creditflow_alert_email` through `smtp_default` when set |
| `upload` | batches through `credit_platform` (pool `credit_platform`), ledger committed around each batch |
| `receipts` | waits for per-record receipts; rejections go back to quarantine |
| `reconcile` | extracted = uploaded + quarantined + awaiting review + unchanged + duplicates, or the run fails; it also fails (after storing the summary) while any record has no computable deadline — add the missing `data/calendar/YYYY.yaml` and clear the run |

**Re-runs and backfills are safe**: each task replaces what it wrote for its interval; the ledger, not
luck, prevents a second upload.
`airflow backfill create --dag-id sgs_{kind} --from-date 2026-11-01 --to-date 2026-11-07 --reprocess-behavior completed --max-active-runs 1`
(runs may also overlap safely: ledger decisions take the one-slot pool `creditflow_ledger`, uploads
resume from the ledger, GX results are written under a lock).

**When it fails**: `reconcile` failing means records went missing or were counted twice — read its log,
do not just clear it. Upload failures retry with backoff; clearing the `deliver` group resumes exactly
where it stopped. Waiting reviews: *Creditflow → 审核* in the menu, or trigger `sgs_review_signoff`.

Owner: 信用数据组. Changelog: 0.1 — first version.
"""

from __future__ import annotations

import datetime as dt
import os

import pendulum
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import Asset, CronDataIntervalTimetable, PokeReturnValue, dag, task, task_group
from creditflow.common import DAILY_RUN_DELAY
from creditflow_notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args, local_interval

TZ = "Asia/Shanghai"
KINDS = {"penalty": "行政处罚", "license": "行政许可", "coercion": "行政强制"}
UPLOAD_POOL = "credit_platform"
LEDGER_POOL = "creditflow_ledger"  # one slot: ledger decisions never interleave, even in a backfill
START = pendulum.parse(os.environ.get("CREDITFLOW_SGS_START", "2026-11-01"), tz=TZ)
SGS_ASSETS = {kind: Asset(f"creditflow://sgs/{kind}", extra={"kind": kind}) for kind in KINDS}
# Every task: both failure notifiers and an execution_timeout (1 h per step unless set on the task).
DEFAULT_ARGS = default_task_args(retries=2, retry_delay=dt.timedelta(seconds=30), retry_exponential_backoff=True,
                                 execution_timeout=TIMEOUTS["step"])


def _run(kind: str, context: dict):  # type: ignore[no-untyped-def]
    from creditflow.reporting.pipeline import Run

    start, end, _ = local_interval(context, TZ)
    return Run(dag_id=context["dag"].dag_id, kind=kind, start=start, end=end)


def build(kind: str):  # type: ignore[no-untyped-def]
    @dag(
        dag_id=f"sgs_{kind}",
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TZ),
        start_date=START,
        catchup=True,
        max_active_runs=1,  # runs of one kind share the ledger: one at a time, in order
        default_args=DEFAULT_ARGS,
        on_failure_callback=dag_failure_callbacks(),  # alerts a run that times out; failed tasks alert themselves
        tags=["双公示", kind, "impact:reporting"],
        doc_md=__doc__.format(kind=kind, kind_zh=KINDS[kind]),
        # Counted from the run's start at midnight: the 6 h wait for 06:00 plus the steps' own timeouts fit.
        dagrun_timeout=dt.timedelta(hours=18),
    )
    def sgs_reporting() -> None:
        # Deferred: the wait holds no worker slot; its execution_timeout covers the whole 6 h wait, so it never
        # cuts the wait short where Airflow bounds the deferral by it.
        wait = TimeDeltaSensor(task_id="wait_until_0600", delta=DAILY_RUN_DELAY, deferrable=True,
                               execution_timeout=dt.timedelta(hours=7))

        @task
        def extract(**context) -> dict:  # type: ignore[no-untyped-def]
            from creditflow.reporting import pipeline as sgs
            from creditflow_hooks import LicensingApiHook, case_db_engine, inbox_dir, warehouse_engine

            sources = sgs.Sources(case_db=case_db_engine() if kind != "license" else None,
                                  licensing=LicensingApiHook().get_conn() if kind == "license" else None,
                                  inbox=inbox_dir())
            return sgs.extract(_run(kind, context), warehouse_engine(), sources)

        @task
        def standardise(**context) -> dict:  # type: ignore[no-untyped-def]
            from airflow.sdk import Variable
            from creditflow.reporting import pipeline as sgs
            from creditflow_hooks import warehouse_engine

            uscc = Variable.get("creditflow_data_source_uscc", default=None)
            return sgs.standardise(_run(kind, context), warehouse_engine(), uscc)

        @task
        def validate(**context) -> dict:  # type: ignore[no-untyped-def]
            from creditflow.reporting import pipeline as sgs
            from creditflow_hooks import gx_dir, warehouse_engine

            return sgs.validate(_run(kind, context), warehouse_engine(), gx_project_dir=gx_dir())

        @task_group(group_id="deliver")
        def deliver() -> None:
            @task(pool=UPLOAD_POOL, execution_timeout=TIMEOUTS["upload"])
            def flush_inflight(**context) -> dict:  # type: ignore[no-untyped-def]
                from creditflow.reporting import pipeline as sgs
                from creditflow_hooks import CreditPlatformHook, warehouse_engine

                return sgs.flush_inflight(_run(kind, context), warehouse_engine(), CreditPlatformHook().get_conn())

            @task(pool=LEDGER_POOL, execution_timeout=TIMEOUTS["ledger"])
            def decide(**context) -> dict:  # type: ignore[no-untyped-def]
                from airflow.sdk import Variable
                from creditflow.reporting import pipeline as sgs
                from creditflow_hooks import warehouse_engine

                return sgs.decide(_run(kind, context), warehouse_engine(),
                                  batch_size=int(Variable.get("creditflow_upload_batch_size", default=200)))

            @task(execution_timeout=TIMEOUTS["quick"])
            def alert_due_soon(**context) -> int:  # type: ignore[no-untyped-def]
                """临期预警 and records without a computable deadline: log always; e-mail when Variable
                creditflow_alert_email and smtp_default are set."""
                from creditflow.reporting import pipeline as sgs
                from creditflow_hooks import warehouse_engine
                from creditflow_notifiers import send_alert_lines

                run = _run(kind, context)
                engine = warehouse_engine()
                alert = sgs.due_soon_alert(kind, run.run_date, sgs.due_soon_records(run, engine),
                                           sgs.due_unknown_records(run, engine))
                if alert is None:
                    return 0
                return send_alert_lines([alert[0]], alert[0], alert[1])

            @task(pool=UPLOAD_POOL, execution_timeout=TIMEOUTS["upload"])
            def upload(**context) -> dict:  # type: ignore[no-untyped-def]
                from creditflow.reporting import pipeline as sgs
                from creditflow_hooks import CreditPlatformHook, warehouse_engine

                return sgs.upload(_run(kind, context), warehouse_engine(), CreditPlatformHook().get_conn())

            # timeout: receipts for an hour in all; execution_timeout: one poke.
            @task.sensor(poke_interval=5, timeout=3600, mode="reschedule", execution_timeout=TIMEOUTS["poke"])
            def receipts(**context) -> PokeReturnValue:  # type: ignore[no-untyped-def]
                from creditflow.reporting import pipeline as sgs
                from creditflow_hooks import CreditPlatformHook, warehouse_engine

                got = sgs.collect_receipts(_run(kind, context), warehouse_engine(), CreditPlatformHook().get_conn())
                return PokeReturnValue(is_done=got["still_processing"] == 0, xcom_value=got)

            decided = decide()
            flush_inflight() >> decided >> upload() >> receipts()
            decided >> alert_due_soon()

        @task(outlets=[SGS_ASSETS[kind]], execution_timeout=TIMEOUTS["ledger"])
        def reconcile(extracted: dict, **context) -> dict:  # type: ignore[no-untyped-def]
            from creditflow.reporting import pipeline as sgs
            from creditflow_hooks import warehouse_engine

            summary = sgs.reconcile(_run(kind, context), warehouse_engine(),
                                    rejected_files=int(extracted.get("rejected_files", 0)))
            return {k: summary[k] for k in ("extracted", "uploaded", "quarantined", "awaiting_review", "unchanged",
                                            "duplicates", "late", "due_soon", "rejected_files")}

        extracted = extract()
        wait >> extracted >> standardise() >> validate() >> deliver() >> reconcile(extracted)

    return sgs_reporting()


for _kind in KINDS:
    globals()[f"sgs_{_kind}"] = build(_kind)
