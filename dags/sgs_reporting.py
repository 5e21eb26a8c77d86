"""
### 双公示上报 — {kind_zh}（`sgs_{kind}`）

Every {kind_zh} decision made — or entered, corrected or revoked — during the data interval (one local
day, Asia/Shanghai) goes to 全国信用信息共享平台(广东珠海): extracted, mapped to the 双公示 standard,
validated with Great Expectations, deduplicated, reviewed (层层审核) and uploaded **once**, within
7 working days of the decision.

The run for day D is created at **D+1 06:00** (the schedule says so: late-evening entries are in, and the
district files that arrived before 06:00 belong to D). Four tasks run the steps in order — `prepare` →
`deliver` → `receipts` → `reconcile` — each step a transaction over the interval, each task holding the
day's interval lock for its own work and logging one line per step with its counts and seconds:

| task | step | what it does |
|---|---|---|
| prepare | extract | case system (SQL), licensing API, district inbox `<inbox>/{kind}/` — the files that had arrived (file time) before D+1 06:00; archived to `archive/{kind}/<day>/`, unreadable or wrong-kind files to `rejected/{kind}/<day>/` with a Chinese reason; an I/O error fails the task so it is retried — + records still waiting for review |
| | standardise | mapping tables → 双公示 fields, normalisation, natural key, content hash, due date |
| | validate | the GX suite generated from the field dictionary; failures → quarantine with a Chinese message |
| deliver (pool `credit_platform`) | flush in-flight | re-sends any batch a crashed run left pending (same Idempotency-Key) and collects its receipts |
| | decide | duplicates (exact / cross-source / near → review), create / 更正 / 撤销 against the ledger, review gate, late / due-soon — under the ledger lock |
| | 临期预警 | records not yet accepted and due within 2 working days, and records whose deadline cannot be computed (`DUE_DATE_UNKNOWN`): a warning in the log, and an e-mail to Variable `creditflow_alert_email` through `smtp_default` when set |
| | upload | batches through `credit_platform`, ledger committed around each batch |
| receipts (pool `credit_platform` while it looks) | receipts | per-record receipts (rejections back to quarantine); while batches are still processing the task is **deferred** (state *deferred*, purple in the Grid): the triggerer polls the platform with growing pauses, holding no worker and no pool slot, for up to Variable `creditflow_receipt_wait_seconds` (600) |
| reconcile | reconcile | extracted = uploaded + quarantined + awaiting review + unchanged + duplicates, or the run fails; a record whose deadline is beyond the official calendar is processed as usual, its deadline 待定 and alerted, and computed where it is read once `data/calendar/YYYY.yaml` is added (no re-run) |

Why four tasks (issue #17): the Grid shows where a day stands, clearing a task resumes from it, and the
`credit_platform` pool bounds only the steps that talk to the platform — no slot through extraction and GX,
none during a receipt wait of up to 10 minutes. Why not ten: each task start costs ≈ 1.5 s and ten made an
empty day ≈ 18 s (issue #12); the empty-day cost of the four is in `docs/benchmarks.md`. What each step did
is in the task log, in each task's XCom (counts and seconds per step; no personal data) and on
*Creditflow → 运行概况*. A long range goes through `sgs_history`: the same stage functions, day by day, in
one task.

**Re-runs and backfills are safe**: each task replaces what it wrote for its interval; the ledger, not
luck, prevents a second upload. A missed day or week:
`scripts/airflow backfill create --dag-id sgs_{kind} --from-date 2026-11-01 --to-date 2026-11-07 --reprocess-behavior completed --max-active-runs 1`
(`scripts/airflow` is the Airflow CLI with this deployment's environment; add `--cluster` first for
`make cluster`; the README's *Airflow CLI*).
A first load of the years before this DAG's start date, or any long range before it: DAG `sgs_history`
(see its runbook) — same stages, per-day results, minutes for a year.

**When it fails**: the failed task and its log's last step line say where. A failure in `reconcile` means
records went missing or were counted twice — read the log, do not just clear it. Upload failures and
receipts that do not arrive in time (`ReceiptsTimeoutError`: 条记录在 … 秒内未收到共享平台回执) retry with
backoff; clearing a task resumes from it — clear `receipts` to look for the receipts again, `reconcile` to
recount the day, `prepare` (with downstream) to redo the day — every step replaces its own rows and the
ledger knows what was sent, so nothing is uploaded twice. A `receipts` task that stays *deferred* is waiting
for the platform: it needs a running triggerer (`make demo` and `make cluster` start one). Waiting
reviews: *Creditflow → 审核* in the menu, or trigger `sgs_review_signoff`; 立即上报 there sends the approved
ones now instead of with the next run.

**Manual runs**: *Trigger* with a logical date processes the day ending at it; without one (the REST API's
default, the form left empty) it processes the day in the parameter `day`, or — `day` empty — the latest
day that is due (D+1 06:00 passed): `scripts/airflow dags trigger sgs_{kind} --conf '{{"day": "2026-11-03"}}'`.
A day that is not yet due is refused at once with a Chinese message, without retries.

Owner: 信用数据组. Changelog: 0.3 — four tasks (prepare, deliver, receipts, reconcile), the receipt wait
deferred to the triggerer, the pool only on the platform steps (issue #17); 0.2 — one task instead of ten,
the 06:00 start in the schedule (issue #12); 0.1 — first version.
"""

from __future__ import annotations

import datetime as dt
import os

import pendulum
from airflow.sdk import Asset, Param, dag, task
from creditflow.common import DAILY_RUN_DELAY, KIND_LABELS, TIMEZONE_NAME
from creditflow_airflow import sgs_tasks
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args
from creditflow_airflow.timetables import DelayedDailyTimetable

KINDS = KIND_LABELS
UPLOAD_POOL = "credit_platform"
START = pendulum.parse(os.environ.get("CREDITFLOW_SGS_START", "2026-11-01"), tz=TIMEZONE_NAME)
SGS_ASSETS = {kind: Asset(f"creditflow://sgs/{kind}", extra={"kind": kind}) for kind in KINDS}
# Every task: both failure notifiers and an execution_timeout (1 h per step unless set on the task).
DEFAULT_ARGS = default_task_args(retries=2, retry_delay=dt.timedelta(seconds=30), retry_exponential_backoff=True,
                                 execution_timeout=TIMEOUTS["step"])


def build(kind: str):  # type: ignore[no-untyped-def]
    @dag(
        dag_id=f"sgs_{kind}",
        # Day D = [D 00:00, D+1 00:00) local; its run is created at D+1 06:00 (creditflow_airflow/timetables.py).
        schedule=DelayedDailyTimetable("0 0 * * *", TIMEZONE_NAME, DAILY_RUN_DELAY),
        start_date=START,
        catchup=True,
        max_active_runs=1,  # runs of one kind share the ledger: one at a time, in order
        default_args=DEFAULT_ARGS,
        on_failure_callback=dag_failure_callbacks(),  # alerts a run that times out; failed tasks alert themselves
        tags=["双公示", kind, "impact:reporting"],
        doc_md=__doc__.format(kind=kind, kind_zh=KINDS[kind]),
        # Counted from the run's start (06:00): the tasks' timeouts fit, and it ends before the next run.
        dagrun_timeout=dt.timedelta(hours=18),
        # A manual run without a logical date processes this day, or (empty) the latest day that is due.
        params={"day": Param(None, type=["null", "string"], format="date", title="数据日期（手动触发时）",
                             description="不填逻辑日期（logical date）手动触发时处理哪一天（YYYY-MM-DD）；"
                                         "留空则处理最近一个已到运行时间（次日 06:00 后）的数据日。")},
    )
    def sgs_reporting() -> None:
        # Only the steps that talk to the platform take a credit_platform slot (deliver; receipts while it
        # looks, not while deferred); prepare and reconcile touch the warehouse alone.
        @task(execution_timeout=TIMEOUTS["step"])
        def prepare(**context) -> dict:  # type: ignore[no-untyped-def]
            """extract → standardise → validate."""
            return sgs_tasks.prepare(kind, context)

        @task(pool=UPLOAD_POOL, execution_timeout=TIMEOUTS["ledger"] + TIMEOUTS["upload"])
        def deliver(**context) -> dict:  # type: ignore[no-untyped-def]
            """flush in-flight → decide (ledger lock) → 临期预警 → upload."""
            return sgs_tasks.deliver(kind, context)

        # Deferred while the platform processes the batches: execution_timeout counts only the looks.
        receipts = sgs_tasks.ReceiptsOperator(task_id="receipts", kind=kind, pool=UPLOAD_POOL,
                                              execution_timeout=TIMEOUTS["ledger"])

        @task(execution_timeout=TIMEOUTS["ledger"], outlets=[SGS_ASSETS[kind]])
        def reconcile(**context) -> dict:  # type: ignore[no-untyped-def]
            """extracted = uploaded + quarantined + awaiting review + unchanged + duplicates."""
            return sgs_tasks.reconcile(kind, context)

        prepare() >> deliver() >> receipts >> reconcile()

    return sgs_reporting()


for _kind in KINDS:
    globals()[f"sgs_{_kind}"] = build(_kind)
