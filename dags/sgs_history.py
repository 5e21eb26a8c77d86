"""
### 双公示历史数据装载 / 长区间补报（`sgs_history`）

Runs **many daily periods at once** through the same stage functions as the daily DAGs
(`sgs_penalty`, `sgs_license`, `sgs_coercion`): for each record kind, every local day of the range, in
order, each as its own interval with its own run key (`sgs_<kind>|<day>`), staging rows, findings,
outcomes, ledger rows and reconciliation — the end state is what the daily runs of those days would have
produced (tested: `tests/integration/test_history_load.py`). It saves the per-run start-up of the daily
DAGs and does not wait out the platform's processing day after day: the next day is prepared while a day's
uploads are processed, and decides and uploads before their receipts are in unless one of its decisions
depends on them. A year of all three kinds (20,000 decisions) takes ≈ 3 minutes on a 2-core machine
(`docs/benchmarks.md` §7d).

**Trigger** it with parameters (*Trigger DAG* in the UI, or
`scripts/airflow dags trigger sgs_history --conf '{"kinds": ["penalty"], "first_day": "2025-11-01", "last_day": "2026-10-31"}'`;
`scripts/airflow` is the Airflow CLI with this deployment's environment, `--cluster` first for `make cluster`):

| parameter | meaning |
|---|---|
| `kinds` | 行政处罚 `penalty`, 行政许可 `license`, 行政强制 `coercion` (one mapped task per kind, 行政处罚 first; as many kinds at once as the machine has cores, up to three — set `CREDITFLOW_HISTORY_KINDS_AT_ONCE` for workers with more) |
| `first_day`, `last_day` | the local days to load, both included; must end **before the daily DAGs' start date** (`CREDITFLOW_SGS_START`) — days the daily DAGs own are re-run with a backfill of those DAGs instead |

**What you see per period**: each kind's task log has one line per day (counts or the error); its
XCom `return_value` holds the per-day results; *Creditflow → 运行概况* lists every day's reconciliation
like a daily run's; `summary` prints the table of failed days.

**A failing day never hides the others**: the day is recorded as failed (with its error) and the load goes
on with the next day, exactly as the next daily run would. The kind's task fails at the end, listing the
failed days; after fixing the cause, **clear the task**: a retry skips the days this load already
finished and redoes only the rest. A task killed mid-load (timeout, worker lost) may leave a few days
decided and not reconciled; clearing it finishes them (pending uploads, receipts, reconciliation) without
deciding them again, and the end state is the day-by-day one. **Clear the `load` task — do not trigger a new
load** for that: a new load (or clearing the whole run, `plan` included) starts over and decides every day
again, and a day then sees what the later days of the stopped load decided as newer.

**数据质量报告**: every day with records keeps its GX result, as a daily run does (the page lists the
latest 60 per kind); findings and counts are in the warehouse for every day.

**Which path for what** (runbook):
- *A missed day or week inside the daily DAGs' period* (platform down, district files late, a rule fixed):
  `scripts/airflow backfill create --dag-id sgs_penalty --from-date 2026-11-01 --to-date 2026-11-07 --reprocess-behavior completed --max-active-runs 1`
  (and the same for the other kinds). Each day stays a run of its own in the grid, with every step; a week
  of one kind takes about a minute (an empty run ≈ 3 s; a run with records also loads GX, ≈ 6 s of CPU
  per task process). Its end state is the day-by-day one (`tests/integration/test_cluster.py`, a backfill with a killed worker on the cluster).
- *A first load of the years already published* (publicity lasts up to three years, so the ledger must know
  them) or a long range before the daily DAGs' start: trigger `sgs_history` with the range — three years of
  one kind is ≈ 1,100 periods. Load it before unpausing the daily DAGs, or for days before their start.
  Plan the reviews with it: every record waiting for 层层审核 (natural persons, 更正, 撤销, near duplicates)
  is taken again into every later day until it is decided, so an undecided backlog makes each day slower
  (a year's load ends with ≈ 900 waiting penalty records and ≈ 1 s a day). For three years, load one year
  at a time (three triggers, in order) and let the reviewers sign off the queue (`sgs_review_signoff`,
  *Creditflow → 审核*) between them; each year then takes about as long as the bench's year.
- A backfill of the same kind and days at the same time is safe but wasteful: each day is processed under
  its own lock, so the two take turns per day and the second redoes what the first did (nothing is sent
  twice). Let one finish first.

Owner: 信用数据组. Changelog: 0.3 — a day decides before the day before's receipts when none of its
decisions depends on them; kinds at once ≤ cores (issue #20); 0.2 — receipts overlap the next day, Data Docs index once per load (0.3: no Data Docs site), review
backlog guidance (issue #12); 0.1 — first version (issue #12).
"""

from __future__ import annotations

import datetime as dt
import os

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from creditflow.common import KIND_LABELS, TIMEZONE_NAME
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args

KINDS = KIND_LABELS
DAILY_START = os.environ.get("CREDITFLOW_SGS_START", "2026-11-01")
# Kinds loaded side by side. Each kind's load is one CPU-bound process: more at once than the machine has
# cores only makes them share the cores, and the longest kind (行政处罚, loaded first) finishes later.
KINDS_AT_ONCE = max(1, int(os.environ.get("CREDITFLOW_HISTORY_KINDS_AT_ONCE") or min(len(KINDS), os.cpu_count() or 1)))

# One retry: it resumes after the days already finished (a transient error costs one more try of the rest).
DEFAULT_ARGS = default_task_args(retries=1, retry_delay=dt.timedelta(minutes=1), execution_timeout=TIMEOUTS["step"])


@dag(
    dag_id="sgs_history",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE_NAME),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callbacks(),
    tags=["双公示", "history", "impact:reporting"],
    doc_md=__doc__,
    params={
        "kinds": Param(list(KINDS), type="array",
                       items={"type": "string", "enum": list(KINDS)}, title="记录类别",
                       description="penalty 行政处罚 / license 行政许可 / coercion 行政强制"),
        "first_day": Param("2026-10-01", type="string", format="date", title="开始日期（含）"),
        "last_day": Param("2026-10-31", type="string", format="date", title="结束日期（含）"),
    },
    render_template_as_native_obj=True,
)
def sgs_history() -> None:
    @task(execution_timeout=TIMEOUTS["quick"])
    def plan() -> list[str]:
        """Checks the parameters (one line in Chinese when wrong) and returns the kinds to load."""
        from creditflow.reporting.pipeline.interval import check_range, resume_since

        params = get_current_context()["params"]
        check_range(params["first_day"], params["last_day"], DAILY_START)
        kinds = [k for k in KINDS if k in set(params["kinds"])]
        if not kinds:
            raise ValueError("请至少选择一个记录类别（penalty / license / coercion）")
        # When this load began: kept in XCom, so that clearing `load` resumes it (clearing the whole run starts over).
        get_current_context()["ti"].xcom_push(key="since", value=resume_since(dt.datetime.now(dt.UTC)))
        return kinds

    @task(execution_timeout=dt.timedelta(hours=8), max_active_tis_per_dagrun=KINDS_AT_ONCE)
    def load(kind: str) -> list[dict]:  # type: ignore[type-arg]
        from creditflow.reporting.pipeline.interval import (
            finished_days,
            history_log_line,
            load_outcome,
            process_range,
            resume_since,
        )
        from creditflow_airflow.hooks import CreditPlatformHook, sgs_options, sgs_sources, warehouse_engine

        context = get_current_context()
        params = context["params"]
        first, last = dt.date.fromisoformat(params["first_day"]), dt.date.fromisoformat(params["last_day"])
        engine = warehouse_engine()
        sources, options = sgs_sources(kind), sgs_options()  # the daily DAGs' own wiring
        # A retry (or a cleared task) resumes: days this load already finished cleanly are skipped, days it
        # had decided and not reconciled are finished, not decided again. The load began when `plan` ran (a
        # run queued behind another load begins when it starts, not when it was triggered).
        since = context["ti"].xcom_pull(task_ids="plan", key="since") or resume_since(context["dag_run"].run_after)
        done = finished_days(engine, kind, first, last, since)
        results = process_range(kind, first, last, engine, sources, CreditPlatformHook().get_conn(), options,
                                skip=lambda d: d in done, on_day=lambda r: print(history_log_line(r)),
                                resumed_since=since)
        out, error = load_outcome(KINDS[kind], results)
        context["ti"].xcom_push(key="days", value=out)  # kept when the task fails below, for `summary`
        if error:
            raise RuntimeError(error)
        return out

    @task(trigger_rule="all_done", execution_timeout=TIMEOUTS["quick"])
    def summary() -> dict:  # type: ignore[type-arg]
        """Per kind: days loaded, failed (with the day and error) and the totals — also when a kind failed."""
        from creditflow.reporting.pipeline.interval import range_summary

        pulled = get_current_context()["ti"].xcom_pull(task_ids="load", key="days") or []
        if pulled and isinstance(pulled[0], dict):  # one kind: Airflow returns its list itself
            pulled = [pulled]
        report = range_summary([r for per_kind in pulled if per_kind for r in per_kind])
        for line in report["lines"]:
            print(line)
        return report

    load.expand(kind=plan()) >> summary()


sgs_history()
