"""What the tasks of ``sgs_<kind>`` (dags/sgs_reporting.py) do, one function per stage: the wiring of the
stage functions (:mod:`creditflow.reporting.pipeline.stages`) to the connections and Variables, the
interval lock around each stage, the task-log lines, and the deferred receipt wait.

Every task holds the interval lock for its own work only, so a history load or a cleared task of the same
day waits for a stage, never for the platform. A task's return value (its XCom) is counts and seconds: no
record and no personal data.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from airflow.sdk import BaseOperator

PLATFORM_CONN = "credit_platform"
#: Added to the receipt wait as the deferral's own timeout: the trigger fires its timeout event first, so the
#: task fails with the Chinese ReceiptsTimeoutError text; this only ends a trigger that never answers.
DEFERRAL_MARGIN = dt.timedelta(minutes=5)


def sgs_run(kind: str, context: Any) -> Any:
    """The run's day: its data interval, else (a manual run without a logical date) the parameter ``day`` or
    the latest day that is due — creditflow_airflow/timetables.py ``run_interval``; refused at once otherwise.
    Every task of a run computes the same day (from the interval, the parameter or the run's ``run_after``)."""
    from creditflow.common import DAILY_RUN_DELAY, TZ
    from creditflow.reporting.pipeline import Run

    from creditflow_airflow.timetables import run_interval

    start, end, why = run_interval(context, TZ, DAILY_RUN_DELAY)
    print(f"[{kind}] {why}")
    return Run(dag_id=context["dag"].dag_id, kind=kind, start=start, end=end)


def _wiring(kind: str, context: Any) -> tuple[Any, Any, Any, Any]:
    """The run, the warehouse engine, the interval options (Variables) and the step recorder (task log)."""
    from creditflow.reporting.pipeline.interval import step_line
    from creditflow.reporting.pipeline.stages import Steps

    from creditflow_airflow.hooks import sgs_options, warehouse_engine

    engine = warehouse_engine()
    steps = Steps(lambda step, secs, counts: print(step_line(kind, step, secs, counts)))
    return sgs_run(kind, context), engine, sgs_options(), steps


def _platform() -> Any:
    from creditflow_airflow.hooks import CreditPlatformHook

    return CreditPlatformHook(PLATFORM_CONN).get_conn()


def _counts(out: dict[str, Any], steps: Any) -> dict[str, Any]:
    return {**{k: v for k, v in out.items() if isinstance(v, int | float)}, "seconds": dict(steps.seconds)}


def prepare(kind: str, context: Any) -> dict[str, Any]:
    """extract → standardise → validate."""
    from creditflow.reporting.pipeline.interval import interval_lock
    from creditflow.reporting.pipeline.stages import prepare_interval

    from creditflow_airflow.hooks import sgs_sources

    run, engine, options, steps = _wiring(kind, context)
    with interval_lock(engine, run):
        return _counts(prepare_interval(run, engine, sgs_sources(kind), options, steps), steps)


def deliver(kind: str, context: Any) -> dict[str, Any]:
    """flush in-flight → decide (ledger lock) → 临期预警 (log, e-mail) → upload."""
    from creditflow.reporting.pipeline.interval import interval_lock
    from creditflow.reporting.pipeline.stages import deliver_interval

    from creditflow_airflow.notifiers import send_alert_lines

    run, engine, options, steps = _wiring(kind, context)
    with interval_lock(engine, run):
        out = deliver_interval(run, engine, _platform(), options, steps)
    alert = out.pop("alert")
    if alert is not None:  # after the upload, as before: a mail failure retries the task, never loses the upload
        send_alert_lines([alert[0]], alert[0], alert[1])
    return _counts(out, steps)


def reconcile(kind: str, context: Any) -> dict[str, Any]:
    """extracted = uploaded + quarantined + awaiting review + unchanged + duplicates, or the task fails."""
    from creditflow.reporting.pipeline.interval import interval_lock
    from creditflow.reporting.pipeline.stages import reconcile_interval

    run, engine, _options, steps = _wiring(kind, context)
    with interval_lock(engine, run):
        return _counts(reconcile_interval(run, engine, steps), steps)


class ReceiptsOperator(BaseOperator):
    """``receipts``: records the receipts the platform has ready; while batches are still processing the task
    defers to :class:`creditflow_airflow.triggers.PlatformReceiptsTrigger` — no worker slot and (the pool
    counts no deferred task: ``include_deferred`` false) no ``credit_platform`` slot while it waits — and
    resumes to record them. Fails with ReceiptsTimeoutError's text when they have not come within Variable
    ``creditflow_receipt_wait_seconds`` (600) of the first look; a retry looks again with a new wait."""

    ui_color = "#e8f0fe"

    def __init__(self, *, kind: str, conn_id: str = PLATFORM_CONN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.conn_id = conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        run, engine, options, steps = _wiring(self.kind, context)
        return self._look(run, engine, steps, time.time() + options.receipt_timeout, options.receipt_timeout,
                          waits=0)

    def execute_complete(self, context: Any, event: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """Back from the trigger: record what is ready; time out if the trigger says so and batches remain."""
        deadline, timeout, waits = (event["echo"][k] for k in ("deadline", "timeout", "waits"))
        print(f"[{self.kind}] 等待回执：{event.get('status')}，{event.get('polls')} 次查询，"
              f"{event.get('waited')} 秒" + (f"（{event['message']}）" if event.get("message") else ""))
        run, engine, _options, steps = _wiring(self.kind, context)
        if event.get("status") == "timeout":
            deadline = min(deadline, time.time())
        return self._look(run, engine, steps, deadline, timeout, waits=waits + 1)

    def _look(self, run: Any, engine: Any, steps: Any, deadline: float, timeout: float, waits: int
              ) -> dict[str, Any]:
        from creditflow.reporting.pipeline.interval import interval_lock
        from creditflow.reporting.pipeline.stages import check_receipts, receipts_timeout

        from creditflow_airflow.triggers import PlatformReceiptsTrigger

        with interval_lock(engine, run):
            got = steps("receipts", lambda: check_receipts(run, engine, _platform()))
        batch_ids = got.pop("batch_ids")
        if got["still_processing"] == 0:
            return {**_counts(got, steps), "deferred": waits}
        left = deadline - time.time()
        if left <= 0:
            raise receipts_timeout(run, got["still_processing"], timeout)
        print(f"[{self.kind}] {len(batch_ids)} 个批次仍在共享平台处理中（{got['still_processing']} 条记录）："
              f"交由 triggerer 等待，最长 {left:.0f} 秒；等待期间不占用 worker 和 credit_platform 池")
        echo = {"deadline": deadline, "timeout": timeout, "waits": waits}
        self.defer(trigger=PlatformReceiptsTrigger(kind=self.kind, batch_ids=batch_ids, deadline=deadline,
                                                   conn_id=self.conn_id, echo=echo),
                   method_name="execute_complete", timeout=dt.timedelta(seconds=left) + DEFERRAL_MARGIN)
