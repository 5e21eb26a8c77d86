"""The four stages of one 双公示 interval, as the daily DAG's tasks run them (no Airflow here).

``sgs_<kind>`` shows one task per stage, so that the Grid says where a day stands and clearing a task
resumes from it; :func:`~creditflow.reporting.pipeline.interval.process_interval` (tests, benches) and
:func:`~creditflow.reporting.pipeline.interval.process_range` (``sgs_history``) compose the **same**
functions in the same order:

    prepare   extract → standardise → validate           (this interval's own rows; never the ledger)
    deliver   flush in-flight → decide (ledger lock) → 临期预警 → upload
    receipts  collect the platform's receipts (the DAG checks once and defers the wait to the triggerer)
    reconcile extracted = uploaded + quarantined + awaiting review + unchanged + duplicates

Each stage replaces what it wrote for its interval and the ledger knows what was sent, so any stage can be
re-run alone; none needs another stage's return value (``reconcile`` reads the day's rejected files from
the warehouse, not from ``prepare``'s answer). The caller holds the interval lock
(:func:`~creditflow.reporting.pipeline.interval.interval_lock`) around each stage — a task around its own
stage, ``process_interval`` around all four.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.core.ledger import ledger_lock
from creditflow.core.platform_client import PlatformClient
from creditflow.reporting.pipeline.common import Run, Sources
from creditflow.reporting.pipeline.decide import decide
from creditflow.reporting.pipeline.extract import extract
from creditflow.reporting.pipeline.reconcile import due_soon_alert, due_soon_records, due_unknown_records, reconcile
from creditflow.reporting.pipeline.standardise import standardise
from creditflow.reporting.pipeline.upload import collect_receipts, flush_inflight, upload
from creditflow.reporting.pipeline.validate import validate

SUMMARY_KEYS = ("extracted", "uploaded", "quarantined", "awaiting_review", "unchanged", "duplicates", "late",
                "due_soon", "rejected_files")


class ReceiptsTimeoutError(RuntimeError):
    """The platform did not return receipts for this interval's uploads in time."""


@dataclass
class IntervalOptions:
    gx_project_dir: Any = None  # where each run's GX result for 数据质量报告 goes (None: not kept)
    data_source_uscc: str | None = None
    batch_size: int = 200
    receipt_timeout: float = 600.0  # seconds to wait for this interval's receipts
    extra: dict[str, Any] = field(default_factory=dict)


StepHook = Callable[[str, float, dict[str, Any]], None]


class Steps:
    """Runs the steps, timing each and telling ``on_step`` (the task log) its counts as it finishes; one
    instance across the stages of a day collects the day's per-step seconds."""

    def __init__(self, on_step: StepHook | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_step = on_step

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.seconds[name] = round(time.perf_counter() - t0, 3)
        if self.on_step is not None:
            self.on_step(name, self.seconds[name], out if isinstance(out, dict) else {})
        return out


def prepare_interval(run: Run, engine: sa.Engine, sources: Sources, options: IntervalOptions | None = None,
                     steps: Steps | None = None) -> dict[str, Any]:
    """extract → standardise → validate: what touches only this interval's rows (never the ledger).
    Returns extract's counts (``extracted``, ``rejected_files`` …)."""
    opts, step = options or IntervalOptions(), steps or Steps()
    extracted = step("extract", lambda: extract(run, engine, sources))
    step("standardise", lambda: standardise(run, engine, opts.data_source_uscc))
    step("validate", lambda: validate(run, engine, gx_project_dir=opts.gx_project_dir))
    return dict(extracted)


def deliver_interval(run: Run, engine: sa.Engine, client: PlatformClient, options: IntervalOptions | None = None,
                     steps: Steps | None = None, *, early: bool = False) -> dict[str, Any]:
    """flush in-flight → decide (under the ledger lock) → 临期预警 → upload. Returns the counts of decide and
    upload and ``alert``: the 临期预警 (subject, HTML body) or None — computed after ``decide``, which sets
    the outcomes it reads, and before the upload, so a failed upload still warns.

    ``early`` (a history load, while an earlier day's uploads are out): the flush resends what a crash left
    pending and leaves the receipts to the load (it has just looked for them); decide raises
    :class:`~creditflow.reporting.pipeline.plan.InFlightError`, writing nothing, where a decision would read
    what a receipt still to come sets."""
    opts, step = options or IntervalOptions(), steps or Steps()
    flushed = step("flush_inflight", lambda: flush_inflight(run, engine, client, wait=opts.receipt_timeout,
                                                            poll=0.2, collect=not early))

    def decide_locked() -> dict[str, int]:
        with ledger_lock(engine):  # read → plan → write of the ledger: one writer at a time, every capability
            return decide(run, engine, batch_size=opts.batch_size, early=early)

    decided = step("decide", decide_locked)
    alert = due_soon_alert(run.kind, run.run_date, due_soon_records(run, engine), due_unknown_records(run, engine))
    sent = step("upload", lambda: upload(run, engine, client))
    return {"resent": int(flushed.get("resent", 0)), **{k: v for k, v in decided.items() if _count(v)},
            "batches": sent["batches"], "records": sent["records"], "alert": alert}


def resume_delivery(run: Run, engine: sa.Engine, client: PlatformClient, steps: Steps | None = None) -> dict[str, Any]:
    """What :func:`deliver_interval` does after ``decide``, for a day already decided — a history load stopped
    before the day was reconciled and resumed: the 临期预警 from the day's outcomes, and the uploads still
    pending sent (the ledger knows what was). The day is not decided again: later days may have decided since,
    on the ledger it left."""
    step = steps or Steps()
    alert = due_soon_alert(run.kind, run.run_date, due_soon_records(run, engine), due_unknown_records(run, engine))
    sent = step("upload", lambda: upload(run, engine, client))
    return {"batches": sent["batches"], "records": sent["records"], "alert": alert}


def check_receipts(run: Run, engine: sa.Engine, client: PlatformClient) -> dict[str, Any]:
    """Record every receipt the platform has ready (one look); ``still_processing`` counts the records whose
    batches it is still processing and ``batch_ids`` names those batches (what a waiter polls)."""
    got: dict[str, Any] = dict(collect_receipts(run, engine, client))
    got["batch_ids"] = processing_batches(engine, run.kind) if got["still_processing"] else []
    return got


def processing_batches(engine: sa.Engine, kind: str) -> list[str]:
    """Platform batches of ``kind`` sent and not yet answered (read only)."""
    L = wh.ledger
    with engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(sa.select(L.c.batch_id).distinct().where(
            L.c.kind == kind, L.c.state == "sent", L.c.batch_id.is_not(None))))


def receipts_timeout(run: Run, still_processing: int, timeout: float) -> ReceiptsTimeoutError:
    return ReceiptsTimeoutError(f"{run.kind} {run.run_key}: {still_processing} 条记录在 {timeout:.0f} 秒内"
                                "未收到共享平台回执")


def wait_for_receipts(run: Run, engine: sa.Engine, client: PlatformClient, timeout: float, *,
                      own: bool = False) -> dict[str, int]:
    """Collect receipts until none of this kind is still processing (``own``: none of the rows this run
    queued — a history load, where a later day's uploads may be out too), in this process — the path of
    ``process_interval`` / ``process_range``; the DAG defers the same wait instead.

    Looks again after :func:`receipt_poll`: every 0.1 s for the first 2 s, then every 2 s."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        got = collect_receipts(run, engine, client, own=own)
        if got["still_processing"] == 0:
            return got
        if time.monotonic() > deadline:
            raise receipts_timeout(run, got["still_processing"], timeout)
        time.sleep(receipt_poll(time.monotonic() - started))


def receipt_poll(waited: float) -> float:
    """The pause before the next look for receipts, after ``waited`` seconds of waiting: 0.1 s while a
    platform that answers in about a second is likely to answer (the first 2 s), then 2 s.

    A history load waits for each day's receipts before the next day decides. A pause that doubled from
    0.05 s looked at 0.05, 0.15, 0.35, 0.75 s and saw a batch answered at 0.4 s only at 0.75 s (≈ 100 s of
    a loaded year's licences spent waiting); a look costs ≈ 6 ms of CPU."""
    return 0.1 if waited < 2.0 else 2.0


def rejected_files(run: Run, engine: sa.Engine) -> int:
    """The district files ``prepare`` rejected for this interval (as extract recorded them)."""
    f = wh.source_files
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(f).where(
            f.c.run_key == f"{run.run_key}|{run.kind}", f.c.status == "rejected")).scalar_one())


def reconcile_interval(run: Run, engine: sa.Engine, steps: Steps | None = None) -> dict[str, Any]:
    """extracted = uploaded + quarantined + awaiting review + unchanged + duplicates, or ReconciliationError.
    Returns the run summary's counts and ``reconciled``."""
    step = steps or Steps()
    summary = step("reconcile", lambda: reconcile(run, engine, rejected_files=rejected_files(run, engine)))
    return {**{k: summary[k] for k in SUMMARY_KEYS}, "reconciled": summary["reconciled"]}


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
