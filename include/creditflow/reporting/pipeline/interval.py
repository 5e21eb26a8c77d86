"""One data interval through every stage in one call, and a range of intervals day by day.

The daily DAGs run the four stages of :mod:`~creditflow.reporting.pipeline.stages` as four tasks (prepare,
deliver, receipts, reconcile; the receipt wait deferred to the triggerer). :func:`process_interval` runs
the same stage functions in one call, in order, waiting for the receipts in this process (tests, benches);
a history load calls :func:`process_range`: those stages for each day of the range, in one process — no
task start-up, one GX context, one database pool — so a year of daily periods costs minutes instead of
hours.

Per interval the result is what the scheduled run would have produced: the same run key
(``sgs_<kind>|<day>``), the same staging rows, findings, outcomes, ledger rows and run summary. Days run in
order (each day's decisions see the ledger the earlier days left, as scheduled runs do). A day that fails
is recorded with its error and the range goes on with the next day, as the next scheduled run would: one
bad day never hides the others; the caller decides what a failed day means for the whole load.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from creditflow.common import TZ, mask_text
from creditflow.core.ledger import ledger_lock as ledger_lock  # re-exported: the DAG hooks import it here
from creditflow.core.platform_client import PlatformClient
from creditflow.reporting.pipeline.common import Run, Sources, log
from creditflow.reporting.pipeline.decide import InFlightError
from creditflow.reporting.pipeline.stages import (
    SUMMARY_KEYS,
    IntervalOptions,
    ReceiptsTimeoutError,
    StepHook,
    Steps,
    deliver_interval,
    prepare_interval,
    reconcile_interval,
    resume_delivery,
    wait_for_receipts,
)
from creditflow.reporting.pipeline.standardise import forget_opened
from creditflow.reporting.pipeline.upload import collect_receipts

__all__ = ["SUMMARY_KEYS", "InFlightError", "IntervalOptions", "ReceiptsTimeoutError", "StepHook", "Steps",
           "interval_lock", "interval_run", "ledger_lock", "process_interval", "process_range", "wait_for_receipts"]


#: How long a run waits for another run of the same kind and day before failing for a retry
#: (:class:`~creditflow.core.locks.LockTimeout`): below the task timeouts, so a holder that hangs — or a
#: zombie whose database session lingers — makes the waiting task fail and retry instead of hang.
INTERVAL_LOCK_TIMEOUT = 900.0


def interval_lock(engine: sa.Engine, run: Run) -> contextlib.AbstractContextManager[Any]:
    """Held while one interval is processed, so that two runs of the same kind and day — a backfill and a
    history load, a cleared task and its zombie — take turns instead of replacing each other's rows
    mid-way (the second then redoes the day on what the first left: every stage replaces its own rows and
    the ledger knows what was sent). :func:`creditflow.core.locks.work_lock`: an advisory lock on
    PostgreSQL, a file lock beside an SQLite warehouse."""
    from creditflow.core.locks import work_lock

    return work_lock(engine, f"interval:{run.run_key}", timeout=INTERVAL_LOCK_TIMEOUT)


def interval_run(kind: str, day: dt.date) -> Run:
    """The run the scheduled DAG ``sgs_<kind>`` makes for local ``day``: the same run key and interval."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    return Run(dag_id=f"sgs_{kind}", kind=kind, start=start, end=start + dt.timedelta(days=1))


def _finish(run: Run, engine: sa.Engine, client: PlatformClient, opts: IntervalOptions, step: Steps,
            alert: tuple[str, str] | None, *, own: bool = False) -> dict[str, Any]:
    """receipts (waited for in this process; ``own``: only the run's own rows) → reconcile; the run summary with
    the alert and per-step seconds."""
    step("receipts", lambda: wait_for_receipts(run, engine, client, opts.receipt_timeout, own=own))
    summary = reconcile_interval(run, engine, step)
    seconds = {**step.seconds, "total": round(sum(step.seconds.values()), 3)}
    return {**summary, "alert": alert, "seconds": seconds}


def _receipts_in(run: Run, engine: sa.Engine, client: PlatformClient) -> bool:
    """One look (recording what is in): has the platform answered every upload ``run`` made?"""
    return int(collect_receipts(run, engine, client, own=True)["still_processing"]) == 0


def process_interval(run: Run, engine: sa.Engine, sources: Sources, client: PlatformClient,
                     options: IntervalOptions | None = None, on_step: StepHook | None = None) -> dict[str, Any]:
    """One interval, every stage, in order: extract → standardise → validate → flush in-flight → decide (under
    the ledger lock) → 临期预警 → upload → receipts → reconcile. Each stage is a transaction over the interval
    (a re-run replaces what it wrote; the ledger prevents a second upload).

    Returns the run summary, ``alert`` (the 临期预警 subject and body, or None) and per-stage ``seconds``.
    Raises what the stage raised (ReconciliationError;
    ReceiptsTimeoutError — a retry resumes from the ledger)."""
    opts = options or IntervalOptions()
    step = Steps(on_step)
    try:
        with interval_lock(engine, run):
            prepare_interval(run, engine, sources, opts, step)
            alert = deliver_interval(run, engine, client, opts, step)["alert"]
            return _finish(run, engine, client, opts, step, alert)
    finally:
        forget_opened()  # the interval's opened fields are not kept past its run


@dataclass
class DayResult:
    kind: str
    day: dt.date
    state: str  # success | failed
    summary: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    decided_early: bool = False  # decided while an earlier day's uploads were still out (process_range)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "day": self.day.isoformat(), "state": self.state, "summary": self.summary,
                "error": self.error, "seconds": round(self.seconds, 3), "decided_early": self.decided_early}


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    if last < first:
        raise ValueError(f"结束日期 {last} 早于开始日期 {first}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass
class _Open:
    """A day whose uploads are out: its receipts and reconciliation are still to come."""

    run: Run
    step: Steps
    alert: tuple[str, str] | None
    seconds: float
    held: contextlib.ExitStack  # the day's interval lock, released when the day is closed
    early: bool  # decided before the earlier days' receipts were all in


#: How many days a history load keeps open (uploaded; receipts and reconciliation to come) before it waits
#: for the oldest: a platform that stops answering holds at most this many days' interval locks (on
#: PostgreSQL each keeps a pooled connection: 9 with the day being prepared, within the pool's 5 + 10).
MAX_OPEN_DAYS = 8


def process_range(kind: str, first: dt.date, last: dt.date, engine: sa.Engine, sources: Sources,
                  client: PlatformClient, options: IntervalOptions | None = None, *,
                  skip: Callable[[dt.date], bool] | None = None,
                  on_day: Callable[[DayResult], None] | None = None,
                  resumed_since: str | None = None) -> list[DayResult]:
    """Every local day ``first``…``last`` of ``kind``, in order, each as its own interval.

    ``skip(day)`` → True leaves a day out (e.g. one an earlier attempt of the same load already finished).
    A failing day is recorded (error text masked) and the next day goes on. ``on_day`` sees each result as
    it is made (for logging progress), in day order.

    The stages of each day are those of :func:`process_interval`, and every day decides on the ledger the
    earlier days left, as the scheduled runs do. What differs is that the platform's processing time is
    not waited out day after day:

    * while the platform processes day D's uploads, day D+1 is extracted, standardised and validated
      (those stages touch only D+1's own rows, never the ledger or D's rows);
    * D+1 then decides and uploads before D's receipts are in **unless one of its decisions would read
      what a receipt still to come sets**: the state of a row of its natural key (past the checks that read
      only who owns the row and which run wrote it), or whether a near duplicate from a worse source is
      published (:class:`~creditflow.reporting.pipeline.plan.InFlightError`, raised by the plan before
      anything is written). A receipt changes nothing but the row it answers and the outcome of the run
      that sent it, so D+1's decisions are those it makes after D's receipts. Otherwise the open days are
      closed first and D+1 decides as a scheduled run would;
    * each day is reconciled once its receipts are in, in day order (reconciliation reads only its own
      run's rows). At most :data:`MAX_OPEN_DAYS` days are open at once.

    ``resumed_since`` (when the load began, as :func:`finished_days` takes it): a day this load decided
    before it stopped and never reconciled (a kill, a task timeout, a failed upload) is not decided again —
    later days may have decided since, on the ledger it left — but finished: its pending uploads sent
    (:func:`~creditflow.reporting.pipeline.stages.resume_delivery`), its receipts collected, reconciled.

    Every day's findings and counts are in the warehouse, and its GX result for 数据质量报告 in the storage, as
    for any run."""
    opts = options or IntervalOptions()
    resume = resumable_days(engine, kind, first, last, resumed_since) if resumed_since else set()
    results: list[DayResult] = []
    open_days: collections.deque[_Open] = collections.deque()

    def record(result: DayResult) -> None:
        results.append(result)
        if on_day is not None:
            on_day(result)

    def failed(day: dt.date, exc: BaseException, seconds: float) -> DayResult:
        log.warning("%s %s failed: %s", kind, day, mask_text(traceback.format_exc(limit=3)))
        return DayResult(kind, day, "failed", error=f"{type(exc).__name__}: {mask_text(exc)}", seconds=seconds)

    def release(held: contextlib.ExitStack) -> None:
        """Let go of a day's interval lock; a failure to release (the lock's database session is gone, and
        with it the lock) is logged, never allowed to lose the day's result or stop the range."""
        try:
            held.close()
        except Exception:
            log.warning("%s: releasing an interval lock failed (its session is gone, so is the lock): %s", kind,
                        mask_text(traceback.format_exc(limit=2)))

    def close(open_day: _Open) -> None:
        """The day's receipts (its own rows while later days' uploads are out, else all of the kind's, as a
        scheduled run waits) and reconciliation."""
        day, t0 = open_day.run.start.date(), time.perf_counter()
        try:
            out = _finish(open_day.run, engine, client, opts, open_day.step, open_day.alert, own=bool(open_days))
            result = DayResult(kind, day, "success", summary=out, decided_early=open_day.early)
        except Exception as exc:  # one bad day never hides the others
            result = failed(day, exc, 0.0)
        finally:
            release(open_day.held)
        result.seconds = open_day.seconds + time.perf_counter() - t0
        record(result)

    def ready(open_day: _Open) -> bool:
        try:
            return _receipts_in(open_day.run, engine, client)
        except Exception:  # the look failed: closing the day waits for them, and records what fails
            return True

    def settle(wait_all: bool = False) -> None:
        """Close the open days in order: each whose receipts are in (one look), the oldest beyond
        :data:`MAX_OPEN_DAYS` (waiting for them), or — ``wait_all`` — every one."""
        while open_days and (wait_all or len(open_days) >= MAX_OPEN_DAYS or ready(open_days[0])):
            close(open_days.popleft())

    def give_up(day: dt.date, exc: BaseException, held: contextlib.ExitStack, seconds: float) -> None:
        """A day that failed before it was open (called in its ``except``): its lock released, its error
        recorded after the open days are closed — the results stay in day order."""
        release(held)
        result = failed(day, exc, seconds)
        settle(wait_all=True)
        record(result)

    held = contextlib.ExitStack()
    try:
        for day in days_between(first, last):
            if skip is not None and skip(day):
                continue
            run = interval_run(kind, day)
            step = Steps()
            held = contextlib.ExitStack()
            t0 = time.perf_counter()
            if day in resume:  # decided before the load stopped: finished, not decided again
                try:
                    held.enter_context(interval_lock(engine, run))
                    alert = resume_delivery(run, engine, client, step)["alert"]
                except Exception as exc:
                    give_up(day, exc, held, time.perf_counter() - t0)
                    continue
                settle()
                open_days.append(_Open(run, step, alert, time.perf_counter() - t0, held, False))
                continue
            try:
                held.enter_context(interval_lock(engine, run))
                prepare_interval(run, engine, sources, opts, step)
            except Exception as exc:
                give_up(day, exc, held, time.perf_counter() - t0)
                continue
            spent = time.perf_counter() - t0
            settle()  # the earlier days whose receipts are in
            t0 = time.perf_counter()
            early = bool(open_days)
            try:
                try:
                    alert = deliver_interval(run, engine, client, opts, step, early=early)["alert"]
                except InFlightError:
                    if not early:
                        raise
                    settle(wait_all=True)  # it reads an earlier day's upload: decide on that day's receipt
                    early = False
                    alert = deliver_interval(run, engine, client, opts, step)["alert"]
            except Exception as exc:
                give_up(day, exc, held, spent + time.perf_counter() - t0)
                continue
            open_days.append(_Open(run, step, alert, spent + time.perf_counter() - t0, held, early))
        settle(wait_all=True)
    finally:  # a task timeout or kill (BaseException) or an error in on_day: no lock outlives the range
        for open_day in open_days:
            release(open_day.held)
        release(held)
        forget_opened()  # nor the last day's opened fields
    return results


def finished_days(engine: sa.Engine, kind: str, first: dt.date, last: dt.date, since: str) -> set[dt.date]:
    """Days of ``kind`` in the range whose interval reconciled cleanly at or after ``since`` (ISO time, as
    the warehouse writes it): what an earlier attempt of the same load already finished, so a retry
    resumes where it stopped instead of doing a year again."""
    from creditflow.core import warehouse as wh

    keys = {interval_run(kind, d).run_key: d for d in days_between(first, last)}
    s = wh.run_summary
    latest: dict[str, tuple[int, bool]] = {}
    with engine.connect() as conn:  # a day whose deadlines are 待定 is finished: they appear with the calendar
        for run_key, id_, ok in conn.execute(sa.select(s.c.run_key, s.c.id, s.c.reconciled).where(
                s.c.kind == kind, s.c.run_key.in_(list(keys)), s.c.written_at >= since)):
            if run_key not in latest or id_ > latest[run_key][0]:  # the day's latest reconciliation since then
                latest[run_key] = (id_, bool(ok))
    return {keys[k] for k, (_, ok) in latest.items() if ok}


def resumable_days(engine: sa.Engine, kind: str, first: dt.date, last: dt.date, since: str) -> set[dt.date]:
    """Days of ``kind`` in the range this load decided at or after ``since`` (ISO time, as the warehouse writes
    it; ``cf_outcome.decided_at``) and did not reconcile after that decision, cleanly or not: what a stopped
    attempt left open. A day whose reconciliation failed after its latest decision is done again from the
    start, as before."""
    from creditflow.core import warehouse as wh

    keys = {interval_run(kind, d).run_key: d for d in days_between(first, last)}
    o, s = wh.outcomes, wh.run_summary
    with engine.connect() as conn:
        decided = dict(conn.execute(sa.select(o.c.run_key, sa.func.max(o.c.decided_at)).where(
            o.c.kind == kind, o.c.run_key.in_(list(keys)), o.c.decided_at >= since).group_by(o.c.run_key)).all())
        summarised = dict(conn.execute(sa.select(s.c.run_key, sa.func.max(s.c.written_at)).where(
            s.c.kind == kind, s.c.run_key.in_(list(keys)), s.c.written_at >= since).group_by(s.c.run_key)).all())
    return {keys[k] for k, at in decided.items() if k not in summarised or summarised[k] < at}


def check_range(first_day: str, last_day: str, daily_start: str) -> tuple[dt.date, dt.date]:
    """The range a history load may take: valid dates, in order, ending before the daily DAGs' first day
    (those days are the daily DAGs' own runs: a backfill of those DAGs re-runs them)."""
    try:
        first, last = dt.date.fromisoformat(str(first_day)), dt.date.fromisoformat(str(last_day))
    except ValueError as exc:
        raise ValueError(f"日期格式应为 YYYY-MM-DD：{first_day} / {last_day}") from exc
    days_between(first, last)
    start = dt.date.fromisoformat(str(daily_start)[:10])
    if last >= start:
        raise ValueError(f"历史装载只处理每日任务开始日（{start}）之前的日期；{max(first, start)} 起的日期请对 "
                         "sgs_penalty / sgs_license / sgs_coercion 执行 backfill（见运行手册）")
    return first, last


def history_log_line(result: DayResult) -> str:
    """One line per day for the task log (no personal data: counts, or the masked error)."""
    if result.state == "success" and result.summary:
        s = result.summary
        return (f"{result.kind} {result.day}: 成功 {s['extracted']} 条 — 上报 {s['uploaded']}，问题数据 "
                f"{s['quarantined']}，待审核 {s['awaiting_review']}，无变化 {s['unchanged']}，重复 "
                f"{s['duplicates']}，逾期 {s['late']}（{result.seconds:.2f} 秒）")
    return f"{result.kind} {result.day}: 失败 — {result.error}"


def step_line(kind: str, step: str, seconds: float, counts: dict[str, Any]) -> str:
    """One log line per step of a daily run as it finishes: its counts and time (counts only: no personal
    data; flags and texts are left out)."""
    shown = "，".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    return f"[{kind}] {step}: {shown or '—'}（{seconds:.2f} 秒）"


def resume_since(load_started: dt.datetime | None) -> str:
    """The moment from which a finished day counts as this load's (:func:`finished_days`,
    :func:`resumable_days`): when the load began (``sgs_history`` keeps it in its ``plan`` task's XCom, which
    clearing ``load`` keeps — the run's ``start_date`` is reset when a finished run is cleared), as the
    warehouse writes times (UTC ISO); without one, nothing counts as finished."""
    if load_started is None:
        return "9999"
    return load_started.astimezone(dt.UTC).isoformat(timespec="seconds")


def load_outcome(kind_label: str, results: list[DayResult]) -> tuple[list[dict[str, Any]], str | None]:
    """A kind's load as its task reports it: the per-day results for XCom (counts; the 临期预警 text stays
    in the log) and, when any day failed, the error the task fails with — the failed days first, up to
    twenty, with how many days finished — else None."""
    out = [r.as_dict() for r in results]
    for r in out:
        if r["summary"]:
            r["summary"] = {k: v for k, v in r["summary"].items() if k != "alert"}
    failed = [r for r in out if r["state"] == "failed"]
    if not failed:
        return out, None
    listed = "；".join(f"{r['day']} {r['error']}" for r in failed[:20]) + ("…" if len(failed) > 20 else "")
    return out, f"{kind_label}：{len(failed)} 天失败（其余 {len(out) - len(failed)} 天已完成）：{listed}"


def range_summary(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per kind over a load's per-day results (as dicts), with the failed days listed."""
    out: dict[str, Any] = {"kinds": {}, "failed": [], "lines": []}
    for kind in sorted({d["kind"] for d in days}):
        mine = [d for d in days if d["kind"] == kind]
        ok = [d for d in mine if d["state"] == "success"]
        totals = {k: sum(int((d["summary"] or {}).get(k, 0)) for d in ok) for k in SUMMARY_KEYS}
        failed = [{"day": d["day"], "error": d["error"]} for d in mine if d["state"] != "success"]
        out["kinds"][kind] = {"days": len(mine), "succeeded": len(ok), "failed": len(failed), **totals}
        out["failed"] += [{"kind": kind, **f} for f in failed]
        out["lines"].append(f"{kind}: {len(mine)} 天，成功 {len(ok)} 天，失败 {len(failed)} 天；抽取 "
                            f"{totals['extracted']} 条，上报 {totals['uploaded']}，问题数据 {totals['quarantined']}，"
                            f"待审核 {totals['awaiting_review']}")
        out["lines"] += [f"  失败 {f['day']}: {f['error']}" for f in failed]
    return out
